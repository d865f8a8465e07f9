"""Match latency per question on the real knowledge base and on synthetic 1 000 / 10 000 ones.

Why: the matcher runs inside every update handler on the event loop, so its p99 is added to
every reply and blocks every other chat meanwhile. The real base is small today; the synthetic
ones tell whether the inverted index keeps that cost flat when the base grows.

Run from the project root:  .venv/bin/python -m bench.latency   (or bench/latency.py)
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import string
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for `python bench/x.py`

from bench._common import percentile, print_header, real_knowledge, table
from bot import text as bot_text
from bot.kb_schema import LANGUAGES, AnswerVariant, Entry, Localized, Phrasings
from bot.matcher import Matcher

SEED = 20261121
SYNTHETIC_SIZES = (1_000, 10_000)
GENERATED_WORDS = 3_000
TYPO_QUERIES = 400
ROW_BUDGET_S = 12.0  # timed rounds stop early past this, so the 10 000 base fits in minutes
ZIPF_EXPONENT, ZIPF_OFFSET = 1.0, 10  # Zipf-Mandelbrot: frequent words, but no word in 1/5
GOALS_MS = {"real": 1.0, "10 000": 20.0}  # p99 targets, from the project brief

# ----------------------------------------------------------------------------- synthetic base

_ONSETS = "b c d f g j l m n p r s t v ch tr pr gr br pl cl fr st sp qu".split()  # noqa: SIM905 - reads best as a line
_VOWELS = "a e i o u ou ai é è eau an on in eu oi".split()  # noqa: SIM905
_CODAS = ["", "", "", "r", "s", "n", "l", "t", "x", "m", "c"]

# Real-looking frames: French and English function words around content slots.
_FRAMES = {
    "fr": [
        "comment {v} {n} pour mon {m} ?",
        "est-ce que {n} {a} est {b} ?",
        "c'est quand {n} de {m}",
        "combien coûte {n} {a}",
        "où trouver {n} pour {m}",
        "c'est quoi {n}",
        "je voudrais {v} {n} {a}",
        "{n} {a} ?",
        "y a-t-il {n} pour les {m} {a}",
        "qui peut {v} {n} et {m}",
    ],
    "en": [
        "how do I {v} the {n} {m}?",
        "when does the {n} {m} start",
        "what is the {a} {n}",
        "can I {v} a {n} for my {m}",
        "is the {n} {a}?",
        "{n} {m}?",
        "where can I find the {n} about {m}",
        "who can {v} the {a} {n}",
        "do you have {n} for {m}",
        "tell me about {n} and {m}",
    ],
}


def pseudo_words(rng: random.Random, count: int) -> list[str]:
    """`count` distinct invented words of 2-4 French-sounding syllables (4+ letters)."""
    found: set[str] = set()
    while len(found) < count:
        syllables = rng.randint(2, 4)
        word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables))
        word += rng.choice(_CODAS)
        if len(word) >= 4:
            found.add(word)
    return sorted(found)


def real_content_words(entries: Mapping[str, Entry]) -> list[str]:
    """Words of the real phrasings that carry a topic: domain words a grown base would keep."""
    seen: set[str] = set()
    for entry in entries.values():
        for lang in LANGUAGES:
            for phrasing in entry.phrasings.get(lang):
                for word in phrasing.lower().replace("'", " ").split():
                    word = word.strip(string.punctuation + "«»?¿!")
                    if len(word) >= 4 and bot_text.stem(bot_text.fold(word)) not in (
                        bot_text.STOP_WORDS
                    ):
                        seen.add(word)
    return sorted(seen)


@dataclass(frozen=True)
class Vocabulary:
    """Content words with Zipf-Mandelbrot frequencies: a few words sit in thousands of
    phrasings (long posting lists, the inverted index's cost) and most are rare."""

    words: list[str]
    weights: list[float]

    @classmethod
    def build(cls, rng: random.Random, real_words: Sequence[str]) -> Vocabulary:
        words = pseudo_words(rng, GENERATED_WORDS) + list(real_words)
        rng.shuffle(words)
        weights = [1.0 / (rank + ZIPF_OFFSET) ** ZIPF_EXPONENT for rank in range(len(words))]
        return cls(words, weights)

    def pick(self, rng: random.Random, count: int = 1) -> list[str]:
        return rng.choices(self.words, self.weights, k=count)


def synthetic_entry(rng: random.Random, vocab: Vocabulary, index: int) -> Entry:
    """An entry whose ~10 phrasings share 2-3 key words, like a real FAQ entry's do."""
    keys = vocab.pick(rng, rng.randint(2, 3))
    phrasings: dict[str, list[str]] = {}
    for lang in LANGUAGES:
        texts: list[str] = []
        for _ in range(5):
            frame = rng.choice(_FRAMES[lang])
            slots = {
                "n": " ".join(rng.sample(keys, 2)),
                "m": rng.choice(keys) if rng.random() < 0.5 else vocab.pick(rng)[0],
                "v": vocab.pick(rng)[0],
                "a": vocab.pick(rng)[0],
                "b": vocab.pick(rng)[0],
            }
            texts.append(frame.format(**slots))
        phrasings[lang] = texts
    title = " ".join(keys).capitalize()[:40]
    answer = "Réponse synthétique."
    return Entry(
        id=f"syn-{index:05d}",
        topic="synthetic",
        title=Localized(fr=title, en=title),
        phrasings=Phrasings(fr=phrasings["fr"], en=phrasings["en"]),
        answer=AnswerVariant(fr=answer, en="Synthetic answer."),
    )


def synthetic_base(
    size: int, real: Mapping[str, Entry], vocab: Vocabulary, seed: int
) -> dict[str, Entry]:
    """`size` entries: today's real ones plus synthetic ones (a grown base keeps today's)."""
    rng = random.Random(seed)
    entries = dict(real)
    for index in range(size - len(real)):
        entry = synthetic_entry(rng, vocab, index)
        entries[entry.id] = entry
    return entries


# ----------------------------------------------------------------------------- queries


def with_typo(rng: random.Random, text: str) -> str:
    """One swap, deletion, substitution or insertion in a word of 5+ letters (the longest
    word when none is that long): what thumbs on a phone do."""
    tokens = text.split()
    candidates = [i for i, w in enumerate(tokens) if len(w) >= 5 and w.isalpha()]
    if not candidates:
        candidates = [max(range(len(tokens)), key=lambda i: len(tokens[i]))]
    i = rng.choice(candidates)
    word = tokens[i]
    at = rng.randrange(1, max(2, len(word) - 1))
    letter = rng.choice(string.ascii_lowercase)
    operation = rng.choice(("swap", "delete", "substitute", "insert"))
    if operation == "swap" and len(word) >= 3:
        at = min(at, len(word) - 2)
        word = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    elif operation == "delete":
        word = word[:at] + word[at + 1 :]
    elif operation == "substitute":
        word = word[:at] + letter + word[at + 1 :]
    else:
        word = word[:at] + letter + word[at:]
    tokens[i] = word
    return " ".join(tokens)


def typo_queries(entries: Mapping[str, Entry], seed: int, count: int = TYPO_QUERIES) -> list[str]:
    """Phrasings of the base itself, each with one typo: questions the base should answer."""
    rng = random.Random(seed)
    pool = [p for e in entries.values() for lang in LANGUAGES for p in e.phrasings.get(lang)]
    return [with_typo(rng, text) for text in rng.sample(pool, min(count, len(pool)))]


# ----------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class Timing:
    """Per-call latencies in milliseconds, sorted."""

    calls: list[float]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.calls)

    def p(self, fraction: float) -> float:
        return percentile(self.calls, fraction)


def clear_caches(matcher: Matcher) -> Callable[[], None] | None:
    """What makes a call "cold": the matcher's typo-correction and per-word caches, the stem
    cache and the classifier's n-grams of each word.

    The correction cache is a private detail of bot.matcher (an lru_cache on `_correct`);
    if it disappears, the cold column reads n/a instead of the benchmark failing.
    """
    correct = getattr(matcher, "_correct", None)
    clear = getattr(correct, "cache_clear", None)
    if clear is None:
        return None

    # The classifier's per-word n-gram columns, when there is one (same private caveat).
    features = getattr(matcher.classifier, "_features", None)
    grams = getattr(getattr(features, "_word_grams", None), "cache_clear", None)

    words = getattr(getattr(matcher, "_corrected", None), "cache_clear", None)

    def clear_all() -> None:
        clear()
        bot_text.stem.cache_clear()
        if words is not None:
            words()
        if grams is not None:
            grams()

    return clear_all


@contextmanager
def no_gc() -> Iterator[None]:
    """Collect, then keep the cyclic GC off while timing (as `timeit` does): its pauses
    depend on everything else the process holds, not on the matcher."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def time_calls(matcher: Matcher, queries: Sequence[str], rounds: int) -> tuple[Timing, int]:
    """Warm-up pass, then up to `rounds` passes (fewer past ROW_BUDGET_S), one
    perf_counter_ns per call; returns the timing and the rounds actually run."""
    started = time.perf_counter()
    for query in queries:
        matcher.match(query)
    per_pass = time.perf_counter() - started
    rounds = max(1, min(rounds, int(ROW_BUDGET_S / max(per_pass, 1e-9))))
    samples: list[float] = []
    clock = time.perf_counter_ns
    with no_gc():
        for _ in range(rounds):
            for query in queries:
                started_ns = clock()
                matcher.match(query)
                samples.append((clock() - started_ns) / 1e6)
    return Timing(sorted(samples)), rounds


def time_cold(matcher: Matcher, queries: Sequence[str]) -> Timing | None:
    """One pass with every cache emptied before each call: a question of never-seen words."""
    clear = clear_caches(matcher)
    if clear is None:
        return None
    samples: list[float] = []
    with no_gc():
        for query in queries:
            clear()
            started = time.perf_counter_ns()
            matcher.match(query)
            samples.append((time.perf_counter_ns() - started) / 1e6)
    return Timing(sorted(samples))


# ----------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Case:
    """One knowledge base to measure, generated only when measured (so the heap holds one
    base at a time)."""

    label: str
    make: Callable[[], Mapping[str, Entry]]
    examples: Sequence[tuple[str, str | None]] = ()  # as the bot builds it, for "real"


def top_word_share(matcher: Matcher, entries: Mapping[str, Entry], seed: int) -> str:
    """The most frequent matcher word and the share of phrasings holding it (on a sample):
    how long the longest posting lists are, i.e. how realistic the synthetic base is."""
    rng = random.Random(seed)
    pool = [p for e in entries.values() for lang in LANGUAGES for p in e.phrasings.get(lang)]
    sample = rng.sample(pool, min(2000, len(pool)))
    counts = Counter(token for text in sample for token in set(matcher.tokens(text)))
    word, count = counts.most_common(1)[0]
    return f"{word} {count / len(sample):.0%}"


def ms(value: float) -> str:
    """Three decimals below 10 ms (sub-millisecond matters there), one above."""
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def goal_cell(label: str, p99: float) -> str:
    """The target next to the figure, so a reader sees at once whether it holds."""
    goal = GOALS_MS.get(label)
    if goal is None:
        return "-"
    return f"≤ {goal:g} ms ({'met' if p99 <= goal else 'MISSED'})"


def measure(
    case: Case, synonyms: Sequence[Sequence[str]], examples: Sequence[str], rounds: int
) -> list[list[str]]:
    """Build the matcher (timed), then time both query sets on it: one row per set."""
    entries = case.make()
    gc.collect()
    started = time.perf_counter()
    matcher = Matcher(entries, synonyms, examples=case.examples)
    build_s = time.perf_counter() - started
    phrasings = sum(len(e.phrasings.fr) + len(e.phrasings.en) for e in entries.values())
    top_word = top_word_share(matcher, entries, SEED)
    query_sets = {
        "example questions": examples,
        "own phrasings + 1 typo": typo_queries(entries, SEED + len(entries)),
    }
    rows: list[list[str]] = []
    for name, queries in query_sets.items():
        warm, rounds_run = time_calls(matcher, queries, rounds)
        cold = time_cold(matcher, queries)
        rows.append(
            [
                case.label,
                name,
                f"{len(entries):,}".replace(",", " "),
                f"{phrasings:,}".replace(",", " "),
                top_word,
                f"{build_s:.2f} s",
                f"{len(queries)}×{rounds_run}",
                ms(warm.mean),
                ms(warm.p(0.50)),
                ms(warm.p(0.99)),
                ms(cold.p(0.99)) if cold else "n/a",
                goal_cell(case.label, warm.p(0.99)),
            ]
        )
        print(f"  measured {case.label} / {name}", file=sys.stderr, flush=True)
    del matcher, entries
    return rows


def main() -> None:
    """Measure the real base and the synthetic ones; print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=20, help="timed passes per query set")
    args = parser.parse_args()
    command = ".venv/bin/python -m bench.latency" + (
        f" --rounds {args.rounds}" if args.rounds != 20 else ""
    )
    print_header("matcher latency per question", command)
    started = time.perf_counter()
    base = real_knowledge()
    vocab = Vocabulary.build(random.Random(SEED), real_content_words(base.entries))
    cases = [
        Case("real", lambda: base.entries, base.examples),
        Case("real, no examples", lambda: base.entries),
    ]
    for size in SYNTHETIC_SIZES:
        label = f"{size:,}".replace(",", " ")
        cases.append(Case(label, partial(synthetic_base, size, base.entries, vocab, SEED + size)))
    print(
        f"synthetic bases: today's {len(base.entries)} real entries + generated ones "
        f"(10 phrasings each: 5 fr + 5 en frames around 2-3 key words), vocabulary "
        f"{len(vocab.words)} words ({GENERATED_WORDS} invented + real domain words, "
        f"Zipf-Mandelbrot weighted, s={ZIPF_EXPONENT:g}, q={ZIPF_OFFSET}); real synonyms "
        f"({len(base.synonyms)} groups); {args.rounds} timed rounds after one warm-up round, "
        f"fewer when a row would exceed {ROW_BUDGET_S:g} s (see calls = queries×rounds)"
    )
    print()
    rows: list[list[str]] = []
    for case in cases:
        rows += measure(case, base.synonyms, [text for text, _ in base.examples], args.rounds)
    headers = ["base", "queries", "entries", "phrasings", "top word", "build", "calls",
               "mean ms", "p50 ms", "p99 ms", "cold p99 ms", "goal (p99)"]  # fmt: skip
    print(table(headers, rows, labels=2))
    print()
    print(
        "notes: warm = after a warm-up round, so the matcher's typo-correction cache, the "
        "stem cache and the classifier's per-word n-grams hold every word of the query set "
        "(as for frequent questions). cold p99 = one round with these caches emptied before "
        "each call (a question whose words were "
        "never seen: the worst case). Times are per Matcher.match() call, single thread, "
        "cyclic GC off while timing (as timeit does). top word = the matcher word found in "
        "most phrasings, with its share (the longest posting list)."
    )
    print(f"elapsed: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
