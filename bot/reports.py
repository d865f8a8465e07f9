"""Staff reports: what people ask that the bot cannot answer yet (/unanswered), and the
figures of /stats. No Telegram here.

Every figure is an aggregate query (COUNT, SUM, GROUP BY) bounded by the question log's
index on `asked_at`: no row is loaded to be counted in Python. /unanswered brings texts back,
but already grouped by exact text in SQL and capped (`MAX_TEXTS`), then groups them by
similarity with a work cap (`MAX_KEYS`), so the Python part is bounded however large
the log grows.

Grouping, and why this scorer and threshold: each text is reduced to its content words
(`bot.text.fold`, the matcher's stop words removed, light stemming, each word once, sorted),
which already makes most rewordings identical ("Le stationnement est-il gratuit ?",
"stationnement gratuit?" → `gratuit stationnement`). The keys are then compared with
`rapidfuzz.fuzz.ratio`, i.e. a token-sort ratio on content words, and a text joins the most
similar group leader scoring at least `SIMILARITY` (80), else founds its own group; texts are
visited most frequent first, so the commonest wording leads. On hand-made pairs of declined
questions, 80 keeps typos and an extra word together (`gratuit stationement` 98,
`espagnol formation` / `espagnol formation offerte` 82, `spanish training` /
`offer spanish training` 84) and different questions apart (`formateur salaire` /
`coordonnateur salaire` 79, `commence heure seance` / `finit heure seance` 72,
`espagnol formation offerte` / `formation offerte quebec` 68). `token_set_ratio` was tried
first and rejected: it scores 100 whenever one question's words are a subset of another's
(`bourse` / `bourse pour les aînés`) and 83 for "formation offerte en espagnol" / "… à
Québec", so a short frequent question would swallow every longer one sharing its words.
On the benchmark's synthetic log (`bench/reports.py`, 30 days, 7 300 declined questions),
98.8 % of the grouped questions share their group's subject, 99.8 % in the 20 groups shown;
85 would raise that to 99.7 % but split one subject over more lines (1 144 groups, not 1 008).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rapidfuzz import fuzz, process
from sqlalchemy import Select, case, func, select, union_all

from bot import feedback, infosessions, outbox
from bot.db import SessionFactory
from bot.infosessions import SessionView
from bot.models import Broadcast, Feedback, OutboxMessage, Person, QuestionLog
from bot.text import STOP_WORDS, fold, stem

UNANSWERED_DAYS = 30  # /unanswered without an argument
MAX_DAYS = 365
STATS_DAYS = 30  # the "recent" period of /stats
TOP_TOPICS = 5
SIMILARITY = 80  # fuzz.ratio on content-word keys; see the module docstring
MAX_TEXTS = 5_000  # distinct exact texts read back, most frequent first
MAX_KEYS = 2_000  # distinct keys clustered: bounds the quadratic part (~0.3 s worst case)
KEY_CHARS = 1_000  # a long message is keyed on its start
TELEGRAM_LIMIT = 4096  # characters in one message (counted in UTF-16 units)


# ---------------------------------------------------------------------- /unanswered


@dataclass(frozen=True)
class Group:
    """Questions worded alike: one example (the commonest wording, as typed) and a count."""

    example: str
    count: int
    wordings: int  # distinct wordings merged into the group


@dataclass(frozen=True)
class Unanswered:
    days: int
    total: int  # questions in the period the bot did not serve
    groups: tuple[Group, ...]  # most frequent first
    ungrouped: int  # rare questions left out by the work caps (counted in `total`)


def parse_days(argument: str | None, default: int = UNANSWERED_DAYS) -> int | None:
    """A number of days typed by staff: a whole number from 1 to MAX_DAYS, else None."""
    if argument is None:
        return default
    text = argument.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    days = int(text)
    return days if 1 <= days <= MAX_DAYS else None


def candidate_texts(since: datetime) -> list[Select[str]]:
    """Where /unanswered looks: one SELECT of question texts per source, all since `since`.

    Two sources: the questions the bot declined, and the answered questions that got a 👎
    (the answer was not what the person needed). Another source is one more SELECT here.
    """
    declined = select(QuestionLog.text.label("text")).where(
        QuestionLog.asked_at >= since, QuestionLog.answered.is_(False)
    )
    thumbs_down = (
        select(QuestionLog.text.label("text"))
        .join(Feedback, Feedback.question_id == QuestionLog.id)
        .where(
            Feedback.created_at >= since,
            Feedback.helpful.is_(False),
            QuestionLog.answered.is_(True),  # a declined one is counted above already
        )
    )
    return [declined, thumbs_down]


def counted_texts(since: datetime) -> tuple[Select[int], Select[str, int]]:
    """Two queries over every source: how many questions in all, and each distinct text
    with its occurrences, most frequent first, at most MAX_TEXTS of them."""
    candidates = union_all(*candidate_texts(since)).subquery()
    occurrences = func.count().label("occurrences")
    total = select(func.count()).select_from(candidates)
    counted = (
        select(candidates.c.text, occurrences)
        .group_by(candidates.c.text)
        .order_by(occurrences.desc(), candidates.c.text)
        .limit(MAX_TEXTS)
    )
    return total, counted


async def unanswered(sessions: SessionFactory, now: datetime, days: int) -> Unanswered:
    """The questions of the last `days` days the bot did not serve, grouped by similarity."""
    total_query, counted = counted_texts(now - timedelta(days=days))
    async with sessions() as session:
        rows = [(str(text), int(count)) for text, count in await session.execute(counted)]
        total = sum(count for _, count in rows)
        if len(rows) == MAX_TEXTS:  # some texts were left out: count them all
            total = int(await session.scalar(total_query) or 0)
    groups, grouped = await asyncio.to_thread(group_texts, rows)  # the loop keeps serving
    return Unanswered(days, total, tuple(groups), total - grouped)


def similarity_key(text: str) -> str:
    """Content words, each once, sorted: the form questions are compared in."""
    folded = fold(text[:KEY_CHARS])
    content = sorted({stem(word) for word in folded.split() if word not in STOP_WORDS})
    return " ".join(content) or folded or text.strip().lower()


@dataclass
class _Tally:
    """A group being built: occurrences, the example shown, and a count beside it."""

    count: int
    example: str
    weight: int  # occurrences of the example (while keying) or wordings merged (clustering)


def group_texts(counted: Iterable[tuple[str, int]]) -> tuple[list[Group], int]:
    """Greedy leader clustering of (text, occurrences); returns the groups, most frequent
    first, and how many occurrences they hold (keys past `MAX_KEYS` are left out)."""
    keyed: dict[str, _Tally] = {}
    for text, count in counted:
        key = similarity_key(text)
        found = keyed.get(key)
        if found is None:
            keyed[key] = _Tally(count, text, count)
            continue
        found.count += count
        if (-count, text) < (-found.weight, found.example):  # the commonest wording, and
            found.example, found.weight = text, count  # the same one whatever the database
    ordered = sorted(keyed.items(), key=lambda item: (-item[1].count, item[0]))[:MAX_KEYS]
    leaders: list[str] = []
    groups: list[_Tally] = []
    for key, tally in ordered:
        hit = process.extractOne(key, leaders, scorer=fuzz.ratio, score_cutoff=SIMILARITY)
        if hit is None:
            leaders.append(key)
            groups.append(_Tally(tally.count, tally.example, 1))
        else:
            group = groups[hit[2]]
            group.count += tally.count
            group.weight += 1
    result = [Group(group.example, group.count, group.weight) for group in groups]
    result.sort(key=lambda group: -group.count)  # stable: ties keep the leaders' order
    return result, sum(group.count for group in result)


# ---------------------------------------------------------------------- /stats


@dataclass(frozen=True)
class TopicCount:
    entry_id: str
    count: int


@dataclass(frozen=True)
class Stats:
    """The figures of /stats; "recent" means the last `days` days."""

    days: int
    people: int
    active_people: int  # seen in the recent period
    questions: int
    recent_questions: int
    recent_answered: int
    topics: tuple[TopicCount, ...]  # answered questions of the recent period, by entry
    sessions: tuple[SessionView, ...]  # upcoming, with confirmed / waitlisted counts
    helpful: int = 0  # 👍 in the recent period
    unhelpful: int = 0  # 👎 in the recent period
    broadcasts: int = 0  # announcements of the recent period, and their messages:
    broadcast_sent: int = 0
    broadcast_failed: int = 0
    broadcast_unreachable: int = 0

    @property
    def answered_rate(self) -> float | None:
        return self.recent_answered / self.recent_questions if self.recent_questions else None


async def stats(
    sessions: SessionFactory,
    now: datetime,
    *,
    days: int = STATS_DAYS,
    not_topics: Collection[str] = (),
) -> Stats:
    """People, questions, answered rate, top topics and upcoming sessions, in a few
    aggregate queries. `not_topics`: entries left out of the top (small talk)."""
    since = now - timedelta(days=days)
    recent_people = func.coalesce(func.sum(case((Person.last_seen_at >= since, 1), else_=0)), 0)
    answered = func.coalesce(func.sum(case((QuestionLog.answered.is_(True), 1), else_=0)), 0)
    occurrences = func.count().label("occurrences")
    topics_query = (
        select(QuestionLog.best_entry, occurrences)
        .where(
            QuestionLog.asked_at >= since,
            QuestionLog.answered.is_(True),
            QuestionLog.best_entry.is_not(None),
            QuestionLog.best_entry.not_in(list(not_topics)),
        )
        .group_by(QuestionLog.best_entry)
        .order_by(occurrences.desc(), QuestionLog.best_entry)
        .limit(TOP_TOPICS)
    )
    async with sessions() as session:
        people, active = (await session.execute(select(func.count(), recent_people))).one()
        questions = await session.scalar(select(func.count()).select_from(QuestionLog))
        recent, recent_answered = (
            await session.execute(
                select(func.count(), answered).where(QuestionLog.asked_at >= since)
            )
        ).one()
        topics = [
            TopicCount(str(entry), int(count))
            for entry, count in await session.execute(topics_query)
        ]
        recent_broadcasts = select(Broadcast.id).where(Broadcast.created_at >= since)
        casts = await session.scalar(
            select(func.count()).select_from(recent_broadcasts.subquery())
        )
        delivered = dict(
            (
                await session.execute(
                    select(OutboxMessage.status, func.count())
                    .where(OutboxMessage.broadcast_id.in_(recent_broadcasts))
                    .group_by(OutboxMessage.status)
                )
            ).all()
        )
    helpful, unhelpful = await feedback.satisfaction(sessions, since)
    upcoming = await infosessions.upcoming(sessions, now)
    return Stats(
        days=days,
        people=int(people),
        active_people=int(active),
        questions=int(questions or 0),
        recent_questions=int(recent),
        recent_answered=int(recent_answered),
        topics=tuple(topics),
        broadcasts=int(casts or 0),
        broadcast_sent=int(delivered.get(outbox.SENT, 0)),
        broadcast_failed=int(delivered.get(outbox.FAILED, 0) + delivered.get(outbox.EXPIRED, 0)),
        broadcast_unreachable=int(delivered.get(outbox.UNREACHABLE, 0)),
        sessions=tuple(upcoming),
        helpful=helpful,
        unhelpful=unhelpful,
    )


# ---------------------------------------------------------------------- message size


def utf16_length(text: str) -> int:
    """Length as Telegram counts it (an emoji outside the BMP counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def fit(head: str, lines: Sequence[str], closing: Callable[[int], str]) -> str:
    """`head`, then as many `lines` as fit in one Telegram message, then `closing(n)` where
    n is how many lines were left out ("" for nothing). Measured on the HTML sent, which is
    never shorter than what Telegram counts (escapes and tags only add characters)."""
    text = head
    for index, line in enumerate(lines):
        candidate = text + "\n" + line
        if utf16_length(_joined(candidate, closing(len(lines) - index - 1))) > TELEGRAM_LIMIT:
            return _joined(text, closing(len(lines) - index))
        text = candidate
    return _joined(text, closing(0))


def _joined(text: str, closing: str) -> str:
    return text + "\n" + closing if closing else text
