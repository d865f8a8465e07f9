"""`python -m bot chat`: the real Application in a terminal, on the in-memory Bot API.

Buttons are shown as numbered choices: type the number to press one. When stdin is not
a terminal, lines are read one by one, so the chat can be scripted:
`printf '/start\\nc est gratuit?\\n1\\n' | python -m bot chat`.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
from datetime import UTC, datetime, time, timedelta
from typing import TextIO

from telegram import Update

from bot import infosessions
from bot.app import build_application, close_services, create_services, start, stop_sending
from bot.config import PROJECT_ROOT, Settings
from bot.infosessions import NewSession
from bot.knowledge import KnowledgeError
from bot.memory_api import MemoryBotApi, SentMessage, UserSpec
from bot.services import Services

LOCAL_TOKEN = "123456:LOCAL-CHAT"
CHAT_DATABASE_URL = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'data' / 'chat.db'}"
DEMO_LINK = "https://meet.example.org/dataide-demo"
PROMPT = "vous> "


class LocalChat:
    """One person (you) talking to the bot; remembers the buttons last shown."""

    def __init__(self, api: MemoryBotApi, user: UserSpec, out: TextIO) -> None:
        self.api = api
        self.user = user
        self.out = out
        self.choices: list[tuple[int, str]] = []  # (message id, button label)
        self._seen = 0

    def update_for(self, line: str) -> dict[str, object]:
        """A number presses a button shown; anything else is a message."""
        if line.isdigit() and 1 <= int(line) <= len(self.choices):
            message_id, label = self.choices[int(line) - 1]
            return self.api.user_press(self.user, message_id, label)
        return self.api.user_message(self.user, line)

    def show_new_replies(self) -> None:
        """Print what the bot said since the last turn, numbering its buttons."""
        replies = self.api.bot_messages(self.user.id)[self._seen :]
        self._seen += len(replies)
        choices: list[tuple[int, str]] = []
        for reply in replies:
            self._print(reply, choices)
        self.choices = choices  # a number only ever presses a button on the latest reply
        answers = self.api.callback_answers[-1:] if not replies else []
        for answer in answers:
            if answer.get("text"):
                self.out.write(f"bot (alert)> {answer['text']}\n")

    def _print(self, reply: SentMessage, choices: list[tuple[int, str]]) -> None:
        text = (reply.text or "").replace("\n", "\n     ")
        self.out.write(f"bot> {text}\n")
        if reply.document:
            self.out.write(f"     📎 {reply.document[0]} ({len(reply.document[1])} bytes)\n")
        for row in reply.buttons:
            for button in row:
                choices.append((reply.message_id, button.text))
                self.out.write(f"     [{len(choices)}] {button.text}\n")
        self.out.flush()


async def run_chat(settings: Settings, *, demo: bool = True) -> int:
    """Talk to the bot until end of input (Ctrl-D) or /quit.

    Unless DATABASE_URL is set, the chat keeps its own SQLite file (data/chat.db), so its
    demo sessions never show up on Telegram.
    """
    changes: dict[str, object] = {"telegram_bot_token": LOCAL_TOKEN}
    if "database_url" not in settings.model_fields_set:
        changes["database_url"] = CHAT_DATABASE_URL
    local = settings.model_copy(update=changes)
    try:
        services = await create_services(local)
    except KnowledgeError as exc:
        print(f"The knowledge base has errors (run `python -m bot kb check`):\n{exc}")
        return 1
    api = MemoryBotApi(token=LOCAL_TOKEN)
    app = build_application(services, request=api.request(), get_updates_request=api.request())
    language = "en" if os.environ.get("LANG", "").startswith("en") else "fr"
    user = UserSpec(id=1000, first_name=_name(), language_code=language)
    chat = LocalChat(api, user, sys.stdout)
    interactive = sys.stdin.isatty()
    if interactive:
        print("Local chat with the DATAide assistant. Type a question, a /command, or the")
        print("number of a button. Ctrl-D or /quit to leave.\n")
    try:
        async with app:
            await start(app, send_in_background=False)
            if demo:
                await add_demo_sessions(services)
            while True:
                if interactive:
                    sys.stdout.write(PROMPT)
                    sys.stdout.flush()
                line = await asyncio.to_thread(sys.stdin.readline)
                if not line or line.strip() == "/quit":
                    break
                if not line.strip():
                    continue  # Telegram does not send empty messages either
                if not interactive:
                    print(f"{PROMPT}{line.rstrip()}")
                update = chat.update_for(line.rstrip("\n"))
                await app.process_update(Update.de_json(update, app.bot))
                if services.sender is not None:
                    await services.sender.drain()  # promotions, notices: show them now
                chat.show_new_replies()
            await stop_sending(app)
    finally:
        await close_services(services)
    return 0


async def add_demo_sessions(services: Services) -> None:
    """Two sessions in the coming weeks, so a newcomer can try registering at once; only
    when no session is upcoming, so the chat's own database does not fill up with them."""
    now = services.clock.now()
    if await infosessions.upcoming(services.sessions, now, limit=1):
        return
    zone = services.settings.timezone
    today = now.astimezone(zone).date()
    for index, (days, hour, language) in enumerate(((9, 13, "fr"), (16, 10, "en"))):
        day = today + timedelta(days=days)
        starts_at = datetime.combine(day, time(hour, 30), tzinfo=zone).astimezone(UTC)
        title = services.assistant.message("session_default_title", language)
        new = NewSession(starts_at, 60, 20, language, title, DEMO_LINK, key=f"demo-{index + 1}")
        await infosessions.upsert_declared(services.sessions, [new], now)


def _name() -> str:
    try:
        return getpass.getuser().capitalize() or "Vous"
    except Exception:  # no user name in some containers
        return "Vous"
