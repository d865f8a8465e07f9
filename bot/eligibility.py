"""The eligibility questionnaire as data: walk a path of answers to a question or an outcome.

A person's progress is only the list of (question, answer) pairs given so far, kept in the
conversation row (bot.dialogues); everything else is derived from knowledge/eligibility.yaml
by `walk`, a pure function. Going back is dropping the last pair; restarting is the empty
path. `structure_problems` is what `kb check` reports about the file's shape as a graph:
unknown targets, loops (a path that never reaches an outcome), unreachable questions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from bot.kb_schema import ENTRY_ID, EligibilityFile, EligibilityOutcome, EligibilityQuestion

Path = tuple[tuple[str, str], ...]  # (question id, answer id), in the order answered


@dataclass(frozen=True)
class Progress:
    """Where a path leads: the question to ask next, or the outcome and the things to do."""

    step: int  # how many answers were given
    question: EligibilityQuestion | None = None
    outcome_id: str | None = None
    todos: tuple[str, ...] = ()  # todo ids, in the order collected, without repeats

    @property
    def done(self) -> bool:
        return self.outcome_id is not None


def walk(questionnaire: EligibilityFile, path: Sequence[Sequence[str]]) -> Progress | None:
    """Replay a path from the start; None when it no longer fits the questionnaire (the
    file was edited and reloaded since the answers were given)."""
    question = questionnaire.question(questionnaire.start)
    todos: list[str] = []
    for step, pair in enumerate(path):
        if question is None or len(pair) != 2 or pair[0] != question.id:
            return None
        answer = next((a for a in question.answers if a.id == pair[1]), None)
        if answer is None:
            return None
        if answer.todo is not None and answer.todo not in todos:
            todos.append(answer.todo)
        if answer.outcome is not None:
            if step != len(path) - 1:
                return None  # answers after an outcome: not a path of this questionnaire
            return Progress(len(path), None, answer.outcome, tuple(todos))
        question = questionnaire.question(answer.next or "")
    if question is None:
        return None
    return Progress(len(path), question, None, tuple(todos))


def answer(
    questionnaire: EligibilityFile, path: Path, step: int, index: int
) -> tuple[Path, Progress] | None:
    """The path after choosing answer `index` of the question at `step`; None when that
    button no longer belongs to the current question (pressed on an older message)."""
    progress = walk(questionnaire, path)
    if progress is None or progress.question is None or step != progress.step:
        return None
    if not 0 <= index < len(progress.question.answers):
        return None
    new_path = (*path, (progress.question.id, progress.question.answers[index].id))
    after = walk(questionnaire, new_path)
    return None if after is None else (new_path, after)


def as_path(raw: object) -> Path | None:
    """A path read back from JSON (lists of two strings), or None if it is not one."""
    if not isinstance(raw, list):
        return None
    pairs = []
    for item in raw:
        if not (
            isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)
        ):
            return None
        pairs.append((item[0], item[1]))
    return tuple(pairs)


def longest(questionnaire: EligibilityFile) -> int:
    """The most questions any path asks: shown as "question 2 of 6" (loops are kb check
    errors; a loop met here just stops counting)."""
    depths: dict[str, int] = {}

    def depth(question_id: str, trail: frozenset[str]) -> int:
        question = questionnaire.question(question_id)
        if question is None or question_id in trail:
            return 0
        if question_id not in depths:
            depths[question_id] = 1 + max(
                depth(choice.next, trail | {question_id}) if choice.next else 0
                for choice in question.answers
            )
        return depths[question_id]

    return depth(questionnaire.start, frozenset())


def every_path(questionnaire: EligibilityFile) -> Iterator[tuple[Path, Progress]]:
    """Every complete path and where it ends (the file must be free of loops: see
    structure_problems). The tests walk them all, in both languages."""

    def extend(path: Path) -> Iterator[tuple[Path, Progress]]:
        progress = walk(questionnaire, path)
        if progress is None:
            return
        if progress.question is None:
            yield path, progress
            return
        for choice in progress.question.answers:
            yield from extend((*path, (progress.question.id, choice.id)))

    yield from extend(())


@dataclass(frozen=True)
class StructureProblem:
    """A problem with the questionnaire's shape, located by id and field."""

    entry: str | None
    field: str | None
    message: str
    severity: str = "error"


def structure_problems(
    questionnaire: EligibilityFile, faq_entries: Mapping[str, object]
) -> list[StructureProblem]:
    """Every reference checked, and every path followed: each must reach an outcome."""
    problems: list[StructureProblem] = []
    by_id = {q.id: q for q in questionnaire.questions}
    for kind, keys in (("todo", questionnaire.todos), ("outcome", questionnaire.outcomes)):
        for key in keys:
            if not re.match(ENTRY_ID, key):
                problems.append(
                    StructureProblem(key, None, f"{kind} ids are lowercase with dashes")
                )
    if questionnaire.start not in by_id:
        problems.append(
            StructureProblem(None, "start", f"unknown question {questionnaire.start!r}")
        )
    for question in questionnaire.questions:
        for index, choice in enumerate(question.answers):
            where = f"answers[{index}]"
            if choice.next is not None and choice.next not in by_id:
                problems.append(
                    StructureProblem(
                        question.id, f"{where}.next", f"unknown question {choice.next!r}"
                    )
                )
            if choice.outcome is not None and choice.outcome not in questionnaire.outcomes:
                problems.append(
                    StructureProblem(
                        question.id, f"{where}.outcome", f"unknown outcome {choice.outcome!r}"
                    )
                )
            if choice.todo is not None and choice.todo not in questionnaire.todos:
                problems.append(
                    StructureProblem(question.id, f"{where}.todo", f"unknown todo {choice.todo!r}")
                )
    for key, outcome in questionnaire.outcomes.items():
        problems += _outcome_problems(key, outcome, faq_entries)
    if questionnaire.start in by_id:
        problems += _graph_problems(questionnaire, by_id)
    return problems


def _outcome_problems(
    key: str, outcome: EligibilityOutcome, faq_entries: Mapping[str, object]
) -> list[StructureProblem]:
    return [
        StructureProblem(key, f"entries[{index}]", f"unknown FAQ entry {entry!r}")
        for index, entry in enumerate(outcome.entries)
        if entry not in faq_entries
    ]


def _graph_problems(
    questionnaire: EligibilityFile, by_id: Mapping[str, EligibilityQuestion]
) -> list[StructureProblem]:
    """Loops (some path would never end) and what no path reaches."""
    problems: list[StructureProblem] = []
    reached: set[str] = set()
    used_outcomes: set[str] = set()
    finished: set[str] = set()  # questions whose every path was followed without a loop

    def visit(question_id: str, trail: tuple[str, ...]) -> None:
        if question_id in finished:
            return
        reached.add(question_id)
        question = by_id[question_id]
        for index, choice in enumerate(question.answers):
            if choice.outcome is not None:
                used_outcomes.add(choice.outcome)
                continue
            target = choice.next or ""
            if target not in by_id:
                continue  # reported above
            if target in trail or target == question_id:
                problems.append(
                    StructureProblem(
                        question_id,
                        f"answers[{index}].next",
                        f"goes back to {target!r}: this path never reaches an outcome",
                    )
                )
                continue
            visit(target, (*trail, question_id))
        finished.add(question_id)

    visit(questionnaire.start, ())
    for question in questionnaire.questions:
        if question.id not in reached:
            problems.append(
                StructureProblem(question.id, None, "no path leads to this question", "warning")
            )
    for key in questionnaire.outcomes:
        if key not in used_outcomes:
            problems.append(
                StructureProblem(key, None, "no answer leads to this outcome", "warning")
            )
    return problems
