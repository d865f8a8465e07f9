"""The HTTP side of webhook mode: Telegram's POSTs at the webhook path, and `/healthz`.

Why our own server rather than PTB's `updater.start_webhook`: that one serves the webhook
path only (no health route) and answers 200 before the update is handled. Why tornado
rather than Starlette + uvicorn: tornado is already installed (PTB's `webhooks` extra), it
runs on our event loop without installing its own signal handlers, and its
`stream_request_body` lets us check the secret and the size before reading a body, so two
routes cost no new dependency.

Each update is handled before the answer: 200 means "done", so a process that dies
mid-update leaves Telegram to deliver it again (to whichever process the proxy picks)
instead of losing it. Telegram keeps up to `max_connections` (40) requests in flight, which
is our concurrency.

This module knows nothing of Telegram's types: the runner hands it `on_update`, which
raises `MalformedUpdateError` for a body that is JSON but not an update.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, HTTPError, RequestHandler, stream_request_body

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1024 * 1024  # bytes: Telegram's largest updates are tens of kilobytes

OnUpdate = Callable[[dict[str, Any]], Awaitable[None]]
Probe = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


class MalformedUpdateError(ValueError):
    """The body is JSON but not an update we can read: 400, never handled."""


class WebhookServer:
    """Serves `path` (POST, with the secret header) and `/healthz` (GET) on one port."""

    def __init__(
        self,
        *,
        path: str,
        secret: str,
        on_update: OnUpdate,
        health: Probe,
        max_body: int = MAX_BODY,
    ) -> None:
        self.path = "/" + path.strip("/")
        self.secret = secret
        self.on_update = on_update
        self.health = health
        self.max_body = max_body
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._server: HTTPServer | None = None
        self.port = 0

    def application(self) -> Application:
        routes: list[Any] = [("/healthz", _HealthHandler, {"server": self})]
        if self.path != "/healthz":
            routes.append((_exact(self.path), _UpdateHandler, {"server": self}))
        return Application(routes, default_handler_class=_NotFound)

    async def start(self, port: int, address: str = "") -> int:
        """Listen (port 0: any free port); returns the bound port."""
        self._server = HTTPServer(
            self.application(),
            # Our handler answers 413 itself; this bounds what a chunked body can make us
            # read (and discard) before tornado drops the connection.
            max_body_size=self.max_body * 4,
            idle_connection_timeout=75,
        )
        sockets = bind_sockets(port, address)
        self._server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        return self.port

    async def stop(self, grace: float = 25.0) -> None:
        """Refuse new connections, let the updates in progress finish, then close."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.stop()
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            log.warning(
                "Stopping with %d update(s) unfinished; Telegram will deliver them again",
                self.in_flight,
                extra={"event": "webhook_stop_timeout", "in_flight": self.in_flight},
            )
        await server.close_all_connections()

    def begin(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def end(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()


def _exact(path: str) -> str:
    """A tornado route pattern matching exactly `path`."""
    return "".join("\\" + c if not c.isalnum() and c not in "/_-" else c for c in path) + "$"


class _NotFound(RequestHandler):
    def prepare(self) -> None:
        raise HTTPError(404)


class _HealthHandler(RequestHandler):
    def initialize(self, server: WebhookServer) -> None:
        self.server = server

    async def get(self) -> None:
        ok, body = await self.server.health()
        self.set_status(200 if ok else 503)
        self.set_header("Cache-Control", "no-store")
        self.finish(body)

    async def head(self) -> None:
        ok, _ = await self.server.health()
        self.set_status(200 if ok else 503)


@stream_request_body
class _UpdateHandler(RequestHandler):
    """One update per POST: secret first, size while reading, then JSON, then handled."""

    def initialize(self, server: WebhookServer) -> None:
        self.server = server
        self.body = bytearray()
        self.too_large = False
        self.body_complete = False

    def prepare(self) -> None:
        if self.request.method != "POST":
            raise HTTPError(405)
        given = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.server.secret.encode()):
            log.warning(
                "Webhook request refused: %s secret token",
                "wrong" if given else "no",
                extra={"event": "webhook_refused", "reason": "secret"},
            )
            raise HTTPError(403)
        length = self.request.headers.get("Content-Length", "0")
        # Too large: read on and discard (up to the server's bound), then answer 413, so the
        # client hears the answer instead of a connection reset mid-send.
        self.too_large = not length.isdigit() or int(length) > self.server.max_body

    def data_received(self, chunk: bytes) -> None:
        if len(self.body) + len(chunk) > self.server.max_body:
            self.too_large = True  # chunked and too long: keep reading, but nothing more
        elif not self.too_large:
            self.body.extend(chunk)

    async def post(self) -> None:
        self.body_complete = True
        if self.too_large:
            self._refuse_size()
        try:
            data = json.loads(self.body)
        except ValueError:
            self._refuse("not JSON")
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            self._refuse("not an update")
        started = time.perf_counter()
        self.server.begin()
        try:
            await self.server.on_update(data)
        except MalformedUpdateError:
            self._refuse("an update we cannot read")
        finally:
            self.server.end()
        log.debug(
            "Update handled",
            extra={
                "event": "update_handled",
                "update_id": data["update_id"],
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        self.set_status(200)
        self.finish()

    def _refuse(self, reason: str) -> NoReturn:
        log.warning(
            "Webhook request refused: %s",
            reason,
            extra={"event": "webhook_refused", "reason": reason},
        )
        raise HTTPError(400)

    def _refuse_size(self) -> NoReturn:
        log.warning(
            "Webhook request refused: body over %d bytes",
            self.server.max_body,
            extra={"event": "webhook_refused", "reason": "too large"},
        )
        raise HTTPError(413)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Refused before its body was read (403, 405): the connection cannot be reused,
        so say so rather than let the client send its next request into a closed socket."""
        if not self.body_complete:
            self.set_header("Connection", "close")
        super().write_error(status_code, **kwargs)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Refusals are logged above; only real errors (500) get a traceback."""
        if not isinstance(value, HTTPError):
            log.error("Webhook request failed", exc_info=(typ, value, tb))
