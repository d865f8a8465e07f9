"""A stateful in-memory Telegram Bot API, so the real telegram.ext.Application can be driven.

Why: mocks of ``Bot.send_message`` never exercise what breaks in production -- markup Telegram
refuses, 64-byte callback data, blocked users, flood limits, lost keyboards after an edit. This
fake keeps chats, messages and the update queue, validates like Telegram (same status codes and
descriptions, so PTB raises the same ``telegram.error`` classes) and answers 404 to any method it
does not implement, recording it in ``unknown_calls``: a fake that answers anything hides bugs.

The seam is ``BaseRequest.do_request`` (``MemoryBotApi.request()``), the one PTB's own tests use;
``bot.memory_http`` serves the same object over real HTTP. Single event loop; not thread-safe
except that updates pushed from another thread still wake a waiting getUpdates.
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
    EntityParseError,
    detect_entities,
    parse_markup,
    strip_text,
    utf16_len,
)

JSON = dict[str, Any]
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_BAD_QUERY = "Bad Request: query is too old and response timeout expired or query ID is invalid"
_CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_RATE_LIMITED = frozenset({"sendMessage", "sendDocument", "editMessageText"})
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_BUTTON_URL_RE = re.compile(r"(?:(?:https?|tg)://)?[^\s/]+\.\S*|tg://\S+")
_MAX_UPLOAD = 50 * 1024 * 1024


@dataclass(frozen=True)
class UserSpec:
    """A person talking to the bot."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None

    def to_dict(self) -> JSON:
        """The Telegram ``User`` object; optional fields are omitted like Telegram does."""
        data: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        optional = ("last_name", "username", "language_code")
        data.update({k: getattr(self, k) for k in optional if getattr(self, k) is not None})
        return data


@dataclass(frozen=True)
class ChatSpec:
    """A chat a person writes in; private chats share the user's id."""

    id: int
    type: str = "private"
    title: str | None = None


@dataclass
class Button:
    """An inline keyboard button as a person sees it."""

    text: str
    callback_data: str | None = None
    url: str | None = None


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
    text: str | None  # visible text or caption (markup removed, HTML entities decoded)
    parse_mode: str | None
    buttons: list[list[Button]]
    document: tuple[str, bytes] | None
    edits: int
    reply_to: int | None
    raw_text: str | None = None  # text exactly as sent, markup included
    entities: list[JSON] = field(default_factory=list)
    reply_markup: JSON | None = None  # any markup as sent (inline or reply keyboard)
    user_id: int | None = None  # sender for user messages
    deleted: bool = False
    edit_date: int | None = None
    file_id: str | None = None


class ApiError(Exception):
    """A Telegram-level error: becomes ``{"ok": false, "error_code", "description"}``."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JSON:
        """The JSON body Telegram answers with."""
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


class ApiTimeoutError(Exception):
    """An injected timeout: the client never gets an answer."""


@dataclass
class _Fault:
    method: str
    error: ApiError | None  # None means timeout
    remaining: int
    chat_id: int | None


class _Window:
    """Sliding-window flood limit: at most ``limit`` accepted calls per ``period`` seconds."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit, self.period, self.times = limit, period, deque[float]()

    @classmethod
    def per_second(cls, rate: float) -> _Window:
        limit = max(1, math.floor(rate))
        return cls(limit, limit / rate)

    def retry_after(self, now: float) -> int | None:
        while self.times and self.times[0] <= now - self.period:
            self.times.popleft()
        if len(self.times) < self.limit:
            return None
        return max(1, math.ceil(self.times[0] + self.period - now))


def _param(params: JSON, key: str) -> Any:
    """A parameter, treating "" like absent as the Bot API does."""
    value = params.get(key)
    return None if value == "" else value


def _as_int(params: JSON, key: str, missing: str) -> int:
    value = _param(params, key)
    if value is None:
        raise ApiError(400, missing)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid {key} specified") from None


def _as_json(params: JSON, key: str) -> Any:
    """Objects arrive JSON-encoded over HTTP and as Python objects through MemoryRequest."""
    value = _param(params, key)
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise ApiError(400, f"Bad Request: can't parse {key} JSON object") from None


def _to_int(value: str) -> int | str:
    return int(value) if re.fullmatch(r"-?\d+", value) else value


def _as_bool(params: JSON, key: str) -> bool:
    value = _param(params, key)
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def _check_button(button: Any) -> Button:
    """Validate one inline button like the Bot API; only callback and URL buttons are kept."""
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise ApiError(
            400,
            "Bad Request: can't parse inline keyboard button: "
            'Field "text" must be of type String',
        )
    if not button["text"].strip():
        raise ApiError(400, "Bad Request: BUTTON_TEXT_INVALID")
    data, url = button.get("callback_data"), button.get("url")
    if data is not None and len(str(data).encode()) > 64:
        raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    if url is not None and _BUTTON_URL_RE.fullmatch(url) is None:
        raise ApiError(
            400, f"Bad Request: inline keyboard button URL '{url}' is invalid: Wrong HTTP URL"
        )
    others = set(button) - {"text", "callback_data", "url"}
    if not data and not url and not others:  # Telegram treats "" callback_data as absent
        raise ApiError(
            400,
            "Bad Request: can't parse inline keyboard button: "
            "Text buttons are unallowed in the inline keyboard",
        )
    return Button(button["text"], str(data) if data else None, url)


def _parse_reply_markup(params: JSON) -> tuple[JSON | None, list[list[Button]]]:
    """Return (markup to store, inline buttons); validates inline keyboards fully."""
    markup = _as_json(params, "reply_markup")
    if markup is None:
        return None, []
    if not isinstance(markup, dict) or not (
        {"inline_keyboard", "keyboard", "remove_keyboard", "force_reply"} & set(markup)
    ):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return markup, []
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError(400, 'Bad Request: field "inline_keyboard" must be an Array of Arrays')
    return markup, [[_check_button(b) for b in row] for row in rows]


def _wake(poller: asyncio.Future[str]) -> None:
    if not poller.done():
        poller.set_result("update")


class MemoryRequest(BaseRequest):
    """A ``telegram.request.BaseRequest`` that answers from a MemoryBotApi instead of HTTP."""

    __slots__ = ("_api", "_read_timeout")

    def __init__(self, api: MemoryBotApi, *, read_timeout: float | None = 5.0) -> None:
        self._api = api
        self._read_timeout = read_timeout

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
        """Answer with Telegram's status and JSON so BaseRequest raises the real errors."""
        params: JSON = dict(request_data.parameters) if request_data else {}
        for name, (filename, content, mimetype) in (
            request_data.multipart_data.items() if request_data else ()
        ):
            data = content if isinstance(content, bytes) else content.read()
            params[name] = UploadedFile(filename, data, mimetype)
        timeout = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        try:
            status, body = await asyncio.wait_for(
                self._api.respond_to_path(urlsplit(url).path, params), timeout
            )
        except (ApiTimeoutError, TimeoutError) as exc:
            raise TimedOut from exc
        return status, json.dumps(body).encode()


class MemoryBotApi:
    """Chats, messages, updates and faults behind the Bot API methods a bot uses."""

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
        if re.fullmatch(r"\d+:[\w-]+", token) is None:
            raise ValueError(f"not a bot token: {token!r}")
        self.token, self.bot_username, self.clock = token, bot_username, clock
        self.bot_id = int(token.split(":")[0])
        self.bot_first_name = "DATAide"
        self.can_read_all_group_messages = can_read_all_group_messages
        self.strict_html = strict_html
        self._global = _Window.per_second(global_rate) if global_rate else None
        self._per_chat_rate, self._group_per_minute = per_chat_rate, group_per_minute
        self._windows: dict[int, list[_Window]] = {}
        self.calls: list[tuple[str, JSON]] = []
        self.unknown_calls: list[tuple[str, JSON]] = []
        self.internal_errors: list[BaseException] = []
        self.callback_answers: list[JSON] = []
        self.chat_actions: list[tuple[int, str]] = []
        self.sent_count = 0
        self.send_times: dict[int, list[float]] = {}
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.menu_buttons: dict[int | None, JSON] = {}
        self.webhook_url = ""
        self.undelivered: list[JSON] = []
        self._chats: dict[int, JSON] = {}
        self._users: dict[int, UserSpec] = {}
        self._messages: dict[int, list[SentMessage]] = {}
        self._blocked: set[int] = set()
        self._updates: list[JSON] = []
        self._next_update_id = 10_000
        self._allowed_updates: list[str] = []
        self._poller: asyncio.Future[str] | None = None
        self._queries: dict[str, int] = {}
        self._files: dict[str, tuple[str, bytes, str]] = {}
        self._faults: list[_Fault] = []
        self._listeners: list[Callable[[str, SentMessage], None]] = []
        self._changed: list[asyncio.Future[None]] = []
        self._methods: dict[str, Callable[[JSON], Any]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._webhook_info,
            "setMyCommands": self._set_commands,
            "getMyCommands": self._get_commands,
            "deleteMyCommands": self._delete_commands,
            "setChatMenuButton": self._set_menu_button,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_text,
            "editMessageReplyMarkup": self._edit_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_query,
            "sendDocument": self._send_document,
            "sendChatAction": self._chat_action,
            "close": lambda p: True,
            "logOut": lambda p: True,
        }
        self._by_lower = {name.lower(): name for name in self._methods}

    # ----- entry points ---------------------------------------------------------------------
    def request(self, *, read_timeout: float | None = 5.0) -> MemoryRequest:
        """A PTB request object bound to this API (use one for get_updates_request too)."""
        return MemoryRequest(self, read_timeout=read_timeout)

    async def respond_to_path(self, path: str, params: JSON) -> tuple[int, JSON]:
        """Route ``/bot<token>/<method>`` to (HTTP status, Telegram JSON body)."""
        match = re.fullmatch(r".*/bot([^/]*)/([^/]+)", path)
        if match is None:
            return 404, ApiError(404, "Not Found").payload()
        if match.group(1) != self.token:
            return 401, ApiError(401, "Unauthorized").payload()
        return await self.respond(match.group(2), params)

    async def respond(self, method: str, params: JSON) -> tuple[int, JSON]:
        """``call`` as Telegram's answer; ApiTimeoutError and fake bugs still propagate."""
        try:
            return 200, {"ok": True, "result": await self.call(method, params)}
        except ApiError as exc:
            return exc.status, exc.payload()

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """Run one Bot API method (case-insensitive, like Telegram) and return its result."""
        name = self._by_lower.get(method.lower(), method)
        self.calls.append((name, dict(params)))
        if name not in self._methods:
            self.unknown_calls.append((method, dict(params)))
            raise ApiError(404, "Not Found")
        self._raise_fault(name, params)
        try:
            result = self._methods[name](params)
            return await result if asyncio.iscoroutine(result) else result
        except (ApiError, ApiTimeoutError, asyncio.CancelledError):
            raise
        except Exception as exc:  # a bug in the fake must not look like a network blip
            self.internal_errors.append(exc)
            raise
        finally:
            self._signal_change()

    async def wait_for(self, predicate: Callable[[], bool], *, within: float = 5.0) -> None:
        """Wait until ``predicate()`` holds, re-checking after each API call (no polling).

        ``within`` bounds the wait so a bot that never answers fails the test instead of
        hanging it; TimeoutError is raised then.
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
        """Wait until the bot has ``count`` visible messages in the chat; return them all."""
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
        """Make the next ``times`` calls of ``method`` (in ``chat_id`` if given) fail."""
        if retry_after is not None and description == "Bad Request: injected":
            status, description = 429, f"Too Many Requests: retry after {retry_after}"
        error = None if timeout else ApiError(status, description, retry_after)
        name = self._by_lower.get(method.lower(), method)
        self._faults.append(_Fault(name, error, times, chat_id))

    def _raise_fault(self, method: str, params: JSON) -> None:
        chat = str(_param(params, "chat_id"))
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

        In groups, privacy mode (``can_read_all_group_messages=False``, Telegram's default)
        hides messages that don't address the bot: they go to ``undelivered`` instead.
        """
        if not text.strip():
            raise ValueError("Telegram clients cannot send an empty message")
        chat_dict = self._register(user, chat)
        chat_id = chat_dict["id"]
        if chat_dict["type"] == "private":
            self.unblock(user.id)  # writing to a bot you blocked requires unblocking it
        if reply_to is not None:
            self._find(chat_id, reply_to, f"no message {reply_to} in chat {chat_id}", LookupError)
        message = self._store(
            chat_id,
            False,
            text,
            entities=detect_entities(text),
            reply_to=reply_to,
            user_id=user.id,
        )
        update = self._update("message", self._message_dict(message))
        if chat_dict["type"] == "private" or self._addressed(message):
            self.push_update(update)
        else:
            self.undelivered.append(update)
        return copy.deepcopy(update)

    def user_press(
        self, user: UserSpec, message_id: int, button_text: str, *, chat_id: int | None = None
    ) -> dict[str, Any]:
        """A person taps the button labelled ``button_text`` on that message."""
        chat_id = user.id if chat_id is None else chat_id
        message = self._find(
            chat_id, message_id, f"no message {message_id} in chat {chat_id}", missing=LookupError
        )
        buttons = [b for row in message.buttons for b in row]
        matching = [b for b in buttons if b.text == button_text]
        if not matching:
            raise LookupError(
                f"no button {button_text!r} on message {message_id}; "
                f"available: {[b.text for b in buttons]}"
            )
        if matching[0].callback_data is None:
            raise LookupError(f"button {button_text!r} opens {matching[0].url}; no update is sent")
        return self.user_callback(user, message_id, matching[0].callback_data, chat_id=chat_id)

    def user_callback(
        self, user: UserSpec, message_id: int, data: str, *, chat_id: int | None = None
    ) -> dict[str, Any]:
        """A (possibly forged) callback query with arbitrary ``data``."""
        chat_id = user.id if chat_id is None else chat_id
        if chat_id not in self._chats:
            raise LookupError(f"chat {chat_id} does not exist; a user must write there first")
        chat = self._chats[chat_id]
        found = [m for m in self._messages.get(chat_id, []) if m.message_id == message_id]
        message = (
            self._message_dict(found[0])
            if found and not found[0].deleted
            else {"chat": chat, "message_id": message_id, "date": 0}
        )
        query_id = str(8_000_000_000 + self._next_update_id)
        self._queries[query_id] = chat_id
        query = {
            "id": query_id,
            "from": user.to_dict(),
            "message": message,
            "chat_instance": str(abs(chat_id) * 7919 % 10**12),
            "data": data,
        }
        update = self._update("callback_query", query)
        self.push_update(update)
        return copy.deepcopy(update)

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sends fail with 403 and a my_chat_member update arrives."""
        if user_id not in self._blocked:
            self._blocked.add(user_id)
            self._member_update(user_id, "member", "kicked")

    def unblock(self, user_id: int) -> None:
        """The user unblocks (restarts) the bot."""
        if user_id in self._blocked:
            self._blocked.discard(user_id)
            self._member_update(user_id, "kicked", "member")

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue a raw update for getUpdates and wake a waiting long poll."""
        self._updates.append(update)
        self._signal_change()
        poller = self._poller
        if poller is not None and not poller.done():
            loop = poller.get_loop()
            try:
                same = asyncio.get_running_loop() is loop
            except RuntimeError:
                same = False
            if same:
                poller.set_result("update")
            elif not loop.is_closed():
                loop.call_soon_threadsafe(_wake, poller)

    def add_listener(self, listener: Callable[[str, SentMessage], None]) -> None:
        """Call ``listener(event, message)`` on "sent", "edited" and "deleted" bot messages."""
        self._listeners.append(listener)

    # ----- inspection -------------------------------------------------------------------------
    def messages(self, chat_id: int, *, include_deleted: bool = False) -> list[SentMessage]:
        """Every message in the chat, in order (deleted ones only if asked)."""
        return [m for m in self._messages.get(chat_id, []) if include_deleted or not m.deleted]

    def bot_messages(self, chat_id: int) -> list[SentMessage]:
        """The bot's visible messages in the chat, in order."""
        return [m for m in self.messages(chat_id) if m.from_bot]

    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed by a getUpdates offset."""
        return copy.deepcopy(self._updates)

    # ----- helpers ----------------------------------------------------------------------------
    def _bot_user(self) -> JSON:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def _register(self, user: UserSpec, chat: ChatSpec | None) -> JSON:
        self._users[user.id] = user
        if chat is None or chat.type == "private":
            if chat is not None and chat.id != user.id:
                raise ValueError("a private chat's id is the user's id")
            data = user.to_dict()
            del data["is_bot"]
            data.pop("language_code", None)
            data["type"] = "private"
        else:
            data = {"id": chat.id, "type": chat.type, "title": chat.title or f"Chat {chat.id}"}
        self._chats[data["id"]] = data
        return data

    def _addressed(self, message: SentMessage) -> bool:
        """Privacy mode: in groups the bot only sees commands, mentions and replies to it."""
        if self.can_read_all_group_messages:
            return True
        text = message.text or ""
        mention = f"@{self.bot_username}".lower()
        for entity in message.entities:
            word = text[entity["offset"] : entity["offset"] + entity["length"]].lower()
            if word == mention or (entity["type"] == "bot_command" and word.endswith(mention)):
                return True
            if entity["type"] == "bot_command" and "@" not in word:
                return True
        replied = [m for m in self.messages(message.chat_id) if m.message_id == message.reply_to]
        return bool(replied and replied[0].from_bot)

    def _update(self, kind: str, payload: JSON) -> JSON:
        self._next_update_id += 1
        return {"update_id": self._next_update_id, kind: payload}

    def _member_update(self, user_id: int, old: str, new: str) -> None:
        chat = self._chats.get(user_id)
        if chat is None:
            return
        bot = self._bot_user()
        change = {
            "chat": chat,
            "from": self._users[user_id].to_dict(),
            "date": int(time.time()),
            "old_chat_member": {"user": bot, "status": old},
            "new_chat_member": {"user": bot, "status": new, "until_date": 0},
        }
        self.push_update(self._update("my_chat_member", change))

    def _find(
        self, chat_id: int, message_id: int, error: str, missing: type[Exception] = ApiError
    ) -> SentMessage:
        for message in self._messages.get(chat_id, []):
            if message.message_id == message_id and not message.deleted:
                return message
        raise ApiError(400, error) if missing is ApiError else missing(error)

    def _store(self, chat_id: int, from_bot: bool, text: str | None, **fields: Any) -> SentMessage:
        history = self._messages.setdefault(chat_id, [])
        message = SentMessage(
            chat_id,
            len(history) + 1,
            from_bot,
            int(time.time()),
            text,
            fields.pop("parse_mode", None),
            fields.pop("buttons", []),
            fields.pop("document", None),
            0,
            fields.pop("reply_to", None),
            raw_text=fields.pop("raw_text", text),
            **fields,
        )
        history.append(message)
        return message

    def _notify(self, event: str, message: SentMessage) -> None:
        for listener in self._listeners:
            listener(event, message)

    def _message_dict(self, message: SentMessage, *, nested: bool = True) -> JSON:
        """The Telegram ``Message`` object PTB builds its Message from."""
        chat = self._chats[message.chat_id]
        sender = self._bot_user() if message.from_bot else self._sender(message)
        data: JSON = {
            "message_id": message.message_id,
            "from": sender,
            "chat": chat,
            "date": message.date,
        }
        text_key, entities_key = (
            ("caption", "caption_entities") if message.document else ("text", "entities")
        )
        if message.text:
            data[text_key] = message.text
        if message.entities:
            data[entities_key] = message.entities
        if message.document and message.file_id:
            name, content = message.document
            data["document"] = {
                "file_id": message.file_id,
                "file_unique_id": message.file_id[-8:],
                "file_name": name,
                "mime_type": self._files[message.file_id][2],
                "file_size": len(content),
            }
        if message.buttons and message.reply_markup:
            data["reply_markup"] = {"inline_keyboard": message.reply_markup["inline_keyboard"]}
        if message.edit_date is not None:
            data["edit_date"] = message.edit_date
        if nested and message.reply_to is not None:
            replied = [
                m
                for m in self._messages[message.chat_id]
                if m.message_id == message.reply_to and not m.deleted
            ]
            if replied:
                data["reply_to_message"] = self._message_dict(replied[0], nested=False)
        return data

    def _sender(self, message: SentMessage) -> JSON:
        return self._users[message.user_id or 0].to_dict()

    def _chat_id(self, params: JSON) -> int:
        """Resolve chat_id like Telegram: unknown chats and blocked users are errors."""
        raw = _param(params, "chat_id")
        if raw is None:
            raise ApiError(400, "Bad Request: chat_id is empty")
        usernames = {c.get("username", "").lower(): i for i, c in self._chats.items()}
        if isinstance(raw, str) and raw.startswith("@"):
            chat_id = usernames.get(raw[1:].lower())
        else:
            chat_id = int(raw) if re.fullmatch(r"-?\d+", str(raw)) else None
        if chat_id is None or chat_id not in self._chats:
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _content(
        self, params: JSON, key: str, limit: int, too_long: str
    ) -> tuple[str, list[JSON], str | None]:
        """Parse text/caption markup; returns (visible text, entities, raw)."""
        raw = _param(params, key)
        raw = None if raw is None else str(raw)
        mode = _param(params, "parse_mode")
        try:
            visible, entities = parse_markup(raw or "", mode, strict_html=self.strict_html)
        except EntityParseError as exc:
            raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        except ValueError:
            raise ApiError(400, "Bad Request: unsupported parse_mode") from None
        explicit = _as_json(params, "entities" if key == "text" else "caption_entities")
        visible, entities = strip_text(visible, explicit if explicit and not mode else entities)
        if utf16_len(visible) > limit:
            raise ApiError(400, too_long)
        return visible, entities, raw

    def _throttle(self, method: str, chat_id: int) -> None:
        """Telegram's flood control: refuse with 429 while any window is full."""
        if method not in _RATE_LIMITED:
            return
        now = self.clock()
        if chat_id not in self._windows:
            windows = [_Window.per_second(self._per_chat_rate)] if self._per_chat_rate else []
            if chat_id < 0 and self._group_per_minute:
                windows.append(_Window(self._group_per_minute, 60.0))
            self._windows[chat_id] = windows
        windows = ([self._global] if self._global else []) + self._windows[chat_id]
        waits = [w for w in (win.retry_after(now) for win in windows) if w is not None]
        if waits:
            raise ApiError(429, f"Too Many Requests: retry after {max(waits)}", max(waits))
        for window in windows:
            window.times.append(now)
        if method != "editMessageText":
            self.sent_count += 1
            self.send_times.setdefault(chat_id, []).append(now)

    def _reply_to(self, params: JSON, chat_id: int) -> int | None:
        reply = _as_json(params, "reply_parameters") or {}
        message_id = reply.get("message_id", _param(params, "reply_to_message_id"))
        if message_id is None:
            return None
        try:
            self._find(chat_id, int(message_id), "Bad Request: message to be replied not found")
        except ApiError:
            if reply.get("allow_sending_without_reply") or _as_bool(
                params, "allow_sending_without_reply"
            ):
                return None
            raise
        return int(message_id)

    # ----- methods ----------------------------------------------------------------------------
    def _get_me(self, params: JSON) -> JSON:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": self.can_read_all_group_messages,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: JSON) -> list[JSON]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(_param(params, "offset") or 0)
        limit = min(100, max(1, int(_param(params, "limit") or 100)))
        timeout = max(0.0, float(_param(params, "timeout") or 0))
        allowed = _as_json(params, "allowed_updates")
        if allowed is not None:
            self._allowed_updates = list(allowed)
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        if self._poller is not None and not self._poller.done():
            self._poller.set_result("conflict")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batch = [u for u in self._updates if self._wanted(u)][:limit]
            if batch or loop.time() >= deadline:
                return copy.deepcopy(batch)
            self._poller = poller = loop.create_future()
            try:
                await asyncio.wait({poller}, timeout=deadline - loop.time())
            finally:
                if self._poller is poller:
                    self._poller = None
            if poller.done() and poller.result() == "conflict":
                raise ApiError(409, _CONFLICT_POLL)

    def _wanted(self, update: JSON) -> bool:
        kinds = set(update) - {"update_id"}
        return not self._allowed_updates or bool(kinds & set(self._allowed_updates))

    def _set_webhook(self, params: JSON) -> bool:
        url = str(_param(params, "url") or "")
        if url and not url.lower().startswith("https://"):
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        if _as_bool(params, "drop_pending_updates"):
            self._updates.clear()
        self.webhook_url = url
        return True

    def _delete_webhook(self, params: JSON) -> bool:
        return self._set_webhook({"drop_pending_updates": params.get("drop_pending_updates")})

    def _webhook_info(self, params: JSON) -> JSON:
        info: JSON = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self._allowed_updates:
            info["allowed_updates"] = self._allowed_updates
        return info

    def _commands_key(self, params: JSON) -> tuple[str, str]:
        scope = _as_json(params, "scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(_param(params, "language_code") or "")

    def _set_commands(self, params: JSON) -> bool:
        commands = _as_json(params, "commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(
                400, 'Bad Request: parameter "commands" must be an Array of at most 100 BotCommand'
            )
        for command in commands:
            if not _COMMAND_RE.fullmatch(str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _get_commands(self, params: JSON) -> list[JSON]:
        return copy.deepcopy(self.commands.get(self._commands_key(params), []))

    def _delete_commands(self, params: JSON) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _set_menu_button(self, params: JSON) -> bool:
        chat_id = self._chat_id(params) if _param(params, "chat_id") is not None else None
        button = _as_json(params, "menu_button") or {"type": "default"}
        if button.get("type") not in ("commands", "web_app", "default"):
            raise ApiError(400, "Bad Request: can't parse menu button JSON object")
        self.menu_buttons[chat_id] = button
        return True

    def _send_message(self, params: JSON) -> JSON:
        chat_id = self._chat_id(params)
        text, entities, raw = self._content(
            params, "text", 4096, "Bad Request: message is too long"
        )
        if not text:
            raise ApiError(400, "Bad Request: message text is empty")
        markup, buttons = _parse_reply_markup(params)
        reply_to = self._reply_to(params, chat_id)
        self._throttle("sendMessage", chat_id)
        message = self._store(
            chat_id,
            True,
            text,
            raw_text=raw,
            entities=entities,
            parse_mode=_param(params, "parse_mode"),
            reply_markup=markup,
            buttons=buttons,
            reply_to=reply_to,
        )
        self._notify("sent", message)
        return self._message_dict(message)

    def _send_document(self, params: JSON) -> JSON:
        chat_id = self._chat_id(params)
        document = _param(params, "document")
        if isinstance(document, str) and document.startswith("attach://"):
            document = params.get(document[len("attach://") :])
        if isinstance(document, str) and document in self._files:
            document = UploadedFile(*self._files[document])
        if not isinstance(document, UploadedFile):
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if not document.content:
            raise ApiError(400, "Bad Request: file must be non-empty")
        if len(document.content) > _MAX_UPLOAD:
            raise ApiError(413, "Request Entity Too Large")
        too_long = "Bad Request: message caption is too long"
        caption, entities, raw = self._content(params, "caption", 1024, too_long)
        markup, buttons = _parse_reply_markup(params)
        reply_to = self._reply_to(params, chat_id)
        self._throttle("sendDocument", chat_id)
        file_id = f"BQACAgIAAxkBAAI{len(self._files):012d}"
        self._files[file_id] = (document.filename, document.content, document.mimetype)
        message = self._store(
            chat_id,
            True,
            caption or None,
            raw_text=raw,
            entities=entities,
            parse_mode=_param(params, "parse_mode"),
            reply_markup=markup,
            buttons=buttons,
            reply_to=reply_to,
            file_id=file_id,
            document=(document.filename, document.content),
        )
        self._notify("sent", message)
        return self._message_dict(message)

    def _editable(self, params: JSON) -> SentMessage:
        if _param(params, "inline_message_id") is not None:
            raise ApiError(400, "Bad Request: inline messages are not supported by MemoryBotApi")
        chat_id = self._chat_id(params)
        message_id = _as_int(
            params, "message_id", "Bad Request: message identifier is not specified"
        )
        message = self._find(chat_id, message_id, "Bad Request: message to edit not found")
        if not message.from_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    def _apply_edit(self, message: SentMessage, changes: JSON) -> JSON:
        """Telegram compares what a person sees: visible text, entities and inline keyboard."""
        seen = ("text", "entities", "buttons")
        if all(getattr(message, k) == v for k, v in changes.items() if k in seen):
            raise ApiError(400, _NOT_MODIFIED)
        for key, value in changes.items():
            setattr(message, key, value)
        message.edits += 1
        message.edit_date = int(time.time())
        self._notify("edited", message)
        return self._message_dict(message)

    def _edit_text(self, params: JSON) -> JSON:
        message = self._editable(params)
        if message.document is not None:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text, entities, raw = self._content(
            params, "text", 4096, "Bad Request: message is too long"
        )
        if not text:
            raise ApiError(400, "Bad Request: message text is empty")
        markup, buttons = _parse_reply_markup(params)  # omitted markup removes the keyboard
        self._throttle("editMessageText", message.chat_id)
        return self._apply_edit(
            message,
            {
                "text": text,
                "entities": entities,
                "buttons": buttons,
                "raw_text": raw,
                "reply_markup": markup,
                "parse_mode": _param(params, "parse_mode"),
            },
        )

    def _edit_markup(self, params: JSON) -> JSON:
        message = self._editable(params)
        markup, buttons = _parse_reply_markup(params)
        return self._apply_edit(message, {"buttons": buttons, "reply_markup": markup})

    def _delete_message(self, params: JSON) -> bool:
        chat_id = self._chat_id(params)
        message_id = _as_int(
            params, "message_id", "Bad Request: message identifier is not specified"
        )
        message = self._find(chat_id, message_id, "Bad Request: message to delete not found")
        message.deleted = True
        self._notify("deleted", message)
        return True

    def _answer_query(self, params: JSON) -> bool:
        if self._queries.pop(str(_param(params, "callback_query_id")), None) is None:
            raise ApiError(400, _BAD_QUERY)
        self.callback_answers.append(dict(params))
        return True

    def _chat_action(self, params: JSON) -> bool:
        chat_id = self._chat_id(params)
        action = str(_param(params, "action") or "")
        if action not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        self.chat_actions.append((chat_id, action))
        return True
