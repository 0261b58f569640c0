"""Start-up after an operator's change or a crash: a new PANEL_KEY takes effect, a key the
SECRET_KEY can no longer open is asked for again (only its owner's), a draft a crash
left half-placed is shown as such, and a public team bot is logged as one."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.app import log_start
from bot.config import load_settings
from bot.domain.accounts import Accounts
from bot.domain.notices import KIND_KEY_UNDECRYPTABLE
from bot.handlers.states import Step
from bot.store import DraftState, KeyBox, Notification, PanelAccount
from tests.harness import KEY, PG_URL, World, world

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set"))]
NEW_TEAM_KEY = "new-team-key-0123456789abcdef"
BOB_KEY = "bob-own-key-0123456789abcdef"


def deps(bot: World):  # type: ignore[no-untyped-def]
    assert bot.app is not None
    return bot.app.bot_data["deps"]


async def team_account(bot: World) -> PanelAccount:
    assert bot.store is not None
    account = await bot.store.account_for(None, bot.sandbox.url)
    assert account is not None
    return account


async def encrypt_with_another_secret(bot: World, account_id: int | None, key: str) -> None:
    """As if SECRET_KEY had been replaced (not rotated) since the key was stored."""
    assert bot.store is not None
    async with bot.store.session() as s:
        await s.exec(update(PanelAccount).where(PanelAccount.id == account_id)  # type: ignore[call-overload, arg-type]
                     .values(key_encrypted=KeyBox("the old, lost secret").encrypt(key)))


async def undecryptable_notices(bot: World, user_id: int) -> list[Notification]:
    assert bot.store is not None
    async with bot.store.session() as s:
        rows = await s.exec(select(Notification).where(Notification.kind == KIND_KEY_UNDECRYPTABLE,  # type: ignore[call-overload, arg-type]
                                                       Notification.user_id == user_id))
        return [row[0] for row in rows.all()]


# --- operators' mistakes ------------------------------------------------------------------


def test_a_public_team_bot_is_logged_as_a_warning_at_start(caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(require_token=False, _env_file=None, panel_key=NEW_TEAM_KEY, allowed_users="*")
    with caplog.at_level(logging.INFO):
        log_start(settings)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "ALLOWED_USERS=*" in warnings[0] and "anyone" in warnings[0]
    assert NEW_TEAM_KEY not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO):
        log_start(load_settings(require_token=False, _env_file=None, panel_key=NEW_TEAM_KEY, allowed_users="42"))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("db", DATABASES)
async def test_a_new_panel_key_takes_effect_at_the_next_start_and_lifts_a_pause(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db, panel_key=KEY, allowed_users="1001") as bot:
        bot.sandbox.add_account(NEW_TEAM_KEY, balance=Decimal(7))
        member = bot.user(1001)
        await bot.send(member, "/balance")
        assert "$100.00" in member.last_text
        assert bot.store is not None
        await bot.store.set_account_paused((await team_account(bot)).id or 0, True)  # the old key was refused

        bot.settings_overrides["panel_key"] = NEW_TEAM_KEY
        await bot.restart()
        await bot.send(member, "/balance")
        assert "$7.00" in member.last_text
        account = await team_account(bot)
        assert account.key_fingerprint == KeyBox.fingerprint(bot.sandbox.url, NEW_TEAM_KEY)
        assert not account.paused


@pytest.mark.parametrize("db", DATABASES)
async def test_a_key_the_secret_key_no_longer_opens_is_asked_for_again_once_and_only_from_its_owner(
    tmp_path: Path, db: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with world(tmp_path, db=db) as bot:
        bot.sandbox.add_account(BOB_KEY, balance=Decimal(5))
        ann = await bot.linked_user(1001)
        bob = bot.user(1002)
        await bot.send(bob, "/start")
        await bot.send(bob, BOB_KEY)
        assert bot.store is not None
        ann_account = await bot.store.account_for(1001, bot.sandbox.url)
        assert ann_account is not None
        await encrypt_with_another_secret(bot, ann_account.id, KEY)
        await bot.restart()

        with caplog.at_level(logging.INFO):
            await bot.send(ann, "/balance")
            assert "link your panel account" in ann.last_text  # the normal link prompt
            await bot.send(ann, "/order 1011")
            assert "link your panel account" in ann.last_text
        await bot.send(bob, "/balance")
        assert "$5.00" in bob.last_text  # the others are untouched

        notices = await undecryptable_notices(bot, 1001)
        assert len(notices) == 1 and notices[0].payload["key_hint"] == KeyBox.mask(KEY)
        assert await undecryptable_notices(bot, 1002) == []
        account = await bot.store.account_for(1001, bot.sandbox.url)
        assert account is not None and account.paused and account.pause_reason == "undecryptable"
        warnings = [r.getMessage() for r in caplog.records
                    if r.levelno == logging.WARNING and r.name == "bot.domain.accounts"]
        assert len(warnings) == 1 and "SECRET_KEY" in warnings[0]
        assert KEY not in caplog.text

        await bot.send(ann, KEY)  # linked again, under the current SECRET_KEY
        assert "✅" in ann.last_text
        await bot.send(ann, "/balance")
        assert "$100.00" in ann.last_text
        account = await bot.store.account_for(1001, bot.sandbox.url)
        assert account is not None and not account.paused and account.pause_reason is None


@pytest.mark.parametrize("db", DATABASES)
async def test_a_team_key_the_secret_key_no_longer_opens_is_linked_again_from_panel_key(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db, panel_key=KEY, allowed_users="1001,1002") as bot:
        member = bot.user(1001)
        await encrypt_with_another_secret(bot, (await team_account(bot)).id, KEY)
        # A process that has not restarted meets it on an update...
        d = deps(bot)
        running = Accounts(d.store, d.panels, team_key=KEY)
        linked = await running.linked(1001)
        assert linked is not None and linked.key == KEY
        # ...and one that restarts, at start-up.
        await encrypt_with_another_secret(bot, (await team_account(bot)).id, KEY)
        await bot.restart()
        await bot.send(member, "/balance")
        assert "$100.00" in member.last_text
        assert await undecryptable_notices(bot, 1001) == []


# --- crashes and restarts -----------------------------------------------------------------


@pytest.mark.parametrize("db", DATABASES)
async def test_a_draft_a_crash_left_submitting_is_unknown_after_a_restart(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db, admin_ids="9001") as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order 1012")
        await bot.press(ann, "Order")
        await bot.send(ann, "https://instagram.com/nasa")
        await bot.send(ann, "1000")
        assert "Check your order" in ann.last_text
        assert bot.store is not None
        flow = await bot.store.get_flow(1001)
        assert flow is not None and flow["step"] == Step.CONFIRM
        # The process claimed the draft and died before the panel answered.
        assert await bot.store.claim_draft(flow["draft"], 1001)
        await bot.restart()  # seconds later, as a platform restarts a crashed process

        draft = await bot.store.get_draft(flow["draft"], 1001)
        assert draft is not None and draft.state == DraftState.UNKNOWN
        await bot.press(ann, "Confirm")
        assert "Check your orders on the panel" in ann.last_text
        assert bot.sandbox.calls("add") == []  # never sent a second time
        admin = bot.user(9001)
        await bot.send(admin, "/admin")
        assert "Unknown drafts to reconcile: 1" in admin.last_text


async def test_a_deliberately_public_team_bot_serves_anyone(tmp_path: Path) -> None:
    async with world(tmp_path, panel_key=KEY, allowed_users="*") as bot:
        stranger = bot.user(2002)
        await bot.send(stranger, "/balance")
        assert "$100.00" in stranger.last_text
