"""Accuracy of our matcher against two off-the-shelf baselines on the labelled eval/*.yaml.

Why: a custom matcher is only worth its code if it beats what a library gives in a few lines.
Both baselines get the advantage of a threshold tuned on knowledge/examples/ (the questions
ours learns from; ours keeps the threshold the bot ships with). No system saw the eval/
questions. Ours also runs without its examples (the word-by-word matcher alone), to show
what they add.

Run from the project root:  .venv/bin/python -m bench.accuracy   (or bench/accuracy.py)
"""

from __future__ import annotations

import itertools
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for `python bench/x.py`

import bm25s
from rapidfuzz import fuzz, process, utils

from bench._common import EXAMPLES_DIR, pct, print_header, real_knowledge, table
from bot.evaluate import (
    LabelledQuestion,
    Report,
    available_splits,
    evaluate,
    load_questions,
    tally,
)
from bot.knowledge import KnowledgeBase
from bot.matcher import CONFIDENCE_THRESHOLD, WORDS_ONLY_THRESHOLD, Matcher, entry_texts

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Scored:
    """A system's best entry for a question and how strongly it believes it."""

    entry_id: str | None
    score: float


Scorer = Callable[[str], Scored]


@dataclass(frozen=True)
class System:
    """One contender: how it scores, and the threshold it answers from."""

    name: str
    scorer: Scorer
    threshold: float
    how_chosen: str

    def predict(self, text: str) -> str | None:
        """The entry it would answer with, or None when it would say it is not sure."""
        scored = self.scorer(text)
        return scored.entry_id if scored.score >= self.threshold else None

    def best(self, text: str) -> str | None:
        """Its best entry whatever the score: ranking quality without the decision to decline."""
        return self.scorer(text).entry_id


# ----------------------------------------------------------------------------- corpora


def words(text: str) -> list[str]:
    """The BM25 baseline's tokenizer: lower case, runs of letters/digits (accents kept)."""
    return _WORD.findall(text.lower())


# ----------------------------------------------------------------------------- systems


def ours(base: KnowledgeBase, *, with_examples: bool = True) -> Scorer:
    """Our matcher exactly as the bot builds it (its score; `confident` is score ≥ threshold)."""
    examples = base.examples if with_examples else ()
    matcher = Matcher(base.entries, base.synonyms, examples=examples)

    def score(text: str) -> Scored:
        match = matcher.match(text)
        return Scored(match.entry_id, match.score)

    return score


def rapidfuzz_baseline(base: KnowledgeBase) -> Scorer:
    """`process.extractOne` with WRatio over every phrasing and title, mapped to its entry."""
    pairs = entry_texts(base.entries)
    owners = [entry_id for entry_id, _ in pairs]
    choices = [text for _, text in pairs]

    def score(text: str) -> Scored:
        found = process.extractOne(
            text, choices, scorer=fuzz.WRatio, processor=utils.default_process
        )
        if found is None:
            return Scored(None, 0.0)
        return Scored(owners[found[2]], float(found[1]))

    return score


def bm25_baseline(base: KnowledgeBase) -> Scorer:
    """bm25s (Lucene BM25, k1=1.5, b=0.75) with one document per phrasing or title."""
    pairs = entry_texts(base.entries)
    owners = [entry_id for entry_id, _ in pairs]
    retriever = bm25s.BM25()
    retriever.index([words(text) for _, text in pairs], show_progress=False)

    def score(text: str) -> Scored:
        tokens = words(text)
        if not tokens:
            return Scored(None, 0.0)
        scores = retriever.get_scores(tokens)
        best = int(scores.argmax())
        value = float(scores[best])
        return Scored(owners[best] if value > 0 else None, value)

    return score


# ----------------------------------------------------------------------------- tuning


def tune(
    questions: Sequence[LabelledQuestion], scores: Sequence[Scored], candidates: Iterable[float]
) -> float:
    """The threshold with the most right decisions on these questions.

    A right decision is the expected entry for an in-scope question or a refusal for an
    out-of-scope one; ties go to fewer confident wrong answers, then to the lowest threshold.
    """
    best: tuple[int, int, float] | None = None
    for threshold in sorted(candidates):
        report = tally(
            (q, s.entry_id if s.score >= threshold else None)
            for q, s in zip(questions, scores, strict=True)
        )
        key = (report.in_scope_correct + report.declined, -report.wrong_confident, -threshold)
        if best is None or key > best:
            best = key
    assert best is not None
    return -best[2]


def midpoints(values: Iterable[float]) -> list[float]:
    """Thresholds between consecutive observed scores (and below/above all of them)."""
    distinct = sorted(set(values))
    if not distinct:
        return [0.0]
    middle = [(a + b) / 2 for a, b in itertools.pairwise(distinct)]
    return [0.0, *middle, distinct[-1] + 1.0]


# ----------------------------------------------------------------------------- report


def splits() -> list[str]:
    """Every split present in eval/, then `all`."""
    return [*available_splits(), "all"]


def report_rows(systems: Sequence[System]) -> list[list[str]]:
    """One row per split and system: the three figures `python -m bot eval` prints."""
    rows: list[list[str]] = []
    for split in splits():
        questions = load_questions(split=split)
        for system in systems:
            result: Report = evaluate(system.predict, questions)
            ranking = evaluate(system.best, questions)
            rows.append(
                [
                    split,
                    system.name,
                    f"{system.threshold:.4g}",
                    pct(result.in_scope_correct, result.in_scope),
                    pct(result.declined, result.out_of_scope),
                    str(result.wrong_confident),
                    pct(ranking.in_scope_correct, ranking.in_scope),
                ]
            )
    return rows


def tuned_system(
    name: str, scorer: Scorer, candidates: Callable[[list[float]], list[float]]
) -> System:
    """A baseline with its threshold tuned on knowledge/examples/ (never on eval/)."""
    examples = load_questions(EXAMPLES_DIR)
    scores = [scorer(q.q) for q in examples]
    threshold = tune(examples, scores, candidates([s.score for s in scores]))
    return System(name, scorer, threshold, "tuned on knowledge/examples")


def main() -> None:
    """Build the three systems, tune the baselines on dev, print one table for all splits."""
    print_header("accuracy on eval/*.yaml", ".venv/bin/python -m bench.accuracy")
    started = time.perf_counter()
    base = real_knowledge()
    ours_scorer = ours(base)
    systems = [
        System("ours (Matcher)", ours_scorer, CONFIDENCE_THRESHOLD, "shipped, not re-tuned"),
        System(
            "ours, no examples",
            ours(base, with_examples=False),
            WORDS_ONLY_THRESHOLD,
            "shipped; word-by-word matcher alone",
        ),
        tuned_system(
            "rapidfuzz WRatio", rapidfuzz_baseline(base), lambda _: [float(t) for t in range(101)]
        ),
        tuned_system("BM25 (bm25s)", bm25_baseline(base), midpoints),
    ]
    counts = ", ".join(f"{split} {len(load_questions(split=split))}" for split in splits())
    print(
        f"knowledge base: {len(base.entries)} entries, "
        f"{len(entry_texts(base.entries))} titles+phrasings, "
        f"{len(base.examples)} example questions; eval questions: {counts}"
    )
    for system in systems:
        print(f"  {system.name:<17} threshold {system.threshold:.4g} ({system.how_chosen})")
    print()
    headers = [
        "split",
        "system",
        "threshold",
        "in-scope top-1",
        "out-of-scope declined",
        "confident wrong",
        "top-1, no threshold",
    ]
    print(table(headers, report_rows(systems), labels=2))
    print()
    print(
        "notes: ours uses the threshold the bot ships with, on its confidence "
        f"(bot.matcher.CONFIDENCE_THRESHOLD = {CONFIDENCE_THRESHOLD:g}; bench.calibration); "
        "the baselines' thresholds were chosen on the "
        f"{len(base.examples)} questions of knowledge/examples/ (most right decisions)."
    )
    print(
        "  rapidfuzz: process.extractOne(question, titles+phrasings, scorer=fuzz.WRatio, "
        "processor=utils.default_process), threshold swept 0..100 on the examples (without the "
        "processor, i.e. case-sensitive, it does worse)."
    )
    print(
        "  BM25: bm25s.BM25() (lucene, k1=1.5, b=0.75), one document per title/phrasing, "
        r"tokens = re.findall(r'\w+', text.lower()), top document -> entry, threshold on the "
        "raw BM25 score swept over midpoints of the examples' scores."
    )
    print(
        "  top-1, no threshold: in-scope accuracy if the system always answered with its best "
        "entry (ranking quality alone, before deciding when to decline)."
    )
    print(f"elapsed: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
