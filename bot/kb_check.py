"""`python -m bot kb check`: every problem in knowledge/, named by file, entry and field."""

from __future__ import annotations

from pathlib import Path

from bot.assistant import REQUIRED_MESSAGES
from bot.kb_schema import LANGUAGES
from bot.knowledge import KnowledgeBase, Problem, load_with_problems
from bot.matcher import Matcher


def check(directory: Path) -> list[Problem]:
    """Schema errors, dangling references, missing texts, and phrasings the matcher confuses."""
    base, problems = load_with_problems(directory, REQUIRED_MESSAGES)
    if base is not None and not any(p.severity == "error" for p in problems):
        problems += confusable_phrasings(base)
    return problems


def confusable_phrasings(base: KnowledgeBase) -> list[Problem]:
    """Phrasings that land on another entry: the matcher would answer them with it."""
    matcher = Matcher(base.entries, base.synonyms)
    problems: list[Problem] = []
    owners: dict[frozenset[str], str] = {}
    for entry_id, entry in base.entries.items():
        for language in LANGUAGES:
            for index, phrasing in enumerate(entry.phrasings.get(language)):
                field = f"phrasings.{language}[{index}]"
                tokens = frozenset(matcher.tokens(phrasing))
                other = owners.setdefault(tokens, entry_id)
                if other != entry_id:
                    problems.append(
                        _warn(
                            base,
                            entry_id,
                            field,
                            f"{phrasing!r} reads the same as "
                            f"a phrasing of {other!r}; keep it in one entry only",
                        )
                    )
                    continue
                ranked = matcher.rank(phrasing)
                if ranked and ranked[0][0] != entry_id:
                    own = dict(ranked).get(entry_id, 0.0)
                    if ranked[0][1] > own:
                        problems.append(
                            _warn(
                                base,
                                entry_id,
                                field,
                                f"{phrasing!r} is closer to "
                                f"entry {ranked[0][0]!r} ({ranked[0][1]:.2f} vs "
                                f"{own:.2f}); make it more specific",
                            )
                        )
    return problems


def _warn(base: KnowledgeBase, entry_id: str, field: str, message: str) -> Problem:
    return Problem(base.files.get(entry_id, "faq"), message, entry_id, field, "warning")


def report(problems: list[Problem]) -> tuple[str, int]:
    """The text to print and the exit status (1 when there is any error)."""
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity != "error"]
    lines = [str(p) for p in errors + warnings]
    if errors:
        lines.append(f"{len(errors)} error(s), {len(warnings)} warning(s): fix the errors above.")
    else:
        lines.append(f"Knowledge base OK ({len(warnings)} warning(s)).")
    return "\n".join(lines), 1 if errors else 0
