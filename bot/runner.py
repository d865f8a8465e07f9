"""`python -m bot run`: on Telegram, by long polling, or by webhook when WEBHOOK_URL is set.

The loop is ours rather than `run_polling`'s so that start-up (`bot.app.start`) is the same
as in the local chat and the tests, and so that SIGTERM shuts down in order:

1. stop taking updates (the webhook server refuses new connections and lets the updates in
   progress finish; or the long poll stops);
2. stop the Application (it finishes what it was handling);
3. stop sending (the outbox sender hands back the rows it had claimed) and give up the
   sender's leadership, so another process takes over at once;
4. close the Telegram connections and the database.

Several processes may run in webhook mode on one PostgreSQL database (`bot.leadership`
decides which one sends the outbox; conversations live in the database).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from telegram import Update
from telegram.error import TelegramError

from bot.app import (
    BotApplication,
    build_application,
    close_services,
    create_services,
    start,
    stop_sending,
)
from bot.config import Settings
from bot.health import check
from bot.knowledge import KnowledgeError
from bot.services import Services
from bot.webserver import MalformedUpdateError, WebhookServer

log = logging.getLogger(__name__)

POLLING, WEBHOOK, AUTO = "polling", "webhook", "auto"
SECRET_FORMAT = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram accepts

NO_TOKEN = """\
No Telegram token is configured, so the bot cannot connect to Telegram.

To run it on Telegram:
  1. Open Telegram, talk to @BotFather, send /newbot and follow the steps.
  2. Copy the token it gives you into a file named .env in this folder:
       TELEGRAM_BOT_TOKEN=123456789:AA...
  3. Run the bot again.

To try it right now without a token, talk to it in this terminal:
  python -m bot chat      (or: make run)
"""

Stop = Callable[[], Awaitable[None]]


class StartError(Exception):
    """A configuration the bot cannot start with; the message says what to change."""


def run_bot(settings: Settings, mode: str = AUTO) -> int:
    """Run until SIGINT/SIGTERM; returns the process exit status."""
    if not settings.telegram_bot_token:
        print(NO_TOKEN)
        return 1
    if mode == WEBHOOK and not settings.webhook_url:
        print("Webhook mode needs WEBHOOK_URL (the public https address Telegram calls).")
        return 2
    try:
        return asyncio.run(_serve(settings, WEBHOOK if _webhook(settings, mode) else POLLING))
    except KnowledgeError as exc:
        log.error("The knowledge base has errors; run `python -m bot kb check`:\n%s", exc)
        return 1
    except StartError as exc:
        log.error("%s", exc, extra={"event": "start_failed"})
        return 1


def _webhook(settings: Settings, mode: str) -> bool:
    return mode != POLLING and bool(settings.webhook_url)


def webhook_secret(settings: Settings) -> str:
    """WEBHOOK_SECRET, or one derived from the token when it is unset.

    Derived rather than random so that every process of one bot, and every restart, comes
    to the same secret (a random one per process would have each process's registration
    lock the others out); rotating the token rotates it.
    """
    if settings.webhook_secret:
        if not SECRET_FORMAT.fullmatch(settings.webhook_secret):
            raise StartError(
                "WEBHOOK_SECRET may hold only letters, digits, _ and - (1 to 256 characters)"
            )
        return settings.webhook_secret
    token = (settings.telegram_bot_token or "").encode()
    return hmac.new(token, b"dataide webhook secret", hashlib.sha256).hexdigest()


async def _serve(settings: Settings, mode: str) -> int:
    started = time.perf_counter()
    services = await create_services(settings)
    app = build_application(services)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with app:
            await start(app)  # the outbox sender, under bot.leadership; the watcher; retention
            await app.start()
            try:
                stop_receiving = await _receive_updates(app, settings, services, mode)
                log.info(
                    "Bot @%s is ready (%s); stop with Ctrl-C or SIGTERM",
                    app.bot.username,
                    mode,
                    extra={
                        "event": "ready",
                        "mode": mode,
                        "seconds": round(time.perf_counter() - started, 2),
                    },
                )
                await stop.wait()
                log.info("Stopping: no new updates, finishing the ones in progress")
                await stop_receiving()
            finally:
                await app.stop()
                await stop_sending(app)  # claimed rows go back; the sender's lock is freed
    finally:
        await close_services(services)
    log.info("Stopped", extra={"event": "stopped"})
    return 0


async def _receive_updates(
    app: BotApplication, settings: Settings, services: Services, mode: str
) -> Stop:
    """Start taking updates; returns how to stop taking them."""
    assert app.updater is not None
    updater = app.updater
    if mode == POLLING:
        await updater.start_polling(allowed_updates=Update.ALL_TYPES)
        return updater.stop
    return await _start_webhook(app, settings, services)


async def _start_webhook(app: BotApplication, settings: Settings, services: Services) -> Stop:
    """Serve the webhook and /healthz on PORT, then tell Telegram where to send updates."""
    assert settings.webhook_url is not None
    secret = webhook_secret(settings)
    if not settings.webhook_secret:
        print(
            "WEBHOOK_SECRET is not set: using one derived from the token. Save it as "
            f"WEBHOOK_SECRET (and rotate it by changing it):\n  {secret}",
            file=sys.stderr,
            flush=True,
        )

    async def on_update(data: dict[str, Any]) -> None:
        try:
            update = Update.de_json(data, app.bot)
        except Exception as exc:
            raise MalformedUpdateError(type(exc).__name__) from exc
        await app.process_update(update)

    async def health() -> tuple[bool, dict[str, Any]]:
        found = await check(services.engine, services.clock.now())
        if services.leadership is not None:
            found.extra["sender"] = services.leadership.role
        return found.ok, found.as_json()

    server = WebhookServer(
        path=urlsplit(settings.webhook_url).path,
        secret=secret,
        on_update=on_update,
        health=health,
    )
    try:
        await server.start(settings.port)
    except OSError as exc:
        raise StartError(f"Cannot listen on port {settings.port}: {exc.strerror}") from exc
    try:
        await app.bot.set_webhook(
            url=settings.webhook_url,
            secret_token=secret,
            allowed_updates=Update.ALL_TYPES,
        )
    except TelegramError as exc:
        await server.stop()
        raise StartError(f"Telegram refused the webhook {settings.webhook_url}: {exc}") from exc
    log.info(
        "Webhook registered; listening on port %d",
        server.port,
        extra={"event": "webhook_listening", "port": server.port},
    )
    return server.stop
