"""Serve a MemoryBotApi over real HTTP/1.1 on 127.0.0.1, speaking the Bot API wire protocol.

Why: the in-process ``MemoryRequest`` skips everything below ``BaseRequest.do_request`` -- form
encoding, multipart uploads, HTTP status handling, long-poll read timeouts, keep-alive. Running
the bot as a subprocess with ``base_url=server.base_url`` exercises that whole stack (PTB's
HTTPXRequest and httpx) while the test still sees and drives the same in-memory state.

Hand-written on ``asyncio.start_server`` to add no dependency; it understands exactly what
HTTPXRequest sends: urlencoded forms (non-string values JSON-encoded), multipart/form-data,
JSON bodies and query strings, with Content-Length or chunked bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot.memory_api import ApiTimeoutError, MemoryBotApi, UploadedFile

_LOGGER = logging.getLogger(__name__)
_MAX_HEADER = 64 * 1024
_MAX_BODY = 64 * 1024 * 1024


class _BadHttpError(Exception):
    """The client sent something that is not HTTP we understand; the connection is dropped."""


@dataclass
class _Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        return self.headers.get("connection", "").lower() != "close"


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """Read one request; None when the client closed the connection between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise _BadHttpError("truncated request head") from exc
        return None
    except asyncio.LimitOverrunError as exc:
        raise _BadHttpError("request head too large") from exc
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadHttpError(f"bad request line {lines[0]!r}")
    headers = {}
    for line in filter(None, lines[1:]):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return _Request(parts[0], parts[1], headers, await _read_body(reader, headers))


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            chunks.append(await reader.readexactly(size + 2))
        await reader.readuntil(b"\r\n")  # no trailers expected; consume the final CRLF
        return b"".join(chunk[:-2] for chunk in chunks)
    length = int(headers.get("content-length", "0"))
    if length > _MAX_BODY:
        raise _BadHttpError("body too large")
    return await reader.readexactly(length)


def _parse_multipart(body: bytes, boundary: str) -> dict[str, Any]:
    """Text fields become str, file fields UploadedFile -- what MemoryBotApi.call expects."""
    params: dict[str, Any] = {}
    for part in body.split(b"--" + boundary.encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        fields = _part_headers(head.decode("utf-8", "replace"))
        name = fields.get("name")
        if name is None:
            continue
        if "filename" in fields:
            mimetype = fields.get("content-type", "application/octet-stream")
            params[name] = UploadedFile(fields["filename"], content, mimetype)
        else:
            params[name] = content.decode("utf-8")
    return params


def _part_headers(head: str) -> dict[str, str]:
    """Flatten a part's Content-Disposition parameters and Content-Type into one dict."""
    fields: dict[str, str] = {}
    for line in head.split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-type":
            fields["content-type"] = value.strip()
        elif name.strip().lower() == "content-disposition":
            for item in value.split(";")[1:]:
                key, _, raw = item.strip().partition("=")
                fields[key.lower()] = raw.strip().strip('"')
    return fields


def _parse_params(request: _Request) -> dict[str, Any]:
    """Collect parameters from the query string and the body, whatever its encoding."""
    params: dict[str, Any] = dict(parse_qsl(urlsplit(request.target).query))
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        params.update(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
    elif kind == "application/json" and request.body:
        params.update(json.loads(request.body))
    elif kind == "multipart/form-data":
        boundary = content_type.partition("boundary=")[2].split(";")[0].strip('"')
        params.update(_parse_multipart(request.body, boundary))
    return params


class MemoryHttpServer:
    """An HTTP front for a MemoryBotApi: ``async with MemoryHttpServer(api) as server: ...``."""

    def __init__(
        self,
        api: MemoryBotApi,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout_hold: float = 120.0,
    ) -> None:
        self.api = api
        self.host = host
        self._port = port
        self._timeout_hold = timeout_hold
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port=0)."""
        if self._server is None:
            raise RuntimeError("server not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def base_url(self) -> str:
        """What to pass as ``Bot(base_url=...)`` / ``ApplicationBuilder().base_url(...)``."""
        return f"http://{self.host}:{self.port}/bot"

    async def start(self) -> MemoryHttpServer:
        """Bind and start accepting connections."""
        self._server = await asyncio.start_server(self._serve, self.host, self._port)
        return self

    async def close(self) -> None:
        """Stop listening and drop open connections, including pending long polls."""
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> MemoryHttpServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while (request := await _read_request(reader)) is not None:
                if not await self._answer(request, reader, writer):
                    break
        except (_BadHttpError, ValueError) as exc:
            _LOGGER.warning("memory_http: dropping connection: %s", exc)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # close() cancels on purpose; re-raising makes asyncio log a spurious error
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _answer(
        self, request: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection must close."""
        try:
            status, body = await self.api.respond_to_path(
                urlsplit(request.target).path, _parse_params(request)
            )
        except ApiTimeoutError:
            # Never answer: the client's own read timeout fires, as with a stalled Telegram.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader.read(), self._timeout_hold)
            return False
        except Exception as exc:  # a bug in the fake must reach the client loudly, as a 500
            _LOGGER.exception("memory_http: internal error")
            status, description = 500, f"Internal Server Error: {exc!r}"
            body = {"ok": False, "error_code": 500, "description": description}
        payload = json.dumps(body).encode()
        connection = "keep-alive" if request.keep_alive else "close"
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            f"Connection: {connection}\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + payload)
        await writer.drain()
        return request.keep_alive
