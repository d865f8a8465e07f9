"""The eligibility questionnaire as people use it: every path in both languages, going back,
starting over, /cancel, a restart mid-way, stale and forged buttons, typed text."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path as FilePath

import pytest

from bot import eligibility
from bot.clock import FrozenClock
from bot.config import PROJECT_ROOT, Settings
from bot.eligibility import Path, Progress
from bot.kb_check import check
from bot.kb_schema import EligibilityFile
from bot.knowledge import load_knowledge
from bot.memory_api import ChatSpec
from tests.harness import Harness, Person, running_bot, visible

BACK = {"fr": "← Retour", "en": "← Back"}
RESTART = {"fr": "↺ Recommencer", "en": "↺ Start over"}
SESSIONS = {"fr": "📅 Séances d'information", "en": "📅 Information sessions"}
CONTACT = {"fr": "🙋 Joindre l'équipe", "en": "🙋 Contact the team"}


def questionnaire(bot: Harness) -> EligibilityFile:
    found = bot.services.assistant.knowledge.eligibility
    assert found is not None
    return found


def plain(text: str) -> str:
    return text.replace("\u00a0", " ")


def label(bot: Harness, question_id: str, answer_id: str, language: str) -> str:
    question = questionnaire(bot).question(question_id)
    assert question is not None
    choice = next(a for a in question.answers if a.id == answer_id)
    return plain(bot.services.assistant.knowledge.text(choice.label, language))


def question_text(bot: Harness, question_id: str, language: str) -> str:
    question = questionnaire(bot).question(question_id)
    assert question is not None
    return plain(bot.services.assistant.knowledge.text(question.text, language))


def expected_result(bot: Harness, progress: Progress, language: str) -> list[str]:
    """The sentences an outcome must show: its text, or "eligible once" and each todo."""
    knowledge = bot.services.assistant.knowledge
    outcome = questionnaire(bot).outcomes[progress.outcome_id or ""]
    if outcome.kind == "eligible" and progress.todos:
        assert outcome.with_todos is not None
        texts = [outcome.with_todos] + [questionnaire(bot).todos[t].text for t in progress.todos]
        return [plain(knowledge.text(t, language)) for t in texts]
    return [plain(knowledge.text(outcome.text, language))]


async def start(person: Person) -> None:
    replies = await person.say("/eligibility")
    assert len(replies) == 1


async def answer(bot: Harness, person: Person, path: Path, language: str) -> None:
    for question_id, answer_id in path:
        assert question_text(bot, question_id, language) in visible(person.last_reply())
        replies = await person.press(label(bot, question_id, answer_id, language))
        assert len(replies) == 1, [visible(r) for r in replies]


def covering_paths(questionnaire: EligibilityFile) -> list[Path]:
    """Paths that, together, press every answer of every question: each answer is reached
    by the shortest way to its question, then the first answers until a result. (Each
    step runs the same generic handler; every one of the hundreds of full paths is walked
    by the pure function in test_every_path_ends_on_the_outcome_its_answers_call_for.)"""
    routes: dict[str, Path] = {questionnaire.start: ()}
    queue = [questionnaire.start]
    while queue:
        question = questionnaire.question(queue.pop(0))
        assert question is not None
        for choice in question.answers:
            if choice.next is not None and choice.next not in routes:
                routes[choice.next] = (*routes[question.id], (question.id, choice.id))
                queue.append(choice.next)
    paths = []
    for question in questionnaire.questions:
        for choice in question.answers:
            path: Path = (*routes[question.id], (question.id, choice.id))
            while (progress := eligibility.walk(questionnaire, path)) and progress.question:
                path = (*path, (progress.question.id, progress.question.answers[0].id))
            paths.append(path)
    return paths


# ---------------------------------------------------------------------- every path


@pytest.fixture(scope="module")
def real() -> EligibilityFile:
    """The questionnaire of the project's knowledge/, without a bot."""
    found = load_knowledge(PROJECT_ROOT / "knowledge").eligibility
    assert found is not None
    return found


def test_every_path_ends_on_the_outcome_its_answers_call_for(real: EligibilityFile) -> None:
    paths = list(eligibility.every_path(real))
    assert len(paths) > 200
    for path, progress in paths:
        answers = dict(path)
        assert progress.done, path
        expected = {
            "sector": {"no": "not-community"},
            "interest": {"no": "not-now"},
            "availability": {"no": "not-available"},
            "info-session": {"no": "needs-info-session"},
        }
        stops = [
            outcome
            for question, outcome_of in expected.items()
            if (outcome := outcome_of.get(answers.get(question, ""))) is not None
        ]
        assert [progress.outcome_id] == (stops or ["eligible"]), path
        chosen = [
            next(a for a in q.answers if a.id == answers[q.id])
            for q in real.questions
            if q.id in answers
        ]
        assert set(progress.todos) == {a.todo for a in chosen if a.todo}, path
        if progress.outcome_id == "eligible" and answers.get("info-session") == "willing":
            assert "info-session" in progress.todos


@pytest.mark.parametrize("language", ["fr", "en"])
async def test_every_answer_and_result_in_both_languages(bot: Harness, language: str) -> None:
    paths = covering_paths(questionnaire(bot))
    pressed = {pair for path in paths for pair in path}
    every_answer = {(q.id, a.id) for q in questionnaire(bot).questions for a in q.answers}
    assert pressed == every_answer
    outcomes_seen: set[str] = set()
    for number, path in enumerate(paths):
        progress = eligibility.walk(questionnaire(bot), path)
        assert progress is not None
        assert progress.done
        person = bot.user(10_000 + number, language_code=language)
        await start(person)
        await answer(bot, person, path, language)
        shown = visible(person.last_reply())
        for sentence in expected_result(bot, progress, language):
            assert sentence in shown, (path, sentence)
        buttons = person.buttons()
        assert buttons[-2:] == [BACK[language], RESTART[language]]
        assert len(buttons) > 2, path  # never a bare result: always a next step
        if "info-session" in progress.todos or progress.outcome_id == "needs-info-session":
            assert SESSIONS[language] in buttons, path
        outcomes_seen.add(progress.outcome_id or "")
    assert outcomes_seen == set(questionnaire(bot).outcomes)


# ---------------------------------------------------------------------- moving around


async def test_back_changes_an_answer_and_works_from_the_result(bot: Harness) -> None:
    person = bot.user(1)
    await start(person)
    assert BACK["fr"] not in person.buttons()  # nothing to go back to yet
    await person.press("Oui")
    await person.press("Oui")
    replies = await person.press(BACK["fr"])
    assert "Question 2 sur 6" in visible(replies[0])
    assert question_text(bot, "interest", "fr") in visible(replies[0])
    replies = await person.press("Pas vraiment")
    assert "ce n'est peut-être pas le bon moment" in visible(replies[0])
    assert "Les 3 volets de DATAide" in person.buttons()
    replies = await person.press(BACK["fr"])  # from the result, back to the last question
    assert question_text(bot, "interest", "fr") in visible(replies[0])
    await person.press(BACK["fr"])
    replies = await person.press("Non")
    assert "pas conçu pour votre situation" in visible(replies[0])
    assert "Les 3 volets de DATAide" in person.buttons()


async def test_start_over_makes_older_buttons_harmless(bot: Harness) -> None:
    person = bot.user(2, language_code="en")
    await start(person)
    first = person.last_reply()
    await person.press("Yes")
    await person.press("Yes")
    replies = await person.press(RESTART["en"])
    assert "Question 1 of 6" in visible(replies[0])
    assert "Let's see together" in visible(replies[0])
    replies = await person.press("I don't know", message=first)  # from the older run
    assert "belongs to an earlier question" in visible(replies[0])
    assert "Question 1 of 6" in visible(replies[0])
    await person.press("No")
    assert "isn't designed for your situation" in visible(person.last_reply())


async def test_a_button_of_an_earlier_question_does_not_answer_the_current_one(
    bot: Harness,
) -> None:
    person = bot.user(3)
    await start(person)
    first = person.last_reply()
    await person.press("Oui")
    replies = await person.press("Non", message=first)  # "No" to question 1, already answered
    assert "vient d'une question précédente" in visible(replies[0])
    assert "Question 2 sur 6" in visible(replies[0])
    await person.press("Oui")
    assert "Question 3 sur 6" in visible(person.last_reply())


async def test_cancel_ends_it_and_its_buttons_then_offer_to_start_over(bot: Harness) -> None:
    person = bot.user(4)
    await start(person)
    await person.press("Oui")
    question = person.last_reply()
    replies = await person.say("/cancel")
    assert "C'est annulé" in visible(replies[0])
    replies = await person.press("Oui", message=question)
    assert "Ce questionnaire est fermé" in visible(replies[0])
    assert person.buttons() == [RESTART["fr"]]
    replies = await person.press(RESTART["fr"])
    assert "Question 1 sur 6" in visible(replies[0])


async def test_another_command_ends_it(bot: Harness) -> None:
    person = bot.user(5)
    await start(person)
    question = person.last_reply()
    await person.say("/help")
    replies = await person.say("c'est gratuit?")  # a question again
    assert "gratuit" in visible(replies[0])
    replies = await person.press("Oui", message=question)
    assert "Ce questionnaire est fermé" in visible(replies[0])


async def test_an_idle_questionnaire_ends_politely(bot: Harness, clock: FrozenClock) -> None:
    person = bot.user(6)
    await start(person)
    await person.press("Oui")
    clock.advance(timedelta(hours=3))
    replies = await person.press("Oui")
    assert "après une longue pause" in visible(replies[0])
    assert person.buttons() == [RESTART["fr"]]
    replies = await person.say("c'est gratuit?")  # typed text is a question again
    assert "gratuit" in visible(replies[0])


async def test_it_continues_after_a_restart(settings: Settings, clock: FrozenClock) -> None:
    async with running_bot(settings, clock) as bot:
        person = bot.user(7, language_code="en")
        await start(person)
        await person.press("Yes")
        await person.press("Yes")
        api = bot.api
    async with running_bot(settings, clock, api) as bot:  # a new process, same database
        person = bot.user(7, language_code="en")
        replies = await person.press("Not yet")  # on the message the first process sent
        assert "Question 4 of 6" in visible(replies[0])
        replies = await person.say("what now?")  # typed: pointed back to the buttons
        assert "tap one of the buttons" in visible(replies[0])
        await person.press("Yes")
        await person.press("Yes")
        replies = await person.press("Yes, I attended one")
        text = visible(replies[0])
        assert "You're almost there" in text
        assert "get the support of your board of directors" in text
        assert bot.errors == []


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize("typed", ["?", "🌱🌱", "<b>oui</b> & co", "x" * 5000])
async def test_typed_text_points_to_the_buttons_and_loses_nothing(
    bot: Harness, typed: str
) -> None:
    person = bot.user(8)
    await start(person)
    await person.press("Oui")
    replies = await person.say(typed)
    assert len(replies) == 1
    assert "touchez l'un des boutons" in visible(replies[0])
    assert "Question 2 sur 6" in visible(replies[0])
    assert person.buttons()[:3] == ["Oui", "Pas vraiment", "Je ne sais pas encore"]
    await person.press("Oui")
    assert "Question 3 sur 6" in visible(person.last_reply())


async def test_after_the_result_typed_text_is_a_question_again(bot: Harness) -> None:
    person = bot.user(9)
    await start(person)
    await person.press("Non")
    replies = await person.say("c'est gratuit?")
    assert "gratuit" in visible(replies[0])
    replies = await person.press(BACK["fr"], message=person.replies()[-2])
    assert "Ce questionnaire est fermé" in visible(replies[0])


@pytest.mark.parametrize(
    "data",
    [
        "elig:ans-zzzzzz-0-0:fr",  # not a run id
        "elig:ans-abcdef-0:fr",  # no answer
        "elig:ans-abcdef-123-0:fr",  # no such step
        "elig:jump-abcdef-3:fr",  # no such action
        "elig:restart:xx",  # no such language
    ],
)
async def test_unreadable_questionnaire_buttons_expire(bot: Harness, data: str) -> None:
    person = bot.user(20)
    await start(person)
    replies = await person.forge(data)
    assert replies == []
    assert "plus valide" in str(bot.api.callback_answers[-1].get("text", ""))


async def test_forged_buttons_never_answer_for_anyone(bot: Harness) -> None:
    owner, intruder = bot.user(21), bot.user(22)
    await start(owner)
    question = owner.last_reply()
    data = question.buttons[0][0].callback_data
    assert data is not None
    assert data.startswith("elig:ans-")
    await intruder.say("/help")
    replies = await intruder.forge(data)  # the owner's button, pressed by someone else
    assert "Ce questionnaire est fermé" in visible(replies[0])
    await start(intruder)
    replies = await intruder.forge(data)  # a run that is not theirs
    assert "vient d'une question précédente" in visible(replies[0])
    run = data.split("-")[1]
    replies = await owner.forge(f"elig:ans-{run}-0-9:fr")  # an answer the question lacks
    assert "Question 1 sur 6" in visible(replies[0])
    replies = await owner.forge(f"elig:back-{run}-0:fr")  # back from the first question
    assert "Question 1 sur 6" in visible(replies[0])
    await owner.press("Oui", message=question)
    assert "Question 2 sur 6" in visible(owner.last_reply())


async def test_answers_from_an_older_questionnaire_version_start_over(bot: Harness) -> None:
    person = bot.user(23)
    await start(person)
    run = (person.last_reply().buttons[0][0].callback_data or "").split("-")[1]
    state = await bot.services.dialogues.get(23, 23, bot.services.clock.now())
    assert state is not None
    edited = type(state)(state.flow, state.step, {**state.data, "path": [["sector", "gone"]]})
    await bot.services.dialogues.put(23, 23, edited, bot.services.clock.now())
    replies = await person.forge(f"elig:ans-{run}-1-0:fr")
    assert "a été mis à jour" in visible(replies[0])
    assert "Question 1 sur 6" in visible(replies[1])


# ---------------------------------------------------------------------- ways in


async def test_menu_button_and_faq_followup_open_it(bot: Harness) -> None:
    person = bot.user(30)
    await person.say("/start")
    replies = await person.press("✅ Suis-je admissible ?")
    assert "Question 1 sur 6" in visible(replies[0])
    await person.press("Oui")
    replies = await person.say("quels sont les prérequis")  # a question mid-way: answered
    assert "quatre choses" in visible(replies[0])
    assert "Question 2 sur 6" in visible(replies[1])  # then back where we were
    replies = await person.press("✅ Vérifier mon admissibilité")
    assert "Question 1 sur 6" in visible(replies[0])
    replies = await person.say("/start eligibility")
    assert "Question 1 sur 6" in visible(replies[0])


async def test_in_a_group_it_points_to_a_private_chat(bot: Harness) -> None:
    person = bot.user(31, chat=ChatSpec(-600, "group", "Organismes"))
    replies = await person.say("/eligibility")
    assert "écrivez-moi en privé" in visible(replies[0])
    assert "?start=eligibility" in visible(replies[0])
    assert person.buttons(replies[0]) == []


# ---------------------------------------------------------------------- kb check

# (entry, field, words of the message) for each mistake planted in a copy of the file
PLANTED = [
    ("board", "answers[1].next", "unknown question 'equipmnet'"),
    ("availability", "answers[0].next", "goes back to 'sector': this path never reaches"),
    ("interest", "answers[1].outcome", "unknown outcome 'not-ready'"),
    ("equipment", "answers[2].todo", "unknown todo 'check'"),
    ("not-community", "entries[0]", "unknown FAQ entry 'no-such-entry'"),
    ("eligible", "text.en", "unknown fact {leadership_weekz}"),
]


def plant(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} is not in eligibility.yaml exactly once"
    return text.replace(old, new)


def test_kb_check_reports_every_questionnaire_mistake(tmp_path: FilePath) -> None:
    copy = tmp_path / "knowledge"
    shutil.copytree(PROJECT_ROOT / "knowledge", copy)
    path = copy / "eligibility.yaml"
    text = path.read_text(encoding="utf-8")
    text = plant(
        text,
        "        next: equipment\n        todo: board\n      - id: unsure",
        "        next: equipmnet\n        todo: board\n      - id: unsure",
    )
    text = plant(
        text,
        '        next: info-session\n      - id: "no"',
        '        next: sector\n      - id: "no"',
    )
    text = plant(text, "        outcome: not-now", "        outcome: not-ready")
    text = plant(text, "        todo: equipment-check", "        todo: check")
    text = plant(text, "    entries: [learning-tracks]\n", "    entries: [no-such-entry]\n")
    text = plant(
        text,
        "take part in the leadership track! Next",
        "take part in the leadership track ({leadership_weekz})! Next",
    )
    path.write_text(text, encoding="utf-8")
    problems = [p for p in check(copy) if p.severity == "error"]
    for entry, field, words in PLANTED:
        assert any(
            p.file.endswith("eligibility.yaml")
            and p.entry == entry
            and p.field == field
            and words in p.message
            for p in problems
        ), (entry, field, words, [str(p) for p in problems])
    assert len(problems) == len(PLANTED), [str(p) for p in problems]


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        (
            "        outcome: not-community\n",
            "        outcome: not-community\n        next: interest\n",
            "questions.0.answers.1",
            "exactly one of",
        ),
        (
            "  not-now:\n    kind: not-eligible\n",
            "  not-now:\n    kind: eligible\n",
            "outcomes.not-now",
            "needs `with_todos`",
        ),
        ("start: sector", "start: secteur", "start", "unknown question 'secteur'"),
        (
            '{fr: "Oui", en: "Yes"}\n        next: interest',
            '{fr: "Oui", en: "' + "Y" * 41 + '"}\n        next: interest',
            "questions.0.answers.0.label",
            "longer than 40",
        ),
        (
            "    actions: [sessions, contact]\n",
            "    actions: [sessions, website]\n",
            "outcomes.needs-info-session.actions.1",
            "sessions",
        ),
    ],
)
def test_kb_check_names_the_field_of_a_schema_mistake(
    tmp_path: FilePath, old: str, new: str, field: str, words: str
) -> None:
    copy = tmp_path / "knowledge"
    shutil.copytree(PROJECT_ROOT / "knowledge", copy)
    path = copy / "eligibility.yaml"
    path.write_text(plant(path.read_text(encoding="utf-8"), old, new), encoding="utf-8")
    problems = [p for p in check(copy) if p.severity == "error"]
    assert any(
        p.file.endswith("eligibility.yaml")
        and (p.field or "").startswith(field)
        and words in p.message
        for p in problems
    ), [str(p) for p in problems]


def test_the_project_questionnaire_passes_kb_check() -> None:
    problems = [p for p in check(PROJECT_ROOT / "knowledge") if "eligibility" in p.file]
    assert problems == []
