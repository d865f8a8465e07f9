"""Talk to the real Application through the in-memory Bot API, as a person would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select
from telegram import Update

from bot.app import (
    BotApplication,
    build_application,
    close_services,
    create_services,
    start,
    stop_sending,
)
from bot.clock import FrozenClock
from bot.config import Settings
from bot.context import BotContext
from bot.memory_api import ChatSpec, MemoryBotApi, SentMessage, UserSpec
from bot.models import QuestionLog
from bot.services import Services


def visible(message: SentMessage) -> str:
    """What the person reads, with Telegram's no-break spaces read as spaces."""
    return _plain(message.text or "")


def _plain(text: str) -> str:
    return text.replace("\u00a0", " ")


class Harness:
    """One running Application, its in-memory Telegram, and the errors it raised."""

    def __init__(self, app: BotApplication, api: MemoryBotApi, services: Services) -> None:
        self.app = app
        self.api = api
        self.services = services
        self.errors: list[BaseException] = []

    def user(
        self,
        user_id: int,
        *,
        first_name: str = "Alex",
        language_code: str | None = "fr",
        chat: ChatSpec | None = None,
    ) -> Person:
        """A person (in their private chat unless `chat` is given)."""
        spec = UserSpec(user_id, first_name, language_code=language_code)
        return Person(self, spec, chat)

    async def logged_questions(self) -> list[QuestionLog]:
        """The question log, oldest first (feed() has already flushed it)."""
        async with self.services.sessions() as session:
            rows = await session.execute(select(QuestionLog).order_by(QuestionLog.id))
            return list(rows.scalars())

    async def drain(self) -> int:
        """Send what the outbox holds that is due by the test's clock; returns the count."""
        assert self.services.sender is not None
        assert self.services.watcher is not None
        sent = await self.services.sender.drain()
        await self.services.watcher.tick()  # broadcast progress, as the background loop would
        return sent

    async def feed(self, update: dict[str, Any]) -> None:
        """Hand one update to the Application and wait until it is fully handled."""
        await self.app.process_update(Update.de_json(update, self.app.bot))
        await self.services.question_log.flush()  # so tests can read the log at once


class Person:
    """Sends text, presses buttons, and reads what the bot answered since."""

    def __init__(self, harness: Harness, spec: UserSpec, chat: ChatSpec | None) -> None:
        self.harness = harness
        self.spec = spec
        self.chat = chat
        self.chat_id = chat.id if chat else spec.id
        self._seen = 0

    @property
    def api(self) -> MemoryBotApi:
        return self.harness.api

    async def say(self, text: str, *, reply_to: int | None = None) -> list[SentMessage]:
        """Write a message; returns the bot's new messages in this chat."""
        self._seen = len(self.api.bot_messages(self.chat_id))
        hidden = len(self.api.undelivered)
        update = self.api.user_message(self.spec, text, chat=self.chat, reply_to=reply_to)
        if len(self.api.undelivered) == hidden:  # privacy mode hides some group messages
            await self.harness.feed(update)
        return self.new_replies()

    async def press(self, label: str, *, message: SentMessage | None = None) -> list[SentMessage]:
        """Tap a button the bot actually showed (on `message`, else the latest that has it)."""
        target = message or self._message_with(label)
        label = next((b for b in self._raw_buttons(target) if _plain(b) == label), label)
        self._seen = len(self.api.bot_messages(self.chat_id))
        update = self.api.user_press(self.spec, target.message_id, label, chat_id=self.chat_id)
        await self.harness.feed(update)
        return self.new_replies()

    async def forge(self, data: str, *, message_id: int | None = None) -> list[SentMessage]:
        """Send callback data no button carried (stale, tampered or someone else's)."""
        target = message_id or (self.last_reply().message_id if self.replies() else 1)
        self._seen = len(self.api.bot_messages(self.chat_id))
        update = self.api.user_callback(self.spec, target, data, chat_id=self.chat_id)
        await self.harness.feed(update)
        return self.new_replies()

    def replies(self) -> list[SentMessage]:
        return self.api.bot_messages(self.chat_id)

    def new_replies(self) -> list[SentMessage]:
        return self.replies()[self._seen :]

    def last_reply(self) -> SentMessage:
        replies = self.replies()
        assert replies, "the bot has not said anything in this chat"
        return replies[-1]

    def buttons(self, message: SentMessage | None = None) -> list[str]:
        """Labels of the buttons under a message (the last one by default), no-break spaces
        read as spaces, as a person reads them."""
        return [_plain(label) for label in self._raw_buttons(message or self.last_reply())]

    @staticmethod
    def _raw_buttons(message: SentMessage) -> list[str]:
        return [button.text for row in message.buttons for button in row]

    def _message_with(self, label: str) -> SentMessage:
        for message in reversed(self.replies()):
            if label in self.buttons(message):
                return message
        shown = [self.buttons(m) for m in self.replies()]
        raise AssertionError(f"no button {label!r} was shown; buttons: {shown}")


@asynccontextmanager
async def running_bot(
    settings: Settings, clock: FrozenClock, api: MemoryBotApi | None = None
) -> AsyncIterator[Harness]:
    """Build services and the Application on the in-memory API, start it, and clean up."""
    api = api or MemoryBotApi(token=settings.telegram_bot_token or "123456:TEST")
    services = await create_services(settings, clock)
    app = build_application(services, request=api.request(), get_updates_request=api.request())
    harness = Harness(app, api, services)

    async def collect(update: object, context: BotContext) -> None:
        if context.error is not None:
            harness.errors.append(context.error)

    app.add_error_handler(collect)
    try:
        async with app:
            await start(app, send_in_background=False)
            try:
                yield harness
            finally:
                await stop_sending(app)
    finally:
        await close_services(services)
