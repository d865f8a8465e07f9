"""`python -m bot kb check`: the real base passes; a broken copy gets every problem reported
at once, each named by file, entry and field, and nothing reported that isn't wrong."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from bot.kb_check import check, report
from bot.knowledge import Problem, load_with_problems
from tests.processes import run_command

KNOWLEDGE = PROJECT_ROOT / "knowledge"

# (file under the copy, entry, field, words of the message) for each planted mistake
EXPECTED = [
    ("faq/cost.yaml", "cost", "phrasing", "unknown field"),
    ("faq/grant-seed.yaml", "grant-seed", "answer.fr", "unknown fact {grant_sed}"),
    ("faq/format.yaml", "format", "related", "unknown entry 'no-such-entry'"),
    ("faq/webinar.yaml", "webinar", None, "not valid YAML at line 3"),
    ("faq/topics.yaml", "themes", "id", "id must match the file name ('topics')"),
    ("facts.yaml", None, "facts.grant_acceleration", "give exactly one of"),
    ("messages.yaml", "too_long", None, "missing message"),
    ("faq/cohorts.yaml", "cohorts", "answer", "last answer variant must have no `until`"),
    ("examples/staff.yaml", None, "questions[1].expect", "unknown entry 'grant-sed'"),
    ("examples/staff.yaml", None, "questions[2].accept[0]", "unknown entry 'no-such-entry'"),
    ("examples/from-log.yaml", None, "questions.0.lang", "required field is missing"),
]


def edit(path: Path, old: str, new: str) -> None:
    """Replace text that must be there exactly once (so a changed base fails loudly)."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not in {path.name} exactly once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def break_copy(copy: Path) -> None:
    faq = copy / "faq"
    edit(faq / "cost.yaml", "\nphrasings:\n", "\nphrasing:\n")
    edit(faq / "grant-seed.yaml", "est de {grant_seed}.", "est de {grant_sed}.")
    edit(faq / "format.yaml", "related: [cohort3-schedule,", "related: [no-such-entry,")
    (faq / "webinar.yaml").write_text("id: webinar\ntitle: [unclosed\n  fr: x\n")
    edit(faq / "topics.yaml", "id: topics\n", "id: themes\n")
    edit(copy / "facts.yaml", "    money: 15000\n", "    money: 15000\n    text: 15 000 $\n")
    messages = copy / "messages.yaml"
    text = messages.read_text(encoding="utf-8")
    start, end = text.index("  too_long:\n"), text.index("  button_expired:\n")
    messages.write_text(text[:start] + text[end:], encoding="utf-8")
    edit(faq / "cohorts.yaml", "  - fr: |-\n", "  - until: 2030-01-01\n    fr: |-\n")
    (copy / "examples" / "staff.yaml").write_text(
        "questions:\n"
        '  - {q: "bourse?", lang: fr, expect: grants}\n'
        '  - {q: "le 5000$?", lang: fr, expect: grant-sed}\n'
        '  - {q: "c combien", lang: fr, expect: cost, accept: [no-such-entry]}\n'
        '  - {q: "la meteo", lang: fr, expect: null}\n',
        encoding="utf-8",
    )
    (copy / "examples" / "from-log.yaml").write_text(
        'questions:\n  - {q: "bourse?", expect: grants}\n', encoding="utf-8"
    )


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("kb") / "knowledge"
    shutil.copytree(KNOWLEDGE, copy)
    break_copy(copy)
    return copy


@pytest.fixture(scope="module")
def problems(broken: Path) -> list[Problem]:
    return check(broken)


def where(problem: Problem, base: Path) -> tuple[str, str | None, str | None]:
    file = Path(problem.file).resolve().relative_to(base.resolve()).as_posix()
    return file, problem.entry, problem.field


def run_kb_check(knowledge_dir: Path | None) -> subprocess.CompletedProcess[str]:
    return run_command("kb", "check", KNOWLEDGE_DIR=str(knowledge_dir or ""))


def test_real_knowledge_base_passes_kb_check() -> None:
    result = run_kb_check(None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Knowledge base OK" in result.stdout
    assert "ERROR" not in result.stdout


def test_real_knowledge_base_has_no_errors() -> None:
    errors = [p for p in check(KNOWLEDGE) if p.severity == "error"]
    assert errors == []


@pytest.mark.parametrize(
    ("file", "entry", "field", "words"), EXPECTED, ids=[e[0] for e in EXPECTED]
)
def test_each_mistake_is_reported_with_its_file_entry_and_field(
    problems: list[Problem],
    broken: Path,
    file: str,
    entry: str | None,
    field: str | None,
    words: str,
) -> None:
    found = [
        p for p in problems if where(p, broken) == (file, entry, field) and words in p.message
    ]
    assert len(found) == 1, [str(p) for p in problems]
    assert found[0].severity == "error"


def test_all_mistakes_are_reported_in_one_run(problems: list[Problem], broken: Path) -> None:
    files = {where(p, broken)[0] for p in problems if p.severity == "error"}
    assert {file for file, *_ in EXPECTED} <= files


def test_one_mistake_is_not_reported_as_many_unrelated_ones(
    problems: list[Problem], broken: Path
) -> None:
    # A broken fact or entry file must not make every other reference to it look wrong.
    unknown_facts = {p.message.split()[2] for p in problems if "unknown fact" in p.message}
    assert unknown_facts <= {"{grant_sed}", "{grant_acceleration}"}
    unknown = [p.message for p in problems if "unknown entry" in p.message]
    unknown_entries = {message.split(" for ")[0] for message in unknown}
    assert unknown_entries == {"unknown entry 'no-such-entry'", "unknown entry 'grant-sed'"}
    # Examples labelled with an entry whose own file is broken ('topics') are not reported.
    assert not [p for p in problems if "'topics'" in p.message and "examples" in p.file]
    assert len(problems) < 30, "\n".join(str(p) for p in problems)


def test_kb_check_on_a_broken_copy_exits_1_and_names_the_files(broken: Path) -> None:
    result = run_kb_check(broken)
    assert result.returncode == 1
    for name in ("cost.yaml", "grant-seed.yaml", "webinar.yaml", "messages.yaml"):
        assert name in result.stdout
    assert "fix the errors above" in result.stdout


def test_same_phrasing_in_two_entries_warns_reads_the_same(tmp_path: Path) -> None:
    copy = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, copy)
    edit(
        copy / "faq" / "format.yaml",
        "phrasings:\n  fr:\n",
        "phrasings:\n  fr:\n    - est-ce que c'est gratuit\n",
    )
    problems = check(copy)
    same = [p for p in problems if "reads the same" in p.message]
    assert [(where(p, copy), p.severity) for p in same] == [
        (("faq/format.yaml", "format", "phrasings.fr[0]"), "warning")
    ]
    assert "'cost'" in same[0].message
    text, status = report(problems)
    assert status == 0  # a warning does not fail the check
    assert "WARNING" in text


def test_sessions_file_mistakes_are_named_by_session_and_field(tmp_path: Path) -> None:
    copy = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, copy)
    (copy / "sessions.yaml").write_text(
        "sessions:\n"
        "  - id: info-jan\n"
        "    date: 2027-02-30\n"
        '    time: "25:00"\n'
        "    capacity: 0\n"
        "    language: de\n"
        "    link: ftp://example.org\n"
        "    colour: blue\n"
        "  - id: info-jan\n"
        "    date: 2027-01-20\n"
        '    time: "13:30"\n',
        encoding="utf-8",
    )
    problems = [p for p in check(copy) if p.file.endswith("sessions.yaml")]
    fields = {p.field for p in problems}
    assert {
        "sessions.0.date",
        "sessions.0.time",
        "sessions.0.capacity",
        "sessions.0.language",
        "sessions.0.link",
        "sessions.0.colour",
    } <= fields
    assert all(p.severity == "error" for p in problems)
    (copy / "sessions.yaml").write_text(
        "sessions:\n"
        "  - {id: info-jan, date: 2027-01-20, time: '13:30'}\n"
        "  - {id: info-jan, date: 2027-01-27, time: '13:30'}\n",
        encoding="utf-8",
    )
    [problem] = [p for p in check(copy) if p.file.endswith("sessions.yaml")]
    assert "'info-jan' is used twice" in problem.message


def test_the_real_sessions_file_is_valid_and_optional(tmp_path: Path) -> None:
    assert not [p for p in check(KNOWLEDGE) if p.file.endswith("sessions.yaml")]
    copy = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, copy)
    (copy / "sessions.yaml").unlink()
    assert not [p for p in check(copy) if p.severity == "error"]


def test_examples_with_an_unknown_entry_are_left_out_not_taught(tmp_path: Path) -> None:
    copy = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, copy)
    (copy / "examples" / "staff.yaml").write_text(
        "questions:\n"
        '  - {q: "bourse pour nous autres?", lang: fr, expect: grants}\n'
        '  - {q: "le 5000$ pour nous autres?", lang: fr, expect: grant-sed}\n'
        '  - {q: "la meteo pour nous autres", lang: fr, expect: null}\n',
        encoding="utf-8",
    )
    base, problems = load_with_problems(copy)
    assert base is not None
    assert ("bourse pour nous autres?", "grants") in base.examples
    assert ("la meteo pour nous autres", None) in base.examples
    assert not [text for text, _ in base.examples if text == "le 5000$ pour nous autres?"]
    assert [p.field for p in problems if p.severity == "error"] == ["questions[1].expect"]
