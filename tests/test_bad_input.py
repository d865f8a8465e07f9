"""What people (and forgers) actually send: nothing, too much, emoji, markup, odd commands,
buttons the bot never showed, stickers and photos. The bot answers kindly and never breaks."""

from __future__ import annotations

from typing import Any

import pytest

from bot.memory_api import SentMessage
from bot.memory_api_html import utf16_len
from bot.questions import MAX_LOGGED_CHARS
from tests.harness import Harness, Person, visible

EXPIRED_FR = "Ce bouton n'est plus valide. Tapez /start pour revenir au menu."
EXPIRED_EN = "This button has expired. Type /start to get back to the menu."
NAME = "<b>Zoé</b> & *co*"


def sent_calls(bot: Harness) -> int:
    """Calls that put something in a chat (a refused or forged button must cause none)."""
    writes = {"sendMessage", "editMessageText", "editMessageReplyMarkup", "sendDocument"}
    return sum(1 for name, _ in bot.api.calls if name in writes)


def message_update(person: Person, **changes: Any) -> dict[str, Any]:
    """A message built by the in-memory API, then changed into what a client can't type
    (the API refuses blank text, as Telegram apps do; the bot must still cope)."""
    update = person.api.user_message(person.spec, "placeholder")
    message = update["message"]
    del message["text"]
    message.pop("entities", None)
    message.update(changes)
    return update


async def feed(bot: Harness, person: Person, update: dict[str, Any]) -> list[SentMessage]:
    before = len(person.replies())
    await bot.feed(update)
    return person.replies()[before:]


@pytest.mark.parametrize("text", ["   ", "\n\t \n", "\u00a0"])
async def test_blank_message_asks_for_a_question(bot: Harness, text: str) -> None:
    person = bot.user(40)
    replies = await feed(bot, person, message_update(person, text=text))
    assert len(replies) == 1
    assert "Je n'ai rien reçu à lire" in visible(replies[0])
    assert await bot.logged_questions() == []


async def test_very_long_message_is_answered_within_telegrams_limit(bot: Harness) -> None:
    person = bot.user(41)
    question = "Est-ce que la participation est gratuite pour notre organisme? "
    context = "Notre organisme accueille des familles du quartier depuis vingt ans. "
    text = (question + context * 80)[:5000]
    assert len(text) == 5000
    replies = await person.say(text)
    assert [utf16_len(r.text or "") <= 4096 for r in replies] == [True, True]
    assert "Votre message est long" in visible(replies[0])
    assert "gratuitement" in visible(replies[1])
    rows = await bot.logged_questions()
    assert len(rows) == 1
    assert len(rows[0].text) == MAX_LOGGED_CHARS


async def test_one_huge_word_gets_a_reply(bot: Harness) -> None:
    person = bot.user(42)
    replies = await person.say("a" * 5000)
    assert replies, "the bot said nothing"
    assert all(utf16_len(r.text or "") <= 4096 for r in replies)
    assert "Votre message est long" in visible(replies[0])


async def test_emoji_only_message_asks_for_words(bot: Harness) -> None:
    person = bot.user(43)
    replies = await person.say("🙏🙏🔥")
    assert len(replies) == 1
    assert "Je ne comprends que les mots" in visible(replies[0])
    assert await bot.logged_questions() == []


async def test_markup_in_the_name_is_shown_literally(bot: Harness) -> None:
    person = bot.user(44, first_name=NAME, language_code="fr")
    replies = await person.say("/start")
    assert len(replies) == 1
    assert f"Bonjour {NAME} 👋" in visible(replies[0])
    assert "&lt;b&gt;Zoé&lt;/b&gt; &amp; *co*" in (replies[0].raw_text or "")
    start = visible(replies[0]).index("Zoé")
    bold = [e for e in replies[0].entities if e["type"] == "bold"]
    assert all(not e["offset"] <= start < e["offset"] + e["length"] for e in bold)


async def test_markup_in_the_name_is_shown_literally_in_english(bot: Harness) -> None:
    person = bot.user(45, first_name="[x](https://evil.example) _~`", language_code="en")
    await person.say("/start")
    assert "Hello [x](https://evil.example) _~` 👋" in visible(person.last_reply())
    assert not [e for e in person.last_reply().entities if e["type"] == "text_link"]


@pytest.mark.parametrize(
    "question",
    [
        "<b>c'est gratuit</b> & *sans frais*?",
        "Est-ce gratuit? <script>alert(1)</script> & [x](y) *_~",
    ],
)
async def test_markup_in_a_question_is_harmless(bot: Harness, question: str) -> None:
    person = bot.user(46)
    replies = await person.say(question)
    assert len(replies) == 1
    assert "gratuitement" in visible(replies[0])
    rows = await bot.logged_questions()
    assert [r.text for r in rows] == [question]


async def test_unknown_command_names_it_and_points_to_help(bot: Harness) -> None:
    person = bot.user(47)
    replies = await person.say("/foo")
    assert len(replies) == 1
    text = visible(replies[0])
    assert "Je ne connais pas la commande /foo." in text
    assert "/help" in text
    assert await bot.logged_questions() == []


async def test_unknown_command_with_arguments_names_only_the_command(bot: Harness) -> None:
    person = bot.user(48, language_code="en")
    replies = await person.say("/admin <b>secret</b> & more")
    assert "I don't know the command /admin." in visible(replies[0])
    assert "secret" not in visible(replies[0])


async def started(bot: Harness, user_id: int, language_code: str = "fr") -> Person:
    person = bot.user(user_id, language_code=language_code)
    await person.say("/start")
    return person


FORGED = ["faq:../../etc", "menu:admin", "x" * 100, "lang:de", "human:abc", "faq:cost:de", ""]


async def test_forged_button_gets_the_expired_alert_and_nothing_else(bot: Harness) -> None:
    person = await started(bot, 49)
    for data in FORGED:
        writes = sent_calls(bot)
        answers = len(bot.api.callback_answers)
        assert await person.forge(data) == [], data
        assert sent_calls(bot) == writes, data
        assert len(bot.api.callback_answers) == answers + 1, data
        answer: dict[str, Any] = bot.api.callback_answers[-1]
        assert (answer["text"], answer["show_alert"]) == (EXPIRED_FR, True), data


async def test_forged_button_alert_is_in_the_persons_language(bot: Harness) -> None:
    person = await started(bot, 50, "en")
    await person.forge("menu:admin")
    assert bot.api.callback_answers[-1]["text"] == EXPIRED_EN


@pytest.mark.parametrize(
    ("data", "language_code", "expected"),
    [
        ("faq:removed-entry", "en", EXPIRED_EN),
        ("faq:removed-entry", "fr", EXPIRED_FR),
        ("faq:removed-entry:en", "fr", EXPIRED_EN),
    ],
)
async def test_stale_button_for_a_removed_entry_says_it_expired(
    bot: Harness, data: str, language_code: str, expected: str
) -> None:
    person = await started(bot, 51, language_code)
    answers = len(bot.api.callback_answers)
    replies = await person.forge(data)
    assert len(replies) == 1
    assert visible(replies[0]) == expected
    assert len(bot.api.callback_answers) == answers + 1  # the spinner is stopped too


STICKER = {
    "file_id": "CAACAgIAAxkBAAEB",
    "file_unique_id": "AgADAQAD",
    "type": "regular",
    "width": 512,
    "height": 512,
    "is_animated": False,
    "is_video": False,
    "emoji": "👍",
}
PHOTO = [{"file_id": "AgACAgIAAxkBAAEC", "file_unique_id": "AQADAgAD", "width": 90, "height": 90}]


@pytest.mark.parametrize("content", [{"sticker": STICKER}, {"photo": PHOTO}])
async def test_sticker_or_photo_gets_the_text_only_reply(
    bot: Harness, content: dict[str, Any]
) -> None:
    person = await started(bot, 52)
    replies = await feed(bot, person, message_update(person, **content))
    assert len(replies) == 1
    assert "je ne sais lire que les messages texte" in visible(replies[0])
    assert await bot.logged_questions() == []
