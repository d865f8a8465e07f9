"""A stateful in-memory Telegram Bot API, so the real telegram.ext.Application can be driven.

Why: mocks of ``Bot.send_message`` never exercise what breaks in production -- markup Telegram
refuses, 64-byte callback data, blocked users, flood limits, keyboards lost by an edit. This
fake keeps chats, messages and the update queue and validates like Telegram, with the same
status codes and descriptions, so PTB raises the same ``telegram.error`` classes. Any method it
does not implement gets a 404 and is recorded in ``unknown_calls``: a fake that answers
anything hides bugs.

The seam is ``BaseRequest.do_request`` (``MemoryBotApi.request()``), the one PTB's own tests
fake; ``bot.memory_http`` serves the same object over real HTTP. Use it from one event loop.
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import TimedOut
from telegram.request import BaseRequest, RequestData

from bot.memory_api_html import (
    JSON,
    ApiError,
    Button,
    EntityParseError,
    as_int,
    as_json,
    detect_entities,
    param,
    parse_markup,
    parse_reply_markup,
    strip_text,
    utf16_len,
    utf16_slice,
)

__all__ = ["ApiError", "ApiTimeoutError", "Button", "ChatSpec", "MemoryBotApi", "MemoryRequest"]
__all__ += ["SentMessage", "UploadedFile", "UserSpec"]

_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)
_CHAT_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice"}
_CHAT_ACTIONS |= {"upload_voice", "upload_document", "choose_sticker", "find_location"}
_CHAT_ACTIONS |= {"record_video_note", "upload_video_note"}
# Served methods, each by the handler named after it (sendMessage -> _send_message); any other
# method is a loud 404. A word list reads better here than 18 quoted strings.
_METHODS = re.findall(
    r"\w+",
    """getMe getUpdates setWebhook deleteWebhook getWebhookInfo setMyCommands getMyCommands
    deleteMyCommands setChatMenuButton sendMessage editMessageText editMessageReplyMarkup
    deleteMessage answerCallbackQuery sendDocument sendChatAction close logOut""",
)
_RATE_LIMITED = {"sendMessage", "sendDocument", "editMessageText"}


@dataclass(frozen=True)
class UserSpec:
    """A person talking to the bot."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None

    def to_dict(self) -> JSON:
        """The Telegram ``User`` object; absent optional fields are omitted, as Telegram does."""
        data: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        optional = {"last_name": self.last_name, "username": self.username}
        optional["language_code"] = self.language_code
        return data | {key: value for key, value in optional.items() if value is not None}


@dataclass(frozen=True)
class ChatSpec:
    """A chat a person writes in; a private chat's id is the user's id."""

    id: int
    type: str = "private"
    title: str | None = None


@dataclass
class UploadedFile:
    """A file that arrived as multipart/form-data (sendDocument)."""

    filename: str
    content: bytes
    mimetype: str = "application/octet-stream"


@dataclass
class SentMessage:
    """A message in a chat, from the bot or from a user; ``text`` is what the person reads."""

    chat_id: int
    message_id: int
    from_bot: bool
    date: int
    text: str | None  # text or caption, markup removed and HTML entities decoded
    parse_mode: str | None = None
    buttons: list[list[Button]] = field(default_factory=list)
    document: tuple[str, bytes] | None = None  # (filename, content) for sendDocument
    edits: int = 0
    reply_to: int | None = None
    raw_text: str | None = None  # exactly as sent, markup included
    entities: list[JSON] = field(default_factory=list)
    reply_markup: JSON | None = None  # as sent: inline or reply keyboard
    user_id: int | None = None  # the sender of a user message
    deleted: bool = False
    edit_date: int | None = None
    file_id: str | None = None
    mimetype: str | None = None


class ApiTimeoutError(Exception):
    """An injected timeout: the client never gets an answer."""


@dataclass
class _Fault:
    method: str
    error: ApiError | None  # None means a timeout
    remaining: int
    chat_id: int | None


class _Window:
    """Sliding-window flood limit: at most ``limit`` accepted calls per ``period`` seconds."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit, self.period, self.times = limit, period, deque[float]()

    @classmethod
    def per_second(cls, rate: float) -> _Window:
        """``rate`` messages a second; below 1/s that is one message per ``1/rate`` seconds."""
        limit = max(1, math.floor(rate))
        return cls(limit, limit / rate)

    def retry_after(self, now: float) -> int | None:
        """Whole seconds until a slot frees (at least 1), or None if one is free now."""
        while self.times and self.times[0] <= now - self.period:
            self.times.popleft()
        if len(self.times) < self.limit:
            return None
        return max(1, math.ceil(self.times[0] + self.period - now))


def _commands_key(params: JSON) -> tuple[str, str]:
    """Commands are stored per (scope, language_code), as Telegram keeps them."""
    scope = as_json(params, "scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), str(param(params, "language_code") or "")


def _to_int(text: str) -> int | str:
    return int(text) if re.fullmatch(r"-?\d+", text) else text


class MemoryRequest(BaseRequest):
    """A ``telegram.request.BaseRequest`` answered by a MemoryBotApi instead of HTTP."""

    __slots__ = ("_api", "_read_timeout")

    def __init__(self, api: MemoryBotApi, *, read_timeout: float | None = 5.0) -> None:
        self._api, self._read_timeout = api, read_timeout

    @property
    def read_timeout(self) -> float | None:
        """PTB adds this to the getUpdates long-poll timeout, as with HTTPXRequest."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Answer with Telegram's status and JSON, so BaseRequest raises the real errors."""
        params: JSON = dict(request_data.parameters) if request_data else {}
        files = request_data.multipart_data if request_data else {}
        for name, (filename, content, mimetype) in files.items():
            data = content if isinstance(content, bytes) else content.read()
            params[name] = UploadedFile(filename, data, mimetype)
        timeout = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        answer = self._api.respond_to_path(urlsplit(url).path, params)
        try:
            status, body = await asyncio.wait_for(answer, timeout)
        except (ApiTimeoutError, TimeoutError) as exc:
            raise TimedOut from exc
        return status, json.dumps(body).encode()


class MemoryBotApi:
    """Chats, messages, updates and faults behind the Bot API methods the bot uses."""

    def __init__(
        self,
        *,
        token: str = "123456:TEST",
        bot_username: str = "dataide_bot",
        clock: Callable[[], float] = time.monotonic,
        global_rate: float | None = None,
        per_chat_rate: float | None = None,
        group_per_minute: int | None = None,
        can_read_all_group_messages: bool = False,
        strict_html: bool = True,
    ) -> None:
        if not re.fullmatch(r"\d+:[\w-]+", token):
            raise ValueError(f"not a bot token: {token!r}")
        self.token, self.bot_username, self.bot_id = token, bot_username, int(token.split(":")[0])
        self.clock, self.strict_html = clock, strict_html
        self.can_read_all_group_messages = can_read_all_group_messages
        self._global = _Window.per_second(global_rate) if global_rate else None
        self._per_chat_rate, self._group_per_minute = per_chat_rate, group_per_minute
        self._windows: dict[int, list[_Window]] = {}
        self.calls: list[tuple[str, JSON]] = []
        self.unknown_calls: list[tuple[str, JSON]] = []
        self.internal_errors: list[BaseException] = []
        self.callback_answers: list[JSON] = []
        self.chat_actions: list[tuple[int, str]] = []
        self.undelivered: list[JSON] = []  # group messages privacy mode kept from the bot
        self.sent_count = 0
        self.send_times: dict[int, list[float]] = {}
        self.commands: dict[tuple[str, str], list[JSON]] = {}  # by (scope JSON, language_code)
        self.menu_buttons: dict[int | None, JSON] = {}
        self.webhook_url = ""
        self._chats: dict[int, JSON] = {}
        self._users: dict[int, UserSpec] = {}
        self._messages: dict[int, list[SentMessage]] = {}
        self._blocked: set[int] = set()
        self._updates: list[JSON] = []
        self._next_update_id = 10_000
        self._allowed_updates: list[str] = []
        self._poller: asyncio.Future[str] | None = None
        self._changed: list[asyncio.Future[None]] = []
        self._queries: set[str] = set()
        self._faults: list[_Fault] = []
        self._handlers: dict[str, Callable[[JSON], Any]] = {
            name: getattr(self, "_" + re.sub(r"([A-Z])", r"_\1", name).lower())
            for name in _METHODS
        }
        self._by_lower = {name.lower(): name for name in _METHODS}

    # ----- entry points ---------------------------------------------------------------------
    def request(self, *, read_timeout: float | None = 5.0) -> MemoryRequest:
        """A PTB request bound to this API (pass one as get_updates_request too)."""
        return MemoryRequest(self, read_timeout=read_timeout)

    async def respond_to_path(self, path: str, params: JSON) -> tuple[int, JSON]:
        """Route ``.../bot<token>/<method>`` to (HTTP status, Telegram's JSON body)."""
        match = re.fullmatch(r".*/bot([^/]*)/([^/]+)", path)
        if match is None:
            return 404, ApiError(404, "Not Found").payload()
        if match.group(1) != self.token:
            return 401, ApiError(401, "Unauthorized").payload()
        try:
            return 200, {"ok": True, "result": await self.call(match.group(2), params)}
        except ApiError as exc:
            return exc.status, exc.payload()

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """Run one Bot API method (names are case-insensitive, as in Telegram).

        Raises ApiError for Telegram-level errors and ApiTimeoutError for an injected timeout;
        any other exception is a bug in this fake and is also kept in ``internal_errors``.
        """
        name = self._by_lower.get(method.lower(), method)
        self.calls.append((name, dict(params)))
        if name not in self._handlers:
            self.unknown_calls.append((method, dict(params)))
            raise ApiError(404, "Not Found")
        self._raise_fault(name, params)
        try:
            result = self._handlers[name](params)
            return await result if asyncio.iscoroutine(result) else result
        except (ApiError, ApiTimeoutError, asyncio.CancelledError):
            raise
        except Exception as exc:  # must not pass for a network blip that PTB would retry
            self.internal_errors.append(exc)
            raise
        finally:
            self._signal_change()

    async def wait_for(self, predicate: Callable[[], bool], *, within: float = 5.0) -> None:
        """Wait until ``predicate()`` holds, re-checked after every API call (no polling).

        ``within`` bounds the wait, so a bot that never answers fails the test with
        TimeoutError instead of hanging it.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not predicate():
            if loop.time() >= deadline:
                raise TimeoutError(f"condition still false after {within}s")
            changed = loop.create_future()
            self._changed.append(changed)
            await asyncio.wait({changed}, timeout=deadline - loop.time())

    async def wait_for_bot_messages(
        self, chat_id: int, count: int, *, within: float = 5.0
    ) -> list[SentMessage]:
        """Wait until the bot shows ``count`` messages in the chat; return them all."""
        await self.wait_for(lambda: len(self.bot_messages(chat_id)) >= count, within=within)
        return self.bot_messages(chat_id)

    def _signal_change(self) -> None:
        changed, self._changed = self._changed, []
        for future in changed:
            if not future.done():
                future.set_result(None)

    # ----- faults -----------------------------------------------------------------------------
    def fail_next(
        self,
        method: str,
        *,
        status: int = 400,
        description: str = "Bad Request: injected",
        retry_after: int | None = None,
        timeout: bool = False,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (to ``chat_id`` if given) fail.

        ``retry_after`` alone gives Telegram's 429; ``timeout`` makes MemoryRequest raise
        TimedOut and memory_http never answer. A failed call has no effect on the state.
        """
        if retry_after is not None and description == "Bad Request: injected":
            status, description = 429, f"Too Many Requests: retry after {retry_after}"
        error = None if timeout else ApiError(status, description, retry_after)
        name = self._by_lower.get(method.lower(), method)
        self._faults.append(_Fault(name, error, times, chat_id))

    def _raise_fault(self, method: str, params: JSON) -> None:
        chat = str(param(params, "chat_id"))
        for fault in self._faults:
            if fault.method == method and fault.chat_id in (None, _to_int(chat)):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                if fault.error is None:
                    raise ApiTimeoutError(method)
                raise fault.error

    # ----- the person's side ------------------------------------------------------------------
    def user_message(
        self,
        user: UserSpec,
        text: str,
        *,
        chat: ChatSpec | None = None,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        """A person writes ``text``; returns the Update, queued for getUpdates.

        Writing to a bot you blocked unblocks it, as in Telegram's apps. In groups, privacy
        mode (Telegram's default) keeps messages that don't address the bot in ``undelivered``.
        """
        if not text.strip():
            raise ValueError("Telegram apps cannot send an empty message")
        chat_data = self._register(user, chat)
        chat_id = chat_data["id"]
        if reply_to is not None:
            self._find(chat_id, reply_to, f"no message {reply_to} in chat {chat_id}", LookupError)
        if chat_data["type"] == "private":
            self.unblock(user.id)
        entities = detect_entities(text)
        message = self._store(
            chat_id, False, text, entities=entities, reply_to=reply_to, user_id=user.id
        )
        update = self._update("message", self._message_dict(message))
        if chat_data["type"] == "private" or self._addressed(message):
            self.push_update(update)
        else:
            self.undelivered.append(update)
        return copy.deepcopy(update)

    def user_press(
        self, user: UserSpec, message_id: int, button_text: str, *, chat_id: int | None = None
    ) -> dict[str, Any]:
        """A person taps the button labelled ``button_text`` on that message."""
        chat_id = user.id if chat_id is None else chat_id
        missing = f"no message {message_id} in chat {chat_id}"
        buttons = [
            b for row in self._find(chat_id, message_id, missing, LookupError).buttons for b in row
        ]
        pressed = next((b for b in buttons if b.text == button_text), None)
        if pressed is None:
            shown = [b.text for b in buttons]
            raise LookupError(f"no button {button_text!r} on message {message_id}; has {shown}")
        if pressed.callback_data is None:
            raise LookupError(f"button {button_text!r} opens {pressed.url}; it sends no update")
        return self.user_callback(user, message_id, pressed.callback_data, chat_id=chat_id)

    def user_callback(
        self, user: UserSpec, message_id: int, data: str, *, chat_id: int | None = None
    ) -> dict[str, Any]:
        """A callback query with arbitrary ``data``, as a tampered client could send it."""
        chat_id = user.id if chat_id is None else chat_id
        if chat_id not in self._chats:
            raise LookupError(f"no chat {chat_id}: a user must write there first")
        self._users.setdefault(user.id, user)
        found = [m for m in self.messages(chat_id) if m.message_id == message_id]
        inaccessible = {"chat": self._chats[chat_id], "message_id": message_id, "date": 0}
        query_id = str(8_000_000_000 + self._next_update_id)
        self._queries.add(query_id)
        query = {"id": query_id, "from": user.to_dict(), "data": data}
        query["message"] = self._message_dict(found[0]) if found else inaccessible
        query["chat_instance"] = str(abs(chat_id) * 7919 % 10**12)
        update = self._update("callback_query", query)
        self.push_update(update)
        return copy.deepcopy(update)

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sending to their private chat now fails with 403."""
        self._blocked.add(user_id)

    def unblock(self, user_id: int) -> None:
        """The user unblocks the bot."""
        self._blocked.discard(user_id)

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue a raw update for getUpdates and wake a waiting long poll."""
        self._updates.append(update)
        if self._poller is not None and not self._poller.done():
            self._poller.set_result("update")
        self._signal_change()

    # ----- inspection -------------------------------------------------------------------------
    def messages(self, chat_id: int, *, include_deleted: bool = False) -> list[SentMessage]:
        """Every message in the chat, in order (deleted ones only if asked)."""
        return [m for m in self._messages.get(chat_id, []) if include_deleted or not m.deleted]

    def bot_messages(self, chat_id: int) -> list[SentMessage]:
        """The bot's messages a person still sees in the chat, in order."""
        return [m for m in self.messages(chat_id) if m.from_bot]

    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed by a getUpdates offset."""
        return copy.deepcopy(self._updates)

    # ----- helpers ----------------------------------------------------------------------------
    def _bot_user(self) -> JSON:
        name = {"first_name": "DATAide", "username": self.bot_username}
        return {"id": self.bot_id, "is_bot": True} | name

    def _register(self, user: UserSpec, chat: ChatSpec | None) -> JSON:
        self._users[user.id] = user
        if chat is not None and chat.type != "private":
            title = chat.title or f"Chat {chat.id}"
            data: JSON = {"id": chat.id, "type": chat.type, "title": title}
        elif chat is not None and chat.id != user.id:
            raise ValueError("a private chat's id is the user's id")
        else:
            data = {
                k: v for k, v in user.to_dict().items() if k not in ("is_bot", "language_code")
            }
            data["type"] = "private"
        self._chats[data["id"]] = data
        return data

    def _addressed(self, message: SentMessage) -> bool:
        """Privacy mode: in groups, the bot sees commands, mentions and replies to it only."""
        mention = f"@{self.bot_username}".lower()
        for entity in message.entities:
            word = utf16_slice(message.text or "", entity["offset"], entity["length"]).lower()
            command = entity["type"] == "bot_command" and ("@" not in word or mention in word)
            if command or word == mention:
                return True
        replied = [
            m for m in self.bot_messages(message.chat_id) if m.message_id == message.reply_to
        ]
        return self.can_read_all_group_messages or bool(replied)

    def _update(self, kind: str, payload: JSON) -> JSON:
        self._next_update_id += 1
        return {"update_id": self._next_update_id, kind: payload}

    def _find(
        self, chat_id: int, message_id: int, error: str, missing: type[Exception] = ApiError
    ) -> SentMessage:
        for message in self.messages(chat_id):
            if message.message_id == message_id:
                return message
        raise ApiError(400, error) if missing is ApiError else missing(error)

    def _store(self, chat_id: int, from_bot: bool, text: str | None, **fields: Any) -> SentMessage:
        """Append a message; ids count up per chat, shared by the bot and the people in it."""
        history = self._messages.setdefault(chat_id, [])
        fields.setdefault("raw_text", text)
        message = SentMessage(
            chat_id, len(history) + 1, from_bot, int(time.time()), text, **fields
        )
        history.append(message)
        return message

    def _message_dict(self, message: SentMessage, *, nested: bool = True) -> JSON:
        """The Telegram ``Message`` object PTB builds its Message from."""
        sender = self._users[message.user_id or 0].to_dict() if message.user_id else None
        data: JSON = {"message_id": message.message_id, "date": message.date}
        data |= {"chat": self._chats[message.chat_id], "from": sender or self._bot_user()}
        text_key = "caption" if message.document else "text"
        if message.text:
            data[text_key] = message.text
        if message.entities:
            data["caption_entities" if message.document else "entities"] = message.entities
        if message.document and message.file_id:
            name, content = message.document
            data["document"] = {"file_id": message.file_id, "file_unique_id": message.file_id[-8:]}
            data["document"] |= {"file_name": name, "file_size": len(content)}
            data["document"]["mime_type"] = message.mimetype
        if message.buttons and message.reply_markup:
            data["reply_markup"] = {"inline_keyboard": message.reply_markup["inline_keyboard"]}
        if message.edit_date is not None:
            data["edit_date"] = message.edit_date
        replied = [m for m in self.messages(message.chat_id) if m.message_id == message.reply_to]
        if nested and replied:
            data["reply_to_message"] = self._message_dict(replied[0], nested=False)
        return data

    def _chat_id(self, params: JSON) -> int:
        """Resolve chat_id like Telegram: unknown chats and blocked users are errors."""
        raw = param(params, "chat_id")
        if raw is None:
            raise ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            named = [i for i, c in self._chats.items() if c.get("username") == raw[1:]]
            raw = named[0] if named else None
        chat_id = int(raw) if re.fullmatch(r"-?\d+", str(raw)) else None
        if chat_id is None or chat_id not in self._chats:
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _content(
        self, params: JSON, key: str, limit: int, too_long: str
    ) -> tuple[str, list[JSON], str | None]:
        """Parse a text or caption as Telegram does: (visible text, entities, raw text)."""
        raw = None if param(params, key) is None else str(params[key])
        mode = param(params, "parse_mode")
        try:
            visible, entities = parse_markup(raw or "", mode, strict_html=self.strict_html)
        except EntityParseError as exc:
            raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        except ValueError:
            raise ApiError(400, "Bad Request: unsupported parse_mode") from None
        given = as_json(params, "entities" if key == "text" else "caption_entities")
        visible, entities = strip_text(visible, given if given and not mode else entities)
        if utf16_len(visible) > limit:
            raise ApiError(400, too_long)
        return visible, entities, raw

    def _throttle(self, method: str, chat_id: int) -> None:
        """Telegram's flood control: 429 while any window is full, else take a slot."""
        if method not in _RATE_LIMITED:
            return
        if chat_id not in self._windows:
            rate, per_minute = self._per_chat_rate, self._group_per_minute
            windows = [_Window.per_second(rate)] if rate else []
            self._windows[chat_id] = windows + (
                [_Window(per_minute, 60.0)] if per_minute and chat_id < 0 else []
            )
        windows = self._windows[chat_id] + ([self._global] if self._global else [])
        now = self.clock()
        waits = [wait for window in windows if (wait := window.retry_after(now))]
        if waits:
            raise ApiError(429, f"Too Many Requests: retry after {max(waits)}", max(waits))
        for window in windows:
            window.times.append(now)
        if method != "editMessageText":
            self.sent_count += 1
            self.send_times.setdefault(chat_id, []).append(now)

    def _reply_to(self, params: JSON, chat_id: int) -> int | None:
        reply = as_json(params, "reply_parameters") or {}
        message_id = reply.get("message_id", param(params, "reply_to_message_id"))
        exists = message_id is None or any(
            m.message_id == int(message_id) for m in self.messages(chat_id)
        )
        if exists:
            return None if message_id is None else int(message_id)
        if reply.get("allow_sending_without_reply") or params.get("allow_sending_without_reply"):
            return None
        raise ApiError(400, "Bad Request: message to be replied not found")

    # ----- methods ----------------------------------------------------------------------------
    def _get_me(self, params: JSON) -> JSON:
        features = {"can_join_groups": True, "supports_inline_queries": False}
        features |= {"can_connect_to_business": False, "has_main_web_app": False}
        features["can_read_all_group_messages"] = self.can_read_all_group_messages
        return self._bot_user() | features

    async def _get_updates(self, params: JSON) -> list[JSON]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is "
                "active; use deleteWebhook to delete the webhook first",
            )
        offset, timeout = as_int(params, "offset", 0), max(0, as_int(params, "timeout", 0))
        limit = min(100, max(1, as_int(params, "limit", 100)))
        allowed = as_json(params, "allowed_updates")  # [] means all types again
        self._allowed_updates = self._allowed_updates if allowed is None else list(allowed)
        if offset > 0:  # every update below the offset is confirmed and forgotten
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        if self._poller is not None and not self._poller.done():
            self._poller.set_result("conflict")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            wanted = [u for u in self._updates if self._wanted(u)][:limit]
            if wanted or loop.time() >= deadline:
                return copy.deepcopy(wanted)
            self._poller = poller = loop.create_future()
            try:
                await asyncio.wait({poller}, timeout=deadline - loop.time())
            finally:
                self._poller = None if self._poller is poller else self._poller
            if poller.done() and poller.result() == "conflict":
                raise ApiError(409, _CONFLICT)

    def _wanted(self, update: JSON) -> bool:
        return not self._allowed_updates or bool(set(update) & set(self._allowed_updates))

    def _set_webhook(self, params: JSON) -> bool:
        url = str(param(params, "url") or "")
        if url and not url.lower().startswith("https://"):
            message = "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            raise ApiError(400, message)
        if str(param(params, "drop_pending_updates")).lower() == "true":
            self._updates.clear()
        self.webhook_url = url
        return True

    def _delete_webhook(self, params: JSON) -> bool:
        return self._set_webhook({**params, "url": ""})

    def _get_webhook_info(self, params: JSON) -> JSON:
        info: JSON = {"url": self.webhook_url, "has_custom_certificate": False}
        info["pending_update_count"] = len(self._updates)
        return info | ({"allowed_updates": self._allowed_updates} if self._allowed_updates else {})

    def _set_my_commands(self, params: JSON) -> bool:
        commands = as_json(params, "commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be an Array of at most 100 items")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command"))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        kept = [{"command": c["command"], "description": c["description"]} for c in commands]
        self.commands[_commands_key(params)] = kept
        return True

    def _get_my_commands(self, params: JSON) -> list[JSON]:
        return copy.deepcopy(self.commands.get(_commands_key(params), []))

    def _delete_my_commands(self, params: JSON) -> bool:
        self.commands.pop(_commands_key(params), None)
        return True

    def _set_chat_menu_button(self, params: JSON) -> bool:
        chat_id = None if param(params, "chat_id") is None else self._chat_id(params)
        button = as_json(params, "menu_button") or {"type": "default"}
        if button.get("type") not in ("commands", "web_app", "default"):
            raise ApiError(400, "Bad Request: can't parse menu button JSON object")
        self.menu_buttons[chat_id] = button
        return True

    def _send(self, method: str, params: JSON, text_key: str, **fields: Any) -> JSON:
        """sendMessage and sendDocument: validate all, then take a rate slot, then store."""
        chat_id = self._chat_id(params)
        limit, too_long = (
            (4096, "message is too long")
            if text_key == "text"
            else (1024, "message caption is too long")
        )
        text, entities, raw = self._content(params, text_key, limit, f"Bad Request: {too_long}")
        if not text and text_key == "text":
            raise ApiError(400, "Bad Request: message text is empty")
        markup, buttons = parse_reply_markup(params)
        reply_to = self._reply_to(params, chat_id)
        self._throttle(method, chat_id)
        message = self._store(
            chat_id,
            True,
            text or None,
            raw_text=raw,
            entities=entities,
            parse_mode=param(params, "parse_mode"),
            reply_markup=markup,
            buttons=buttons,
            reply_to=reply_to,
            **fields,
        )
        return self._message_dict(message)

    def _send_message(self, params: JSON) -> JSON:
        return self._send("sendMessage", params, "text")

    def _send_document(self, params: JSON) -> JSON:
        document = param(params, "document")
        if isinstance(document, str) and document.startswith("attach://"):
            document = params.get(document.removeprefix("attach://"))
        sent = [m for ms in self._messages.values() for m in ms if m.file_id == document]
        if sent and sent[0].document:  # re-sending by file_id
            document = UploadedFile(*sent[0].document, sent[0].mimetype or "")
        if not isinstance(document, UploadedFile):
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if not document.content:
            raise ApiError(400, "Bad Request: file must be non-empty")
        file_id = f"BQACAgIAAxkBAAI{sum(map(len, self._messages.values())):012d}"
        return self._send(
            "sendDocument",
            params,
            "caption",
            file_id=file_id,
            document=(document.filename, document.content),
            mimetype=document.mimetype,
        )

    def _editable(self, params: JSON) -> SentMessage:
        if param(params, "inline_message_id") is not None:
            raise ApiError(400, "Bad Request: inline messages are not supported by MemoryBotApi")
        chat_id = self._chat_id(params)
        missing = "Bad Request: message identifier is not specified"
        message_id = as_int(params, "message_id", missing)
        message = self._find(chat_id, message_id, "Bad Request: message to edit not found")
        if not message.from_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    def _apply_edit(self, method: str, message: SentMessage, changes: JSON) -> JSON:
        """Telegram compares what a person sees: visible text, entities and inline keyboard."""
        seen = ("text", "entities", "buttons")
        if all(getattr(message, key) == changes[key] for key in seen if key in changes):
            raise ApiError(400, _NOT_MODIFIED)
        self._throttle(method, message.chat_id)
        for key, value in changes.items():
            setattr(message, key, value)
        message.edits, message.edit_date = message.edits + 1, int(time.time())
        return self._message_dict(message)

    def _edit_message_text(self, params: JSON) -> JSON:
        message = self._editable(params)
        if message.document is not None:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text, entities, raw = self._content(
            params, "text", 4096, "Bad Request: message is too long"
        )
        if not text:
            raise ApiError(400, "Bad Request: message text is empty")
        markup, buttons = parse_reply_markup(params)  # no markup removes the keyboard
        changes: JSON = {"text": text, "entities": entities, "buttons": buttons, "raw_text": raw}
        changes |= {"reply_markup": markup, "parse_mode": param(params, "parse_mode")}
        return self._apply_edit("editMessageText", message, changes)

    def _edit_message_reply_markup(self, params: JSON) -> JSON:
        message = self._editable(params)
        markup, buttons = parse_reply_markup(params)
        changes: JSON = {"buttons": buttons, "reply_markup": markup}
        return self._apply_edit("editMessageReplyMarkup", message, changes)

    def _delete_message(self, params: JSON) -> bool:
        chat_id = self._chat_id(params)
        missing = "Bad Request: message identifier is not specified"
        message_id = as_int(params, "message_id", missing)
        self._find(chat_id, message_id, "Bad Request: message to delete not found").deleted = True
        return True

    def _answer_callback_query(self, params: JSON) -> bool:
        query_id = str(param(params, "callback_query_id"))
        if query_id not in self._queries:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired "
                "or query ID is invalid",
            )
        self._queries.discard(query_id)
        self.callback_answers.append(dict(params))
        return True

    def _send_chat_action(self, params: JSON) -> bool:
        chat_id = self._chat_id(params)
        if param(params, "action") not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        self.chat_actions.append((chat_id, str(params["action"])))
        return True

    def _close(self, params: JSON) -> bool:
        return True

    def _log_out(self, params: JSON) -> bool:
        return True
