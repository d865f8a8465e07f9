"""Logs: no personal data at INFO, whatever the conversation; one line per event; JSON when
LOG_FORMAT=json (the webhook process test checks a real process's output line by line)."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from bot.logs import JsonFormatter, TextFormatter, configure_logging, fields
from bot.models import Person
from tests.conftest import NOW
from tests.harness import Harness
from tests.test_outbox_reliability import database
from tests.test_sessions import BUTTON, new_session

NAME = "Philomène"
ORGANISATION = "Maison Zéphyrine"
EMAIL = "philo@zephyrine.org"
QUESTION = "est-ce que la bourse couvre les salaires du personnel xylophone"


async def test_a_whole_conversation_logs_no_text_name_or_email_at_info(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await new_session(bot)
    person = bot.user(4242, first_name=NAME)
    await person.say(QUESTION)
    await person.say("/sessions")
    await person.press(BUTTON)
    await person.press(NAME)
    await person.say(ORGANISATION)
    await person.say(EMAIL)
    await person.press("✅ Je confirme mon inscription")
    assert any("C'est fait" in (m.text or "") for m in bot.api.bot_messages(4242))
    records = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert records, "the conversation logged nothing at INFO: the check below would be empty"
    formatter = JsonFormatter()
    for record in records:
        written = formatter.format(record) + TextFormatter().format(record)
        for private in (NAME, ORGANISATION, EMAIL, "xylophone", "salaires"):
            assert private not in written, f"{private!r} logged by {record.name}: {written}"


async def test_a_database_error_logs_the_statement_not_the_values(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The error handler logs the exception with its traceback; a database error's text
    would carry the values of the statement (a name, an e-mail) unless the engine hides
    them."""
    async with database(database_url) as db:
        row = {
            "telegram_id": 4242,
            "first_name": NAME,
            "username": EMAIL,
            "created_at": NOW,
            "last_seen_at": NOW,
        }
        async with db.engine.begin() as connection:
            await connection.execute(insert(Person).values(**row))
        with pytest.raises(IntegrityError) as failure:  # the same person twice
            async with db.engine.begin() as connection:
                await connection.execute(insert(Person).values(**row))
    logging.getLogger("handlers.errors").error("Error while handling", exc_info=failure.value)
    (record,) = [r for r in caplog.records if r.name == "handlers.errors"]
    written = JsonFormatter().format(record) + TextFormatter().format(record)
    assert "INSERT INTO people" in written  # the statement is there, to debug with
    for private in (NAME, EMAIL):
        assert private not in written


def test_json_lines_carry_the_fields_and_keep_a_traceback_on_one_line() -> None:
    formatter = JsonFormatter()
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        record = logging.getLogger("x").makeRecord(
            "x",
            logging.ERROR,
            __file__,
            1,
            "failed %s",
            ("twice",),
            exc_info=sys.exc_info(),
            extra={"event": "webhook_refused", "update_id": 12},
        )
    line = formatter.format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "failed twice"
    assert entry["level"] == "ERROR"
    assert (entry["event"], entry["update_id"]) == ("webhook_refused", 12)
    assert "RuntimeError: boom" in entry["error"]
    assert fields(record) == {"event": "webhook_refused", "update_id": 12}


def test_the_http_client_never_logs_urls_with_the_token_at_info() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging(log_format="json")
        for name in ("httpx", "httpcore", "tornado.access"):
            assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
        assert isinstance(root.handlers[-1].formatter, JsonFormatter)
        configure_logging(verbose=True)
        assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
        assert isinstance(root.handlers[-1].formatter, TextFormatter)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
