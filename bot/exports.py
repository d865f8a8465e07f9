"""CSV exports for staff (/export): registrations per session, and the question log without
personal identifiers. No Telegram here.

- Files are UTF-8 with a byte-order mark, comma-separated, CRLF line ends (the `csv`
  module's default), so Excel opens them with the accents right.
- Column names and status values are fixed, in English, whatever the staff member's language,
  so a spreadsheet or a script built on one export keeps working on the next.
- Dates and times are in BOT_TIMEZONE, written `YYYY-MM-DD HH:MM` (Excel reads it as a date).
- Registrations: every session that starts in the future or started in the last
  `PAST_DAYS` days (cancelled ones included), one file each, all its registrations
  (confirmed, then the waitlist in order, then cancelled). Sessions nobody registered for
  get no file; the caller says how many.
- Question log: the whole log, oldest first, with no person id, name or time of day (the
  date only, so a row cannot be matched with a person's messages by its minute). If it
  would exceed `MAX_FILE_BYTES` (Telegram bots may send 50 MB), the oldest rows are left
  out and the file says so through `truncated`.
- A cell typed by a person that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
  is prefixed with `'`, so a spreadsheet shows it as text instead of running it as a
  formula (CSV injection).
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Row, select

from bot.db import SessionFactory
from bot.infosessions import CANCELLED, CONFIRMED, WAITLISTED
from bot.models import InfoSession, QuestionLog, Registration

PAST_DAYS = 30
MAX_FILE_BYTES = 45 * 2**20
REGISTRATION_COLUMNS = (
    "session_start",
    "session_title",
    "status",
    "waitlist_position",
    "name",
    "organisation",
    "email",
    "language",
    "registered_at",
)
QUESTION_COLUMNS = ("asked_on", "language", "text", "best_entry", "score", "answered")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_STATUS_ORDER = {CONFIRMED: 0, WAITLISTED: 1, CANCELLED: 2}
_ROW_OVERHEAD = 64  # bytes a question row takes besides its text, generously
_CHUNK_ROWS = 2_000


@dataclass(frozen=True)
class ExportFile:
    filename: str
    content: bytes
    rows: int


@dataclass(frozen=True)
class SessionExport:
    """One session's registrations as a file, with what a caption needs."""

    file: ExportFile
    starts_at: datetime
    title: str


@dataclass(frozen=True)
class QuestionExport:
    file: ExportFile
    truncated: bool  # the oldest questions were left out to respect MAX_FILE_BYTES


def safe_cell(value: str | None) -> str:
    """A cell from what a person typed, never read as a formula."""
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def to_csv(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A CSV file Excel opens with accents intact: UTF-8 with a byte-order mark."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


async def registrations(
    sessions: SessionFactory, now: datetime, zone: ZoneInfo
) -> tuple[list[SessionExport], int]:
    """One file per session starting after `now - PAST_DAYS` that has registrations,
    soonest first; and the number of such sessions with nobody registered."""
    since = now - timedelta(days=PAST_DAYS)
    async with sessions() as session:
        infos = list(
            (
                await session.execute(
                    select(InfoSession)
                    .where(InfoSession.starts_at >= since)
                    .order_by(InfoSession.starts_at, InfoSession.id)
                )
            ).scalars()
        )
        people = list(
            (
                await session.execute(
                    select(Registration)
                    .join(InfoSession, InfoSession.id == Registration.session_id)
                    .where(InfoSession.starts_at >= since)
                    .order_by(Registration.session_id, Registration.id)
                )
            ).scalars()
        )
    by_session: dict[int, list[Registration]] = {}
    for row in people:
        by_session.setdefault(row.session_id, []).append(row)
    files = [
        _session_file(info, by_session[info.id], zone) for info in infos if info.id in by_session
    ]
    return files, len(infos) - len(files)


def _session_file(info: InfoSession, rows: list[Registration], zone: ZoneInfo) -> SessionExport:
    start = local_time(info.starts_at, zone)
    ordered = sorted(rows, key=lambda row: (_STATUS_ORDER.get(row.status, 3), row.id))
    lines: list[list[object]] = []
    position = 0
    for row in ordered:
        if row.status == WAITLISTED:
            position += 1
        lines.append(
            [
                start,
                safe_cell(info.title),
                row.status,
                position if row.status == WAITLISTED else "",
                safe_cell(row.name),
                safe_cell(row.organisation),
                safe_cell(row.email),
                row.language,
                local_time(row.created_at, zone),
            ]
        )
    stamp = info.starts_at.astimezone(zone).strftime("%Y-%m-%d-%H%M")
    file = ExportFile(
        f"registrations-{stamp}-session{info.id}.csv",
        to_csv(REGISTRATION_COLUMNS, lines),
        len(lines),
    )
    return SessionExport(file, info.starts_at, info.title)


async def question_log(sessions: SessionFactory, now: datetime, zone: ZoneInfo) -> QuestionExport:
    """The question log without personal identifiers, oldest first, within MAX_FILE_BYTES."""
    query = select(
        QuestionLog.asked_at,
        QuestionLog.language,
        QuestionLog.text,
        QuestionLog.best_entry,
        QuestionLog.score,
        QuestionLog.answered,
    ).order_by(QuestionLog.asked_at.desc(), QuestionLog.id.desc())
    kept: list[Row[datetime, str, str, str | None, float, bool]] = []
    size = 0
    truncated = False
    async with sessions() as session:
        result = await session.stream(query.execution_options(yield_per=_CHUNK_ROWS))
        async for chunk in result.partitions():  # newest first, a chunk per round trip
            for row in chunk:
                size += len(row.text.encode("utf-8")) + _ROW_OVERHEAD
                if size > MAX_FILE_BYTES:
                    truncated = True
                    break
                kept.append(row)
            if truncated:
                break
        await result.close()
    kept.reverse()
    # Formatting 100 000 rows takes a while: in a thread, so the bot keeps answering.
    content = await asyncio.to_thread(_questions_csv, kept, zone)
    stamp = now.astimezone(zone).date().isoformat()
    file = ExportFile(f"questions-{stamp}.csv", content, len(kept))
    return QuestionExport(file, truncated)


def _questions_csv(
    rows: Sequence[Row[datetime, str, str, str | None, float, bool]], zone: ZoneInfo
) -> bytes:
    return to_csv(
        QUESTION_COLUMNS,
        (
            [
                asked_at.astimezone(zone).date().isoformat(),
                language,
                safe_cell(text),
                best_entry or "",
                f"{score:.4f}",
                "yes" if answered else "no",
            ]
            for asked_at, language, text, best_entry, score, answered in rows
        ),
    )
