"""How the bot decides to answer: fitted and checked by cross-validation on examples.

Run: `.venv/bin/python -m bench.calibration` (about five minutes).

The eval/ sets must stay unseen, so what decides when the bot answers (CONFIDENCE_WEIGHTS,
CONFIDENCE_THRESHOLD and CLASSIFIER_SHARE in bot.matcher) is chosen on knowledge/examples/
instead, by leaving one independently written set out at a time: the `gen*` splits, each
written by someone who saw only the seeds and the list of entries. The bot is trained on
everything else (the other sets included) and meets the set left out as it would meet
strangers. Older splits (dev, test, holdout, blind…) are only trained on: the phrasings were
tuned on them, and they repeat each other's short questions, so they would flatter any
setting.

The decision is a logistic regression: from what the matcher saw in a question (its
`Evidence`), the probability that its best entry is the right answer. It is fitted on those
held-out questions, and judged the same way one level up: fitted on every set but one, it
decides the set left out. Its weights, fitted on all sets, are printed for bot.matcher.

A setting is scored by its right decisions (right answer, or declining what is out of
scope) minus twice its confident wrong answers: a wrong answer misleads, a "not sure" still
shows the closest topics and the button to reach a person. Scores within 0.1 % of the
questions of the best are a tie, won by the setting that answers more questions right.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from sklearn.linear_model import LogisticRegression

from bench._common import EXAMPLES_DIR, print_header, real_knowledge, table
from bot.evaluate import LabelledQuestion, load_questions, tally
from bot.matcher import (
    CLASSIFIER_SHARE,
    CONFIDENCE_THRESHOLD,
    CONFIDENCE_WEIGHTS,
    Matcher,
)

SHARES = (0.7, 0.8, 0.9, 1.0)
THRESHOLDS = tuple(round(0.30 + 0.02 * step, 2) for step in range(31))  # 0.30 … 0.90
SCORE_THRESHOLDS = tuple(round(0.30 + 0.02 * step, 2) for step in range(16))  # 0.30 … 0.60
WRONG_COST = 2  # a confident wrong answer costs this many right decisions
# Scores closer than this share of the questions to the best are a tie (less than one
# question per set left out); the tie goes to the setting that answers more of them right.
TIE_SHARE = 0.001
REGULARISATION = 1.0  # the logistic regression's C (few features, thousands of questions)
HELD_OUT_PREFIX = "gen"


@dataclass(frozen=True)
class Seen:
    """One held-out question as the matcher met it."""

    question: LabelledQuestion
    best: str | None  # the best entry
    score: float  # its blended score
    features: list[float] | None  # the Evidence, or None when the words decided alone
    words_confident: bool  # the verdict when the words decided alone

    @property
    def right(self) -> bool:
        return self.best is not None and self.best in self.question.acceptable


@dataclass(frozen=True)
class Outcome:
    """Totals of one rule over every held-out question."""

    rule: str
    threshold: float
    answered_right: int
    in_scope: int
    declined_right: int
    out_of_scope: int
    wrong: int

    @property
    def utility(self) -> int:
        return self.answered_right + self.declined_right - WRONG_COST * self.wrong

    def row(self) -> list[str]:
        return [
            self.rule,
            f"{self.threshold:.2f}",
            f"{100 * self.answered_right / self.in_scope:.1f}%",
            f"{100 * self.declined_right / self.out_of_scope:.1f}%",
            str(self.wrong),
            str(self.utility),
        ]


def held_out(shares: Sequence[float] = SHARES) -> dict[float, list[Seen]]:
    """Every held-out question as the matcher met it, for each classifier share."""
    base = real_knowledge()
    questions = [
        q
        for q in load_questions(EXAMPLES_DIR)
        if q.expect is None or q.expect in base.entries  # kb check reports the others
    ]
    folds = sorted({q.split for q in questions if q.split.startswith(HELD_OUT_PREFIX)})
    seen: dict[float, list[Seen]] = {share: [] for share in shares}
    for fold in folds:
        left_out = [q for q in questions if q.split == fold]
        examples = [(q.q, q.expect) for q in questions if q.split != fold]
        for share in shares:  # trained once per fold: the share does not change the texts
            matcher = Matcher(
                base.entries, base.synonyms, classifier_share=share, examples=examples
            )
            for question in left_out:
                ranked = matcher.rank(question.q)
                evidence = matcher.evidence(question.q)
                best, score = ranked[0] if ranked else (None, 0.0)
                seen[share].append(
                    Seen(
                        question,
                        best,
                        score,
                        None if evidence is None else evidence.features(),
                        evidence is None and matcher.match(question.q).confident,
                    )
                )
        print(f"  {fold}: {len(left_out)} questions", flush=True)
    return seen


def fit(seen: Sequence[Seen]) -> LogisticRegression:
    """The probability that the best entry is right, from the evidence."""
    rows = [s for s in seen if s.features is not None]
    model = LogisticRegression(C=REGULARISATION, max_iter=10_000)
    model.fit(np.array([s.features for s in rows]), np.array([s.right for s in rows]))
    return model


def cross_validated(seen: Sequence[Seen]) -> list[float | None]:
    """Each question's confidence from a model fitted on the other sets (None: no evidence)."""
    confidences: list[float | None] = [None] * len(seen)
    for fold in sorted({s.question.split for s in seen}):
        model = fit([s for s in seen if s.question.split != fold])
        for n, s in enumerate(seen):
            if s.question.split == fold and s.features is not None:
                confidences[n] = float(model.predict_proba(np.array([s.features]))[0, 1])
    return confidences


def totals(rule: str, threshold: float, seen: Sequence[Seen], answers: Sequence[bool]) -> Outcome:
    """The figures of a rule that answered (True) or declined each held-out question."""
    decided = zip(seen, answers, strict=True)
    report = tally((s.question, s.best if answered else None) for s, answered in decided)
    return Outcome(
        rule,
        threshold,
        report.in_scope_correct,
        report.in_scope,
        report.declined,
        report.out_of_scope,
        report.wrong_confident,
    )


def confidence_outcomes(rule: str, seen: Sequence[Seen]) -> list[Outcome]:
    """The fitted decision at each threshold (where the words decided alone, as shipped)."""
    confidences = cross_validated(seen)
    return [
        totals(
            rule,
            threshold,
            seen,
            [
                s.words_confident if c is None else c >= threshold
                for s, c in zip(seen, confidences, strict=True)
            ],
        )
        for threshold in THRESHOLDS
    ]


def score_outcomes(rule: str, seen: Sequence[Seen]) -> list[Outcome]:
    """The rule it replaces: answer from a threshold on the best entry's score."""
    return [totals(rule, t, seen, [s.score >= t for s in seen]) for t in SCORE_THRESHOLDS]


def best(outcomes: Sequence[Outcome]) -> Outcome:
    """The best-scoring setting, or among those within a tie of it, the one answering most."""
    top = max(o.utility for o in outcomes)
    tie = TIE_SHARE * (outcomes[0].in_scope + outcomes[0].out_of_scope)
    near = [o for o in outcomes if o.utility >= top - tie]
    return min(near, key=lambda o: (-o.answered_right, o.wrong, o.threshold))


def main() -> None:
    print_header("when to answer, by cross-validation", "python -m bench.calibration")
    started = time.perf_counter()
    seen = held_out()
    shipped = seen[CLASSIFIER_SHARE]
    print(f"\n{len(shipped)} held-out questions; score = right decisions - {WRONG_COST} x wrong")
    headers = ["rule", "threshold", "in-scope right", "declined", "wrong", "score"]
    per_share = []
    curves: dict[float, list[Outcome]] = {}  # each share's confidence rule, fitted once
    for share, questions in seen.items():
        ranking = sum(s.right for s in questions if s.question.expect is not None)
        in_scope = sum(s.question.expect is not None for s in questions)
        rule = f"share {share:.1f} (ranking {100 * ranking / in_scope:.1f}%)"
        curves[share] = confidence_outcomes(f"confidence, {rule}", questions)
        per_share.append(best(curves[share]))
        per_share.append(best(score_outcomes(f"best score, {rule}", questions)))
    per_share.sort(key=lambda o: -o.utility)
    print("\nbest threshold for each rule and classifier share (best first):")
    print(table(headers, [o.row() for o in per_share], labels=1))
    curve = [replace(o, rule="confidence") for o in curves[CLASSIFIER_SHARE]]
    print(f"\nconfidence at share {CLASSIFIER_SHARE}, every other threshold:")
    print(table(headers, [o.row() for o in curve[::2]], labels=1))
    chosen = [o for o in curve if abs(o.threshold - CONFIDENCE_THRESHOLD) < 1e-9]
    print(f"\nshipped (CLASSIFIER_SHARE {CLASSIFIER_SHARE}, CONFIDENCE_THRESHOLD", end=" ")
    print(f"{CONFIDENCE_THRESHOLD}); the best by the rule above is {best(curve).threshold}:")
    print(table(headers, [o.row() for o in chosen], labels=1))
    model = fit(shipped)
    print("\nfitted on every held-out question (bot.matcher):")
    print("CONFIDENCE_WEIGHTS = {")
    for name, weight in zip(CONFIDENCE_WEIGHTS, model.coef_[0], strict=True):
        print(f'    "{name}": {weight:.4f},')
    print("}")
    print(f"CONFIDENCE_BIAS = {model.intercept_[0]:.4f}")
    print(f"\nelapsed: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
