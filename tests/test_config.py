"""Settings come from the environment as PRODUCT.md's table says; a bad or missing one
stops start-up with one line naming it."""

from __future__ import annotations

import os
from decimal import Decimal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import SEED_PANEL_URL, ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent
VARIABLES = ("TELEGRAM_TOKEN", "TELEGRAM_API_URL", "PANEL_URL", "PANEL_KEY", "ALLOWED_USERS", "ADMIN_IDS",
             "DATABASE_URL", "SECRET_KEY", "STATUS_POLL_SECONDS", "DEFAULT_LOCALE", "WEBHOOK_URL", "PORT")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_follow_the_product_table() -> None:
    settings = load_settings(require_token=False)
    assert settings.panel_url == SEED_PANEL_URL
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.status_poll_seconds == 60
    assert settings.default_locale == "en"
    assert settings.allowed_users == frozenset() and not settings.team_mode
    assert settings.database_url.startswith("sqlite")


def test_ids_are_64_bit_and_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_USERS", "1, 2,7000000000")
    monkeypatch.setenv("ADMIN_IDS", "7000000001")
    settings = load_settings(require_token=False)
    assert settings.allowed_users == {1, 2, 7_000_000_000}
    assert settings.admin_ids == {7_000_000_001}


def test_a_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PANEL_URL=https://panel.example/api/v2\nSTATUS_POLL_SECONDS=15\n")
    settings = load_settings(require_token=False)
    assert settings.panel_url == "https://panel.example/api/v2" and settings.status_poll_seconds == 15


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("STATUS_POLL_SECONDS", "soon"),
        ("STATUS_POLL_SECONDS", "0"),
        ("ALLOWED_USERS", "alice,bob"),
        ("ADMIN_IDS", "12;x"),
        ("PANEL_URL", "panel.example/api/v2"),
        ("TELEGRAM_API_URL", "ftp://bots"),
        ("DEFAULT_LOCALE", "klingon-x"),
        ("PORT", "70000"),
    ],
)
def test_a_malformed_setting_names_its_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load_settings(require_token=False)
    message = str(error.value)
    assert message.startswith(f"{variable}:") and "\n" not in message


def test_the_token_and_the_secret_key_are_required_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="^TELEGRAM_TOKEN:"):
        load_settings()
    monkeypatch.setenv("TELEGRAM_TOKEN", "123:abc")
    with pytest.raises(ConfigError, match="^SECRET_KEY:"):
        load_settings()
    monkeypatch.setenv("SECRET_KEY", "s")
    assert not load_settings().team_mode


def test_settings_never_show_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_TOKEN", "123456:SECRET-TOKEN")
    monkeypatch.setenv("SECRET_KEY", "very-secret")
    monkeypatch.setenv("PANEL_KEY", "panel-secret")
    monkeypatch.setenv("ALLOWED_USERS", "42")
    settings = load_settings()
    for text in (repr(settings), str(settings)):
        assert "SECRET-TOKEN" not in text and "very-secret" not in text and "panel-secret" not in text


def test_python_m_bot_without_a_token_stops_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "TELEGRAM_TOKEN" in lines[0]


def test_webhook_mode_needs_a_secret_token_of_telegrams_alphabet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.com/telegram")
    with pytest.raises(ConfigError, match="^WEBHOOK_SECRET:"):
        load_settings(require_token=False)
    monkeypatch.setenv("WEBHOOK_SECRET", "not allowed!")
    with pytest.raises(ConfigError, match="^WEBHOOK_SECRET:"):
        load_settings(require_token=False)
    monkeypatch.setenv("WEBHOOK_SECRET", "s3cret-Token_1")
    monkeypatch.setenv("PORT", "8443")
    settings = load_settings(require_token=False)
    assert settings.webhook_secret == "s3cret-Token_1" and settings.port == 8443


def test_team_mode_without_allowed_users_stops_start_up_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Otherwise anyone on Telegram could order on the team's key.
    monkeypatch.setenv("TELEGRAM_TOKEN", "123:abc")
    monkeypatch.setenv("SECRET_KEY", "s")
    monkeypatch.setenv("PANEL_KEY", "team-key-123")
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert str(error.value).startswith("ALLOWED_USERS:") and "\n" not in str(error.value)
    monkeypatch.setenv("ALLOWED_USERS", "42")
    settings = load_settings()
    assert settings.team_mode and settings.allowed_users == {42} and not settings.public


def test_allowed_users_star_is_a_deliberately_public_bot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANEL_KEY", "team-key-123")
    monkeypatch.setenv("ALLOWED_USERS", " * ")
    settings = load_settings(require_token=False)
    assert settings.public and settings.allowed_users == frozenset()  # nobody is turned away
    assert load_settings(require_token=False, allowed_users="*").public
    monkeypatch.setenv("ALLOWED_USERS", "*,42")
    with pytest.raises(ConfigError, match="^ALLOWED_USERS:"):
        load_settings(require_token=False)


def test_the_secret_key_is_required_in_team_mode_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # Never derived from PANEL_KEY: the team key would be encrypted with itself, and a new
    # PANEL_KEY could no longer open what the old one encrypted.
    monkeypatch.setenv("TELEGRAM_TOKEN", "123:abc")
    monkeypatch.setenv("PANEL_KEY", "team-key-123")
    monkeypatch.setenv("ALLOWED_USERS", "42")
    with pytest.raises(ConfigError, match="^SECRET_KEY:"):
        load_settings()


def test_mode_shop_needs_the_operators_key_and_a_way_to_pay(monkeypatch: pytest.MonkeyPatch) -> None:
    """MODE=shop: PANEL_KEY is the operator's account, ALLOWED_USERS optional, and top-ups
    need STARS_PER_UNIT (or a payment provider in the shop's own currency)."""
    monkeypatch.setenv("MODE", "shop")
    with pytest.raises(ConfigError, match="^PANEL_KEY: is required with MODE=shop"):
        load_settings(require_token=False)
    monkeypatch.setenv("PANEL_KEY", "operator-key-123")
    with pytest.raises(ConfigError, match="^STARS_PER_UNIT: is required with MODE=shop"):
        load_settings(require_token=False)
    monkeypatch.setenv("STARS_PER_UNIT", "75")
    monkeypatch.setenv("TOPUP_AMOUNTS", "5, 10;20")
    settings = load_settings(require_token=False)
    assert settings.shop and settings.kind == "shop" and settings.team_mode and settings.allowed_users == frozenset()
    assert settings.stars_per_unit == Decimal(75) and settings.topup_currency == "XTR"
    assert settings.topup_amounts == (Decimal(5), Decimal(10), Decimal(20))
    monkeypatch.setenv("TOPUP_AMOUNTS", "5,-1")
    with pytest.raises(ConfigError, match="^TOPUP_AMOUNTS:"):
        load_settings(require_token=False)
    monkeypatch.delenv("TOPUP_AMOUNTS")
    monkeypatch.setenv("PAYMENT_PROVIDER_TOKEN", "284685063:TEST:abc")
    monkeypatch.setenv("PAYMENT_CURRENCY", "EUR")
    with pytest.raises(ConfigError, match="^PAYMENT_CURRENCY: is EUR and must be SHOP_CURRENCY .USD."):
        load_settings(require_token=False)
    monkeypatch.setenv("SHOP_CURRENCY", "eur")
    settings = load_settings(require_token=False)
    assert settings.topup_currency == "EUR" and "284685063" not in repr(settings)


def test_mode_names_what_it_needs_and_own_takes_no_panel_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODE", "team")
    with pytest.raises(ConfigError, match="^PANEL_KEY: is required with MODE=team"):
        load_settings(require_token=False)
    monkeypatch.setenv("MODE", "own")
    monkeypatch.setenv("PANEL_KEY", "k-123")
    with pytest.raises(ConfigError, match="^PANEL_KEY: is for MODE=team or MODE=shop"):
        load_settings(require_token=False)
    monkeypatch.setenv("MODE", "sell")
    with pytest.raises(ConfigError, match="^MODE:"):
        load_settings(require_token=False)
    monkeypatch.delenv("MODE")
    monkeypatch.setenv("ALLOWED_USERS", "1")
    assert load_settings(require_token=False).kind == "team"
