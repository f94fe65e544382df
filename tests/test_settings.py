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
