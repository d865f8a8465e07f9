"""A second opinion for the matcher, learned from examples of real questions.

The matcher (bot.matcher) compares a question with the phrasings staff wrote, word by word.
It stumbles on wording nobody wrote down: on questions written by people who never saw the
base it ranked the right entry first for 83 % of them (95 % with this second opinion). A
logistic regression over the same words, the words as typed, their neighbouring pairs and
character n-grams, trained on the phrasings *and* on labelled example questions
(knowledge/examples/, including questions the bot must decline), learns which words tell
entries apart and what an off-topic question looks like. Blended with the matcher's score
it answers 90.9 % of such questions right instead of 70.5 %, with 10 confident wrong
answers instead of 40 out of 531 (docs/benchmarks.md).

Training takes a few seconds with scikit-learn, so it is done once per process for a given
set of texts, and its weights are kept on disk for the next start (see `trained`): a process
that finds them never imports scikit-learn, which keeps its memory small. Answering a
question is a sparse sum in numpy.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from threading import Lock
from typing import Any

import numpy as np

from bot.text import fold

DECLINE = ""  # the label of example questions the bot must not answer
REGULARISATION = 10.0  # scikit-learn's C: higher trusts the examples more
CHAR_SIZES = (3, 4, 5)  # character n-grams taken inside each word, its edges included
# Words and pairs found in a single training text (two thirds of them) are dropped:
# cross-validation ranks as well without them (96.7 %), with half the weights in memory.
LEAST_TEXTS = 2
ENCODE_CHUNK = 1000  # training texts encoded at once (memory, not results)
KEPT_WEIGHT_FILES = 4  # trained weights kept on disk (other knowledge base versions)
# What else decides the weights for given texts: how they are read and turned into features.
_SOURCES = ("classifier.py", "matcher.py", "text.py", "lexicon.py")
log = logging.getLogger(__name__)
Tokenizer = Callable[[str], list[str]]


def char_grams(folded: str) -> list[str]:
    """Character n-grams of each word padded with spaces: `" bou"`, `"bour"`, … `"rse "`.

    They recognise a word through typos and endings the stemmer does not know
    (`bource`, `formaiton`, `subventions`).
    """
    grams: list[str] = []
    for word in folded.split():
        padded = f" {word} "
        for size in CHAR_SIZES:
            if len(padded) <= size:
                grams.append(padded)
                break
            grams += [padded[i : i + size] for i in range(len(padded) - size + 1)]
    return grams


TYPED = "~"  # marks a word as typed, apart from the matcher's reading of it


def word_features(folded: str, words: list[str]) -> list[str]:
    """The matcher's words and the words as typed (folded, marked TYPED), each with the
    pairs of neighbours (`pas besoin`, `how much`).

    A pair tells entries apart where its words alone do not. The matcher's words are
    stemmed, corrected and merged by the synonyms, which is what comparing with phrasings
    needs, but the merge hides what the classifier could learn from the words themselves:
    "quelle heure est-il à Hanoi" reads as the cohort's hours to the matcher. With the typed
    words, cross-validation ranks the right entry first for 96.7 % of questions instead of
    96.0 %, and answers about 150 more of 6 665 right (docs/benchmarks.md).
    """
    return _with_pairs(words, typed_words(folded))


def typed_words(folded: str) -> list[str]:
    """A folded text's words, marked TYPED."""
    return [TYPED + word for word in folded.split()]


def _with_pairs(words: list[str], typed: list[str]) -> list[str]:
    return words + _pairs(words) + typed + _pairs(typed)


def _pairs(words: list[str]) -> list[str]:
    return [f"{first} {second}" for first, second in pairwise(words)]


class _Features:
    """How a text becomes a row of features: its words' (and word pairs') tf-idf and its
    character n-grams'.

    Each kind has its own vocabulary (words first, then n-grams, in one column space) and
    is l2-normalised on its own, so a long message's many n-grams do not drown its words.
    """

    def __init__(self, words: Sequence[str], grams: Sequence[str], idf: np.ndarray) -> None:
        self.words = {word: n for n, word in enumerate(words)}
        self.grams = {gram: n + len(words) for n, gram in enumerate(grams)}
        self.idf = np.asarray(idf, dtype=np.float64)
        # A word's n-grams as columns, once per word: most of a question's cost.
        self._word_grams = lru_cache(maxsize=16384)(self._word_grams_uncached)

    @property
    def width(self) -> int:
        return len(self.words) + len(self.grams)

    @classmethod
    def fit(cls, texts: Sequence[tuple[str, list[str]]]) -> _Features:
        """The vocabularies and idf of (folded text, matcher words) pairs."""
        # Generators: each text's features are counted, then dropped (as lists they held
        # hundreds of MB of short strings while training).
        word_idf = _idf((word_features(folded, words) for folded, words in texts), LEAST_TEXTS)
        gram_idf = _idf(char_grams(folded) for folded, _ in texts)
        idf = np.array(list(word_idf.values()) + list(gram_idf.values()))
        return cls(list(word_idf), list(gram_idf), idf)

    def _word_grams_uncached(self, word: str) -> np.ndarray:
        index = self.grams
        return np.fromiter((index[g] for g in char_grams(word) if g in index), np.intp)

    def encode(self, texts: Sequence[tuple[str, list[str]]]) -> tuple[np.ndarray, ...]:
        """(row, column, value) of the non-zero features of (folded text, words) pairs.

        All texts at once, for speed: the sentences of one question (or a whole training
        set) cost one sort, not one per sentence and kind of feature.
        """
        width, index = self.width, self.words
        # A feature's key is its column plus its group's start: text n's words are group 2n,
        # its n-grams group 2n + 1.
        keys: list[np.ndarray] = []
        grams: list[np.ndarray] = []  # each word's n-gram columns
        starts: list[int] = []  # and its group's start
        for row, (folded, words) in enumerate(texts):
            group = 2 * row * width
            known = (index[w] + group for w in word_features(folded, words) if w in index)
            keys.append(np.fromiter(known, np.intp))
            these = [self._word_grams(word) for word in folded.split()]
            grams += these
            starts += [group + width] * len(these)
        if grams:
            sizes = [len(word) for word in grams]
            keys.append(np.concatenate(grams) + np.repeat(np.array(starts, np.intp), sizes))
        return self._weigh(keys, len(texts))

    def encode_message(
        self, pieces: Sequence[tuple[str, list[str]]], sentences: Sequence[int]
    ) -> tuple[np.ndarray, ...]:
        """`encode` of a whole message, then of some of its sentences, from its sentences
        (folded text, words) end to end: the same features, each word looked up once.

        The whole message's features are its sentences' put together, plus the word pairs
        that straddle two sentences.
        """
        width, index = self.width, self.words
        words_of: list[np.ndarray] = []
        grams_of: list[np.ndarray] = []
        typed_of = [typed_words(folded) for folded, _ in pieces]  # once: pieces and straddling
        for (folded, words), typed in zip(pieces, typed_of, strict=True):
            known = [index[w] for w in _with_pairs(words, typed) if w in index]
            words_of.append(np.array(known, np.intp))
            grams = [self._word_grams(word) for word in folded.split()]
            grams_of.append(np.concatenate(grams) if grams else np.zeros(0, np.intp))
        said = [words for _, words in pieces if words]
        written = [typed for typed in typed_of if typed]
        straddling = (
            f"{first[-1]} {then[0]}" for runs in (said, written) for first, then in pairwise(runs)
        )
        keys = [
            np.concatenate(
                [*words_of, np.fromiter((index[p] for p in straddling if p in index), np.intp)]
            ),
            np.concatenate(grams_of) + width,
        ]
        for row, piece in enumerate(sentences, start=1):  # text n: groups 2n and 2n + 1
            keys += [words_of[piece] + 2 * row * width, grams_of[piece] + (2 * row + 1) * width]
        return self._weigh(keys, 1 + len(sentences))

    def _weigh(self, keys: list[np.ndarray], texts: int) -> tuple[np.ndarray, ...]:
        """(row, column, value) from feature keys (column + group start; text n's words are
        group 2n, its n-grams 2n + 1): log-scaled counts × idf, l2-normalised per group."""
        found, counts = np.unique(np.concatenate(keys), return_counts=True)
        groups, columns = np.divmod(found, self.width)
        values = (1 + np.log(counts)) * self.idf[columns]  # log-scaled counts × idf
        norms = np.sqrt(np.bincount(groups, values * values, minlength=2 * texts))
        values /= norms[groups]
        return groups // 2, columns, values


def _matrix(features: _Features, pairs: Sequence[tuple[str, list[str]]]) -> Any:
    """The training texts' features as a sparse matrix, built a chunk of texts at a time:
    encoding them all at once held about 100 MB of keys while they were sorted. A text's
    row depends on it alone, so the matrix is the same."""
    from scipy.sparse import csr_matrix, vstack

    chunks = []
    for start in range(0, len(pairs), ENCODE_CHUNK):
        part = pairs[start : start + ENCODE_CHUNK]
        rows, columns, values = features.encode(part)
        chunks.append(csr_matrix((values, (rows, columns)), shape=(len(part), features.width)))
    return vstack(chunks, format="csr")


def _idf(documents: Iterable[Sequence[str]], least: int = 1) -> dict[str, float]:
    """Smoothed idf of each feature found in at least `least` documents, in sorted feature
    order (scikit-learn's formula)."""
    frequency: Counter[str] = Counter()
    n = 0
    for features in documents:
        frequency.update(set(features))
        n += 1
    kept = sorted(f for f, count in frequency.items() if count >= least)
    return {f: math.log((1 + n) / (1 + frequency[f])) + 1 for f in kept}


class Classifier:
    """Probabilities over labels (entry ids, and DECLINE) for a question."""

    def __init__(
        self, labels: Sequence[str], features: _Features, weights: np.ndarray, bias: np.ndarray
    ) -> None:
        self.labels = list(labels)
        self._features = features
        # Single precision: a question reads a few thousand scattered rows of these weights,
        # and half the bytes is most of session 14's 15 % less time per question.
        # Probabilities move by less than 1e-7; no verdict changed (docs/benchmarks.md).
        self._weights = np.ascontiguousarray(weights, dtype=np.float32)
        self._bias = np.asarray(bias, dtype=np.float64)

    @classmethod
    def train(
        cls, texts: Sequence[str], words: Sequence[list[str]], labels: Sequence[str]
    ) -> Classifier:
        """Learn from `texts`, read as `words` by the matcher, labelled with entry ids.

        The `sag` solver keeps one gradient per question rather than L-BFGS's history of
        whole weight matrices: training peaks about 150 MB lower, for the same accuracy.
        """
        from sklearn.linear_model import LogisticRegression

        pairs = [(fold(text), w) for text, w in zip(texts, words, strict=True)]
        features = _Features.fit(pairs)
        matrix = _matrix(features, pairs)
        model = LogisticRegression(
            C=REGULARISATION, solver="sag", tol=1e-4, max_iter=3000, random_state=0
        )
        model.fit(matrix, list(labels))
        weights = model.coef_.T
        bias = np.asarray(model.intercept_)
        if len(model.classes_) == 2:  # scikit-learn keeps one column for two classes
            weights = np.hstack([-weights, weights]) / 2
            bias = np.array([-bias[0], bias[0]]) / 2
        names = [str(label) for label in model.classes_]
        return cls(names, features, weights, bias)

    def save(self, path: Path) -> None:
        """Write the weights to `path`, whole or not at all (a crash leaves no half file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        words = len(self._features.words)
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez(
                    file,
                    labels=np.array(self.labels, dtype=str),
                    words=np.array(list(self._features.words), dtype=str),
                    words_idf=self._features.idf[:words],
                    grams=np.array(list(self._features.grams), dtype=str),
                    grams_idf=self._features.idf[words:],
                    weights=self._weights,
                    bias=self._bias,
                )
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> Classifier:
        """Weights written by `save` (raises OSError or ValueError if unreadable)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                words = [str(w) for w in data["words"]]
                grams = [str(g) for g in data["grams"]]
                idf = np.concatenate([data["words_idf"], data["grams_idf"]])
                labels = [str(label) for label in data["labels"]]
                weights, bias = data["weights"], data["bias"]
        except (KeyError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise ValueError(f"{path} is not a saved classifier: {exc}") from exc
        width = len(words) + len(grams)
        if idf.shape != (width,) or weights.shape != (width, len(labels)):
            raise ValueError(f"{path} has weights of the wrong shape")
        if bias.shape != (len(labels),):
            raise ValueError(f"{path} has weights of the wrong shape")
        return cls(labels, _Features(words, grams, idf), weights, bias)

    def probabilities(self, texts: Sequence[tuple[str, list[str]]]) -> np.ndarray:
        """The probability of each label (columns, in `labels` order) for each question
        (rows), given as its folded text and the words the matcher read in it.

        Several at once (a message and its sentences): one matrix product for all.
        """
        return self._softmax(len(texts), *self._features.encode(texts))

    def message_probabilities(
        self, pieces: Sequence[tuple[str, list[str]]], sentences: Sequence[int]
    ) -> np.ndarray:
        """`probabilities` of a whole message (the first row), given as its sentences
        (folded text, words) end to end, then of the sentences numbered in `sentences`."""
        encoded = self._features.encode_message(pieces, sentences)
        return self._softmax(1 + len(sentences), *encoded)

    def _softmax(
        self, texts: int, rows: np.ndarray, columns: np.ndarray, values: np.ndarray
    ) -> np.ndarray:
        # Each text's features times their rows of weights (`rows` is sorted): one product
        # per text, not a mostly empty texts × features matrix times them all.
        weights = self._weights.take(columns, axis=0)
        bounds = np.searchsorted(rows, np.arange(texts + 1)).tolist()
        logits = np.array([values[a:b] @ weights[a:b] for a, b in pairwise(bounds)]) + self._bias
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
        return probabilities


_TRAINED: dict[str, Classifier] = {}
_TRAINING = Lock()


def trained(
    key: str,
    texts: Sequence[str],
    labels: Sequence[str],
    tokenize: Tokenizer,
    cache_dir: Path | None = None,
) -> Classifier:
    """A classifier for these examples, trained once per process and kept in `cache_dir`.

    Every Application built in the same process (the test-suite builds hundreds) shares
    it, and the next process to start with the same knowledge base loads its weights from
    `cache_dir` in a few milliseconds instead of training for seconds. `key` is
    `weights_key` of these texts and labels.
    """
    path = weights_file(cache_dir, key) if cache_dir is not None else None
    with _TRAINING:
        classifier = _TRAINED.get(key) or _from_disk(path)
        if classifier is None:
            started = time.perf_counter()
            classifier = Classifier.train(texts, [tokenize(text) for text in texts], labels)
            elapsed = time.perf_counter() - started
            log.info("Classifier trained on %d texts in %.1f s", len(texts), elapsed)
        if path is not None and not path.exists():
            _keep(classifier, path)
        elif path is not None:
            with contextlib.suppress(OSError):  # in use: the last file `_forget_old` drops
                path.touch()
        _TRAINED[key] = classifier
        return classifier


def weights_file(cache_dir: Path, key: str) -> Path:
    """The file `trained` keeps the weights for a key in (`kb train` names it)."""
    return cache_dir / f"classifier-{key[:32]}.npz"


def weights_key(texts: Sequence[str], labels: Sequence[str], context: str) -> str:
    """What the weights for these texts depend on. `context` is whatever else decides how
    they are read (the synonyms): an edited knowledge base gives other texts or another
    context, hence a new key. The code that turns texts into features is part of it too,
    so weights from an older version are not reused."""
    digest = hashlib.sha256(context.encode())
    package = Path(__file__).parent
    for name in _SOURCES:
        digest.update((package / name).read_bytes())
    for text, label in zip(texts, labels, strict=True):
        digest.update(f"{label}\x1f{text}\x1e".encode())
    return digest.hexdigest()


def _from_disk(path: Path | None) -> Classifier | None:
    if path is None or not path.exists():
        return None
    try:
        return Classifier.load(path)
    except (OSError, ValueError) as exc:
        log.warning("Saved classifier weights unreadable, training again: %s", exc)
        with contextlib.suppress(OSError):
            path.unlink()  # so that the fresh weights take its place
        return None


def _keep(classifier: Classifier, path: Path) -> None:
    try:
        classifier.save(path)
        _forget_old(path.parent)
    except OSError as exc:  # a read-only disk costs the next start a training, no more
        log.warning("Could not keep the classifier weights in %s: %s", path.parent, exc)


def _forget_old(directory: Path) -> None:
    """Keep the few most recently used weight files: older knowledge bases' are dead."""
    files = sorted(
        directory.glob("classifier-*.npz"), key=lambda f: f.stat().st_mtime, reverse=True
    )
    for old in files[KEPT_WEIGHT_FILES:]:
        old.unlink(missing_ok=True)
