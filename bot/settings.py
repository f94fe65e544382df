"""Runtime configuration, read from the environment and `.env` (documented in .env.example)."""
from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

TELEGRAM_API_DEFAULT = "https://api.telegram.org"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str = TELEGRAM_API_DEFAULT
    database_url: str | None = None
    db_pool_size: int = 5
    redis_url: str | None = None
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
    log_level: str = "INFO"

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
        "agency_dir", mode="before",
    )
    @classmethod
    def _empty_is_none(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'asnbot.db').resolve()}"

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
