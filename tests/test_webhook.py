"""Webhook mode through real HTTP on 127.0.0.1: `python -m bot run` as a process, Telegram's
side played by the in-memory Bot API over HTTP, updates POSTed as Telegram POSTs them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from bot.config import PROJECT_ROOT
from bot.memory_api import MemoryBotApi, UserSpec
from bot.memory_http import MemoryHttpServer
from tests.processes import (
    PATH,
    SECRET,
    TOKEN,
    WEBHOOK_URL,
    BotProcess,
    bot_environment,
    bot_process,
    start_bot,
)

QUESTION = "Combien vaut la bourse innovation?"
AMOUNT = "50\u00a0000\u00a0$"


def sqlite_url(folder: Path) -> str:
    return f"sqlite+aiosqlite:///{folder / 'webhook.db'}"


async def no_new_reply(api: MemoryBotApi, chat_id: int, count: int) -> None:
    """Give a wrongly accepted update time to be answered, then check it was not."""
    await asyncio.sleep(0.5)
    assert len(api.bot_messages(chat_id)) == count


async def test_registers_the_webhook_and_answers_a_real_update(tmp_path: Path) -> None:
    api = MemoryBotApi(token=TOKEN)
    async with (
        MemoryHttpServer(api) as server,
        bot_process(bot_environment(server, sqlite_url(tmp_path)), tmp_path) as bot,
    ):
        registered = [params for method, params in api.calls if method == "setWebhook"]
        assert len(registered) == 1
        assert registered[0]["url"] == WEBHOOK_URL
        assert registered[0]["secret_token"] == SECRET
        assert api.webhook_url == WEBHOOK_URL
        person = UserSpec(71, "Rosalie", language_code="fr")
        response = await bot.post(api.user_message(person, QUESTION))
        assert response.status_code == 200
        # Handled before the answer: the reply is already there when the POST returns.
        [reply] = api.bot_messages(person.id)
        assert AMOUNT in (reply.text or "")
        assert not any(method == "getUpdates" for method, _ in api.calls)
        status = await bot.stop()
    assert status == 0, bot.output
    assert bot.events()[-1]["event"] == "stopped"


async def test_wrong_or_missing_secret_is_refused_and_never_handled(tmp_path: Path) -> None:
    api = MemoryBotApi(token=TOKEN)
    async with (
        MemoryHttpServer(api) as server,
        bot_process(bot_environment(server, sqlite_url(tmp_path)), tmp_path) as bot,
    ):
        person = UserSpec(72, "Jacob", language_code="fr")
        forged = api.user_message(person, QUESTION)
        assert (await bot.post(forged, secret="not-the-secret")).status_code == 403
        assert (await bot.post(forged, secret=None)).status_code == 403
        assert (await bot.post(forged, secret="")).status_code == 403
        assert (await bot.post(forged, secret=SECRET + "x")).status_code == 403
        await no_new_reply(api, person.id, 0)
        assert (await bot.post(forged)).status_code == 200  # the same update, with the secret
        assert len(api.bot_messages(person.id)) == 1
    refusals = [e for e in bot.events() if e.get("event") == "webhook_refused"]
    assert [e["reason"] for e in refusals] == ["secret"] * 4
    assert SECRET not in bot.output


async def test_malformed_oversized_and_wrong_requests_are_refused_without_harm(
    tmp_path: Path,
) -> None:
    api = MemoryBotApi(token=TOKEN)
    async with (
        MemoryHttpServer(api) as server,
        bot_process(bot_environment(server, sqlite_url(tmp_path)), tmp_path) as bot,
    ):
        refused = {
            b"{not json": 400,
            b"": 400,
            b"[1, 2, 3]": 400,
            b'"update"': 400,
            b'{"message": {"text": "no update_id"}}': 400,
            b'{"update_id": "12"}': 400,
            b'{"update_id": 12, "message": "not a message object"}': 400,
            b'{"update_id": 13, "message": {"message_id": "x"}}': 400,
            b"\xff\xfe garbage bytes": 400,
            b"{" + b'"a": "' + b"x" * (2 * 1024 * 1024) + b'"}': 413,
        }
        for body, status in refused.items():
            response = await bot.post(body)
            assert response.status_code == status, (body[:40], response.status_code)
        async with httpx.AsyncClient() as client:
            # A chunked body (no Content-Length) over the limit: counted while read.
            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(40):
                    yield b"x" * 65536

            response = await client.post(
                bot.url + PATH,
                content=chunks(),
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            )
            assert response.status_code == 413
            assert (await client.get(bot.url + PATH)).status_code == 405
            assert (await client.post(bot.url + "/elsewhere", content=b"{}")).status_code == 404
        # Still alive and still answering.
        person = UserSpec(73, "Maëlle", language_code="fr")
        assert (await bot.post(api.user_message(person, QUESTION))).status_code == 200
        assert AMOUNT in (api.bot_messages(person.id)[0].text or "")
        assert bot.process.returncode is None
    assert api.internal_errors == []
    reasons = {e["reason"] for e in bot.events() if e.get("event") == "webhook_refused"}
    assert {"not JSON", "not an update", "an update we cannot read", "too large"} <= reasons


async def test_healthz_reports_the_database_and_the_outbox(tmp_path: Path) -> None:
    api = MemoryBotApi(token=TOKEN)
    async with (
        MemoryHttpServer(api) as server,
        bot_process(bot_environment(server, sqlite_url(tmp_path)), tmp_path) as bot,
    ):
        response = await bot.health()
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        assert body["database"] == "ok"
        assert body["schema"]["revision"] == body["schema"]["head"] is not None
        assert body["outbox"]["due"] == 0
        assert body["sender"] == "leader"  # SQLite: the one process sends
        command = await health_command(bot_environment(server, sqlite_url(tmp_path)), tmp_path)
        assert command[0] == 0, command[1]
        assert json.loads(command[1])["database"] == "ok"
        probing = bot_environment(server, sqlite_url(tmp_path), PORT=str(bot.port))
        with_server = await health_command(probing, tmp_path, "--server")
        assert with_server[0] == 0, with_server[1]
        assert json.loads(with_server[1])["server"] == "ok"
    after = await health_command(probing, tmp_path, "--server")
    assert after[0] == 1, "the server is gone: --server must fail"
    assert json.loads(after[1])["server"].startswith("unreachable")


async def test_health_command_fails_when_the_database_does_not_answer(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:9/none",  # nothing listens
        "KNOWLEDGE_DIR": str(PROJECT_ROOT / "knowledge"),
    }
    status, output = await health_command(env, tmp_path, json_output=False)
    assert status == 1
    assert "FAILING" in output
    assert "unreachable" in output


async def health_command(
    env: dict[str, str], cwd: Path, *args: str, json_output: bool = True
) -> tuple[int, str]:
    """`python -m bot health [--json] args`: (exit status, what it printed on stdout)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "health",
        *(["--json"] if json_output else []),
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_an_unset_secret_is_derived_shown_once_and_enforced(tmp_path: Path) -> None:
    api = MemoryBotApi(token=TOKEN)
    async with MemoryHttpServer(api) as server:
        env = bot_environment(server, sqlite_url(tmp_path), WEBHOOK_SECRET="")
        async with bot_process(env, tmp_path) as bot:
            [registered] = [p for m, p in api.calls if m == "setWebhook"]
            secret = registered["secret_token"]
            assert len(secret) >= 32
            assert sum(secret in line for line in bot.lines) == 1, "shown once"
            person = UserSpec(74, "Noah", language_code="fr")
            update = api.user_message(person, QUESTION)
            assert (await bot.post(update, secret=SECRET)).status_code == 403
            assert (await bot.post(update, secret=secret)).status_code == 200
        async with bot_process(env, tmp_path) as again:  # a restart comes to the same one
            [_, second] = [p for m, p in api.calls if m == "setWebhook"]
            assert second["secret_token"] == secret
            assert again.process.returncode is None


async def test_polling_flag_and_webhook_flag(tmp_path: Path) -> None:
    """`run --polling` ignores WEBHOOK_URL (the Procfile's worker); `run --webhook` without
    WEBHOOK_URL says what is missing instead of polling."""
    api = MemoryBotApi(token=TOKEN)
    async with MemoryHttpServer(api) as server:
        env = bot_environment(server, sqlite_url(tmp_path))
        missing = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", "--webhook",
            cwd=tmp_path, env={**env, "WEBHOOK_URL": ""},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(missing.communicate(), timeout=60)
        assert missing.returncode == 2
        assert b"WEBHOOK_URL" in out
        polling = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", "--polling",
            cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        bot = BotProcess(polling)
        await bot.wait_for_event("ready")
        person = UserSpec(75, "Inès", language_code="fr")
        api.user_message(person, QUESTION)
        [reply] = await api.wait_for_bot_messages(person.id, 1, within=60)
        assert AMOUNT in (reply.text or "")
        assert await bot.stop(signal.SIGTERM) == 0, bot.output
    assert [e["mode"] for e in bot.events() if e.get("event") == "ready"] == ["polling"]


async def test_every_log_line_is_json_without_token_text_or_name(tmp_path: Path) -> None:
    api = MemoryBotApi(token=TOKEN)
    async with (
        MemoryHttpServer(api) as server,
        bot_process(bot_environment(server, sqlite_url(tmp_path)), tmp_path) as bot,
    ):
        person = UserSpec(76, "Philomène", last_name="Tremblay", language_code="fr")
        await bot.post(api.user_message(person, QUESTION))
        await bot.post(api.user_message(person, "une question que personne ne comprend zorglub"))
        await bot.post(b"{broken")
    assert bot.lines, "the process logged nothing"
    for line in bot.lines:
        entry = json.loads(line)  # every line is one JSON object
        assert {"time", "level", "logger", "message"} <= set(entry)
    for secret in (TOKEN, "Philomène", "Tremblay", "bourse innovation", "zorglub"):
        assert secret not in bot.output, f"{secret!r} reached the logs"


async def test_a_second_process_start_does_not_disturb_the_first(tmp_path: Path) -> None:
    """A port already taken: the second process says so and exits; the first goes on."""
    api = MemoryBotApi(token=TOKEN)
    async with (
        MemoryHttpServer(api) as server,
        bot_process(bot_environment(server, sqlite_url(tmp_path)), tmp_path) as first,
    ):
        env = bot_environment(server, sqlite_url(tmp_path), PORT=str(first.port))
        second = await start_bot(env, tmp_path, ready=False)
        assert await asyncio.wait_for(second.process.wait(), timeout=60) != 0
        assert "Address already in use" in second.output or "in use" in second.output
        person = UserSpec(77, "Olivier", language_code="fr")
        assert (await first.post(api.user_message(person, QUESTION))).status_code == 200


async def test_sigterm_stops_taking_updates_and_finishes_the_one_in_progress(
    tmp_path: Path,
) -> None:
    api = MemoryBotApi(token=TOKEN)
    async with MemoryHttpServer(api, timeout_hold=30) as server:
        bot = await start_bot(bot_environment(server, sqlite_url(tmp_path)), tmp_path)
        person = UserSpec(78, "Léa", language_code="fr")
        # A slow Telegram: the reply hangs until PTB's read timeout (5 s), then the update
        # ends with "Telegram did not take a reply".
        api.fail_next("sendMessage", timeout=True, chat_id=person.id)
        in_progress = asyncio.create_task(bot.post(api.user_message(person, QUESTION)))

        def reply_started() -> bool:
            return any(
                method == "sendMessage" and str(params.get("chat_id")) == str(person.id)
                for method, params in api.calls
            )

        for _ in range(600):  # polled: a call that times out wakes no api.wait_for
            if reply_started():
                break
            await asyncio.sleep(0.05)
        bot.process.send_signal(signal.SIGTERM)
        for _ in range(100):  # the listener closes at once
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    await client.get(bot.url + "/healthz")
            except httpx.ConnectError:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("still accepting connections after SIGTERM")
        assert not in_progress.done(), "the update in progress was cut short"
        response = await in_progress
        assert response.status_code == 200  # handled to the end (the reply timed out)
        assert await bot.exited() == 0, bot.output  # SIGTERM was sent once, above
    events = [e.get("event") for e in bot.events()]
    assert events[-1] == "stopped"
