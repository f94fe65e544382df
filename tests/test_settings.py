"""Configuration: every variable is documented, and values are read the way people write them."""
from __future__ import annotations

import re
from pathlib import Path

from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_documented_in_env_example() -> None:
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    fields = {name.upper() for name in Settings.model_fields}
    assert fields - documented == set(), "undocumented settings"
    assert documented - fields == set(), ".env.example names settings that do not exist"


def test_values_as_people_type_them(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    monkeypatch.setenv("ADMIN_TELEGRAM_IDS", "111, 222;333")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "")
    monkeypatch.setenv("DATABASE_URL", "")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.delenv("VERIFICATION_KEY", raising=False)
    monkeypatch.delenv("TZ", raising=False)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.admin_telegram_ids == [111, 222, 333]
    assert s.telegram_bot_token is None
    assert s.db_url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'asnbot.db'}"
    assert s.tz == "Asia/Jakarta"
    # Without VERIFICATION_KEY a key is generated once and then reused.
    key = s.verification_secret
    assert len(key) == 64 and Settings(_env_file=None).verification_secret == key  # type: ignore[call-arg]
    assert (tmp_path / "verification.key").stat().st_mode & 0o777 == 0o600


async def test_pool_settings_apply_to_a_sqlite_file_too(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    from services.db import make_engine

    monkeypatch.setenv("DATABASE_URL", "")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DB_POOL_SIZE", "7")
    monkeypatch.setenv("DB_MAX_OVERFLOW", "3")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    engine = make_engine(s.db_url, pool_size=s.db_pool_size, max_overflow=s.db_max_overflow)
    try:
        # aiosqlite opens a thread per connection: the pool must keep what DB_POOL_SIZE says.
        assert (engine.pool.size(), engine.pool._max_overflow) == (7, 3)  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
