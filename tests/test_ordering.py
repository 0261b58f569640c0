"""Ordering by chatting, as a customer does it: link a key, find a service, fill its
form, confirm; what the user sees and what the panel receives."""

from __future__ import annotations

import asyncio
import logging
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.playground.fakegram import FakeUser
from bot.panel.fields import SERVICE_TYPES, build_add_params, form_fields
from bot.panel.models import Service
from bot.store import DraftState
from bot.store import admin as admin_store
from tests.harness import KEY, PG_URL, World, world

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set"))]


def service(bot: World, service_id: int) -> Service:
    item = next(s for s in bot.sandbox.services if int(s["service"]) == service_id)
    parsed = Service.from_api(item)
    assert parsed is not None
    return parsed


# A prompt names its field by its label; the tests answer by the API name.
LABELS = {spec.label: spec.name for kind in SERVICE_TYPES for spec in kind.fields}


def asked_field(user: FakeUser) -> str:
    match = re.search(r"^✏️ (.+?)(?: \(optional\))?$", user.last_text, re.M)
    assert match, f"no field prompt in: {user.last_text}"
    return LABELS[match.group(1)]


def sample(svc: Service, field: str) -> str:
    """A valid answer a user would type for `field` of `svc`."""
    lines = "\n".join(f"line {i}" for i in range(max(svc.min, 1)))
    return {
        "link": "https://instagram.com/p/Cx1&x=<2>",
        "quantity": str(svc.min),
        "runs": "3",
        "interval": "15",
        "username": "@nasa",
        "min": str(svc.min),
        "max": str(min(svc.max, svc.min * 2)),
        "posts": "10",
        "old_posts": "2",
        "expiry": "31/12/2030",
        "answer_number": "2",
        "comments": lines,
        "usernames": lines if svc.type in ("Mentions Custom List",) else "@alice\n@bob",
        "hashtags": "#sun\n#sea",
        "hashtag": "#travel",
        "media": "https://instagram.com/p/media1",
        "groups": "https://t.me/group1\nhttps://t.me/group2",
        "keywords": "best pizza\nfast pizza",
        "country": "US",
        "google_keyword": "buy shoes",
        "referring_url": "https://ref.example.com",
    }[field]


CHOICES = {"delay": "30 min", "device": "Android", "type_of_traffic": "Google keyword"}


async def fill_form(bot: World, user: FakeUser, svc: Service, *, skip_optional: bool) -> dict[str, str]:
    """Answer every prompt until the confirm screen; return what was entered."""
    values: dict[str, str] = {}
    for _ in range(20):
        if "Check your order" in user.last_text:
            return values
        field = asked_field(user)
        spec = next(f for f in form_fields(svc, values) if f.name == field)
        if not spec.required and skip_optional:
            await bot.press(user, "Skip")
            values[field] = ""
        elif field in CHOICES:
            await bot.press(user, CHOICES[field])
            values[field] = {"delay": "30", "device": "2", "type_of_traffic": "1"}[field]
        else:
            values[field] = sample(svc, field)
            await bot.send(user, values[field])
    raise AssertionError("the form never reached the confirm screen")


# --- accounts -------------------------------------------------------------------------------


async def test_start_asks_for_a_key_and_a_pasted_key_is_checked_stored_encrypted_and_deleted(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = bot.user()
        await bot.send(ann, "/start")
        assert "API key" in ann.last_text
        await bot.send(ann, KEY)
        assert "✅ Linked the key sand…cdef" in ann.last_text
        assert "$100.00" in ann.last_text
        assert bot.sandbox.count("balance") >= 1
        # The message that carried the key is gone from the chat.
        user_messages = bot.fake.messages(ann.chat_id, from_bot=False, include_deleted=True)
        assert any(m.text == KEY and m.deleted for m in user_messages)
        # And the key is nowhere in the bot's words.
        assert KEY not in ann.all_text()
        db = Path(bot.db_url.split("///")[1]).read_bytes()
        assert KEY.encode() not in db


async def test_connect_with_a_wrong_key_shows_the_panels_refusal(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = bot.user()
        await bot.send(ann, "/connect wrong-key-000000")
        assert "did not accept this key" in ann.last_text
        assert "Invalid API key" in ann.last_text
        await bot.send(ann, "/balance")
        assert "API key" in ann.last_text  # still asked to link one


@pytest.mark.parametrize(("language", "shown"), [("en", "$100.00"), ("ru", "100,00\xa0$")])
async def test_balance_is_formatted_for_the_users_locale(tmp_path: Path, language: str, shown: str) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user(language_code=language)
        await bot.send(ann, "/balance")
        assert shown in ann.last_text


async def test_balance_during_a_panel_outage_answers_within_seconds(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        bot.sandbox.faults.set("balance", hang=True)
        started = asyncio.get_running_loop().time()
        await bot.send(ann, "/balance")
        assert asyncio.get_running_loop().time() - started < 8
        assert "not answering" in ann.last_text


async def test_team_mode_refuses_unlisted_users_politely_and_lets_listed_users_order(tmp_path: Path) -> None:
    async with world(tmp_path, panel_key=KEY, allowed_users="1001") as bot:
        stranger = bot.user(2002)
        await bot.send(stranger, "/start")
        assert "private" in stranger.last_text and "2002" in stranger.last_text
        await bot.send(stranger, "/order 1011")
        assert "private" in stranger.last_text
        member = bot.user(1001)
        await bot.send(member, "/balance")
        assert "$100.00" in member.last_text
        await bot.send(member, "/connect")
        assert "shared panel account" in member.last_text


# --- browsing ---------------------------------------------------------------------------------


async def test_browse_platform_category_service_card_and_back(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order")
        assert "choose a platform" in ann.last_text
        await bot.press(ann, ann.last_buttons[0][0][0])
        assert "choose a category" in ann.last_text
        await bot.press(ann, ann.last_buttons[0][0][0])
        assert "choose a service" in ann.last_text
        await bot.press(ann, ann.last_buttons[0][0][0])
        card = ann.last_text
        assert "Service: 1011" in card and "Rate per 1000: $0.90" in card and "Min: 50 · Max: 50,000" in card
        assert "Refill: yes" in card and "Drip-feed: yes" in card
        await bot.press(ann, "◀ Back")
        assert "choose a service" in ann.last_text


async def test_typed_words_search_and_a_number_opens_that_service(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "tiktok views")
        assert "matching «tiktok views»" in ann.last_text
        assert all("TikTok" in row[0][0] for row in ann.last_buttons[:-1] if row[0][1].startswith("v:"))
        await bot.send(ann, "4304")
        assert "Telegram Poll Votes" in ann.last_text
        await bot.send(ann, "999999")
        assert "There is no service 999999" in ann.last_text
        await bot.send(ann, "/search zzzz qqqq")
        assert "Nothing found" in ann.last_text


async def test_service_names_with_html_characters_are_shown_escaped(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order 1013")  # "... <Cheapest> ..."
        assert "<Cheapest>" in ann.last_text  # the fake refuses unescaped HTML, so it was escaped


# --- every order type -------------------------------------------------------------------------

TYPES = {
    "Default": 1012, "Default with drip-feed": 1011, "Package": 1061, "SEO": 9811, "Custom Comments": 1031,
    "Custom Comments Package": 1033, "Mentions": 1041, "Mentions with Hashtags": 1042,
    "Mentions Custom List": 1043, "Mentions Hashtag": 1044, "Mentions User Followers": 1045,
    "Mentions Media Likers": 1046, "Comment Likes": 1034, "Comment Replies": 1035, "Poll": 4304,
    "Invites from Groups": 4305, "Subscriptions": 1051, "Web Traffic": 9801,
}


@pytest.mark.parametrize("skip_optional", [False, True], ids=["all-fields", "skip-optional"])
@pytest.mark.parametrize("label", list(TYPES))
async def test_each_order_type_reaches_the_panel_with_its_fields(tmp_path: Path, label: str, skip_optional: bool) -> None:
    async with world(tmp_path, balance="100000") as bot:
        ann = await bot.linked_user()
        svc = service(bot, TYPES[label])
        await bot.send(ann, f"/order {svc.id}")
        await bot.press(ann, "Order")
        values = await fill_form(bot, ann, svc, skip_optional=skip_optional)
        assert "Price:" in ann.last_text
        await bot.press(ann, "Confirm")
        assert re.search(r"Order #\d+ placed", ann.last_text), ann.last_text
        sent = bot.sandbox.calls("add")
        assert len(sent) == 1
        expected = {"action": "add", **build_add_params(svc, values)}
        assert sent[0].fields == expected


async def test_subscription_skipping_posts_leaves_it_out_but_zero_is_sent(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order 1051")
        await bot.press(ann, "Order")
        for text in ("nasa", "50", "100", "0"):
            await bot.send(ann, text)
        await bot.press(ann, "Skip")  # old_posts
        await bot.press(ann, "No delay")
        await bot.press(ann, "Skip")  # expiry
        assert "per post" in ann.last_text
        await bot.press(ann, "Confirm")
        fields = bot.sandbox.calls("add")[0].fields
        assert fields["posts"] == "0" and "old_posts" not in fields and "expiry" not in fields and "link" not in fields


# --- bad input ----------------------------------------------------------------------------------


async def test_bad_values_get_a_specific_reply_and_the_same_prompt_and_nothing_is_lost(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order 1012")
        await bot.press(ann, "Order")
        await bot.send(ann, "not a link")
        assert "A link has no spaces" in ann.last_text and "✏️ Link" in ann.last_text
        await bot.send(ann, "ftp://x.com/a")
        assert "must start with http" in ann.last_text
        await bot.send(ann, "https://instagram.com/nasa")
        assert "✏️ Quantity" in ann.last_text
        await bot.send(ann, "lots")
        assert "Send a whole number" in ann.last_text and "✏️ Quantity" in ann.last_text
        await bot.send(ann, "50")
        assert "from 100 to 100,000" in ann.last_text
        await bot.send(ann, "100001")
        assert "from 100 to 100,000" in ann.last_text
        await bot.send(ann, "1 000")
        assert "Check your order" in ann.last_text
        assert "Link: https://instagram.com/nasa" in ann.last_text and "Quantity: 1,000" in ann.last_text


async def test_comment_lines_outside_the_range_are_refused_with_the_count(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order 1031")  # 5..500 comments
        await bot.press(ann, "Order")
        await bot.send(ann, "https://instagram.com/p/1")
        await bot.send(ann, "great\nnice")
        assert "You sent 2 lines; this service takes from 5 to 500." in ann.last_text


async def test_subscription_max_below_min_and_a_past_expiry_are_refused(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order 1051")
        await bot.press(ann, "Order")
        await bot.send(ann, "nasa")
        await bot.send(ann, "200")
        await bot.send(ann, "100")
        assert "The maximum must not be less than the minimum (200)" in ann.last_text
        await bot.send(ann, "300")
        await bot.press(ann, "Skip")
        await bot.press(ann, "Skip")
        await bot.press(ann, "5 min")
        await bot.send(ann, "01/01/2020")
        assert "must be in the future" in ann.last_text
        await bot.send(ann, "31/02/2031")
        assert "no such date" in ann.last_text


async def test_cancel_leaves_the_flow_at_any_step(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order 1012")
        await bot.press(ann, "Order")
        await bot.send(ann, "https://instagram.com/nasa")
        await bot.send(ann, "/cancel")
        assert "Cancelled. Nothing was ordered." in ann.last_text
        await bot.send(ann, "500")  # no longer a quantity: a search
        assert "✏️ Quantity" not in ann.last_text
        assert bot.sandbox.count("add") == 0


async def test_edit_from_the_confirm_screen_changes_one_field(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order 1012")
        await bot.press(ann, "Order")
        await bot.send(ann, "https://instagram.com/nasa")
        await bot.send(ann, "1000")
        await bot.press(ann, "✏️ Edit")
        await bot.press(ann, "Quantity")
        await bot.send(ann, "2000")
        assert "Check your order" in ann.last_text and "Quantity: 2,000" in ann.last_text
        await bot.press(ann, "Confirm")
        assert bot.sandbox.calls("add")[0].fields["quantity"] == "2000"


# --- exactly once ----------------------------------------------------------------------------------


async def _to_confirm(bot: World, ann: FakeUser) -> None:
    await bot.send(ann, "/order 1012")
    await bot.press(ann, "Order")
    await bot.send(ann, "https://instagram.com/nasa")
    await bot.send(ann, "1000")
    assert "Check your order" in ann.last_text


@pytest.mark.parametrize("db", DATABASES)
async def test_a_double_tap_on_confirm_places_one_order(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db) as bot:
        ann = await bot.linked_user()
        await _to_confirm(bot, ann)
        assert bot.app is not None
        tap = ann.update_for_press("Confirm", bot=bot.app.bot)
        again = ann.update_for_press("Confirm", bot=bot.app.bot)
        await bot.app.process_update(tap)
        await bot.app.process_update(again)
        assert bot.sandbox.count("add") == 1
        texts = ann.all_text()
        assert texts.count("✅ Order") == 1
        assert "already placed as #23501" in texts


@pytest.mark.parametrize("db", DATABASES)
async def test_two_concurrent_confirms_place_one_order(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db) as bot:
        ann = await bot.linked_user()
        await _to_confirm(bot, ann)
        assert bot.app is not None
        updates = [ann.update_for_press("Confirm", bot=bot.app.bot) for _ in range(5)]
        await asyncio.gather(*(bot.app.process_update(u) for u in updates))
        assert bot.sandbox.count("add") == 1
        assert ann.all_text().count("✅ Order") == 1


async def test_a_redelivered_update_places_one_order(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await _to_confirm(bot, ann)
        assert bot.app is not None
        data = ann.update_dict_for_press("Confirm")
        from telegram import Update

        await bot.app.process_update(Update.de_json(data, bot.app.bot))
        data["callback_query"]["id"] = "redelivered"
        await bot.app.process_update(Update.de_json(data, bot.app.bot))
        assert bot.sandbox.count("add") == 1


@pytest.mark.parametrize("fault", [{"hang": True}, {"http_status": 502}, {"malformed": True}])
async def test_add_failing_after_it_left_places_at_most_one_order_and_says_check_the_panel(
    tmp_path: Path, fault: dict[str, Any]
) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await _to_confirm(bot, ann)
        bot.sandbox.faults.set("add", **fault)
        await bot.press(ann, "Confirm")
        assert "may have been placed anyway" in ann.last_text
        assert "Check your orders on the panel" in ann.last_text
        assert bot.sandbox.count("add") == 1
        assert len(bot.sandbox.orders(KEY)) <= 1
        # Pressing the old Confirm again (or a re-delivered update) never re-sends it.
        bot.sandbox.faults.clear()
        assert bot.store is not None
        unknown = await admin_store.unknown_drafts(bot.store)
        assert [d.state for d in unknown] == [DraftState.UNKNOWN]
        assert bot.app is not None
        from telegram import Update

        data = ann.update_dict_for_press("Confirm", message=ann.messages[-2]) if ann.messages[-2].buttons else None
        if data is not None:
            await bot.app.process_update(Update.de_json(data, bot.app.bot))
        assert bot.sandbox.count("add") == 1


async def test_not_enough_funds_is_explained_and_retrying_after_a_top_up_places_one_order(tmp_path: Path) -> None:
    async with world(tmp_path, balance="0.10") as bot:
        ann = await bot.linked_user()
        await _to_confirm(bot, ann)
        assert "balance is lower than the price" in ann.last_text
        await bot.press(ann, "Confirm")
        assert "not enough money" in ann.last_text
        assert "Not enough funds on balance" in ann.last_text
        assert bot.sandbox.orders(KEY) == []
        bot.sandbox.set_balance(KEY, "50")
        await bot.press(ann, "Confirm")
        assert "placed" in ann.last_text
        assert len(bot.sandbox.orders(KEY)) == 1


async def test_a_duplicate_active_link_is_explained_and_the_draft_stays_editable(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await _to_confirm(bot, ann)
        await bot.press(ann, "Confirm")
        await bot.press(ann, "🔁 Order again")
        assert "Check your order" in ann.last_text
        await bot.press(ann, "Confirm")
        assert "already have an active order for this link" in ann.last_text
        await bot.press(ann, "✏️ Edit")
        await bot.press(ann, "Link")
        await bot.send(ann, "https://instagram.com/other")
        await bot.press(ann, "Confirm")
        assert "placed" in ann.last_text
        assert len(bot.sandbox.orders(KEY)) == 2


async def test_price_changes_are_caught_at_confirm(tmp_path: Path) -> None:
    async with world(tmp_path, catalog_ttl=0) as bot:
        ann = await bot.linked_user()
        await _to_confirm(bot, ann)
        bot.sandbox.update_service(1012, rate="9.99")
        await bot.press(ann, "Confirm")
        assert "price or limits of this service changed" in ann.last_text
        assert "$9.99" in ann.last_text
        assert bot.sandbox.count("add") == 0
        await bot.press(ann, "Confirm")
        assert "placed" in ann.last_text and "$9.99" in ann.last_text


async def test_a_forged_confirm_for_another_users_draft_is_refused(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user(1001)
        await _to_confirm(bot, ann)
        mallory = await bot.linked_user(3003)
        assert bot.app is not None
        from telegram import Update

        # Mallory edits the data of one of her own buttons to confirm Ann's draft 1.
        forged = mallory.update_dict_for_press(mallory.last_buttons[0][0][0])
        forged["callback_query"]["data"] = "y:1"
        await bot.app.process_update(Update.de_json(forged, bot.app.bot))
        assert bot.sandbox.count("add") == 0
        assert "not for you" in mallory.last_text
        await bot.send(mallory, "/help")
        unknown = mallory.update_dict_for_press("💰 Balance")
        unknown["callback_query"]["data"] = "zz:evil"
        await bot.app.process_update(Update.de_json(unknown, bot.app.bot))
        assert mallory.last_answer is not None and "no longer valid" in mallory.last_answer["text"]


# --- restart ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("db", DATABASES)
async def test_a_restart_mid_flow_continues_with_the_next_field(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order 1012")
        await bot.press(ann, "Order")
        await bot.send(ann, "https://instagram.com/nasa")
        assert "✏️ Quantity" in ann.last_text
        await bot.restart()
        await bot.send(ann, "1000")
        assert "Check your order" in ann.last_text
        assert "Link: https://instagram.com/nasa" in ann.last_text
        await bot.press(ann, "Confirm")
        assert bot.sandbox.count("add") == 1


# --- languages ---------------------------------------------------------------------------------------


async def test_commands_are_registered_for_every_language(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        default = bot.fake.get_commands()
        assert [c["command"] for c in default][:3] == ["order", "search", "balance"]
        russian = bot.fake.get_commands(language_code="ru")
        assert russian and russian[0]["description"] != default[0]["description"]


async def test_language_follows_telegram_then_the_users_choice(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ivan = bot.user(1001, language_code="ru")
        await bot.send(ivan, "/start")
        english = "To order, link your panel account"
        assert english not in ivan.last_text
        await bot.send(ivan, "/language")
        assert len(ivan.last_buttons) == 8  # every language we have a catalog for
        await bot.press(ivan, "English")
        assert "I will speak English with you" in ivan.last_text
        await bot.send(ivan, "/help")
        assert "What I can do" in ivan.last_text
        # Another user's language is untouched by Ivan's choice.
        olga = bot.user(1002, language_code="ru")
        await bot.send(olga, "/help")
        assert "What I can do" not in olga.last_text


async def test_an_unknown_telegram_language_falls_back_to_the_default(tmp_path: Path) -> None:
    async with world(tmp_path, default_locale="ru") as bot:
        kim = bot.user(1001, language_code="ko")
        await bot.send(kim, "/help")
        assert "What I can do" not in kim.last_text


def test_decimal_sanity() -> None:
    assert Decimal("0.90") * 1000 / 1000 == Decimal("0.9")


@pytest.mark.parametrize("also_down", [False, True], ids=["record-fails", "database-gone"])
async def test_an_order_the_panel_took_but_the_bot_could_not_record_says_do_not_order_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, also_down: bool
) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await _to_confirm(bot, ann)
        assert bot.store is not None

        async def database_gone(*args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("the database went away")

        monkeypatch.setattr(bot.store, "record_placement", database_gone)
        if also_down:  # nothing can be written any more, not even the draft's state
            monkeypatch.setattr(bot.store, "finish_draft", database_gone)
            monkeypatch.setattr(bot.store, "set_flow", database_gone)
        caplog.set_level(logging.WARNING)
        # raise_errors: a failure handed to the generic error handler fails here.
        await bot.press(ann, "Confirm")
        [placed] = bot.sandbox.orders(KEY)
        order_id = str(placed.id)
        assert order_id in ann.last_text
        assert "do not order it again" in ann.last_text.lower()
        assert "Something went wrong" not in ann.all_text()
        assert "try again" not in ann.last_text.lower()
        # With the database gone, the log is where the panel's order id is kept.
        assert any(r.levelno >= logging.WARNING and order_id in r.getMessage() for r in caplog.records)
        assert bot.sandbox.count("add") == 1
