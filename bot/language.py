"""Which language a message is written in, from its words; None when it can't tell."""

from __future__ import annotations

from bot.text import strip_accents, words

_FRENCH = frozenset(
    """
    le la les des du de un une est et ou je tu il nous vous ils elle c ca cest quoi que qui
    quand comment combien pourquoi pour avec dans sur mon ma mes notre nos votre vos pas
    oui non merci bonjour salut allo bonsoir faut peut peux puis avoir etre suis sont
    fait faire quel quelle quels quelles aux au ce cette ces y a t on chu pis faque tsu
    cetait bourse gratuit cohorte formation prochaine inscrire inscription seance rencontre
    organisme date dates prix cout coute admissible prerequis numerique benevole aussi
    """.split()  # noqa: SIM905 - a word list reads best as words
)
_ENGLISH = frozenset(
    """
    the is are was were what how when who where which why can could would should do does
    did i you we they my our your their it this that these those of to for with and or
    in on at an be have has had will not no yes thanks thank hello hi hey please free
    grant grants cohort training session sessions register sign apply cost price need
    about there any much many next program track leadership eligible requirements
    """.split()  # noqa: SIM905
)
_FRENCH_LETTERS = set("éèêàâçùûôîïëœ")


def detect_language(text: str) -> str | None:
    """`fr`, `en`, or None when the words don't say (e.g. just "DATAide?")."""
    french = sum(2 for ch in text.lower() if ch in _FRENCH_LETTERS)
    english = 0
    for word in words(strip_accents(text)):
        french += word in _FRENCH
        english += word in _ENGLISH
    if french > english:
        return "fr"
    if english > french:
        return "en"
    return None


def choose_language(text: str | None, chosen: str | None, telegram_code: str | None) -> str:
    """The language to answer in: the message's own, else the person's, else French."""
    detected = detect_language(text) if text else None
    if detected:
        return detected
    if chosen in ("fr", "en"):
        return chosen
    return ui_language(chosen, telegram_code)


def ui_language(chosen: str | None, telegram_code: str | None) -> str:
    """The language of menus: chosen with /lang, else Telegram's, else French (the default)."""
    if chosen in ("fr", "en"):
        return chosen
    if telegram_code and telegram_code.lower().startswith("en"):
        return "en"
    return "fr"
