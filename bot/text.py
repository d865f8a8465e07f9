"""Text normalisation shared by the matcher, language detection and `kb check`.

Matching works on bare word stems: case, accents, apostrophes and punctuation are dropped,
Québec French and casual forms are read as their standard equivalents, numbers written
`15 000` or `15,000` become one token, and words that carry no topic are removed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

_NUMBER_GROUPS = re.compile(r"(?<=\d)[\s\u00a0\u202f,.](?=\d{3}\b)")
_WORD = re.compile(r"[a-z0-9]+")
_DIGIT = re.compile(r"\d")
_REPEATS = re.compile(r"([a-z])\1{2,}")
_YEAR = re.compile(r"\b20[0-9]{2}\b")
_THOUSANDS = re.compile(r"\b([0-9]{1,3}) ?k\b")
_HOURS = re.compile(r"\b([0-9]{1,3})h\b")
_SENTENCE_END = re.compile(r"(?<=[.!?\n])\s+|\n+")
_A_PLUS = re.compile(r"(?:\ba|@)\+(?!\w)")  # "a+", "à+", "@+": texting for "à plus" (bye)

# Words that say nothing about the topic, in both languages, after accents are stripped.
# Interrogatives that carry intent (combien, quand, qui, comment / how, when, who, where)
# are deliberately kept; greetings and thanks too, for the small-talk entries.
# Checked after stemming, so plural forms need no entry.
STOP_WORDS = frozenset(
    """
    a ai aie aies ait alors as au aucun aussi autre aux avais avait avec avez avoir avons
    bcp beaucoup ben bien bon bonne c ca ce ceci cela celle celui ces cet cette chez ci
    comme d da dans de des deja dit dois doit donc dont du e elle elles en encore es est et
    etaient etais etait ete etre eu eux fait faire faut faque fois genre hein icitte il ils
    j je jsuis juste l la le les leur leurs lui m ma mais me meme mes moi mon n ne ni nos
    notre nous o on ont ou oui par pas peu peut peux pis plus pour pourquoi pourrais
    pourrait puis puisque qu que quel quelle quelles quels quoi qqch quelque quelques rien
    s sa sais savoir se ses si sil sils son sont sur svp t ta te tes toi ton tous tout
    toute toutes tres tu un une unes uns veut veux voila voudrais voudrait vous vos votre
    vraiment y ya yen ye sti tse coudonc ok okay dac
    aimerais aimerait souhaite souhaiterais cherche connaitre dire expliquer
    explique expliquez info infos renseignement renseignements question
    questions demande demander savoir sait concernant propos niveau about am an and any are
    as at be been being but by can could did do does doing for from had has have having he
    her here him his i if im in into is it its ive just know let like me my no
    not of on or our please pls so some tell than that the their them then there these they
    thing things this those to too u up us was we were what whats which will with would
    ya yes you your yours want wanted wondering wonder need needs get got im i'm id ill
    youre bout quick q exactly exactement concretement actually basically
    suis sommes etes fais faisons hasn isn doesn didn wasn aren weren won wouldn couldn
    shouldn haven don should shall might must really very also along more
    small tiny petit petite petits petites
    """.split()  # noqa: SIM905 - one long list reads best as words
)

# Casual and Québec French forms, read before stop words are removed.
_CASUAL = {
    "chu": "je suis",
    "chui": "je suis",
    "jsuis": "je suis",
    "ct": "c etait",
    "cb": "combien",
    "cmb": "combien",
    "pk": "pourquoi",
    "pq": "pourquoi",
    "qd": "quand",
    "kan": "quand",
    "koi": "quoi",
    "ki": "qui",
    "kosse": "qu est ce",
    "kossa": "qu est ce que",
    "kel": "quel",
    "keske": "qu est ce que",
    "kes": "qu est",
    "slt": "salut",
    "bjr": "bonjour",
    "mrc": "merci",
    "mci": "merci",
    "stp": "svp",
    "tjrs": "toujours",
    "pr": "pour",
    "ds": "dans",
    "vs": "vous",
    "ns": "nous",
    "qqn": "quelqu un",
    "qqun": "quelqu un",
    "org": "organisme",
    "orgs": "organismes",
    "obnl": "organisme",
    "onbl": "organisme",
    "osbl": "organisme",
    "npo": "organisme",
    "nonprofit": "organisme",
    "u": "you",
    "ur": "your",
    "r": "are",
    "wat": "what",
    "wut": "what",
    "hw": "how",
    "whn": "when",
    "plz": "please",
    "tho": "though",
}


class _Unaccented(dict[int, str]):
    """Each character's unaccented form, worked out the first time it is met.

    Per character, because that is what `str.translate` reads: one C loop over the text
    instead of a Python one over its decomposition (every sentence of every question goes
    through here). Dropping the combining marks makes NFKD's reordering irrelevant, so the
    result is the same as decomposing the whole text.
    """

    def __missing__(self, code: int) -> str:
        decomposed = unicodedata.normalize("NFKD", _LIGATURES.get(chr(code), chr(code)))
        plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
        self[code] = plain
        return plain


_LIGATURES = {"œ": "oe", "Œ": "OE", "æ": "ae"}
_UNACCENTED = _Unaccented()


def strip_accents(text: str) -> str:
    """`Québec` → `Quebec`; `œ` → `oe` so `œuvre` and `oeuvre` meet."""
    return text if text.isascii() else text.translate(_UNACCENTED)


def fold(text: str) -> str:
    """Lower case, no accents, numbers joined, apostrophes and punctuation turned to spaces."""
    text = strip_accents(text.lower())
    text = _REPEATS.sub(r"\1", text)  # "merciii" -> "merci", "allooo" -> "allo"
    if _DIGIT.search(text):  # most questions have none: four searches saved
        text = _NUMBER_GROUPS.sub("", text)
        text = _THOUSANDS.sub(r"\g<1>000", text)  # "15k" is 15000
        text = _HOURS.sub(r"\1 h", text)  # "48h" is "48 h"
        text = _YEAR.sub(" annee ", text)  # any year reads as "a year": 2027 is no topic
    if "+" in text:
        text = _A_PLUS.sub(" a plus ", text)
    # Apostrophes and punctuation part words by not being in _WORD.
    words = _WORD.findall(text)
    if not _CASUAL.keys().isdisjoint(words):  # most messages have none: no loop over words
        words = [part for word in words for part in _CASUAL.get(word, word).split()]
    return " ".join(words)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A deliberately light stemmer: plurals and a few inflections, never across meanings.

    Heavier stemming merges `format` with `formation`; the synonyms table and typo
    correction cover the rest.
    """
    if word.isdigit() or len(word) <= 3:
        return word
    for suffix, keep in (("ies", "y"), ("eaux", "eau"), ("aux", "al")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[: -len(suffix)] + keep
    if word.endswith(("ss", "us", "is")):
        return word
    if word.endswith(("s", "x")) and len(word) > 4:
        word = word[:-1]
    if word.endswith("ee") and len(word) > 5:  # inscrite(s) / inscrites, donnee(s)
        word = word[:-1]
    return word


_ELIDED = ("qu", "c", "d", "j", "l", "m", "n", "s", "t")


# Question shapes that say what is asked when the words alone do not. Each adds words
# (read through the synonyms) to the folded text.
_INTENTS = (
    # "who is this program for?", "who's it for": the audience, not who runs it.
    (re.compile(r"\bwho\b(?: \w+){0,5} for$"), "for whom"),
)


# Set phrases whose words would mislead: "quand même" (anyway) is not "when".
_FILLERS = re.compile(
    r"\b(?:ca mange quoi en hiver|quand meme|quand on veut|en tout cas|par exemple|au juste"
    r"|tant qu a moi|anyway|by the way|btw|just wondering|i was wondering|if possible"
    r"|si possible"
    # Québec French "full" means "very" before an adjective: "c'tu full en ligne?"
    r"|full(?= (?:en ligne|online|virtuel\w*|cher|long\w*|bon\w*|le fun|nice|simple|facile"
    r"|complique\w*|interessant\w*|pratique|flexible|intense|exigeant\w*)\b))\b"
)
_IDIOMS = {"ca mange quoi en hiver": "c est quoi"}


def read_intents(folded: str) -> str:
    """The folded text without its misleading set phrases (see _FILLERS), plus the words
    its question shape stands for (see _INTENTS)."""
    folded = _FILLERS.sub(lambda found: _IDIOMS.get(found.group(0), " "), folded)
    extra = [words for pattern, words in _INTENTS if pattern.search(folded)]
    return " ".join([folded, *extra])


def split_elision(word: str, is_word: Callable[[str], bool]) -> tuple[str, ...]:
    """`sadresse` → (`s`, `adresse`), `quon` → (`qu`, `on`): French elisions typed without
    the apostrophe, split only when what follows is a word (`is_word`)."""
    for head in _ELIDED:
        rest = word[len(head) :]
        if word.startswith(head) and len(rest) >= 2 and is_word(rest):
            return (head, rest)
    return (word,)


def sentences(text: str) -> list[str]:
    """Split a long message so the sentence that asks is scored apart from the context."""
    parts = [p.strip() for p in _SENTENCE_END.split(text) if p and p.strip()]
    return parts or [text]


def words(text: str) -> list[str]:
    """Folded words, stop words kept (language detection needs them)."""
    return fold(text).split()
