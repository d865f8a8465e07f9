"""Staff reports: /reload, /export, /unanswered and /stats, through the real Application.

Everyone else gets the polite refusal, and nothing is reloaded, read or sent.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot import infosessions
from bot.clock import FrozenClock
from bot.config import PROJECT_ROOT
from bot.exports import QUESTION_COLUMNS, REGISTRATION_COLUMNS
from bot.infosessions import NewSession, SessionView
from bot.memory_api import ChatSpec, SentMessage
from tests.conftest import NOW, STAFF_ID, make_settings
from tests.harness import Harness, Person, running_bot, visible
from tests.test_sessions import BUTTON, START, new_session

REFUSAL = "réservée à l'équipe"
WHEN = BUTTON.split(" : ", 1)[1]  # jeudi 3 décembre, 14 h
FREE = "c'est gratuit?"
OLD_ANSWER = "offert <b>gratuitement</b>"
NEW_ANSWER = "Oui, c'est gratuit (nouvelle version)."


def raw(message: SentMessage) -> str:
    return message.raw_text or ""


def csv_rows(document: tuple[str, bytes] | None) -> list[dict[str, str]]:
    """A sent CSV file read back as Excel would: UTF-8 with its byte-order mark."""
    assert document is not None
    content = document[1]
    assert content.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def header(document: tuple[str, bytes] | None) -> list[str]:
    assert document is not None
    return next(csv.reader(io.StringIO(document[1].decode("utf-8-sig"))))


async def ask_all(bot: Harness, questions: list[str], first_id: int = 100) -> None:
    """Each question from a different person, as people would type them."""
    for offset, question in enumerate(questions):
        await bot.user(first_id + offset).say(question)


# ---------------------------------------------------------------------- /reload


@pytest.fixture
def knowledge(tmp_path: Path) -> Path:
    """A copy of the knowledge base the test may break."""
    folder = tmp_path / "knowledge"
    shutil.copytree(PROJECT_ROOT / "knowledge", folder)
    return folder


@pytest.fixture
async def own_bot(
    database_url: str, clock: FrozenClock, knowledge: Path
) -> AsyncIterator[Harness]:
    """The bot on the copied knowledge base."""
    settings = make_settings(database_url, KNOWLEDGE_DIR=str(knowledge))
    async with running_bot(settings, clock) as harness:
        yield harness
        assert harness.api.unknown_calls == []
    assert harness.errors == [], f"handlers raised: {harness.errors!r}"


def rewrite_cost_answer(knowledge: Path, french: str) -> None:
    path = knowledge / "faq" / "cost.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("answer:\n  fr: |-\n") + len("answer:\n  fr: |-\n")
    end = text.index("\n  en:", start)
    path.write_text(text[:start] + "    " + french + text[end:], encoding="utf-8")


async def test_reload_keeps_the_old_base_and_names_each_error(
    own_bot: Harness, knowledge: Path
) -> None:
    staff, person = own_bot.user(STAFF_ID), own_bot.user(1)
    assert OLD_ANSWER in raw((await person.say(FREE))[0])
    rewrite_cost_answer(knowledge, NEW_ANSWER + " {prix<b>}")  # an unknown fact, with HTML
    (knowledge / "synonyms.yaml").write_text("groups: [unclosed\n", encoding="utf-8")
    [reply] = await staff.say("/reload")
    text = visible(reply)
    assert "Je garde la version actuelle" in text
    assert "2 erreur(s)" in text
    assert "faq/cost.yaml · entry 'cost' · field 'answer.fr': unknown fact {prix<b>}" in text
    assert "synonyms.yaml" in text
    assert "not valid YAML" in text
    assert "&lt;b&gt;" in raw(reply)  # escaped, so Telegram shows it instead of refusing it
    assert "python -m bot kb check" in text
    assert OLD_ANSWER in raw((await person.say(FREE))[0])  # the old base still answers

    rewrite_cost_answer(knowledge, NEW_ANSWER)
    shutil.copy(PROJECT_ROOT / "knowledge" / "synonyms.yaml", knowledge / "synonyms.yaml")
    [reply] = await staff.say("/reload")
    assert "Base de connaissances rechargée" in visible(reply)
    entries = len(list((knowledge / "faq").glob("*.yaml")))
    assert f"{entries} fiches" in visible(reply)
    answer = visible((await person.say(FREE))[0])
    assert NEW_ANSWER in answer
    assert "gratuitement" not in answer


async def test_a_long_error_list_is_cut_to_fit_one_message(
    own_bot: Harness, knowledge: Path
) -> None:
    marker = "answer:\n  fr: |-\n"
    broken = 0
    for path in sorted((knowledge / "faq").glob("*.yaml")):  # a long unknown fact in each
        text = path.read_text(encoding="utf-8")
        if marker in text:
            path.write_text(text.replace(marker, marker + "    {" + "x" * 150 + "}\n", 1))
            broken += 1
    [reply] = await own_bot.user(STAFF_ID).say("/reload")
    text = visible(reply)
    assert len(raw(reply)) <= 4096
    shown = text.count("unknown fact {xxx")
    assert 5 < shown < broken
    assert f"contient {broken} erreur(s)" in text
    assert f"… et {broken - shown} autre(s)" in text
    assert text.rstrip().endswith("puis refaites /reload.")


async def test_reload_by_someone_else_changes_nothing(own_bot: Harness, knowledge: Path) -> None:
    person = own_bot.user(1)
    rewrite_cost_answer(knowledge, NEW_ANSWER)  # a valid change, waiting on disk
    replies = await person.say("/reload")
    assert len(replies) == 1
    assert REFUSAL in visible(replies[0])
    assert OLD_ANSWER in raw((await person.say(FREE))[0])
    await own_bot.user(STAFF_ID).say("/reload")
    assert NEW_ANSWER in visible((await person.say(FREE))[0])


# ---------------------------------------------------------------------- /export


async def register_as(
    person: Person, organisation: str, email: str | None = None, when: str = WHEN
) -> None:
    """The registration taps for the session at `when` (a seat or the waitlist), with the
    organisation and email given."""
    await person.say("/sessions")
    await person.press(next(b for b in person.buttons() if b.endswith(when)))
    await person.press(person.buttons()[0])  # the name Telegram shows
    await person.say(organisation)
    if email is None:
        await person.press("Passer")
    else:
        await person.say(email)
    await person.press(next(b for b in person.buttons() if b.startswith("✅")))


async def test_export_sends_registrations_with_accents_and_the_waitlist(
    bot: Harness, clock: FrozenClock
) -> None:
    view = await new_session(bot, capacity=1, title="Séance d'information — été")
    await register_as(
        bot.user(10, first_name="Élodie"),
        "Société d'entraide Côte-des-Neiges",
        "élodie@exemple.org",
    )
    clock.advance(timedelta(minutes=5))
    await register_as(bot.user(11, first_name="Zoé"), '=HYPERLINK("http://x")')
    staff = bot.user(STAFF_ID)
    replies = await staff.say("/export")
    assert "Voici les exports" in visible(replies[0])
    files = [m for m in replies if m.document is not None]
    assert [m.document[0] for m in files if m.document] == [
        f"registrations-2026-12-03-1400-session{view.id}.csv",
        "questions-2026-11-21.csv",
    ]
    assert "jeudi 3 décembre 2026, 14 h" in visible(files[0])  # the caption
    assert header(files[0].document) == list(REGISTRATION_COLUMNS)
    first, second = csv_rows(files[0].document)
    assert first == {
        "session_start": "2026-12-03 14:00",
        "session_title": "Séance d'information — été",
        "status": "confirmed",
        "waitlist_position": "",
        "name": "Élodie",
        "organisation": "Société d'entraide Côte-des-Neiges",
        "email": "élodie@exemple.org",
        "language": "fr",
        "registered_at": "2026-11-21 10:00",
    }
    assert (second["name"], second["status"], second["waitlist_position"]) == (
        "Zoé",
        "waitlisted",
        "1",
    )
    assert second["registered_at"] == "2026-11-21 10:05"
    assert second["organisation"] == '\'=HYPERLINK("http://x")'  # never run as a formula


async def test_export_covers_upcoming_sessions_and_the_last_30_days(
    bot: Harness, clock: FrozenClock
) -> None:
    old = await new_session(bot, NOW + timedelta(days=1), title="Ancienne")
    recent = await new_session(bot, NOW + timedelta(days=20), title="Récente")
    coming = await new_session(bot, NOW + timedelta(days=45), title="À venir")
    await new_session(bot, NOW + timedelta(days=46), title="Vide")
    for number, view in enumerate((old, recent, coming)):
        await register_for(bot, view, 20 + number)
    clock.advance(timedelta(days=35))  # `old` was 34 days ago, `recent` 15 days ago
    replies = await bot.user(STAFF_ID).say("/export")
    text = visible(replies[0])
    assert "1 séance(s) sans aucune inscription" in text
    files = [m.document for m in replies if m.document]
    titles = [csv_rows(file)[0]["session_title"] for file in files[:-1]]
    assert titles == ["Récente", "À venir"]
    assert files[-1][0] == "questions-2026-12-26.csv"  # the log comes last, always


async def register_for(bot: Harness, view: SessionView, person_id: int) -> None:
    """Register one person to `view` through the bot, whatever its date."""
    when = bot.services.session_text().when(view.starts_at, "fr", year=False)
    when = when.replace("\u00a0", " ")  # as the button reads
    await register_as(bot.user(person_id), "Organisme", when=when)


async def test_question_log_export_has_no_personal_identifiers(bot: Harness) -> None:
    person = bot.user(987654, first_name="Bérénice")
    await person.say("Peut-on amener son chien à l'atelier d'été ?")
    await person.say(FREE)
    replies = await bot.user(STAFF_ID).say("/export")
    assert "Aucune inscription" in visible(replies[0])
    [log] = [m for m in replies if m.document]
    assert log.document is not None
    assert log.document[0] == "questions-2026-11-21.csv"
    assert header(log.document) == list(QUESTION_COLUMNS)
    declined, answered = csv_rows(log.document)
    assert (declined["asked_on"], declined["language"], declined["answered"]) == (
        "2026-11-21",
        "fr",
        "no",
    )
    assert declined["text"] == "Peut-on amener son chien à l'atelier d'été ?"
    assert (answered["text"], answered["best_entry"], answered["answered"]) == (
        FREE,
        "cost",
        "yes",
    )
    assert float(answered["score"]) > 0.5
    content = log.document[1].decode("utf-8-sig")
    assert "Bérénice" not in content
    assert "987654" not in content  # nor the person's id
    assert "2 question(s)" in visible(log)


async def test_export_is_only_sent_in_a_private_chat(bot: Harness) -> None:
    await new_session(bot)
    await register_as(bot.user(40), "Organisme")
    staff_in_group = bot.user(STAFF_ID, chat=ChatSpec(-500, "group", "Équipe"))
    replies = await staff_in_group.say("/export")
    assert len(replies) == 1
    assert replies[0].document is None
    assert "conversation privée" in visible(replies[0])


# ---------------------------------------------------------------------- /unanswered

BIKES = "Stationnement pour vélos & <motos> ?"
LUNCH = ["Le dîner est-il fourni ?", "le diner est fourni?"]


async def test_unanswered_groups_similar_questions_most_frequent_first(bot: Harness) -> None:
    await ask_all(bot, [*LUNCH, BIKES, FREE, BIKES, "stationnement vélo?"])
    logged = await bot.logged_questions()
    assert [q.answered for q in logged] == [False, False, False, True, False, False]
    [reply] = await bot.user(STAFF_ID).say("/unanswered")
    text = visible(reply)
    assert "30 derniers jours" in text
    assert "5 question(s), 2 groupe(s)" in text
    lines = text.splitlines()
    bikes = next(i for i, line in enumerate(lines) if line.startswith("3×"))
    lunch = next(i for i, line in enumerate(lines) if line.startswith("2×"))
    assert bikes < lunch
    assert lines[bikes] == f"3× {BIKES} (2 formulations)"
    assert lines[lunch] == f"2× {LUNCH[0]}"
    assert "&amp; &lt;motos&gt;" in raw(reply)
    assert "gratuit" not in text  # answered: not a question to write


async def test_unanswered_counts_only_the_last_days_asked_for(
    bot: Harness, clock: FrozenClock
) -> None:
    await ask_all(bot, LUNCH)
    clock.advance(timedelta(days=10))
    await ask_all(bot, [BIKES], first_id=200)
    staff = bot.user(STAFF_ID)
    text = visible((await staff.say("/unanswered 7"))[0])
    assert "7 derniers jours" in text
    assert "1× " + BIKES in text
    assert "dîner" not in text
    text = visible((await staff.say("/unanswered 11"))[0])
    assert "2× " + LUNCH[0] in text
    clock.advance(timedelta(days=30, seconds=1))  # just past 30 days
    text = visible((await staff.say("/unanswered"))[0])
    assert "Aucune question sans réponse ces 30 derniers jours" in text


@pytest.mark.parametrize("argument", ["abc", "0", "99999", "-3", "7.5", "366", "7 jours"])
async def test_unanswered_explains_a_bad_number_of_days(bot: Harness, argument: str) -> None:
    await ask_all(bot, LUNCH)
    [reply] = await bot.user(STAFF_ID).say(f"/unanswered {argument}")
    text = visible(reply)
    assert f"« {argument} » n'est pas un nombre de jours" in text
    assert "de 1 à 365" in text
    assert "dîner" not in text


async def test_unanswered_lists_at_most_20_groups_in_one_message(bot: Harness) -> None:
    topics = [
        "piscine", "cinéma", "hockey", "guitare", "jardinage", "cuisine", "tricot",
        "astronomie", "échecs", "camping", "karaté", "ski", "vélo", "poterie", "danse",
        "théâtre", "chorale", "bricolage", "peinture", "photographie", "randonnée",
        "escalade", "natation", "yoga",
    ]  # fmt: skip
    questions = [f"{topic} & <i> " * 30 + "?" for topic in topics]  # long, and unalike
    await ask_all(bot, questions + questions[1:2])
    [reply] = await bot.user(STAFF_ID).say("/unanswered 365")
    text = visible(reply)
    assert len(raw(reply)) <= 4096
    assert f"{len(topics) + 1} question(s), {len(topics)} groupe(s)" in text
    groups = [line for line in text.splitlines() if "× " in line and " & <i> " in line]
    assert groups[0].startswith("2× cinéma & <i> cinéma")
    assert 5 <= len(groups) <= 20
    assert all(line.endswith("…") for line in groups)  # long examples are cut
    assert f"… et {len(topics) - len(groups)} autre(s) groupe(s)" in text


# ---------------------------------------------------------------------- /stats


async def test_stats_counts_people_questions_and_topics(bot: Harness, clock: FrozenClock) -> None:
    await bot.user(14).say("Peut-on amener son chien ?")  # 40 days before the others
    clock.advance(timedelta(days=40))
    await ask_all(bot, [FREE, FREE, "bourse innovation?", "bonjour", LUNCH[0]], first_id=20)
    [reply] = await bot.user(STAFF_ID).say("/stats")
    text = visible(reply)
    # People: 14, 20-24 and the staff member (/stats counts as contact) = 7; 14 is inactive.
    assert "Personnes : 7 en tout, 6 actives ces 30 derniers jours" in text
    assert (
        "Questions : 6 en tout, 5 ces 30 derniers jours, dont 80 % avec une réponse (4 sur 5)"
        in text
    )
    assert "1. Est-ce gratuit? : 2\n2. Bourse innovation : 1\n" in text
    assert "3. " not in text  # small talk (bonjour) is not a topic
    assert "Aucune séance à venir" in text
    assert "jeudi 31 décembre 2026" in text  # today, by the test's clock


async def test_stats_show_registrations_per_upcoming_session(bot: Harness) -> None:
    await new_session(bot, capacity=1)
    await register_as(bot.user(50), "Organisme A")
    await register_as(bot.user(51), "Organisme B")
    await new_session(bot, START + timedelta(days=7), capacity=12)
    gone = await new_session(bot, START + timedelta(days=8))
    await infosessions.cancel(
        bot.services.sessions, gone.id, NOW, bot.services.session_text().session_cancelled
    )
    await infosessions.create(
        bot.services.sessions,
        NewSession(NOW - timedelta(days=1), 60, 5, "fr", "Passée"),
        None,
        NOW,
    )
    [reply] = await bot.user(STAFF_ID).say("/stats")
    lines = visible(reply).splitlines()
    start = lines.index("📅 Séances à venir (inscrites / en attente / places) :")
    assert lines[start + 1 : start + 3] == [
        "• jeudi 3 décembre, 14 h : 1 / 1 / 1",
        "• jeudi 10 décembre, 14 h : 0 / 0 / 12",
    ]
    assert lines[start + 3].startswith("📣 Annonces"), "then the broadcasts, no other session"


async def test_stats_in_english_for_an_english_speaking_staff_member(bot: Harness) -> None:
    await ask_all(bot, [FREE])
    [reply] = await bot.user(STAFF_ID, language_code="en").say("/stats")
    text = visible(reply)
    assert "People: 2 in all, 2 active in the last 30 days" in text
    assert "Questions: 1 in all, 1 in the last 30 days, 100% of them answered (1 of 1)" in text
    assert "1. Is it free?: 1" in text


# ---------------------------------------------------------------------- rights


async def test_everyone_else_is_refused_and_nothing_is_sent(bot: Harness) -> None:
    await new_session(bot)
    await register_as(bot.user(60), "Organisme")
    await ask_all(bot, LUNCH)
    person = bot.user(61, language_code="en")
    for command in ("/reload", "/export", "/unanswered", "/unanswered 7", "/stats"):
        replies = await person.say(command)
        assert len(replies) == 1, command
        assert replies[0].document is None
        assert "for the DATAide team only" in visible(replies[0])
    assert all(m.document is None for m in bot.api.bot_messages(61))
    bot.services.settings.staff_ids = frozenset()  # staff removed: checked on every call
    replies = await bot.user(STAFF_ID).say("/export")
    assert [REFUSAL in visible(m) for m in replies] == [True]


async def test_thumbs_down_questions_join_the_unanswered_and_stats_show_satisfaction(
    bot: Harness,
) -> None:
    unhappy, happy = bot.user(30), bot.user(31)
    await unhappy.say("c'tu gratuit pour 3 organismes?")
    await unhappy.press("👎")
    await unhappy.say("le prix par personne")  # what was missing
    await happy.say("c'tu gratuit?")
    await happy.press("👍")
    [reply] = await bot.user(STAFF_ID).say("/unanswered")
    text = visible(reply)
    assert "1× c'tu gratuit pour 3 organismes?" in text
    assert "c'tu gratuit?\n" not in text + "\n"  # the 👍 one is not a question to write
    [reply] = await bot.user(STAFF_ID).say("/stats")
    assert "Satisfaction : 50 % de réponses utiles (1 👍, 1 👎)" in visible(reply)


async def test_stats_say_when_nobody_voted(bot: Harness) -> None:
    [reply] = await bot.user(STAFF_ID).say("/stats")
    assert "Satisfaction : aucun vote ces 30 derniers jours" in visible(reply)
