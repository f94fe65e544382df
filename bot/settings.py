"""Runtime configuration, read from the environment and `.env` (documented in .env.example)."""
from __future__ import annotations

import re
import secrets
from datetime import time
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.files import DEFAULT_MAX_BYTES
from services.outbox import parse_quiet_hours
from services.scheduler import parse_time_of_day

TELEGRAM_API_DEFAULT = "https://api.telegram.org"
WEBHOOK_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str = TELEGRAM_API_DEFAULT
    database_url: str | None = None
    db_pool_size: int = Field(10, ge=1)
    db_max_overflow: int | None = Field(None, ge=0)  # None: as many again as db_pool_size
    redis_url: str | None = None
    redis_key_prefix: str = "asnbot"
    redis_max_connections: int = Field(50, ge=1)
    admin_telegram_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    tz: str = "Asia/Jakarta"
    data_dir: Path = Path("var")
    agency_dir: Path | None = None
    verification_key: SecretStr | None = None
    kb_dir: Path | None = None
    helpdesk_chat_id: int | None = None
    kb_watch_seconds: float = 10.0
    link_code_ttl_hours: int = 72
    link_max_failures: int = 5
    link_failure_window_minutes: int = 60
    form_ttl_hours: float = Field(24.0, gt=0)  # a half-filled form (cuti) left this long expires
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    # uvloop (where it is installed: Linux, macOS) or the standard asyncio loop (bot/cli.py run_async).
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    # Webhook mode (bot/webhook.py): Telegram POSTs updates to WEBHOOK_URL, a reverse proxy
    # forwards them to WEBHOOK_HOST:WEBHOOK_PORT at WEBHOOK_PATH.
    webhook_url: str | None = None
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8080
    webhook_path: str | None = None  # None: the path of webhook_url
    webhook_secret: SecretStr | None = None
    webhook_max_connections: int = Field(40, ge=1, le=100)
    metrics_port: int | None = None
    # Abuse limits (bot/guard.py).
    rate_limit_per_minute: int = Field(30, ge=0)  # 0 = no limit
    max_text_chars: int = Field(4000, ge=1)
    max_file_mb: float = Field(DEFAULT_MAX_BYTES / (1024 * 1024), gt=0)
    # Delivery of the outbox (bot/sender.py): Telegram's limits and the share of them used.
    outbox_worker: bool = True
    send_rate_global: float = Field(30.0, gt=0)  # messages per second, all chats together
    send_rate_per_chat: float = Field(1.0, gt=0)  # messages per second to one private chat
    send_rate_per_group: float = Field(20.0, gt=0)  # messages per minute to one group
    # 2 back to back + 0.93 * 30 per second: at most 29 sends in any one-second window.
    send_rate_margin: float = Field(0.93, gt=0, le=1)
    quiet_hours: str = "21:00-06:00"
    # Local time (TZ) of the daily reminders job (services/reminders.py); empty: not scheduled.
    reminder_time: str = "07:00"

    @field_validator("admin_telegram_ids", mode="before")
    @classmethod
    def _split_ids(cls, v: object) -> object:
        # Accept "111,222" as well as a JSON-ish list, since people type the former in .env.
        if isinstance(v, str):
            return [int(p) for p in v.replace(";", ",").split(",") if p.strip()]
        if isinstance(v, int):
            return [v]
        return v

    @field_validator(
        "telegram_bot_token", "verification_key", "database_url", "redis_url", "kb_dir", "helpdesk_chat_id",
        "agency_dir", "db_max_overflow", "webhook_url", "webhook_path", "webhook_secret", "metrics_port",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("quiet_hours")
    @classmethod
    def _check_quiet_hours(cls, v: str) -> str:
        parse_quiet_hours(v)  # raises ValueError with the expected format
        return v.strip()

    @field_validator("reminder_time")
    @classmethod
    def _check_reminder_time(cls, v: str) -> str:
        parse_time_of_day(v)  # raises ValueError with the expected format
        return v.strip()

    @property
    def reminder_at(self) -> time | None:
        return parse_time_of_day(self.reminder_time)

    @property
    def quiet_window(self) -> tuple[time, time] | None:
        return parse_quiet_hours(self.quiet_hours)

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'asnbot.db').resolve()}"

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, v: SecretStr | None) -> SecretStr | None:
        # Telegram accepts 1-256 characters A-Z, a-z, 0-9, _ and - as secret_token.
        if v is not None and not WEBHOOK_SECRET_RE.fullmatch(v.get_secret_value()):
            raise ValueError("WEBHOOK_SECRET: 1-256 characters A-Z, a-z, 0-9, _ or -")
        return v

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("https://") and not v.startswith("http://"):
            raise ValueError("WEBHOOK_URL must be a full URL, e.g. https://bot.example.go.id/telegram/webhook")
        return v

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def webhook_route(self) -> str:
        """The local path the webhook is served at."""
        if self.webhook_path:
            return "/" + self.webhook_path.lstrip("/")
        path = urlsplit(self.webhook_url or "").path
        return path if path and path != "/" else "/telegram/webhook"

    @cached_property
    def webhook_secret_token(self) -> str:
        """secret_token for setWebhook. Without WEBHOOK_SECRET one is generated once in DATA_DIR;
        several instances must share it (set WEBHOOK_SECRET, or share DATA_DIR)."""
        if self.webhook_secret is not None:
            return self.webhook_secret.get_secret_value()
        path = self.data_dir / "webhook.secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @cached_property
    def verification_secret(self) -> bytes:
        """Key of the keyed hashes (NIK digits, link codes).

        Without VERIFICATION_KEY a random key is created once in DATA_DIR so a pilot works out
        of the box; production sets the variable so every instance shares it.
        """
        if self.verification_key is not None:
            return self.verification_key.get_secret_value().encode()
        path = self.data_dir / "verification.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip().encode()


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
