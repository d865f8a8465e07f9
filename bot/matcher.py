"""Which knowledge entry a question is about, and how sure we are.

Each question is reduced to weighted word stems (see bot.text) and compared with every
phrasing of every entry through an inverted index held as numpy arrays, so the cost grows
with the words a question shares with the base, not with the size of the base. The score of
a phrasing is the geometric mean of two coverages weighted by word rarity (IDF): how much of
the question the phrasing explains, and how much of the phrasing the question contains.
Words the base has never seen count against the question, by how rare they are in everyday
French and English (bot.lexicon): `université` or a non-word weighs a lot, `someone` little.
That is what lets the bot decline "bourse d'études universitaires" while it answers
"bourse?". Words that name another subject (another school, a job, a tax receipt, the
weather: the `hors_sujet` group of knowledge/synonyms.yaml) weigh more still. Long messages
are also scored sentence by sentence, so context about an organisation does not drown the
one sentence that asks.

When the knowledge base has example questions (knowledge/examples/), each entry's score is
blended with the probability a classifier trained on them gives it (bot.classifier), on the
whole message and on each sentence: the word-by-word comparison knows the phrasings well,
the classifier knows how people write when nobody told them the phrasings, and which
questions to decline. Whether to answer is then decided on all of it (see `Evidence`): a
strong best score is not enough when another entry is close behind, or when the classifier
reads the whole message as something else.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.classifier import DECLINE, Classifier, trained, weights_file, weights_key
from bot.kb_schema import LANGUAGES, Entry
from bot.lexicon import zipf, zipf_table
from bot.text import STOP_WORDS, fold, read_intents, sentences, split_elision, stem

# When there are examples, the bot answers when the probability that its best entry is the
# right answer reaches CONFIDENCE_THRESHOLD. That probability is a logistic regression over
# what the matcher saw (the `Evidence`): how high the best scores are and how far apart, and
# whether the word-by-word reading and the classifier agree. bench/calibration.py fits it on
# questions the bot was not trained on and prints these weights (docs/benchmarks.md): it
# answers more of them right than a threshold on the best score, with fewer wrong answers.
CONFIDENCE_WEIGHTS = {
    "best": 5.0534,
    "second": -3.5689,
    "third": -0.8233,
    "words_best": -0.2095,
    "words_top": 0.0736,
    "words_agree": -0.0887,
    "opinion_top": -0.0905,
    "opinion_agrees": 3.0666,
    "opinion_declines": 3.2678,
    "decline": -4.6739,
    "length": -0.0713,
}
CONFIDENCE_BIAS = -2.4639
CONFIDENCE_THRESHOLD = 0.66
# Without examples (or past MAX_CLASSIFIER_ENTRIES), the word-by-word score is the
# confidence, from this threshold up (chosen the same way).
WORDS_ONLY_THRESHOLD = 0.5
QUESTION_COVERAGE_WEIGHT = 0.5  # exponent of "how much of the question is explained"
ENTRY_WORDS_FACTOR = 0.8  # weight of the entry-wide score (all its phrasings as one text)
UNKNOWN_WORD_FACTOR = 2.0  # weight of a word the base has never seen, times the rarest idf
MAX_QUERY_CHARS = 2000  # longer messages are cut: nobody's question is in its 3000th character
# An unknown word weighs by how common it is in everyday French or English (Zipf scale):
# from the full unknown weight at RARE_ZIPF and below (other subjects, names, non-words) down
# to COMMON_WEIGHT_SHARE of it at COMMON_ZIPF and above (`suis`, `someone`).
RARE_ZIPF = 4.5
COMMON_ZIPF = 7
COMMON_WEIGHT_SHARE = 0.2
# Words that say a question is about something else (another school or programme, a job,
# a donation receipt, the weather…) are read as this word, from knowledge/synonyms.yaml;
# it weighs OFF_TOPIC_FACTOR times an unknown word, on every sentence of the message.
OFF_TOPIC = "hors_sujet"
OFF_TOPIC_FACTOR = 3.0
TIE_BREAK = 1e-4  # share of the best phrasing's score added to an entry-wide score
PROTECTED_ZIPF = 3.0  # a real word at least this common is never "corrected" into another
# Share of the classifier's probability in an entry's score, when there are examples. With
# the threshold, chosen by cross-validation on the examples (bench/calibration.py).
CLASSIFIER_SHARE = 0.9
# Training grows with entries × features: past this size the matcher works alone (a FAQ
# has dozens of entries; bench/latency.py's synthetic 10 000-entry base is about growth).
MAX_CLASSIFIER_ENTRIES = 500
# Up to this many cells (a message's rows × phrasings and entries), every phrasing is
# scored, not only those sharing a word with the question: a few numpy calls on a few
# thousand numbers cost less than finding those. A large base's phrasings mostly share
# nothing with a question, so there only the ones that do are scored (bench/latency.py).
DENSE_CELLS = 20_000
FEW_ENTRIES = 200  # up to this many entries, the best three are found in a Python list


@dataclass(frozen=True)
class Match:
    """The matcher's verdict on one question."""

    entry_id: str | None  # best entry, even when not confident
    score: float  # 0..1
    confident: bool
    suggestions: tuple[str, ...]  # the closest entries, best first (up to 3)


@dataclass(frozen=True)
class Evidence:
    """What the matcher saw in a message, beyond its ranking: the inputs of the decision to
    answer (see CONFIDENCE_WEIGHTS). Scores are in 0..1; `length` is the message's words."""

    best: float  # the best entry's score (the blend of both opinions)
    second: float  # the next two entries' scores, in the sentence that gave the best its
    third: float  # score (context in another sentence is not a rival: see _Opinion)
    words_best: float  # the best entry's word-by-word score
    words_top: float  # the highest word-by-word score of any entry
    words_agree: bool  # the word-by-word reading puts the same entry first (or level)
    opinion_top: float  # the classifier's highest probability for the whole message
    opinion_agrees: bool  # … and it is for the best entry
    opinion_declines: bool  # … or for declining
    decline: float  # the classifier's probability that the message is to be declined
    length: int

    def features(self) -> list[float]:
        """The values in CONFIDENCE_WEIGHTS' order (`length` as log(1 + words))."""
        return [
            self.best,
            self.second,
            self.third,
            self.words_best,
            self.words_top,
            float(self.words_agree),
            self.opinion_top,
            float(self.opinion_agrees),
            float(self.opinion_declines),
            self.decline,
            math.log1p(self.length),
        ]

    def confidence(self) -> float:
        """The probability, learnt on held-out questions, that the best entry is right."""
        weights = CONFIDENCE_WEIGHTS.values()
        logit = CONFIDENCE_BIAS + sum(w * x for w, x in zip(weights, self.features(), strict=True))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, logit))))


@dataclass(frozen=True)
class _Opinion:
    """What the classifier made of a message.

    `rows` keeps the blend for the whole message and each sentence: "We are a food bank in
    Sherbrooke. How do we register?" has the eligibility entry high in one sentence and
    registration in the other, and only the one the best entry came from says how sure it is.
    """

    probabilities: np.ndarray  # for the whole message, in the classifier's label order
    rows: np.ndarray  # the blend, per row (the whole message, then sentences), entry order


@dataclass(frozen=True)
class _Reading:
    """Every entry's scores for a message (arrays in entry order), and the classifier's
    opinion when it was consulted."""

    scores: np.ndarray  # the blend, best of the rows: what ranks entries
    words: np.ndarray  # the word-by-word opinion alone
    length: int
    opinion: _Opinion | None = None


@dataclass(frozen=True)
class _Phrasing:
    entry_id: str
    tokens: frozenset[str]
    weight: float


def entry_texts(entries: Mapping[str, Entry]) -> list[tuple[str, str]]:
    """(entry id, text) for every title and phrasing in both languages, raw as written:
    what the matcher compares questions with."""
    return [
        (entry_id, text)
        for entry_id, entry in entries.items()
        for text in [entry.title.get(lang) for lang in LANGUAGES]
        + [p for lang in LANGUAGES for p in entry.phrasings.get(lang)]
    ]


def _same_root(word: str, other: str) -> bool:
    """Whether two words differ only in their last two letters (an ending, not a typo)."""
    shorter = min(len(word), len(other))
    return shorter >= 4 and word[: shorter - 2] == other[: shorter - 2]


class Matcher:
    """Scores questions against a knowledge base; build once per knowledge version."""

    def __init__(
        self,
        entries: Mapping[str, Entry],
        synonyms: Iterable[Sequence[str]] = (),
        threshold: float | None = None,
        question_coverage_weight: float = QUESTION_COVERAGE_WEIGHT,
        unknown_word_factor: float = UNKNOWN_WORD_FACTOR,
        entry_words_factor: float = ENTRY_WORDS_FACTOR,
        classifier_share: float = CLASSIFIER_SHARE,
        examples: Sequence[tuple[str, str | None]] = (),
        cache_dir: Path | None = None,
    ) -> None:
        """`threshold` defaults to the one calibrated for how the base is scored (with
        examples or without); `cache_dir` keeps the classifier's weights between processes
        (bot.classifier)."""
        self._alpha = question_coverage_weight
        self._beta = entry_words_factor
        self._share = classifier_share
        self._kinds = {entry_id: entry.kind for entry_id, entry in entries.items()}
        self._single: dict[str, str] = {}
        self._multi: dict[tuple[str, ...], str] = {}
        self._load_synonyms(synonyms)
        sizes: dict[str, set[int]] = defaultdict(set)
        for phrase in self._multi:
            sizes[phrase[0]].add(len(phrase))
        # Multi-word synonyms by first word, longest first: few lookups per word.
        self._phrase_sizes = {word: sorted(n, reverse=True) for word, n in sizes.items()}
        self._phrasings: list[_Phrasing] = []
        token_sets: list[tuple[str, frozenset[str]]] = []
        texts = entry_texts(entries)
        for entry_id, text in texts:
            tokens = frozenset(self._analyse(text, correct=False))
            if tokens:
                token_sets.append((entry_id, tokens))
        self._idf = self._compute_idf(token_sets, len(entries))
        self._oov_weight = max(self._idf.values(), default=1.0) * unknown_word_factor
        self._unknown_weight = lru_cache(maxsize=8192)(self._unknown_weight_uncached)
        smalltalk_tokens = {t for e, ts in token_sets if self._kinds[e] == "smalltalk" for t in ts}
        faq_tokens = {t for e, ts in token_sets if self._kinds[e] != "smalltalk" for t in ts}
        self._smalltalk_only = frozenset(smalltalk_tokens - faq_tokens)
        self._smalltalk_words = frozenset(smalltalk_tokens)
        self._entry_ids = list(entries)
        self._entry_number = {entry_id: n for n, entry_id in enumerate(self._entry_ids)}
        entry_number = self._entry_number
        self._entry_is_smalltalk = np.array(
            [self._kinds[e] == "smalltalk" for e in self._entry_ids], dtype=bool
        )
        postings: dict[str, list[int]] = defaultdict(list)
        entry_postings: dict[str, set[int]] = defaultdict(set)
        for entry_id, tokens in token_sets:
            index = len(self._phrasings)
            self._phrasings.append(_Phrasing(entry_id, tokens, self._weight(tokens)))
            for token in tokens:
                postings[token].append(index)
                entry_postings[token].add(entry_number[entry_id])
        # Inverted index as arrays: a question's cost is the length of its words' posting
        # lists, added up by numpy rather than by a Python loop. A word's cells in a
        # question's row of counts are its phrasings, then its entries (numbered after
        # every phrasing), so one count serves both scores.
        self._cells = {
            t: np.array(ids + [len(self._phrasings) + e for e in sorted(entry_postings[t])])
            for t, ids in postings.items()
        }
        # And the word's weight in each of those cells: what a question adds up there.
        self._cell_weights = {t: np.full(len(c), self._idf[t]) for t, c in self._cells.items()}
        self._phrasing_entry = np.array(
            [entry_number[p.entry_id] for p in self._phrasings], dtype=np.int32
        )
        self._phrasing_weight = np.array([p.weight for p in self._phrasings], dtype=np.float64)
        # Where each entry's phrasings start (they are numbered entry by entry), for scoring
        # every phrasing at once; None when an entry has none (read to nothing).
        firsts = np.searchsorted(self._phrasing_entry, np.arange(len(self._entry_ids)))
        counts = np.bincount(self._phrasing_entry, minlength=len(self._entry_ids))
        self._entry_starts = firsts if len(self._phrasings) and counts.all() else None
        phrase_words = {word for phrase in self._multi for word in phrase if len(word) > 3}
        self._vocabulary = sorted(set(self._cells) | set(self._single) | STOP_WORDS | phrase_words)
        self._by_length: dict[int, list[str]] = defaultdict(list)
        for word in self._vocabulary:
            self._by_length[len(word)].append(word)
        self._known = frozenset(self._vocabulary) | {w for k in self._multi for w in k}
        self._correct = lru_cache(maxsize=8192)(self._correct_uncached)
        self._corrected = lru_cache(maxsize=16384)(self._corrected_uncached)
        zipf_table()  # load the word frequencies now, not during someone's first question
        self._classifier: Classifier | None = None
        self.weights_file: Path | None = None  # where the classifier's weights are kept
        self._classifier_columns = np.zeros(0, dtype=np.int64)
        self._decline_column: int | None = None
        if examples and len(entries) <= MAX_CLASSIFIER_ENTRIES:
            taught = [text for _, text in texts] + [text for text, _ in examples]
            labels = [entry_id for entry_id, _ in texts]
            labels += [label or DECLINE for _, label in examples]
            # How texts are read depends on the phrasings (in `taught`) and the synonyms.
            context = repr(sorted(self._single.items())) + repr(sorted(self._multi.items()))
            key = weights_key(taught, labels, context)
            self._classifier = trained(key, taught, labels, self.tokens, cache_dir)
            if cache_dir is not None:
                self.weights_file = weights_file(cache_dir, key)
            column = {label: n for n, label in enumerate(self._classifier.labels)}
            self._classifier_columns = np.array([column[e] for e in self._entry_ids])
            self._decline_column = column.get(DECLINE)  # None when no example is declined
        if threshold is None:
            threshold = WORDS_ONLY_THRESHOLD if self._classifier is None else CONFIDENCE_THRESHOLD
        self.threshold = threshold

    @property
    def classifier(self) -> Classifier | None:
        """The second opinion learnt from examples, if the base has examples."""
        return self._classifier

    # ----------------------------------------------------------------- analysis

    def _load_synonyms(self, groups: Iterable[Sequence[str]]) -> None:
        for group in groups:
            forms = [tuple(stem(w) for w in fold(variant).split()) for variant in group]
            forms = [f for f in forms if f]
            if not forms:
                continue
            canonical = "_".join(forms[0])
            for form in forms:
                if len(form) == 1:
                    self._single[form[0]] = canonical
                else:
                    self._multi[form] = canonical

    def _analyse(self, text: str, *, correct: bool) -> list[str]:
        """Folded, stemmed, typo-corrected, synonym-mapped words without stop words."""
        return self._read(fold(text[:MAX_QUERY_CHARS]), correct=correct)

    def _read(self, folded: str, *, correct: bool) -> list[str]:
        """`_analyse` for a text already folded."""
        words = read_intents(folded).split()
        if correct:
            stems = [part for word in words for part in self._corrected(word)]
        else:
            stems = [stem(w) for w in words]
        tokens: list[str] = []
        i = 0
        while i < len(stems):
            for size in self._phrase_sizes.get(stems[i], ()):
                canonical = self._multi.get(tuple(stems[i : i + size]))
                if canonical is not None:
                    tokens.append(canonical)
                    i += size
                    break
            else:
                word = stems[i]
                if word not in STOP_WORDS and (len(word) > 1 or word.isdigit()):
                    tokens.append(self._single.get(word, word))
                i += 1
        return tokens

    def _corrected_uncached(self, word: str) -> tuple[str, ...]:
        """A folded word as the stems it stands for: split, stemmed, typo-corrected (cached
        per word, as one lookup instead of three for every word of every sentence)."""
        return tuple(self._correct(stem(part)) for part in self._split(word))

    def _split(self, word: str) -> tuple[str, ...]:
        """`sadresse` → `s adresse`: an elision typed without its apostrophe."""
        if word in self._known or zipf(word) or stem(word) in self._known:
            return (word,)
        return split_elision(word, lambda rest: stem(rest) in self._known or zipf(rest) >= 3)

    def _correct_uncached(self, word: str) -> str:
        """The closest known word for an unknown one: 1 edit from 4 letters, 2 from 8.

        A swap of two letters counts as one edit (`grnat` → `grant`). A real word that is
        common enough (`commerce`, `université`) is left alone: it is not a typo, and as an
        unknown word it tells the matcher the question is about something else. A 4-letter
        non-word is corrected only when one known word alone is one edit away (`trak`).
        """
        if word in self._known or len(word) < 4 or word.isdigit():
            return word
        if len(word) == 4 and zipf(word):
            return word
        limit = 2 if len(word) >= 8 else 1
        # Only words within `limit` letters of the same length can be `limit` edits away.
        candidates = [
            known
            for size in range(len(word) - limit, len(word) + limit + 1)
            for known in self._by_length.get(size, ())
        ]
        if zipf(word) >= PROTECTED_ZIPF:
            # A real word may only meet another form of itself (`attended` → `attend`).
            candidates = [known for known in candidates if _same_root(word, known)]
        if len(word) == 4:
            close = process.extract(word, candidates, scorer=OSA.distance, score_cutoff=1, limit=2)
            return str(close[0][0]) if len(close) == 1 else word
        found = process.extractOne(word, candidates, scorer=OSA.distance, score_cutoff=limit)
        return str(found[0]) if found else word

    def _unknown_weight_uncached(self, word: str) -> float:
        """A word the base has never seen: heavy when rare (another subject), light when
        everyday (`suis`, `someone`), see RARE_ZIPF and COMMON_ZIPF."""
        if word == OFF_TOPIC:
            return self._oov_weight * OFF_TOPIC_FACTOR
        share = (COMMON_ZIPF - zipf(word)) / (COMMON_ZIPF - RARE_ZIPF)
        return self._oov_weight * min(1.0, max(COMMON_WEIGHT_SHARE, share))

    @staticmethod
    def _compute_idf(
        token_sets: list[tuple[str, frozenset[str]]], entry_count: int
    ) -> dict[str, float]:
        entries_with: dict[str, set[str]] = defaultdict(set)
        for entry_id, tokens in token_sets:
            for token in tokens:
                entries_with[token].add(entry_id)
        total = max(entry_count, 1)
        return {t: math.log(1 + total / len(ids)) for t, ids in entries_with.items()}

    def _weight(self, tokens: Iterable[str]) -> float:
        # fsum: the same total in whatever order a set gives its words (string hashes, so
        # that order, change with every process), hence the same verdict on every start.
        return math.fsum(self._word_weight(t) for t in tokens)

    def _word_weight(self, token: str) -> float:
        idf = self._idf.get(token)
        return idf if idf is not None else self._unknown_weight(token)

    def tokens(self, text: str) -> list[str]:
        """What the matcher sees of a text (for `kb check` and for debugging)."""
        return self._analyse(text, correct=True)

    # ----------------------------------------------------------------- scoring

    def rank(self, text: str) -> list[tuple[str, float]]:
        """Every entry with a score for the question, best first."""
        scores = self._reading(text).scores
        order = np.flatnonzero(scores)
        return self._ranked(scores, order)

    def _ranked(self, scores: np.ndarray, indexes: np.ndarray) -> list[tuple[str, float]]:
        pairs = [(self._entry_ids[i], float(scores[i])) for i in indexes]
        return sorted(pairs, key=lambda item: (-item[1], item[0]))

    def _reading(self, text: str) -> _Reading:
        """Every entry's scores for the question, and the classifier's view of it.

        Topics are scored on the whole message and on each of its sentences; small talk
        only on the whole message, so "Bonjour! … Comment s'inscrire?" is not a greeting.
        When some sentences ask ("…?"), only they are scored apart: "We are a food bank in
        Sherbrooke, for families. How do we register?" is about registering, whatever the
        first sentence alone would be about. Cross-validation ranks the right entry first
        for 96.8 % of questions instead of 96.7 % (the score of bench.calibration: +21).
        """
        text = text[:MAX_QUERY_CHARS]
        # A sentence pasted twice says nothing new: read once, it does not outweigh the rest.
        unique: dict[str, bool] = {}
        for folded, asks in self._fold(text):
            unique[folded] = unique.get(folded, False) or asks
        pieces = [(folded, self._read(folded, correct=True)) for folded in unique]
        asking = list(unique.values())
        # The whole message is its sentences end to end: read once, not twice.
        whole = {word for _, piece_words in pieces for word in piece_words}
        length = len(text.split())
        if all(token.isdigit() and not self._known_amount(token) for token in whole):
            nothing = np.zeros(len(self._entry_ids))  # "2+2", "514": numbers say no topic
            return _Reading(nothing, nothing, length)
        # A sign of another subject anywhere in the message weighs on every sentence.
        context = {OFF_TOPIC} & whole
        read = [whole]  # the words of each row: the whole message, then new sentences
        scored: list[int] = []  # which pieces those sentences are
        # When a sentence asks ("…?"), the others are context: read in the whole message only.
        asked = any(asking)
        for n, (_, piece_words) in enumerate(pieces if len(pieces) > 1 else []):
            if asked and not asking[n]:
                continue
            tokens = set(piece_words) | context
            if all(tokens != seen for seen in read):  # "Merci!", a repeat: nothing new
                read.append(tokens)
                scored.append(n)
        scores = self._score(read)
        by_words: np.ndarray = scores.max(axis=0)
        # Staff's explicit list of other subjects (`hors_sujet`) outranks what was learnt.
        if self._classifier is None or OFF_TOPIC in whole:
            return _Reading(by_words, by_words, length)
        probabilities = self._classifier.message_probabilities(pieces, scored)
        opinions = probabilities[:, self._classifier_columns]
        opinions[1:, self._entry_is_smalltalk] = 0.0  # a sentence is never a greeting
        rows = (1 - self._share) * scores + self._share * opinions
        return _Reading(rows.max(axis=0), by_words, length, _Opinion(probabilities[0], rows))

    @staticmethod
    def _fold(text: str) -> list[tuple[str, bool]]:
        """The message's sentences, folded, each with whether it asks (ends with "?"),
        without those that fold to nothing ("?!"): an empty text would only give the
        classifier's prior a say."""
        pieces = sentences(text)
        if len(pieces) == 1:
            pieces = [text]
        folded = [(fold(piece), piece.rstrip().endswith("?")) for piece in pieces]
        return [(piece, asks) for piece, asks in folded if piece] or [("", False)]

    def _known_amount(self, token: str) -> bool:
        """An amount the base names ("le 50 000 $ c'est pour quoi?") is a topic on its own;
        short numbers (a seat count, a year's digits, "2+2") are not."""
        return len(token) >= 4 and token in self._cells

    def _score(self, queries: Sequence[set[str]]) -> np.ndarray:
        """Every entry's score (columns, in entry order) for the whole message and each of
        its sentences (rows, the whole first); small talk only for the whole message."""
        rows = [query - self._smalltalk_only for query in queries]
        chatty = not queries[0].isdisjoint(self._smalltalk_words)
        if chatty:
            rows.append(queries[0])
        scores = self._score_words(rows)
        smalltalk = self._entry_is_smalltalk
        if chatty:
            chatter = scores[-1, smalltalk]  # a copy (boolean indexing)
            scores = scores[:-1]
        scores[:, smalltalk] = 0.0
        if chatty:
            scores[0, smalltalk] = chatter
        return scores

    def _score_words(self, queries: Sequence[set[str]]) -> np.ndarray:
        """Best phrasing per entry, or the entry's words as a whole, whichever is higher:
        one row per query, all computed together (one count and one pass over the
        candidates for a message and all its sentences).

        A phrasing scores the geometric mean (weighted by `alpha`) of the share of the
        question it explains and the share of itself the question contains; an entry as a
        whole scores `beta` times the share of the question found anywhere in it.
        """
        phrasing_count = len(self._phrasings)
        width = phrasing_count + len(self._entry_ids)  # a row: phrasings, then entries
        query_weight = np.ones(len(queries))
        weight = self._word_weight
        cells: list[np.ndarray] = []  # per query: where its words are found, offset by row
        cell_weights: list[np.ndarray] = []  # and the weight of the word found there
        for row, query in enumerate(queries):
            tokens = sorted(query)  # added up in one order: see _weight
            total = math.fsum([weight(t) for t in tokens])
            found = [t for t in tokens if t in self._cells]
            if not found or total <= 0:
                continue
            query_weight[row] = total
            cells.append(np.concatenate([self._cells[t] for t in found]) + row * width)
            cell_weights.append(np.concatenate([self._cell_weights[t] for t in found]))
        if not cells:
            return np.zeros((len(queries), len(self._entry_ids)))
        shared = np.bincount(
            np.concatenate(cells), np.concatenate(cell_weights), minlength=len(queries) * width
        )
        shared = shared.reshape(len(queries), width)
        starts = self._entry_starts
        if starts is not None and shared.size <= DENSE_CELLS:
            best = self._best_phrasings_dense(shared[:, :phrasing_count], query_weight, starts)
        else:
            best = self._best_phrasings_sparse(shared, query_weight)
        whole = shared[:, phrasing_count:] * (self._beta / query_weight[:, None])
        # On a tie, the entry with the closer single phrasing goes first.
        return np.where(whole > best, whole + TIE_BREAK * best, best)

    def _phrasing_score(
        self, overlap: np.ndarray, query_weight: np.ndarray, phrasing_weight: np.ndarray
    ) -> np.ndarray:
        """How well phrasings answer questions, from the weight of their shared words."""
        alpha = self._alpha
        scores: np.ndarray = (overlap / query_weight) ** alpha * (overlap / phrasing_weight) ** (
            1 - alpha
        )
        return scores

    def _best_phrasings_dense(
        self, overlap: np.ndarray, query_weight: np.ndarray, starts: np.ndarray
    ) -> np.ndarray:
        """Each entry's best phrasing score per row, every phrasing scored (`starts`: where
        each entry's phrasings start): on a small base, a few numpy calls on a few thousand
        numbers cost less than finding the hits first."""
        scores = self._phrasing_score(overlap, query_weight[:, None], self._phrasing_weight)
        best: np.ndarray = np.maximum.reduceat(scores, starts, axis=1)
        return best

    def _best_phrasings_sparse(self, shared: np.ndarray, query_weight: np.ndarray) -> np.ndarray:
        """`_best_phrasings_dense`, only where a question shares words with a phrasing: on a
        large base, most phrasings share none."""
        best = np.zeros((len(shared), len(self._entry_ids)))
        hits = np.flatnonzero(shared)  # on the flat array: no strided 2-D search
        rows, columns = np.divmod(hits, shared.shape[1])
        phrasings = columns < len(self._phrasings)
        rows, phrasing = rows[phrasings], columns[phrasings]
        scores = self._phrasing_score(
            shared.flat[hits[phrasings]], query_weight[rows], self._phrasing_weight[phrasing]
        )
        # Hits come row by row, in phrasing order, and an entry's phrasings are numbered
        # together: each (row, entry) is one run of them.
        cell = rows * len(self._entry_ids) + self._phrasing_entry[phrasing]
        change = np.empty(len(cell), dtype=bool)
        change[:1] = True
        np.not_equal(cell[1:], cell[:-1], out=change[1:])
        starts = np.flatnonzero(change)
        best.flat[cell[starts]] = np.maximum.reduceat(scores, starts)
        return best

    def match(self, text: str) -> Match:
        """The verdict: an entry to answer with, or not sure with the closest suggestions."""
        reading = self._reading(text)
        ranked = self._best_three(reading.scores)
        if not ranked:
            return Match(None, 0.0, False, ())
        best_id, best_score = ranked[0]
        evidence = self._evidence(reading, ranked)
        if evidence is not None:
            best_score = evidence.confidence()
        elif self._classifier is not None:
            # The words decided alone (`hors_sujet`): put their threshold where the other's is.
            best_score *= CONFIDENCE_THRESHOLD / WORDS_ONLY_THRESHOLD
        suggestions = tuple(
            entry_id for entry_id, _ in ranked[:3] if self._kinds[entry_id] == "faq"
        )
        return Match(best_id, best_score, best_score >= self.threshold, suggestions)

    def evidence(self, text: str) -> Evidence | None:
        """What the decision to answer rests on (None when the classifier was not consulted:
        no examples, or a message naming another subject)."""
        reading = self._reading(text)
        ranked = self._best_three(reading.scores)
        return self._evidence(reading, ranked) if ranked else None

    def _best_three(self, scores: np.ndarray) -> list[tuple[str, float]]:
        """The three best entries with a score, best first (on a tie, by id)."""
        if len(scores) > FEW_ENTRIES:  # a large base: numpy finds them in one pass
            top = np.argpartition(-scores, 3)[:3]
            return self._ranked(scores, top[scores[top] > 0])
        # A few dozen numbers: a Python list is quicker than half a dozen numpy calls.
        scored = [
            (-score, entry_id)
            for entry_id, score in zip(self._entry_ids, scores.tolist(), strict=True)
        ]
        return [(entry_id, -score) for score, entry_id in heapq.nsmallest(3, scored) if score < 0]

    def _evidence(self, reading: _Reading, ranked: list[tuple[str, float]]) -> Evidence | None:
        if reading.opinion is None or self._classifier is None:
            return None
        rows = reading.opinion.rows
        best_id, best_score = ranked[0]
        best = self._entry_number[best_id]
        # Lists, not arrays: for a few dozen numbers Python's max and index are quicker.
        deciding = rows[int(np.argmax(rows[:, best]))].tolist()
        deciding[best] = 0.0
        second, third = [*sorted(deciding, reverse=True), 0.0, 0.0][:2]
        words = reading.words.tolist()
        opinion = reading.opinion.probabilities.tolist()
        opinion_best = max(opinion)
        opinion_label = self._classifier.labels[opinion.index(opinion_best)]
        decline = self._decline_column
        return Evidence(
            best=best_score,
            second=second,
            third=third,
            words_best=words[best],
            words_top=max(words),
            words_agree=words[best] >= max(words),  # first, or tied for first
            opinion_top=opinion_best,
            opinion_agrees=opinion_label == best_id,
            opinion_declines=opinion_label == DECLINE,
            decline=0.0 if decline is None else opinion[decline],
            length=reading.length,
        )
