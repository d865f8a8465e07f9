"""A person talks to the bot: /start, questions, suggestions, language, help."""

from __future__ import annotations

from tests.harness import Harness


async def test_start_in_french_shows_welcome_and_menu(bot: Harness) -> None:
    person = bot.user(1, first_name="Josée", language_code="fr")
    replies = await person.say("/start")
    assert len(replies) == 1
    assert "Bonjour Josée" in (replies[0].text or "")
    assert "DATAide" in (replies[0].text or "")
    assert person.buttons() == [
        "❓ Poser une question",
        "✅ Suis-je admissible ?",
        "📅 Séances d'information",
        "🔔 Annonces",
        "🌐 English",
    ]


async def test_start_in_english_for_english_telegram(bot: Harness) -> None:
    person = bot.user(2, first_name="Sam", language_code="en-CA")
    await person.say("/start")
    assert "Hello Sam" in (person.last_reply().text or "")
    assert "❓ Ask a question" in person.buttons()


async def test_question_is_answered_in_its_language(bot: Harness) -> None:
    person = bot.user(3, language_code="fr")
    await person.say("Is it free?")
    answer = person.last_reply().text or ""
    assert "free" in answer.lower()
    await person.say("c'tu gratuit?")
    assert "gratuit" in (person.last_reply().text or "").lower()
