"""Real questions asked as a person would: the right answer, no hand-off under it, the
fallback when the bot is unsure, small talk, time-aware answers, and the question log."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.clock import FrozenClock
from tests.harness import Harness, visible

PERSON_FR = "🙋 Parler à une personne"
PERSON_EN = "🙋 Talk to a person"
NOT_SURE_FR = "Je ne suis pas certain de bien comprendre"
PHONE = "1-888-750-4980"


# (question, language code of the person's Telegram, words the expected entry's answer holds)
QUESTIONS = [
    pytest.param(
        "Est-ce que notre organisme devra payer des frais pour suivre le volet leadership?",
        "fr",
        ["gratuitement", "en ligne"],
        id="cost-formal-french",
    ),
    pytest.param(
        "c'tu gratuit pour les organismes?", "fr", ["gratuitement"], id="cost-quebec-ctu"
    ),
    pytest.param(
        "pis ça coûte-tu quelque chose au final?",
        "fr",
        ["gratuitement"],
        id="cost-quebec-coute-tu",
    ),
    pytest.param(
        "est ce que la formation se donne en ligne",
        "fr",
        ["8 demi-journées", "100 % en ligne"],
        id="format-no-accents",
    ),
    pytest.param(
        "quelles sont les etapes pour sinscrire",
        "fr",
        ["séance d'information"],
        id="register-no-accents",
    ),
    pytest.param(
        "la bource innovation c'est combien",
        "fr",
        ["bourse innovation", "50 000 $"],
        id="innovation-typo-bource",
    ),
    pytest.param(
        "Combien de places y a-t-il dans chaque cohorte?",
        "fr",
        ["20 personnes", "sélection"],
        id="seats-formal-french",
    ),
    pytest.param(
        "qui finance le programme datide", "fr", ["Centraide", "MTESS"], id="programme-typo"
    ),
    pytest.param(
        "Is there any cost to join the leadership track?",
        "en",
        ["free of charge"],
        id="cost-english",
    ),
    pytest.param(
        "Who runs the leadership workshops?",
        "en",
        ["Dynamo", "Open North"],
        id="facilitators-english",
    ),
    pytest.param(
        "What equipment do I need to participate?",
        "en",
        ["computer", "camera", "microphone"],
        id="prerequisites-english",
    ),
    pytest.param(
        "Bonjour! Je suis coordonnatrice dans un organisme communautaire à Laval, on est "
        "quatre employés. Comment fait-on pour s'inscrire au volet leadership?",
        "fr",
        ["séance d'information"],
        id="register-long-message-with-context",
    ),
    pytest.param(
        "Bonjour, je suis directrice d'un petit organisme en alphabétisation à Verdun. "
        "Est-ce que le volet leadership coûte quelque chose?",
        "fr",
        ["gratuitement"],
        id="cost-long-message-with-context",
    ),
    pytest.param(
        "Notre organisme est à Côte-des-Neiges. Comment fait-on pour s'inscrire?",
        "fr",
        ["séance d'information"],
        id="register-from-a-neighbourhood-named-after-snow",
    ),
    pytest.param(
        "bourse?", "fr", ["amorçage", "accélération", "innovation", "5 000 $"], id="bourse-alone"
    ),
    pytest.param(
        "Comment on fait pour joindre l'équipe par téléphone?",
        "fr",
        [PHONE, "info@opennorth.ca"],
        id="contact-french",
    ),
]


@pytest.mark.parametrize(("question", "telegram_language", "words"), QUESTIONS)
async def test_real_question_gets_its_entrys_answer_without_hand_off(
    bot: Harness, question: str, telegram_language: str, words: list[str]
) -> None:
    person = bot.user(10, language_code=telegram_language)
    replies = await person.say(question)
    assert len(replies) == 1
    answer = visible(replies[0])
    for word in words:
        assert word in answer, f"{word!r} missing from the answer to {question!r}: {answer!r}"
    assert NOT_SURE_FR not in answer
    assert PERSON_FR not in person.buttons()
    assert PERSON_EN not in person.buttons()


async def test_confident_answer_is_in_the_language_of_the_question(bot: Harness) -> None:
    person = bot.user(11, language_code="fr")
    await person.say("Is there any cost to join the leadership track?")
    english = person.last_reply()
    assert "free of charge" in visible(english)
    assert "gratuitement" not in visible(english)
    # Related topics under an English answer are titled in English.
    assert "DATAide grants" in person.buttons(english)


async def test_out_of_scope_question_says_not_sure_with_suggestions(bot: Harness) -> None:
    person = bot.user(12)
    replies = await person.say("Quelle météo demain à Gatineau?")
    assert len(replies) == 1
    assert NOT_SURE_FR in visible(replies[0])
    labels = person.buttons()
    assert labels[-1] == PERSON_FR
    assert 2 <= len(labels[:-1]) <= 3
    assert PERSON_FR not in labels[:-1]


async def test_pressing_a_suggestion_gives_that_entrys_answer(bot: Harness) -> None:
    person = bot.user(13)
    await person.say("Quelle météo demain à Gatineau?")
    assert "Les bourses DATAide" in person.buttons()
    answer = await person.press("Les bourses DATAide")
    assert len(answer) == 1
    assert "amorçage" in visible(answer[0])
    assert "50 000 $" in visible(answer[0])
    assert PERSON_FR not in person.buttons(answer[0])


async def test_person_button_gives_the_contact_details(bot: Harness) -> None:
    person = bot.user(14)
    await person.say("Quelle météo demain à Gatineau?")
    contact = await person.press(PERSON_FR)
    assert len(contact) == 1
    assert PHONE in visible(contact[0])
    assert "info@opennorth.ca" in visible(contact[0])


async def test_context_that_reads_like_another_question_does_not_take_the_answer(
    bot: Harness,
) -> None:
    """The first two sentences read like "are we eligible?" (the classifier reads the whole
    message as that), but the sentence that asks is about registering: that is the answer."""
    person = bot.user(17)
    await person.say(
        "Je travaille pour un organisme en sécurité alimentaire à Sherbrooke; on a trois "
        "employés et plusieurs bénévoles. On voudrait mieux utiliser nos données. Comment "
        "fait-on pour s'inscrire au volet leadership?"
    )
    answer = visible(person.last_reply())
    assert NOT_SURE_FR not in answer
    assert "séance d'information" in answer
    assert "milieu communautaire" not in answer  # the words of the eligibility answer
    assert PERSON_FR not in person.buttons()


async def test_the_sentence_that_asks_is_answered_not_the_context_after_it(bot: Harness) -> None:
    """Read alone, the second sentence (before telling our board) is about the board's
    support, a prerequisite; it does not ask anything, the first sentence does."""
    person = bot.user(18)
    await person.say(
        "Est-ce que je parle à une vraie personne? Je veux le savoir avant d'en parler à notre "
        "conseil d'administration."
    )
    answer = visible(person.last_reply())
    assert NOT_SURE_FR not in answer
    assert "assistant automatisé de DATAide" in answer


async def test_question_close_to_the_base_suggests_the_closest_topics(bot: Harness) -> None:
    person = bot.user(15)
    await person.say("Est-ce que la formation donne des crédits universitaires?")
    assert NOT_SURE_FR in visible(person.last_reply())
    labels = person.buttons()
    assert labels[-1] == PERSON_FR
    assert "Bourse innovation" in labels[:-1]
    answer = await person.press("Bourse innovation")
    assert "bourse innovation" in visible(answer[0])


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("allo!", "Bonjour et bienvenue"),
        ("merci beaucoup", "Avec plaisir"),
        ("Kwe!", "Bonjour et bienvenue"),  # Atikamekw and Innu, heard across Québec
        ("Bonjour, j'aurais quelques questions sur DATAide.", "Bonjour et bienvenue"),
        ("bon ben bonne nuit là", "Au plaisir"),
        ("a+ 👋", "Au plaisir"),  # texting for "à plus"
    ],
)
async def test_small_talk_gets_a_short_friendly_reply(
    bot: Harness, message: str, expected: str
) -> None:
    person = bot.user(16)
    replies = await person.say(message)
    assert len(replies) == 1
    text = visible(replies[0])
    assert expected in text
    assert NOT_SURE_FR not in text
    assert len(text) < 300
    assert PERSON_FR not in person.buttons()


async def test_next_cohort_is_not_presented_as_upcoming_after_the_last_one(
    bot: Harness,
) -> None:
    person = bot.user(17)
    await person.say("c'est quand la prochaine cohorte?")
    answer = visible(person.last_reply())
    assert "Aucune nouvelle cohorte n'a été annoncée" in answer
    assert "ont toutes eu lieu" in answer
    assert "propose" not in answer


async def test_next_cohort_is_upcoming_before_it_starts(bot: Harness, clock: FrozenClock) -> None:
    clock.set(datetime(2024, 4, 1, 14, 0, tzinfo=UTC))
    person = bot.user(18)
    await person.say("c'est quand la prochaine cohorte?")
    answer = visible(person.last_reply())
    assert "Le volet leadership propose" in answer
    assert "cohorte 3 : printemps 2024, du mercredi 8 mai 2024 au jeudi 30 mai 2024" in answer
    assert "Aucune nouvelle cohorte" not in answer


async def test_every_question_is_logged_with_whether_it_was_answered(bot: Harness) -> None:
    person = bot.user(19)
    await person.say("c'tu gratuit pour les organismes?")
    await person.say("Quelle météo demain à Gatineau?")
    await person.say("merci beaucoup")
    await person.say("/help")  # a command is not a question
    rows = await bot.logged_questions()
    assert [(r.text, r.answered) for r in rows] == [
        ("c'tu gratuit pour les organismes?", True),
        ("Quelle météo demain à Gatineau?", False),
        ("merci beaucoup", True),
    ]
    assert [rows[0].best_entry, rows[2].best_entry] == ["cost", "thanks"]
    assert all(r.person_id == 19 and r.language == "fr" for r in rows)


async def test_a_question_of_someone_who_just_erased_their_data_is_kept_without_them(
    bot: Harness,
) -> None:
    """Another process may still know a person for a minute after /forget: their question
    is logged anonymously, and the rest of its batch is not lost."""
    from bot.questions import LoggedQuestion

    await bot.user(1).say("c'est gratuit?")
    writer = bot.services.question_log
    now = bot.services.clock.now()
    for person in (1, 424242):  # 424242 never wrote, or was just erased
        writer.add(LoggedQuestion(person, f"question de {person}", "fr", "cost", 0.9, True, now))
    await writer.flush()
    logged = {q.text: q.person_id for q in await bot.logged_questions()}
    assert logged["question de 1"] == 1
    assert logged["question de 424242"] is None
