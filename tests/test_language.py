"""Choosing the language with /lang, and answers that follow the language of the question."""

from __future__ import annotations

from bot.language import detect_language
from tests.harness import Harness, visible

FRENCH = "🇫🇷 Français"
ENGLISH = "🇬🇧 English"
HELP_FR = "Écrivez-moi simplement votre question"
HELP_EN = "Just type your question"


async def test_lang_offers_french_and_english(bot: Harness) -> None:
    person = bot.user(20, language_code="fr")
    replies = await person.say("/lang")
    assert len(replies) == 1
    assert "Dans quelle langue" in visible(replies[0])
    assert person.buttons() == [FRENCH, ENGLISH]


async def test_pressing_english_confirms_in_english_and_keeps_english(bot: Harness) -> None:
    person = bot.user(21, language_code="fr")
    await person.say("/lang")
    replies = await person.press(ENGLISH)
    assert "Got it: I'll speak English with you." in visible(replies[0])
    assert "What would you like to do?" in visible(replies[-1])
    assert "❓ Ask a question" in person.buttons(replies[-1])
    help_reply = await person.say("/help")
    assert len(help_reply) == 1
    assert HELP_EN in visible(help_reply[0])
    assert HELP_FR not in visible(help_reply[0])


async def test_lang_fr_sets_french_directly(bot: Harness) -> None:
    person = bot.user(22, language_code="en-US")
    before = await person.say("/help")
    assert HELP_EN in visible(before[0])
    replies = await person.say("/lang fr")
    assert len(replies) == 1
    assert "je vous parlerai en français" in visible(replies[0])
    assert person.buttons(replies[0]) == []
    after = await person.say("/help")
    assert HELP_FR in visible(after[0])


async def test_lang_with_unknown_code_shows_the_choice(bot: Harness) -> None:
    person = bot.user(23, language_code="fr")
    replies = await person.say("/lang de")
    assert person.buttons(replies[0]) == [FRENCH, ENGLISH]
    help_reply = await person.say("/help")
    assert HELP_FR in visible(help_reply[0])


async def test_english_question_gets_english_answer_for_french_person(bot: Harness) -> None:
    person = bot.user(24, language_code="fr")
    await person.say("/lang fr")
    replies = await person.say("Who runs the leadership workshops?")
    answer = visible(replies[0])
    assert "The track is facilitated by" in answer
    assert "animé" not in answer
    followup = await person.say("qui anime les ateliers du volet leadership")
    assert "Le volet est animé par" in visible(followup[0])


async def test_suggestion_under_english_not_sure_answers_in_english(bot: Harness) -> None:
    person = bot.user(25, language_code="fr")
    replies = await person.say("What's the weather in Gatineau tomorrow?")
    assert "I'm not sure I understand" in visible(replies[0])
    labels = person.buttons()
    assert labels[-1] == "🙋 Talk to a person"
    base = bot.services.assistant.knowledge
    titles = {entry.title.en: entry_id for entry_id, entry in base.entries.items()}
    assert labels[0] in titles  # suggestions are English titles
    answer = await person.press(labels[0])
    assert len(answer) == 1
    english = base.answer(titles[labels[0]], "en", bot.services.assistant.today())
    assert visible(answer[0])[:40] == english.replace("<b>", "").replace("</b>", "")[:40]
    assert detect_language(visible(answer[0])) == "en"


async def test_person_button_under_english_not_sure_answers_in_english(bot: Harness) -> None:
    person = bot.user(26, language_code="fr")
    await person.say("What's the weather in Gatineau tomorrow?")
    contact = await person.press("🙋 Talk to a person")
    assert "You can reach the team directly" in visible(contact[0])
    assert "1-888-750-4980" in visible(contact[0])
