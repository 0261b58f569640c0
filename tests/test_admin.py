"""/admin for ADMIN_IDS, as an operator uses it: the overview, reconciling UNKNOWN drafts by
hand, and a broadcast through the outbox; and nothing of it for anyone else."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from bot.playground.fakegram import FakeUser
from bot.store import Draft, DraftState
from bot.store import admin as admin_store
from tests.harness import KEY, PG_URL, World, world
from tests.test_watching import cycle, deps, notices, place

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set"))]

ADMIN = 42
UNKNOWN_COMMAND = "I do not know that command. /help lists what I can do."
NOT_FOR_YOU = "This button is not for you or is no longer valid."


async def forge(bot: World, user: FakeUser, data: str) -> None:
    """A callback with hand-made data, as a client that forges buttons would send it."""
    assert bot.app is not None
    target = user.messages[-1]
    query_id = bot.fake.next_query_id()
    bot.fake.callback_queries[query_id] = {
        "id": query_id, "user_id": user.id, "chat_id": user.id, "message_id": target.message_id,
        "data": data, "answered": False, "answer": None,
    }
    update: dict[str, Any] = {
        "update_id": bot.fake.next_update_id(),
        "callback_query": {
            "id": query_id, "from": user.user_dict(), "message": target.to_api(),
            "chat_instance": f"{user.id}{bot.fake.bot_id}", "data": data,
        },
    }
    await bot.app.process_update(Update.de_json(update, bot.app.bot))


async def press_on(bot: World, user: FakeUser, label: str, message: Any) -> None:
    """Press a button on an older message (World.press takes the latest keyboard)."""
    assert bot.app is not None
    await user.press(bot.app, label, message)


async def unknown_draft(bot: World, user: FakeUser, link: str = "https://instagram.com/lost") -> Draft:
    """An order whose `add` reached the panel but whose answer was lost (HTTP 502)."""
    await bot.send(user, "/order 1012")
    await bot.press(user, "Order")
    await bot.send(user, link)
    while "Check your order" not in user.last_text:
        if "✏️ Quantity" in user.last_text:
            await bot.send(user, "1000")
        else:
            await bot.press(user, "Skip")
    bot.sandbox.faults.set("add", http_status=502)
    await bot.press(user, "Confirm")
    bot.sandbox.faults.clear()
    assert "may have been placed anyway" in user.last_text
    assert bot.store is not None
    unknown = await admin_store.unknown_drafts(bot.store, limit=1000)
    (draft,) = [d for d in unknown if d.user_id == user.id and d.values.get("link") == link]
    return draft


async def draft_state(bot: World, draft_id: int) -> str:
    assert bot.store is not None
    async with bot.store.session() as s:
        draft = await s.get(Draft, draft_id)
        assert draft is not None
        return draft.state


async def test_admin_is_invisible_to_everyone_else(tmp_path: Path) -> None:
    async with world(tmp_path, admin_ids="42") as bot:
        ann = await bot.linked_user(1001)
        draft = await unknown_draft(bot, ann)
        await bot.send(ann, "/admin")
        assert ann.last_text == UNKNOWN_COMMAND
        await bot.send(ann, "/nosuchthing")
        assert ann.last_text == UNKNOWN_COMMAND
        # Forged admin buttons: a refusal, and nothing changes.
        for data in ("Ao", "Au:0", f"Af:{draft.id}:0", f"Ap:{draft.id}", "Ab", "As:1001.5"):
            await forge(bot, ann, data)
            assert ann.last_text == NOT_FOR_YOU, data
        assert await draft_state(bot, draft.id or 0) == DraftState.UNKNOWN
        assert "Admin" not in ann.all_text() and "Drafts to reconcile" not in ann.all_text()
        # Text still goes to the usual router (a search), not to an admin prompt.
        await bot.send(ann, "instagram likes")
        assert "Drafts" not in ann.last_text and ann.last_buttons


async def test_no_admins_when_admin_ids_is_unset(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user(ADMIN)
        await bot.send(ann, "/admin")
        assert ann.last_text == UNKNOWN_COMMAND
        await forge(bot, ann, "Ao")
        assert ann.last_text == NOT_FOR_YOU


@pytest.mark.parametrize("db", DATABASES)
async def test_overview_counts_users_orders_by_status_and_unknown_drafts(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db, admin_ids="42") as bot:
        admin = await bot.linked_user(ADMIN)
        ann = await bot.linked_user(1001)
        bob = await bot.linked_user(1002)
        first = await place(bot, ann, link="https://instagram.com/a")
        await place(bot, ann, link="https://instagram.com/b")
        await place(bot, bob, link="https://instagram.com/c")
        bot.sandbox.set_status(first.panel_order_id, "Completed", remains=0)
        await cycle(bot)
        await unknown_draft(bot, bob)
        assert bot.store is not None
        await bot.store.set_blocked(bob.id, True)

        await bot.send(admin, "/admin")
        text = admin.last_text
        assert "Admin overview" in text
        assert "Users: 3 (1 blocked the bot)" in text
        assert "Orders: 2 open, 1 final" in text
        assert "• Pending: 2" in text and "• Completed: 1" in text
        assert text.index("Pending") < text.index("Completed")  # open statuses first
        assert "Unknown drafts to reconcile: 1" in text
        assert admin.last_buttons == [[("Unknown drafts", "Au:0"), ("📣 Broadcast", "Ab")], [("🔄 Refresh", "Ao")]]

        bot.sandbox.set_status(first.panel_order_id, "Completed", remains=0)
        await place(bot, ann, link="https://instagram.com/d")
        await bot.press(admin, "🔄 Refresh")
        assert "Orders: 3 open, 1 final" in admin.last_text and "• Pending: 3" in admin.last_text


@pytest.mark.parametrize("db", DATABASES)
async def test_mark_placed_records_the_order_for_its_owner_and_the_watcher_follows_it(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db, admin_ids="42") as bot:
        admin = await bot.linked_user(ADMIN)
        ann = await bot.linked_user(1001)
        draft = await unknown_draft(bot, ann, link="https://instagram.com/<lost>")
        panel_id = bot.sandbox.orders(KEY)[-1].id  # the order the panel did create
        await bot.send(ann, "/orders")
        assert f"#{panel_id}" not in ann.last_text

        await bot.send(admin, "/admin")
        await bot.press(admin, "Unknown drafts")
        listing = admin.last_message
        assert listing is not None
        assert f"Draft #{draft.id} · user 1001" in listing.text
        assert "Service: 1012 ·" in listing.text
        assert "Link: https://instagram.com/<lost>" in listing.text  # escaped, shown as typed
        assert "Error: " in listing.text
        await bot.press(admin, f"Mark #{draft.id} placed")
        assert f"Send the panel's order id for draft #{draft.id}" in admin.last_text
        await bot.send(admin, "soon")
        assert "That is not an order id" in admin.last_text
        await bot.send(admin, f"#{panel_id}")
        assert f"Draft #{draft.id} recorded as order #{panel_id}" in admin.last_text
        assert await draft_state(bot, draft.id or 0) == DraftState.PLACED

        # The owner sees it in /orders; the watcher checks it and tells them.
        await bot.send(ann, "/orders")
        assert f"#{panel_id} · Pending ·" in ann.last_text
        assert bot.store is not None
        order = await bot.store.get_order(ann.id, panel_id)
        assert order is not None and order.draft_id == draft.id and order.quantity == 1000
        assert order.link == "https://instagram.com/<lost>" and order.service_id == 1012
        bot.sandbox.set_status(panel_id, "Completed", remains=0)
        calls = bot.sandbox.count("status")
        assert await cycle(bot) == 1
        assert bot.sandbox.count("status") == calls + 1
        assert any(f"Order #{panel_id}: Completed" in text for text in notices(ann))

        # A second reconcile of the same draft, from the old list, changes nothing.
        await press_on(bot, admin, f"Mark #{draft.id} failed", listing)
        assert f"Draft #{draft.id} is already recorded as order #{panel_id}" in admin.last_text
        await press_on(bot, admin, f"Mark #{draft.id} placed", listing)
        assert f"Draft #{draft.id} is already recorded as order #{panel_id}" in admin.last_text
        assert await draft_state(bot, draft.id or 0) == DraftState.PLACED
        assert await bot.store.count_orders(ann.id) == 1

        # The admin's prompt is over: their text is a search again.
        await bot.send(admin, "instagram likes")
        assert "order id" not in admin.last_text


async def test_an_order_id_already_recorded_is_refused_and_the_draft_stays_unknown(tmp_path: Path) -> None:
    async with world(tmp_path, admin_ids="42") as bot:
        admin = await bot.linked_user(ADMIN)
        ann = await bot.linked_user(1001)
        placed = await place(bot, ann)
        draft = await unknown_draft(bot, ann)
        await bot.send(admin, "/admin")
        await bot.press(admin, "Unknown drafts")
        await bot.press(admin, f"Mark #{draft.id} placed")
        await bot.send(admin, str(placed.panel_order_id))
        assert f"Order #{placed.panel_order_id} is already recorded" in admin.last_text
        assert await draft_state(bot, draft.id or 0) == DraftState.UNKNOWN
        await bot.send(admin, "/cancel")
        await bot.send(admin, "/admin")
        assert "Unknown drafts to reconcile: 1" in admin.last_text


async def test_mark_failed_once(tmp_path: Path) -> None:
    async with world(tmp_path, admin_ids="42") as bot:
        admin = await bot.linked_user(ADMIN)
        ann = await bot.linked_user(1001)
        draft = await unknown_draft(bot, ann)
        await bot.send(admin, "/admin")
        await bot.press(admin, "Unknown drafts")
        await bot.press(admin, f"Mark #{draft.id} failed")
        assert f"Draft #{draft.id} marked failed" in admin.last_text
        assert "No unknown drafts" in admin.last_text
        assert await draft_state(bot, draft.id or 0) == DraftState.FAILED
        # Again (a second admin's old list, a re-delivered press): refused, still FAILED.
        await forge(bot, admin, f"Af:{draft.id}:0")
        assert f"Draft #{draft.id} is no longer waiting to be reconciled" in admin.last_text
        await forge(bot, admin, f"Ap:{draft.id}")
        assert f"Draft #{draft.id} is no longer waiting to be reconciled" in admin.last_text
        assert await draft_state(bot, draft.id or 0) == DraftState.FAILED
        assert bot.store is not None and await bot.store.count_orders(ann.id) == 0


async def test_unknown_drafts_are_paged_eight_at_a_time(tmp_path: Path) -> None:
    async with world(tmp_path, admin_ids="42") as bot:
        admin = await bot.linked_user(ADMIN)
        ann = await bot.linked_user(1001)
        assert bot.store is not None
        account = await bot.store.account_for(ann.id, bot.sandbox.url)
        assert account is not None and account.id is not None
        for n in range(10):
            draft = await bot.store.create_draft(ann.id, account.id, {"service": 1012, "name": f"Likes {n}"},
                                                 {"link": f"https://instagram.com/{n}", "quantity": "100"})
            assert await bot.store.claim_draft(draft.id or 0, ann.id)
            await bot.store.finish_draft(draft.id or 0, DraftState.UNKNOWN, error="timeout")
        await bot.send(admin, "/admin")
        assert "Unknown drafts to reconcile: 10" in admin.last_text
        await bot.press(admin, "Unknown drafts")
        assert admin.last_text.count("Draft #") == 8
        assert ("Next ▶", "Au:1") in [b for row in admin.last_buttons for b in row]
        await bot.press(admin, "Next ▶")
        assert admin.last_text.count("Draft #") == 2
        assert all(len(data.encode()) <= 64 for row in admin.last_buttons for _text, data in row if data)


@pytest.mark.parametrize("db", DATABASES)
async def test_broadcast_reaches_every_user_once_as_plain_text(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db, admin_ids="42") as bot:
        admin = await bot.linked_user(ADMIN)
        ann = await bot.linked_user(1001)
        bob = await bot.linked_user(1002)
        cat = await bot.linked_user(1003)
        assert bot.store is not None
        await bot.store.set_notifications(bob.id, "final")  # still gets broadcasts
        await bot.store.set_blocked(cat.id, True)
        bot.fake.block(cat.id)
        text = "Maintenance at <b>10:00</b> & back soon <3"

        # Cancelled: nothing goes out.
        await bot.send(admin, "/admin")
        await bot.press(admin, "📣 Broadcast")
        await bot.send(admin, "never mind")
        await bot.press(admin, "✖ Cancel")
        assert "nothing was changed or sent" in admin.last_text

        await press_on(bot, admin, "📣 Broadcast", [m for m in admin.messages if "Admin overview" in m.text][-1])
        assert "Send the message to broadcast" in admin.last_text
        await bot.send(admin, text)
        preview = admin.last_message
        assert preview is not None
        assert "It will go to 3 users who have not blocked the bot." in preview.text
        assert text in preview.text
        assert [e["offset"] for e in preview.entities if e["type"] == "bold"] == [0]  # the heading only
        (send_data,) = [data for row in preview.buttons for label, data in row if label == "📣 Send"]
        await bot.press(admin, "📣 Send")
        assert admin.last_text == "Queued for 3 users; they go out at Telegram's pace."

        # Send again (a double tap, a forged replay): nothing more is queued.
        await forge(bot, admin, str(send_data))
        assert "already sent or cancelled" in admin.last_text

        await bot.restart()  # queued in the database: a deploy loses nothing
        assert bot.app is not None
        assert await deps(bot).sender.send_due(bot.app.bot) == 3
        assert await deps(bot).sender.send_due(bot.app.bot) == 0
        for user in (admin, ann, bob):
            got = [m for m in user.messages if "Maintenance" in m.text and m is not preview]
            assert len(got) == 1, user.transcript()
            assert got[0].text == text and got[0].entities == []  # the admin's HTML shown escaped
        assert not [m for m in cat.messages if "Maintenance" in m.text]
        assert "never mind" not in "".join(u.all_text() for u in (ann, bob, cat))


async def test_a_new_text_replaces_the_preview_and_voids_its_send_button(tmp_path: Path) -> None:
    async with world(tmp_path, admin_ids="42") as bot:
        admin = await bot.linked_user(ADMIN)
        ann = await bot.linked_user(1001)
        await bot.send(admin, "/admin")
        await bot.press(admin, "📣 Broadcast")
        await bot.send(admin, "first draft")
        old = admin.last_message
        await bot.send(admin, "second draft")
        await press_on(bot, admin, "📣 Send", old)
        assert "already sent or cancelled" in admin.last_text
        await bot.press(admin, "📣 Send")
        assert re.search(r"Queued for 2 users", admin.last_text)
        assert bot.app is not None
        await deps(bot).sender.send_due(bot.app.bot)
        assert [m.text for m in ann.messages if "draft" in m.text] == ["second draft"]
