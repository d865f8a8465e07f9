"""Load knowledge/ into one immutable KnowledgeBase, collecting every problem on the way."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from bot.eligibility import structure_problems
from bot.kb_schema import (
    LANGUAGES,
    DeclaredSession,
    EligibilityFile,
    Entry,
    ExamplesFile,
    Fact,
    FactsFile,
    Localized,
    Messages,
    SessionsFile,
    SynonymsFile,
)
from bot.render import PLACEHOLDER, choose_variant, fill, variant_date

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in knowledge/, said so an editor can find and fix it."""

    file: str
    message: str
    entry: str | None = None
    field: str | None = None
    severity: str = "error"

    def __str__(self) -> str:
        where = self.file
        if self.entry:
            where += f" · entry {self.entry!r}"
        if self.field:
            where += f" · field {self.field!r}"
        return f"{self.severity.upper()}: {where}: {self.message}"


class KnowledgeError(Exception):
    """The knowledge base has errors; the bot keeps what it had (or refuses to start)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        super().__init__("\n".join(str(p) for p in errors))


@dataclass(frozen=True)
class KnowledgeBase:
    """Everything the bot knows and says, validated."""

    directory: Path
    facts: Mapping[str, Fact]
    entries: Mapping[str, Entry]
    messages: Mapping[str, Localized]
    synonyms: tuple[tuple[str, ...], ...]
    files: Mapping[str, str] = field(default_factory=dict)  # entry id -> file, for reports
    sessions: tuple[DeclaredSession, ...] = ()  # from sessions.yaml, upserted at start
    eligibility: EligibilityFile | None = None  # the questionnaire (eligibility.yaml)
    # Labelled questions from examples/: (text, entry id, or None for "decline").
    examples: tuple[tuple[str, str | None], ...] = ()

    def message(self, key: str, language: str, **values: Any) -> str:
        """A UI sentence in `language`, with `{name}` values and `{fact}` placeholders filled."""
        template = self.messages[key].get(language)
        text = fill(template, self.facts, language)
        return text.format_map(_Keep(values)) if values else text

    def answer(self, entry_id: str, language: str, today: dt.date) -> str:
        """The entry's answer as of `today`, facts filled in."""
        variant = choose_variant(self.entries[entry_id].variants, self.facts, today)
        return fill(variant.en if language == "en" else variant.fr, self.facts, language)

    def title(self, entry_id: str, language: str) -> str:
        return self.entries[entry_id].title.get(language)

    def text(self, text: Localized, language: str) -> str:
        """A content text (e.g. of the questionnaire) in `language`, facts filled in."""
        return fill(text.get(language), self.facts, language)


class _Keep(dict[str, Any]):
    """Leave unknown `{names}` as they are instead of raising KeyError mid-conversation."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def load_knowledge(
    directory: Path, required_messages: frozenset[str] = frozenset()
) -> KnowledgeBase:
    """Load and check knowledge/; raise KnowledgeError listing every error found."""
    base, problems = load_with_problems(directory, required_messages)
    if base is None or any(p.severity == "error" for p in problems):
        raise KnowledgeError(problems)
    return base


def load_with_problems(
    directory: Path, required_messages: frozenset[str] = frozenset()
) -> tuple[KnowledgeBase | None, list[Problem]]:
    """Everything `kb check` reports: schema errors, dangling references, missing texts."""
    problems: list[Problem] = []
    if not directory.is_dir():
        return None, [Problem(str(directory), "knowledge folder not found")]
    facts_file = _load_model(directory / "facts.yaml", FactsFile, problems)
    messages_file = _load_model(directory / "messages.yaml", Messages, problems)
    synonyms_file = _load_model(directory / "synonyms.yaml", SynonymsFile, problems)
    sessions_file = SessionsFile()
    if (directory / "sessions.yaml").is_file():  # optional: sessions can be made in chat
        sessions_file = _load_model(directory / "sessions.yaml", SessionsFile, problems) or (
            sessions_file
        )
    # One bad fact must not make every placeholder in the base look unknown.
    facts = facts_file.facts if facts_file else _valid_facts(directory / "facts.yaml")
    entries, files, broken = _load_entries(directory / "faq", problems)
    messages = messages_file.messages if messages_file else {}
    if messages_file:
        for key in sorted(required_messages - messages.keys()):
            problems.append(Problem(_rel(directory / "messages.yaml"), "missing message", key))
        for key, text in messages.items():
            for language in LANGUAGES:
                _check_placeholders(
                    text.get(language),
                    facts,
                    problems,
                    "messages.yaml",
                    key,
                    language,
                    allow_names=True,
                )
    for entry in entries.values():
        _check_entry(entry, entries, broken, facts, files[entry.id], problems)
    examples = _load_examples(directory / "examples", entries, broken, problems)
    eligibility = _load_model(directory / "eligibility.yaml", EligibilityFile, problems)
    if eligibility is not None:
        file = _rel(directory / "eligibility.yaml")
        _check_eligibility(eligibility, entries, broken, facts, file, problems)
    if not entries:
        problems.append(Problem(_rel(directory / "faq"), "no entries found"))
    if facts_file is None or messages_file is None or synonyms_file is None:
        return None, problems
    base = KnowledgeBase(
        directory=directory,
        facts=facts,
        entries=entries,
        messages=messages,
        synonyms=tuple(tuple(g) for g in synonyms_file.groups),
        files=files,
        sessions=tuple(sessions_file.sessions),
        eligibility=eligibility,
        examples=examples,
    )
    return base, problems


def _load_entries(
    folder: Path, problems: list[Problem]
) -> tuple[dict[str, Entry], dict[str, str], set[str]]:
    """Valid entries, their files, and the ids of entry files already reported as broken."""
    entries: dict[str, Entry] = {}
    files: dict[str, str] = {}
    broken: set[str] = set()
    if not folder.is_dir():
        problems.append(Problem(_rel(folder), "folder not found"))
        return entries, files, broken
    for path in sorted(folder.glob("*.y*ml")):
        entry = _load_model(path, Entry, problems, entry_hint=path.stem)
        if entry is None:
            broken.add(path.stem)
            continue
        if entry.id != path.stem:
            broken.add(path.stem)
            problems.append(
                Problem(_rel(path), f"id must match the file name ({path.stem!r})", entry.id, "id")
            )
        if entry.id in entries:
            problems.append(
                Problem(_rel(path), f"duplicate id, also in {files[entry.id]}", entry.id, "id")
            )
            continue
        entries[entry.id] = entry
        files[entry.id] = _rel(path)
    return entries, files, broken


def _load_examples(
    folder: Path, entries: Mapping[str, Entry], broken: set[str], problems: list[Problem]
) -> tuple[tuple[str, str | None], ...]:
    """The labelled questions of examples/ (optional), each label checked against the entries.

    A question whose label is wrong is left out rather than taught to the bot.
    """
    examples: list[tuple[str, str | None]] = []
    for path in sorted(folder.glob("*.y*ml")) if folder.is_dir() else []:
        loaded = _load_model(path, ExamplesFile, problems)
        for index, example in enumerate(loaded.questions if loaded else []):
            labels = [("expect", example.expect)]
            labels += [(f"accept[{i}]", label) for i, label in enumerate(example.accept)]
            unknown = [
                (name, label)
                for name, label in labels
                if label is not None and label not in entries and label not in broken
            ]
            for name, label in unknown:
                problems.append(
                    Problem(
                        _rel(path),
                        f"unknown entry {label!r} for {example.q[:60]!r}",
                        field=f"questions[{index}].{name}",
                    )
                )
            if not unknown and (example.expect is None or example.expect in entries):
                examples.append((example.q, example.expect))
    return tuple(examples)


def _check_entry(
    entry: Entry,
    entries: Mapping[str, Entry],
    broken: set[str],
    facts: Mapping[str, Fact],
    file: str,
    problems: list[Problem],
) -> None:
    for related in entry.related:
        if related in broken:
            continue  # that file's own error is reported; "unknown entry" would mislead
        if related not in entries:
            problems.append(Problem(file, f"unknown entry {related!r}", entry.id, "related"))
        elif related == entry.id:
            problems.append(
                Problem(file, "an entry cannot be related to itself", entry.id, "related")
            )
    for language in LANGUAGES:
        if not entry.phrasings.get(language):
            problems.append(
                Problem(
                    file,
                    f"no {language} phrasings: questions in {language} will not find this entry",
                    entry.id,
                    f"phrasings.{language}",
                    "warning",
                )
            )
    for index, variant in enumerate(entry.variants):
        suffix = f"[{index}]" if len(entry.variants) > 1 else ""
        for language in LANGUAGES:
            text = variant.en if language == "en" else variant.fr
            _check_placeholders(
                text, facts, problems, file, entry.id, f"answer{suffix}.{language}"
            )
        if variant.until is not None and variant_date(variant.until, facts) is None:
            problems.append(
                Problem(
                    file,
                    f"{variant.until!r} is neither an ISO date nor a date fact",
                    entry.id,
                    f"answer{suffix}.until",
                )
            )


def _check_eligibility(
    questionnaire: EligibilityFile,
    entries: Mapping[str, Entry],
    broken: set[str],
    facts: Mapping[str, Fact],
    file: str,
    problems: list[Problem],
) -> None:
    """The questionnaire's references and paths, and the facts its texts name."""
    known = {**entries, **dict.fromkeys(broken)}  # a broken entry is reported on its own
    for found in structure_problems(questionnaire, known):
        problems.append(Problem(file, found.message, found.entry, found.field, found.severity))
    texts: list[tuple[str | None, str, Localized | None]] = [(None, "intro", questionnaire.intro)]
    for question in questionnaire.questions:
        texts.append((question.id, "text", question.text))
        texts += [
            (question.id, f"answers[{i}].label", a.label) for i, a in enumerate(question.answers)
        ]
    texts += [(key, "text", todo.text) for key, todo in questionnaire.todos.items()]
    for key, outcome in questionnaire.outcomes.items():
        texts += [(key, "text", outcome.text), (key, "with_todos", outcome.with_todos)]
    for entry, name, text in texts:
        if text is None:
            continue
        for language in LANGUAGES:
            _check_placeholders(
                text.get(language), facts, problems, file, entry or "", f"{name}.{language}"
            )


def _check_placeholders(
    text: str,
    facts: Mapping[str, Fact],
    problems: list[Problem],
    file: str,
    entry: str,
    field_name: str,
    *,
    allow_names: bool = False,
) -> None:
    for match in PLACEHOLDER.finditer(text):
        key = match.group(1)
        if key in facts:
            continue
        if allow_names and key.isidentifier():
            continue  # a value the code fills in, like {name}
        problems.append(
            Problem(file, f"unknown fact {{{key}}} (see facts.yaml)", entry, field_name)
        )
    if text.count("{") != text.count("}"):
        problems.append(Problem(file, "unbalanced { or }", entry, field_name))


def _valid_facts(path: Path) -> dict[str, Fact]:
    """The facts that are valid on their own when facts.yaml as a whole is not (its errors
    are already reported), so placeholders can still be checked against them."""
    try:
        data = read_yaml(path)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    raw = data.get("facts") if isinstance(data, dict) else None
    valid: dict[str, Fact] = {}
    for key, value in raw.items() if isinstance(raw, dict) else ():
        try:
            valid[str(key)] = Fact.model_validate(value)
        except ValidationError:
            continue
    return valid


# libyaml's parser when PyYAML has it: eight times faster on the examples' 1 500 lines.
try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class _Loader(_SafeLoader):
    """YAML without its implicit dates: `2027-02-30` stays text, so the schema reports it
    as a wrong date for that field instead of the YAML parser crashing on it."""


_Loader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_yaml(path: Path) -> Any:
    """A knowledge file's content (raises yaml.YAMLError on bad syntax)."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)


def _load_model(
    path: Path, model: type[ModelT], problems: list[Problem], entry_hint: str | None = None
) -> ModelT | None:
    file = _rel(path)
    if not path.is_file():
        problems.append(Problem(file, "file not found"))
        return None
    try:
        data = read_yaml(path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        problems.append(Problem(file, f"not valid YAML{line}: {problem}", entry_hint))
        return None
    except UnicodeDecodeError:
        problems.append(Problem(file, "not UTF-8 text", entry_hint))
        return None
    if not isinstance(data, dict):
        problems.append(Problem(file, "expected a mapping of fields", entry_hint))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        entry = str(data.get("id") or entry_hint) if entry_hint else None
        for error in exc.errors():
            location = ".".join(str(part) for part in error["loc"])
            problems.append(Problem(file, _explain(error), entry, location or None))
        return None


def _explain(error: Mapping[str, Any]) -> str:
    """Pydantic's messages, reworded where an editor would not understand them."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field (misspelt?)"
    if kind == "missing":
        return "required field is missing"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
