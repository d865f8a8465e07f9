"""`python -m bot run` as real processes in webhook mode, fed over real HTTP on 127.0.0.1.

Each process answers Telegram's side (the in-memory Bot API served by `MemoryHttpServer`),
listens on a port of its own choosing (PORT=0) that it announces in its JSON log, and is
stopped with SIGTERM as a platform would. Tests POST updates to it as Telegram would: with
the secret header, one update per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from bot.config import PROJECT_ROOT
from bot.memory_http import MemoryHttpServer

TOKEN = "424242:WEBHOOK-TEST"
SECRET = "test-secret_0123456789"
WEBHOOK_URL = "https://bot.example.org/telegram/hook-7f3a"
PATH = "/telegram/hook-7f3a"


def run_command(*args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot args` run to its end from the project folder, with this process's
    environment and `variables` (an empty value removes the variable)."""
    environment = {**os.environ, **variables}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=PROJECT_ROOT,
        env={name: value for name, value in environment.items() if value},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def bot_environment(server: MemoryHttpServer, database_url: str, **extra: str) -> dict[str, str]:
    """What a platform would set for one webhook process (nothing read from a .env file)."""
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": f"http://127.0.0.1:{server.port}",
        "DATABASE_URL": database_url,
        "KNOWLEDGE_DIR": str(PROJECT_ROOT / "knowledge"),
        "WEBHOOK_URL": WEBHOOK_URL,
        "WEBHOOK_SECRET": SECRET,
        "PORT": "0",
        "LOG_FORMAT": "json",
    }
    env.update(extra)
    return {k: v for k, v in env.items() if v != ""}  # "" means: leave it unset


class BotProcess:
    """One running bot process and everything it printed so far."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self.port = 0
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))
            self._changed.set()
        self._changed.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def events(self) -> list[dict[str, Any]]:
        """The JSON log lines, parsed (lines that are not JSON are skipped here)."""
        found = []
        for line in self.lines:
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    found.append(entry)
        return found

    async def wait_for_event(self, name: str, within: float = 60) -> dict[str, Any]:
        """The first log entry with `event == name`, waiting for it if need be."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            for entry in self.events():
                if entry.get("event") == name:
                    return entry
            if self.process.returncode is not None or self._reader.done():
                raise AssertionError(f"process ended before {name!r}:\n{self.output}")
            if loop.time() > deadline:
                raise TimeoutError(f"no {name!r} event within {within}s:\n{self.output}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def post(
        self, body: dict[str, Any] | bytes, *, secret: str | None = SECRET, path: str = PATH
    ) -> httpx.Response:
        """POST to the webhook as Telegram does (secret header unless `secret` is None)."""
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with httpx.AsyncClient(timeout=60) as client:
            return await client.post(self.url + path, content=content, headers=headers)

    async def health(self) -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.get(self.url + "/healthz")

    async def stop(self, sig: int = signal.SIGTERM, within: float = 60) -> int:
        """Send `sig` and wait for the exit status."""
        if self.process.returncode is None:
            self.process.send_signal(sig)
        return await self.exited(within)

    async def exited(self, within: float = 60) -> int:
        """The exit status, once the process ends on its own (after a signal already sent:
        a second one, once its handler is gone, would kill it mid-way)."""
        status = await asyncio.wait_for(self.process.wait(), timeout=within)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, timeout=5)
        return status


async def start_bot(env: dict[str, str], cwd: Path, *, ready: bool = True) -> BotProcess:
    """Start `python -m bot run`; with `ready`, wait until it listens and says it is ready."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    bot = BotProcess(process)
    if ready:
        listening = await bot.wait_for_event("webhook_listening")
        bot.port = int(listening["port"])
        await bot.wait_for_event("ready")
    return bot


@asynccontextmanager
async def bot_process(env: dict[str, str], cwd: Path) -> AsyncIterator[BotProcess]:
    """A ready bot process, stopped (SIGTERM, then SIGKILL if stuck) on the way out."""
    bot = await start_bot(env, cwd)
    try:
        yield bot
    finally:
        if bot.process.returncode is None:
            try:
                await bot.stop(within=60)
            except TimeoutError:
                bot.process.kill()
                await bot.process.wait()
