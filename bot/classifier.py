"""A second opinion for the matcher, learned from examples of real questions.

The matcher (bot.matcher) compares a question with the phrasings staff wrote, word by word.
It stumbles on wording nobody wrote down: on questions written by people who never saw the
base it ranked the right entry first for 84 % of them (95 % with this second opinion). A
logistic regression over the same words plus character n-grams, trained on the phrasings
*and* on labelled example questions (knowledge/examples/, including questions the bot must
decline), learns which words tell entries apart and what an off-topic question looks like.
Blended with the matcher's score it answers 88.9 % of such questions right instead of
70.3 %, with 10 confident wrong answers instead of 39 out of 531 (docs/benchmarks.md).

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
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from threading import Lock

import numpy as np

from bot.text import fold

DECLINE = ""  # the label of example questions the bot must not answer
REGULARISATION = 10.0  # scikit-learn's C: higher trusts the examples more
CHAR_SIZES = (3, 4, 5)  # character n-grams taken inside each word, its edges included
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


@dataclass(frozen=True)
class _Block:
    """One kind of feature (words or character n-grams): its vocabulary and idf."""

    index: dict[str, int]
    idf: np.ndarray
    offset: int

    @classmethod
    def of(cls, vocabulary: Sequence[str], idf: np.ndarray, offset: int) -> _Block:
        return cls({f: i for i, f in enumerate(vocabulary)}, idf, offset)

    @classmethod
    def fit(cls, documents: Sequence[Sequence[str]], offset: int) -> _Block:
        frequency: Counter[str] = Counter()
        for features in documents:
            frequency.update(set(features))
        vocabulary = sorted(frequency)
        n = len(documents)
        idf = np.array([math.log((1 + n) / (1 + frequency[f])) + 1 for f in vocabulary])
        return cls.of(vocabulary, idf, offset)

    def encode(self, features: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Column numbers and l2-normalised tf-idf values (log-scaled counts).

        Written for speed: it runs for every sentence of every question.
        """
        index = self.index
        return self.weigh(np.fromiter((index[f] for f in features if f in index), np.intp))

    def weigh(self, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`encode` for features already turned into this block's column numbers."""
        columns, counts = np.unique(columns, return_counts=True)
        values = (1 + np.log(counts)) * self.idf[columns]
        if len(values):
            values /= np.sqrt(values @ values)
        return columns + self.offset, values


class Classifier:
    """Probabilities over labels (entry ids, and DECLINE) for a question."""

    def __init__(
        self,
        labels: Sequence[str],
        words: _Block,
        grams: _Block,
        weights: np.ndarray,
        bias: np.ndarray,
    ) -> None:
        self.labels = list(labels)
        self._words = words
        self._grams = grams
        self._weights = np.ascontiguousarray(weights, dtype=np.float64)
        self._bias = np.asarray(bias, dtype=np.float64)
        # A word's character n-grams as columns, once per word: most of a question's cost.
        self._word_grams = lru_cache(maxsize=16384)(self._word_grams_uncached)

    def _word_grams_uncached(self, word: str) -> np.ndarray:
        index = self._grams.index
        return np.fromiter((index[g] for g in char_grams(word) if g in index), np.intp)

    @classmethod
    def train(
        cls, texts: Sequence[str], words: Sequence[list[str]], labels: Sequence[str]
    ) -> Classifier:
        """Learn from `texts`, read as `words` by the matcher, labelled with entry ids.

        The `sag` solver keeps one gradient per question rather than L-BFGS's history of
        whole weight matrices: training peaks about 150 MB lower, for the same accuracy.
        """
        from scipy.sparse import csr_matrix
        from sklearn.linear_model import LogisticRegression

        grams = [char_grams(fold(text)) for text in texts]
        word_block = _Block.fit(words, 0)
        gram_block = _Block.fit(grams, len(word_block.index))
        width = len(word_block.index) + len(gram_block.index)
        rows: list[int] = []
        columns: list[int] = []
        values: list[float] = []
        for row, (w, g) in enumerate(zip(words, grams, strict=True)):
            for block, features in ((word_block, w), (gram_block, g)):
                cols, vals = block.encode(features)
                rows += [row] * len(cols)
                columns += cols.tolist()
                values += vals.tolist()
        matrix = csr_matrix((values, (rows, columns)), shape=(len(texts), width))
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
        return cls(names, word_block, gram_block, weights, bias)

    def save(self, path: Path) -> None:
        """Write the weights to `path`, whole or not at all (a crash leaves no half file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez(
                    file,
                    labels=np.array(self.labels, dtype=str),
                    words=np.array(list(self._words.index), dtype=str),
                    words_idf=self._words.idf,
                    grams=np.array(list(self._grams.index), dtype=str),
                    grams_idf=self._grams.idf,
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
                word_block = _Block.of(words, data["words_idf"], 0)
                grams = [str(g) for g in data["grams"]]
                gram_block = _Block.of(grams, data["grams_idf"], len(words))
                labels = [str(label) for label in data["labels"]]
                weights, bias = data["weights"], data["bias"]
        except (KeyError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise ValueError(f"{path} is not a saved classifier: {exc}") from exc
        if weights.shape != (len(words) + len(grams), len(labels)) or bias.shape != (len(labels),):
            raise ValueError(f"{path} has weights of the wrong shape")
        return cls(labels, word_block, gram_block, weights, bias)

    def probabilities(self, text: str, words: list[str]) -> np.ndarray:
        """The probability of each label (in `labels` order) for a question the matcher
        read as `words`."""
        logits = self._bias.copy()
        grams = [self._word_grams(word) for word in fold(text).split()]
        for columns, values in (
            self._words.encode(words),
            self._grams.weigh(np.concatenate(grams) if grams else np.zeros(0, np.intp)),
        ):
            if len(columns):
                logits += values @ self._weights[columns]
        exp = np.exp(logits - logits.max())
        probabilities: np.ndarray = exp / exp.sum()
        return probabilities


_TRAINED: dict[str, Classifier] = {}
_TRAINING = Lock()


def trained(
    texts: Sequence[str],
    labels: Sequence[str],
    tokenize: Tokenizer,
    context: str,
    cache_dir: Path | None = None,
) -> Classifier:
    """A classifier for these examples, trained once per process and kept in `cache_dir`.

    Every Application built in the same process (the test-suite builds hundreds) shares
    it, and the next process to start with the same knowledge base loads its weights from
    `cache_dir` in a few milliseconds instead of training for seconds. `context` is whatever
    else decides how `tokenize` reads the texts (the synonyms): an edited knowledge base
    gives other texts or another context, hence a new one. The code that turns texts into
    features is part of the key too, so weights from an older version are not reused.
    """
    key = _key(texts, labels, context)
    path = cache_dir / f"classifier-{key[:32]}.npz" if cache_dir is not None else None
    with _TRAINING:
        classifier = _TRAINED.get(key) or _from_disk(path)
        if classifier is None:
            classifier = Classifier.train(texts, [tokenize(text) for text in texts], labels)
        if path is not None and not path.exists():
            _keep(classifier, path)
        _TRAINED[key] = classifier
        return classifier


def _key(texts: Sequence[str], labels: Sequence[str], context: str) -> str:
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
    """Keep the few most recent weight files: older knowledge base versions' are dead."""
    files = sorted(
        directory.glob("classifier-*.npz"), key=lambda f: f.stat().st_mtime, reverse=True
    )
    for old in files[KEPT_WEIGHT_FILES:]:
        old.unlink(missing_ok=True)
