"""Settings read once from the environment (and a `.env` file), as PRODUCT.md's table."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SEED_PANEL_URL = "https://smmsquid.com/api/v2"
TELEGRAM_API_URL = "https://api.telegram.org"


class ConfigError(Exception):
    """A missing or malformed setting; the message is one line naming the variable."""


def _id_list(value: Any) -> Any:
    if isinstance(value, int):
        return frozenset({value})
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace(";", ",").replace(" ", ",").split(",")]
        if not all(p.lstrip("-").isdigit() for p in parts if p):
            raise ValueError("must be numeric Telegram ids separated by commas")
        return frozenset(int(p) for p in parts if p)
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    telegram_token: str | None = None
    telegram_api_url: str = TELEGRAM_API_URL
    panel_url: str = SEED_PANEL_URL
    panel_key: str | None = None
    allowed_users: Annotated[frozenset[int], NoDecode] = frozenset()
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    database_url: str = "sqlite+aiosqlite:///smm-bot.db"
    secret_key: str | None = None
    status_poll_seconds: float = Field(default=60.0, gt=0)
    default_locale: str = "en"
    webhook_url: str | None = None
    webhook_secret: str | None = None
    port: int = Field(default=8080, gt=0, lt=65536)
    # own: each user links a key; team: everyone orders on PANEL_KEY; shop: PANEL_KEY is
    # the operator's account and customers pay the bot from a wallet. Unset: team with
    # PANEL_KEY, own without.
    mode: Literal["own", "team", "shop"] | None = None
    shop_currency: str = "USD"
    shop_markup: Decimal = Field(default=Decimal(30), gt=-100)
    shop_minimum: Decimal = Field(default=Decimal(0), ge=0)
    shop_low_balance: Decimal | None = Field(default=None, ge=0)
    stars_per_unit: Decimal | None = Field(default=None, gt=0)
    topup_amounts: Annotated[tuple[Decimal, ...], NoDecode] = (Decimal(5), Decimal(10), Decimal(25), Decimal(50))
    payment_provider_token: str | None = None
    payment_currency: str | None = None
    referral_percent: Decimal = Field(default=Decimal(0), ge=0, le=100)
    # ALLOWED_USERS=*: the operator chose a bot open to everyone (allowed_users stays empty).
    _public: bool = PrivateAttr(default=False)

    @model_validator(mode="wrap")
    @classmethod
    def _everyone(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Settings:
        public = isinstance(data, dict) and isinstance(data.get("allowed_users"), str) \
            and data["allowed_users"].strip() == "*"
        if public:
            data = {**data, "allowed_users": frozenset()}
        settings: Settings = handler(data)
        settings._public = public
        if settings.panel_key is not None and not settings.allowed_users and not public \
                and settings.mode not in ("shop", "own"):
            # Open to anyone on Telegram, every stranger would order on the team's key.
            raise ValueError("ALLOWED_USERS: required with PANEL_KEY: the Telegram ids of the team, "
                             "comma-separated (or * for a bot deliberately open to everyone)")
        return settings

    @field_validator("allowed_users", "admin_ids", mode="before")
    @classmethod
    def _parse_ids(cls, value: Any) -> Any:
        return _id_list(value)

    @field_validator("topup_amounts", mode="before")
    @classmethod
    def _amounts(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                amounts = tuple(Decimal(p) for p in value.replace(";", ",").replace(" ", ",").split(",") if p)
            except ArithmeticError:
                raise ValueError("must be amounts separated by commas, e.g. 5,10,25") from None
            if not amounts or any(not a.is_finite() or a <= 0 for a in amounts):
                raise ValueError("must be positive amounts separated by commas, e.g. 5,10,25")
            return amounts
        return value

    @field_validator("shop_currency", "payment_currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError("must be a three-letter currency code such as USD")
        return value

    @field_validator("telegram_api_url", "panel_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("default_locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        from babel import Locale, UnknownLocaleError

        try:
            Locale.parse(value.replace("-", "_"))
        except (ValueError, UnknownLocaleError):
            raise ValueError("is not a known locale") from None
        return value.replace("-", "_")

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be the public https:// URL Telegram posts updates to")
        return value or None

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value):
            raise ValueError("1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value

    @model_validator(mode="after")
    def _team_mode(self) -> Settings:
        if self.panel_key is not None and not self.panel_key.strip():
            raise ValueError("PANEL_KEY is set but empty")
        if self.webhook_url and not self.webhook_secret:
            raise ValueError("WEBHOOK_SECRET is required with WEBHOOK_URL, so that forged updates are refused")
        if self.mode in ("team", "shop") and not self.panel_key:
            raise ValueError(f"PANEL_KEY is required with MODE={self.mode} (the panel account the bot orders on)")
        if self.mode == "own" and self.panel_key:
            raise ValueError("PANEL_KEY is for MODE=team or MODE=shop (with MODE=own every user links their own key)")
        if self.mode == "shop" and self.payment_provider_token and self.payment_currency \
                and self.payment_currency != self.shop_currency:
            raise ValueError(f"PAYMENT_CURRENCY is {self.payment_currency} and must be SHOP_CURRENCY "
                             f"({self.shop_currency}): top-ups credit the wallet one for one, with no exchange rate")
        if self.mode == "shop" and not self.payment_provider_token and self.stars_per_unit is None:
            raise ValueError("STARS_PER_UNIT is required with MODE=shop (how many Telegram Stars one "
                             f"{self.shop_currency} of a wallet costs), or PAYMENT_PROVIDER_TOKEN for card payments")
        return self

    @property
    def kind(self) -> Literal["own", "team", "shop"]:
        """The mode the bot runs in: MODE, or inferred from PANEL_KEY when unset."""
        return self.mode or ("team" if self.panel_key else "own")

    @property
    def team_mode(self) -> bool:
        """The bot orders on PANEL_KEY (team and shop modes): no user links a key."""
        return bool(self.panel_key)

    @property
    def shop(self) -> bool:
        return self.kind == "shop"

    @property
    def topup_currency(self) -> str:
        """What customers pay top-ups in: Stars, or the provider's currency."""
        if self.payment_provider_token:
            return self.payment_currency or self.shop_currency
        return "XTR"

    @property
    def public(self) -> bool:
        """ALLOWED_USERS=*: everyone may use the bot, by the operator's explicit choice.
        Either way an empty `allowed_users` turns nobody away."""
        return self._public

    def __repr__(self) -> str:
        return f"Settings(panel_url={self.panel_url!r}, mode={self.kind}, database_url=…)"

    __str__ = __repr__


def load_settings(*, require_token: bool = True, **overrides: Any) -> Settings:
    """Read the settings; raise `ConfigError` naming the first bad or missing variable."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:  # a rule across variables names them in its message
            raise ConfigError(message.replace(" is ", ": is ", 1)) from None
        raise ConfigError(f"{str(error['loc'][0]).upper()}: {message}") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if require_token and not settings.telegram_token:
        raise ConfigError("TELEGRAM_TOKEN: required (the token @BotFather gave you)")
    if require_token and not settings.secret_key:
        # Also in team mode: a key derived from PANEL_KEY would encrypt the team key with
        # itself, and a new PANEL_KEY could not open what the old one stored.
        raise ConfigError("SECRET_KEY: required to encrypt the stored panel keys "
                          "(any long random string; keep it: changing it makes the stored keys unreadable)")
    return settings
