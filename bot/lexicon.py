"""How common a word is in everyday French and English, outside DATAide.

The matcher knows only the words of the knowledge base. A word it has never seen can be a
typo of one of them (`bource`), a common word that says nothing (`suis`, `someone`), or the
sign of another subject (`université`, `météo`, `bootcamp`). General word frequencies tell
these apart: a frequent real word is not "corrected" into a knowledge-base word, a very common
one weighs little, and a rare word or a non-word weighs as much as the rarest topic word.

Frequencies come from pyspellchecker's French and English word lists (counts over film
subtitles), folded like the matcher's text (no accents, lower case) and kept above a floor so
the table stays small (about 50 000 words, a few MB).
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from importlib import resources

from bot.text import stem, strip_accents

LANGUAGES = ("fr", "en")
MIN_ZIPF = 2.5  # rarer words are left out: for the matcher they are as good as unknown
_LETTERS = re.compile(r"[a-z]+")


_ENTRY = re.compile(r'"((?:[^"\\]|\\.)*)":\s*(\d+)')


def _counts(language: str) -> Iterator[tuple[str, int]]:
    """(word, count) pairs of one language's list, read straight from the JSON text: a
    dict of its 150 000 words would triple the memory the bot needs at its peak."""
    path = resources.files("spellchecker") / "resources" / f"{language}.json.gz"
    with path.open("rb") as raw, gzip.open(raw) as unpacked:
        text = unpacked.read().decode("utf-8")
    for found in _ENTRY.finditer(text):
        yield found.group(1), int(found.group(2))


@lru_cache(maxsize=1)
def zipf_table() -> Mapping[str, float]:
    """Folded word (and its light stem) → Zipf frequency (log10 per billion words), the
    higher of the two languages. Loaded once per process (under a second)."""
    table: dict[str, float] = {}
    for language in LANGUAGES:
        total = sum(count for _, count in _counts(language))
        floor = total * 10 ** (MIN_ZIPF - 9)
        for word, count in _counts(language):
            if count < floor:
                continue
            folded = (
                strip_accents(json.loads(f'"{word}"').lower())
                if "\\" in word
                else (strip_accents(word.lower()))
            )
            if not _LETTERS.fullmatch(folded):
                continue
            value = math.log10(count / total * 1e9)
            for key in (folded, stem(folded)):
                if value > table.get(key, 0.0):
                    table[key] = value
    return table


def zipf(word: str) -> float:
    """Zipf frequency of a folded word: about 7 for `de`/`the`, 4 for `weather`, 0 unknown."""
    return zipf_table().get(word, 0.0)
