"""Accuracy on the labelled questions in eval/: what `python -m bot eval` prints."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel

from bot.config import PROJECT_ROOT
from bot.kb_schema import Example

EVAL_DIR = PROJECT_ROOT / "eval"
# Questions the bot never learnt from. Each set was written from the seeds alone by someone
# who saw neither the knowledge base nor the code, and only figures were ever looked at
# (docs/benchmarks.md says when). Settings are chosen on knowledge/examples/ instead
# (bench.calibration). Earlier sets (dev, test, holdout, blind, blind2, blind3) were read
# and tuned on: they are now knowledge/examples/, which the bot learns from.
SPLITS = ("blind4", "blind5")
UNSEEN = "blind5"
Predictor = Callable[[str], str | None]


class LabelledQuestion(Example):
    """An example (knowledge/examples/) or evaluation (eval/) question: the same fields,
    read from either folder, with a split always set (eval files name theirs)."""

    split: str = "dev"

    @property
    def acceptable(self) -> set[str | None]:
        """What counts as right: the expected entry, the other accepted ones (None: declining)."""
        return {self.expect, *self.accept}


class _EvalFile(BaseModel):
    questions: list[LabelledQuestion]


def load_questions(folder: Path = EVAL_DIR, split: str | None = None) -> list[LabelledQuestion]:
    """The labelled questions of every file in a folder (eval/ by default), or one split."""
    questions: list[LabelledQuestion] = []
    for path in sorted(folder.glob("*.yaml")):
        data = _EvalFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        questions += data.questions
    return [q for q in questions if split in (None, "all", q.split)]


def available_splits(folder: Path = EVAL_DIR) -> list[str]:
    """The splits that have questions: the known ones in order, then any other."""
    present = {q.split for q in load_questions(folder)}
    return [s for s in SPLITS if s in present] + sorted(present - set(SPLITS))


@dataclass(frozen=True)
class Report:
    """Figures for one predictor on one set of questions."""

    in_scope: int
    in_scope_correct: int
    out_of_scope: int
    declined: int
    confusions: list[tuple[LabelledQuestion, str | None]]

    @property
    def accuracy(self) -> float:
        return self.in_scope_correct / self.in_scope if self.in_scope else 0.0

    @property
    def declined_rate(self) -> float:
        return self.declined / self.out_of_scope if self.out_of_scope else 0.0

    @property
    def wrong_confident(self) -> int:
        """Answers given with the wrong topic: the error that matters most."""
        return sum(1 for q, got in self.confusions if got is not None)


def evaluate(predict: Predictor, questions: Iterable[LabelledQuestion]) -> Report:
    """Run every question through `predict` and compare with the labels."""
    return tally((question, predict(question.q)) for question in questions)


def tally(answers: Iterable[tuple[LabelledQuestion, str | None]]) -> Report:
    """Compare each question's answer (an entry id, or None when declined) with its labels:
    one count for the bot's eval and the benches that decide on answers already made."""
    in_scope = correct = out_scope = declined = 0
    confusions: list[tuple[LabelledQuestion, str | None]] = []
    for question, got in answers:
        ok = got in question.acceptable
        if question.expect is None:
            out_scope += 1
            declined += ok
        else:
            in_scope += 1
            correct += ok
        if not ok:
            confusions.append((question, got))
    return Report(in_scope, correct, out_scope, declined, confusions)


def format_report(name: str, report: Report, *, details: bool = True) -> str:
    """A human-readable summary, then every mistake (expected → got) when `details`."""
    lines = [
        f"{name}: in-scope top-1 accuracy {report.accuracy:.1%} "
        f"({report.in_scope_correct}/{report.in_scope}), out-of-scope declined "
        f"{report.declined_rate:.1%} ({report.declined}/{report.out_of_scope}), "
        f"confident wrong answers {report.wrong_confident}"
    ]
    if details and report.confusions:
        lines.append("confusions (expected -> got):")
        pairs = Counter(
            (q.expect or "(decline)", got or "(decline)") for q, got in report.confusions
        )
        for question, got in report.confusions:
            lines.append(
                f"  {question.expect or '(decline)':>26} -> {got or '(decline)':<26} "
                f"[{question.split}] {question.q[:90]!r}"
            )
        lines.append(
            "most frequent confusions: "
            + ", ".join(f"{a}->{b} ×{n}" for (a, b), n in pairs.most_common(8))
        )
    return "\n".join(lines)
