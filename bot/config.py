"""Settings read from the environment (and `.env`), created in `main()` and in fixtures."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'data' / 'bot.db'}"


def parse_duration(text: str) -> timedelta:
    """Read `24h`, `90s`, `15m` or `2d`: the form staff write reminder offsets in."""
    text = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise ValueError(f"{text!r} is not a duration like 24h, 90m, 30s or 2d")
    return timedelta(seconds=int(text[:-1]) * units[text[-1]])


class Settings(BaseSettings):
    """Everything an operator can configure; names follow the interface contract."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    telegram_bot_token: str | None = Field(default=None, alias="TELEGRAM_BOT_TOKEN")
    telegram_api_url: str = Field(default="https://api.telegram.org", alias="TELEGRAM_API_URL")
    database_url: str = Field(default=DEFAULT_DATABASE_URL, alias="DATABASE_URL")
    staff_ids: Annotated[frozenset[int], NoDecode] = Field(default=frozenset(), alias="STAFF_IDS")
    staff_chat_id: int | None = Field(default=None, alias="STAFF_CHAT_ID")
    knowledge_dir: Path = Field(default=PROJECT_ROOT / "knowledge", alias="KNOWLEDGE_DIR")
    # Files the bot can rebuild but would rather not (the classifier's trained weights).
    cache_dir: Path = Field(default=PROJECT_ROOT / "data" / "cache", alias="CACHE_DIR")
    bot_timezone: str = Field(default="America/Toronto", alias="BOT_TIMEZONE")
    reminder_offsets: Annotated[tuple[timedelta, ...], NoDecode] = Field(
        default=(timedelta(hours=24), timedelta(hours=1)), alias="REMINDER_OFFSETS"
    )
    max_upcoming_registrations: int = Field(
        default=0, ge=0, alias="MAX_UPCOMING_REGISTRATIONS"
    )  # per person; 0 means no limit
    # Messages per second this process sends in all, replies and outbox together (Telegram
    # allows about 30). OUTBOX_RATE is its former name, still read.
    send_rate: float = Field(
        default=29.5, gt=0, le=30, validation_alias=AliasChoices("SEND_RATE", "OUTBOX_RATE")
    )
    # Retention (bot.retention): logged question text is deleted after this many days, and
    # registrations are anonymised this many days after their session.
    question_log_retention_days: int = Field(
        default=365, ge=1, alias="QUESTION_LOG_RETENTION_DAYS"
    )
    registration_retention_days: int = Field(
        default=365, ge=1, alias="REGISTRATION_RETENTION_DAYS"
    )
    webhook_url: str | None = Field(default=None, alias="WEBHOOK_URL")
    webhook_secret: str | None = Field(default=None, alias="WEBHOOK_SECRET")
    port: int = Field(default=8080, ge=0, le=65535, alias="PORT")  # 0: any free port
    log_format: Literal["text", "json"] = Field(default="text", alias="LOG_FORMAT")

    @field_validator("staff_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            try:
                return frozenset(int(p) for p in parts)
            except ValueError as exc:
                raise ValueError("STAFF_IDS must be comma-separated numeric user ids") from exc
        return value

    @field_validator("reminder_offsets", mode="before")
    @classmethod
    def _split_offsets(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(parse_duration(p) for p in value.split(",") if p.strip())
        return value

    @field_validator("bot_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)  # raises a clear error for an unknown zone
        return value

    @field_validator("telegram_bot_token", "webhook_url", "webhook_secret", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def timezone(self) -> ZoneInfo:
        """The zone dates are shown and entered in."""
        return ZoneInfo(self.bot_timezone)

    @property
    def bot_api_base_url(self) -> str:
        """PTB's base URL: it appends the token, then `/<method>`."""
        return f"{self.telegram_api_url.rstrip('/')}/bot"

    @property
    def bot_api_file_url(self) -> str:
        """PTB's file URL, on the same server as the API."""
        return f"{self.telegram_api_url.rstrip('/')}/file/bot"
