"""Build the services and the python-telegram-bot Application: one path for run, chat, tests.

`post_init` runs under run_polling/run_webhook but not under `async with app`, so the
start-up work lives in `start()` which every entry point calls.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from telegram import BotCommand
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes
from telegram.request import BaseRequest

from bot import infosessions, retention
from bot.assistant import Assistant
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.context import BotContext
from bot.db import create_engine, is_sqlite, session_factory
from bot.dialogues import Dialogues
from bot.infosessions import NewSession
from bot.kb_schema import DeclaredSession
from bot.leadership import Leadership
from bot.migrate import upgrade
from bot.people import People
from bot.questions import QuestionLogWriter
from bot.send_budget import SendBudget
from bot.sender import OutboxSender
from bot.services import Services
from bot.telegram_transport import BudgetRateLimiter, TelegramTransport

log = logging.getLogger(__name__)
BotApplication = Application[Any, BotContext, Any, Any, Any, Any]

PUBLIC_COMMANDS = {
    "fr": [
        ("start", "Accueil et menu"),
        ("help", "Ce que je sais faire"),
        ("lang", "Choisir la langue"),
        ("eligibility", "Suis-je admissible ?"),
        ("sessions", "Séances d'information"),
        ("mysessions", "Mes inscriptions"),
        ("contact", "Joindre l'équipe"),
        ("cancel", "Arrêter ce qui est en cours"),
        ("stop", "Ne plus recevoir les annonces"),
        ("privacy", "Vos renseignements personnels"),
        ("mydata", "Voir ce que je garde sur vous"),
        ("forget", "Tout effacer"),
    ],
    "en": [
        ("start", "Welcome and menu"),
        ("help", "What I can do"),
        ("lang", "Choose the language"),
        ("eligibility", "Am I eligible?"),
        ("sessions", "Information sessions"),
        ("mysessions", "My registrations"),
        ("contact", "Reach the team"),
        ("cancel", "Stop what is in progress"),
        ("stop", "Stop announcements"),
        ("privacy", "Your personal information"),
        ("mydata", "See what I keep about you"),
        ("forget", "Erase everything"),
    ],
}


async def create_services(settings: Settings, clock: Clock | None = None) -> Services:
    """Open the database (migrating it) and load the knowledge base; fails loudly on errors."""
    clock = clock or SystemClock()
    assistant = Assistant.load(
        settings.knowledge_dir, clock, settings.timezone, cache_dir=settings.cache_dir
    )
    engine = create_engine(settings.database_url)
    await upgrade(engine)
    sessions = session_factory(engine)
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        clock=clock,
        assistant=assistant,
        people=People(sessions),
        question_log=QuestionLogWriter(sessions),
        dialogues=Dialogues(sessions, remember=is_sqlite(settings.database_url)),
        budget=SendBudget(settings.send_rate),
    )


def build_application(
    services: Services,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    rate_limiter: bool = True,
) -> BotApplication:
    """The Application with every handler; `request` swaps the transport (in-memory API)."""
    from handlers import register

    settings = services.settings
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token or "0:LOCAL")
        .base_url(settings.bot_api_base_url)
        .base_file_url(settings.bot_api_file_url)
        .context_types(ContextTypes(context=BotContext))
        .concurrent_updates(True)
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(get_updates_request or request)
    if rate_limiter:
        limiter = BudgetRateLimiter(services.budget, max_retries=2)
        builder = builder.rate_limiter(limiter)  # type: ignore[arg-type]
    application: BotApplication = builder.build()
    application.bot_data["services"] = services
    register(application)
    return application


async def start(application: BotApplication, *, send_in_background: bool = True) -> None:
    """Start-up work shared by every entry point: learn our username, publish commands,
    publish the sessions of knowledge/sessions.yaml, and start draining the outbox.

    Tests pass `send_in_background=False` and drain the outbox themselves, at the moment
    they choose (their clock is frozen).
    """
    services: Services = application.bot_data["services"]
    services.bot_username = application.bot.username
    await publish_declared_sessions(services)
    services.sender = OutboxSender(
        services.sessions,
        TelegramTransport.sharing(application.bot),
        services.clock,
        lambda chat_id: services.people.mark_blocked(chat_id, services.clock.now()),
        budget=services.budget,
    )
    from handlers.broadcasts import watcher_for

    services.watcher = watcher_for(application)
    if send_in_background:
        # Several processes on one PostgreSQL database: one sends at a time (bot.leadership).
        services.leadership = Leadership(services.engine, services.sender)
        services.leadership.start()
        services.watcher.start()
        if application.job_queue is not None:  # its ticker; the sweep itself is bot.retention
            application.job_queue.run_repeating(
                sweep_personal_data, interval=retention.INTERVAL, first=60, name="retention"
            )
    for language, commands in PUBLIC_COMMANDS.items():
        try:
            await application.bot.set_my_commands(
                [BotCommand(name, text) for name, text in commands],
                language_code=None if language == "fr" else language,
            )
        except TelegramError as exc:  # optional: a server may refuse it, the bot still works
            log.warning("Could not publish the command list (%s); continuing", exc)
            break


async def sweep_personal_data(context: BotContext) -> None:
    """The daily retention sweep (bot.retention); a failure waits for the next day."""
    services: Services = context.application.bot_data["services"]
    settings = services.settings
    policy = retention.Policy.of(
        settings.question_log_retention_days, settings.registration_retention_days
    )
    try:
        swept = await retention.sweep(services.sessions, services.clock.now(), policy)
    except SQLAlchemyError as exc:
        log.warning("Retention sweep failed (%s); retrying tomorrow", type(exc).__name__)
        return
    log.info("Retention sweep: %s", swept)


async def publish_declared_sessions(services: Services) -> int:
    """Upsert knowledge/sessions.yaml by id; returns how many fields changed."""
    declared = services.assistant.knowledge.sessions
    if not declared:
        return 0
    zone = services.settings.timezone
    new = [_declared(item, services, zone) for item in declared]
    return await infosessions.upsert_declared(services.sessions, new, services.clock.now())


def _declared(item: DeclaredSession, services: Services, zone: ZoneInfo) -> NewSession:
    title = item.title or services.assistant.message("session_default_title", item.language)
    return NewSession(
        starts_at=datetime.combine(item.date, item.time, tzinfo=zone).astimezone(UTC),
        duration_minutes=item.duration,
        capacity=item.capacity,
        language=item.language,
        title=title,
        link=item.link,
        key=item.id,
        cancelled=item.cancelled,
    )


async def stop_sending(application: BotApplication) -> None:
    """Stop the outbox sender while the Application's connections are still open: call it
    before leaving `async with application` (claimed rows go back to the queue)."""
    await _stop_senders(application.bot_data["services"])


async def _stop_senders(services: Services) -> None:
    """The broadcast watcher, then the sender and its lock; stopping twice is harmless."""
    if services.watcher is not None:
        await services.watcher.stop()
    if services.leadership is not None:
        await services.leadership.stop()  # stops the sender, then gives up the lock
    if services.sender is not None:
        await services.sender.stop()


async def close_services(services: Services) -> None:
    """Stop sending (claimed rows go back), write what is still queued, close the database."""
    await _stop_senders(services)
    await services.question_log.close()
    await services.engine.dispose()
