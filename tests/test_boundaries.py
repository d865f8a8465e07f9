"""Architecture rules checked on the source: Telegram stays at the edges, buttons fit."""

from __future__ import annotations

import ast
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import callbacks
from bot.assistant import FOLLOWUP_ENTRIES, Assistant
from bot.clock import FrozenClock
from bot.config import PROJECT_ROOT, Settings
from bot.kb_schema import LANGUAGES
from bot.matcher import Match
from tests.conftest import NOW

# The only bot/ modules that may know about python-telegram-bot; handlers/ may too.
TELEGRAM_MODULES = {
    "app.py",
    "context.py",
    "memory_api.py",
    "memory_api_html.py",
    "memory_http.py",
    "chat.py",
    "runner.py",
    "telegram_transport.py",
}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def imports_telegram(path: Path) -> bool:
    return any(m == "telegram" or m.startswith("telegram.") for m in imported_modules(path))


def test_only_the_edge_modules_of_bot_import_telegram() -> None:
    offenders = sorted(
        path.name
        for path in (PROJECT_ROOT / "bot").glob("*.py")
        if imports_telegram(path) and path.name not in TELEGRAM_MODULES
    )
    assert offenders == []


def test_the_import_check_sees_telegram_imports() -> None:
    # Guards the rule above against a checker that finds nothing.
    assert imports_telegram(PROJECT_ROOT / "bot" / "app.py")
    assert imports_telegram(PROJECT_ROOT / "handlers" / "common.py")
    assert not imports_telegram(PROJECT_ROOT / "bot" / "assistant.py")


@pytest.fixture(scope="module")
def assistant() -> Assistant:
    settings = Settings(_env_file=None, KNOWLEDGE_DIR=str(PROJECT_ROOT / "knowledge"))
    return Assistant.load(settings.knowledge_dir, FrozenClock(NOW), settings.timezone)


def fits(data: str) -> bool:
    """Telegram refuses callback data over 64 bytes (BUTTON_DATA_INVALID)."""
    return len(data.encode("utf-8")) <= 64


def test_every_entry_button_fits_64_bytes(assistant: Assistant) -> None:
    entries = list(assistant.knowledge.entries)
    assert len(entries) > 20
    for entry_id in entries:
        for language in LANGUAGES:
            data = callbacks.encode("faq", entry_id, language)
            assert fits(data), data
            assert callbacks.decode(data) == callbacks.Callback("faq", entry_id, language)


def test_every_fixed_button_fits_64_bytes() -> None:
    produced = [
        callbacks.encode("menu", a, lang) for a in callbacks.MENU_ACTIONS for lang in LANGUAGES
    ]
    produced += [callbacks.encode("lang", lang) for lang in LANGUAGES]
    produced += [callbacks.encode("human", "ask", lang) for lang in LANGUAGES]
    assert all(fits(data) for data in produced), produced


def test_every_button_the_assistant_shows_fits_64_bytes(assistant: Assistant) -> None:
    replies = []
    for language in LANGUAGES:
        replies += [assistant.entry(e, language) for e in assistant.knowledge.entries]
        replies.append(assistant.welcome("Zoé", language))
        replies.append(assistant.language_choice(language))
        suggestions = tuple(list(assistant.knowledge.entries)[:3])
        replies.append(assistant.unsure(Match(None, 0.0, False, ()), language))
        replies.append(assistant.unsure(Match("cost", 0.3, False, suggestions), language))
    buttons = [button for reply in replies for button in reply.buttons]
    assert len(buttons) > 100
    too_long = [b.data for b in buttons if not fits(b.data)]
    assert too_long == []
    unreadable = [b.data for b in buttons if callbacks.decode(b.data) is None]
    assert unreadable == []


def test_encode_refuses_what_a_button_cannot_carry() -> None:
    with pytest.raises(ValueError, match="invalid callback data"):
        callbacks.encode("faq", "x" * 61, "fr")
    with pytest.raises(ValueError, match="invalid callback data"):
        callbacks.encode("faq", "../../etc")


def test_no_answer_offers_the_same_destination_twice() -> None:
    assistant = Assistant.load(PROJECT_ROOT / "knowledge", FrozenClock(NOW), ZoneInfo("UTC"))
    for entry_id in assistant.knowledge.entries:
        for language in LANGUAGES:
            buttons = assistant.entry(entry_id, language).buttons
            destinations = [
                FOLLOWUP_ENTRIES.get(b.data.split(":")[1], b.data.split(":")[1]) for b in buttons
            ]
            assert len(destinations) == len(set(destinations)), (entry_id, destinations)
