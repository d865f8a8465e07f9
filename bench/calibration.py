"""How the shipped threshold and classifier share were chosen: cross-validation on examples.

Run: `.venv/bin/python -m bench.calibration` (about two minutes).

The eval/ sets must stay unseen, so the two settings of bot.matcher that decide when the bot
answers (DEFAULT_THRESHOLD, CLASSIFIER_SHARE) are chosen on knowledge/examples/ instead, by
leaving one independently written set out at a time: the `gen*` splits, each written by
someone who saw only the seeds and the list of entries. The bot is trained on everything
else (the other sets included) and scored on the set left out, as it would meet strangers.
Older splits (dev, test, holdout, blind…) are only trained on: the phrasings were tuned on
them, and they repeat each other's short questions, so they would flatter any setting.

A setting is scored by its right decisions (right answer, or declining what is out of
scope) minus twice its confident wrong answers: a wrong answer misleads, a "not sure" still
shows the closest topics and the button to reach a person.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench._common import EXAMPLES_DIR, print_header, real_knowledge, table
from bench.accuracy import Scored, outcome
from bot.evaluate import LabelledQuestion, load_questions
from bot.matcher import CLASSIFIER_SHARE, DEFAULT_THRESHOLD, Matcher

SHARES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
THRESHOLDS = tuple(round(0.30 + 0.02 * step, 2) for step in range(16))  # 0.30 … 0.60
WRONG_COST = 2  # a confident wrong answer costs this many right decisions
HELD_OUT_PREFIX = "gen"


@dataclass(frozen=True)
class Outcome:
    """Totals of one (share, threshold) setting over every held-out question."""

    share: float
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
            f"{self.share:.1f}",
            f"{self.threshold:.2f}",
            f"{100 * self.answered_right / self.in_scope:.1f}%",
            f"{100 * self.declined_right / self.out_of_scope:.1f}%",
            str(self.wrong),
            str(self.utility),
        ]


def held_out_scores() -> tuple[list[LabelledQuestion], dict[float, list[Scored]]]:
    """Every held-out question, and its best entry and score for each share."""
    base = real_knowledge()
    questions = [
        q
        for q in load_questions(EXAMPLES_DIR)
        if q.expect is None or q.expect in base.entries  # kb check reports the others
    ]
    folds = sorted({q.split for q in questions if q.split.startswith(HELD_OUT_PREFIX)})
    tested: list[LabelledQuestion] = []
    scores: dict[float, list[Scored]] = {share: [] for share in SHARES}
    for fold in folds:
        held_out = [q for q in questions if q.split == fold]
        examples = [(q.q, q.expect) for q in questions if q.split != fold]
        tested += held_out
        for share in SHARES:  # trained once per fold: the share does not change the texts
            matcher = Matcher(
                base.entries, base.synonyms, classifier_share=share, examples=examples
            )
            for question in held_out:
                ranked = matcher.rank(question.q)
                scores[share].append(Scored(*ranked[0]) if ranked else Scored(None, 0.0))
        print(f"  {fold}: {len(held_out)} questions", flush=True)
    return tested, scores


def outcomes(
    questions: list[LabelledQuestion], scores: dict[float, list[Scored]]
) -> list[Outcome]:
    results: list[Outcome] = []
    in_scope = sum(q.expect is not None for q in questions)
    for share, answers in scores.items():
        for threshold in THRESHOLDS:
            right = declined = wrong = 0
            for question, scored in zip(questions, answers, strict=True):
                decided, misled = outcome(question, scored, threshold)
                if question.expect is None:
                    declined += decided
                else:
                    right += decided
                wrong += misled
            results.append(
                Outcome(
                    share,
                    threshold,
                    right,
                    in_scope,
                    declined,
                    len(questions) - in_scope,
                    wrong,
                )
            )
    return results


def main() -> None:
    print_header(
        "threshold and classifier share by cross-validation", "python -m bench.calibration"
    )
    started = time.perf_counter()
    questions, scores = held_out_scores()
    results = outcomes(questions, scores)
    ranked = sorted(results, key=lambda o: (-o.utility, o.wrong, o.threshold))
    shipped = [
        o
        for o in results
        if o.share == CLASSIFIER_SHARE and abs(o.threshold - DEFAULT_THRESHOLD) < 1e-9
    ]
    headers = ["share", "threshold", "in-scope right", "declined", "wrong", "score"]
    print(f"\n{len(questions)} held-out questions; score = right decisions - {WRONG_COST} x wrong")
    print("\nbest threshold for each share (best first):")
    per_share = [next(o for o in ranked if o.share == share) for share in SHARES]
    per_share.sort(key=lambda o: -o.utility)
    print(table(headers, [o.row() for o in per_share], labels=2))
    print(
        f"\nshipped (CLASSIFIER_SHARE {CLASSIFIER_SHARE}, DEFAULT_THRESHOLD {DEFAULT_THRESHOLD}):"
    )
    print(table(headers, [o.row() for o in shipped], labels=2))
    print(f"\nelapsed: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
