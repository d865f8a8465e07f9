"""`python -m bot run`: on Telegram, by long polling (or a webhook when WEBHOOK_URL is set).

The loop is ours rather than `run_polling`'s so that start-up (`bot.app.start`) is the same
as in the local chat and the tests, and so that SIGTERM shuts down in order.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
from urllib.parse import urlsplit

from telegram import Update

from bot.app import (
    BotApplication,
    build_application,
    close_services,
    create_services,
    start,
    stop_sending,
)
from bot.config import Settings
from bot.knowledge import KnowledgeError

log = logging.getLogger(__name__)

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


def run_bot(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM; returns the process exit status."""
    if not settings.telegram_bot_token:
        print(NO_TOKEN)
        return 1
    try:
        return asyncio.run(_serve(settings))
    except KnowledgeError as exc:
        log.error("The knowledge base has errors; run `python -m bot kb check`:\n%s", exc)
        return 1


async def _serve(settings: Settings) -> int:
    services = await create_services(settings)
    app = build_application(services)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with app:
            await start(app)
            await app.start()
            await _receive_updates(app, settings)
            log.info("Bot @%s is running; stop with Ctrl-C", app.bot.username)
            await stop.wait()
            log.info("Stopping: no new updates, finishing the ones in progress")
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            await app.stop()
            await stop_sending(app)
    finally:
        await close_services(services)
    return 0


async def _receive_updates(app: BotApplication, settings: Settings) -> None:
    """Long polling by default; a webhook with a secret token when WEBHOOK_URL is set."""
    assert app.updater is not None
    if not settings.webhook_url:
        await app.updater.start_polling(allowed_updates=Update.ALL_TYPES)
        return
    secret = settings.webhook_secret
    if not secret:
        secret = secrets.token_urlsafe(32)
        print(f"WEBHOOK_SECRET was not set; using this one (save it in .env): {secret}")
    await app.updater.start_webhook(
        listen="0.0.0.0",  # a webhook must be reachable from the proxy
        port=settings.port,
        url_path=urlsplit(settings.webhook_url).path.lstrip("/"),
        webhook_url=settings.webhook_url,
        secret_token=secret,
        allowed_updates=Update.ALL_TYPES,
    )
