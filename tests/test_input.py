"""What users type is input to check, never trusted: a key pasted in the wrong place,
numbers that only look like numbers, edits of old messages, group chats, and other
team members' orders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from bot.playground.fakegram import FakeUser
from bot.logs import looks_like_secret
from tests.harness import KEY, World, world
from tests.test_watching import place

HEX_KEY = "0123456789abcdef0123456789abcdef"
DELETE_REFUSED = "Bad Request: message can't be deleted"


async def deliver(bot: World, data: dict[str, Any]) -> None:
    """A raw update as getUpdates would hand it over; a handler's failure fails the test."""
    assert bot.app is not None
    await FakeUser._process(bot.app, Update.de_json(data, bot.app.bot), True)


def forged_press(user: FakeUser, data: str) -> dict[str, Any]:
    """A callback with data no button of ours carries (a modified client)."""
    target = user.messages[-1]
    query_id = user.fake.next_query_id()
    user.fake.callback_queries[query_id] = {"id": query_id, "user_id": user.id, "chat_id": user.chat_id,
                                            "message_id": target.message_id, "data": data, "answered": False,
                                            "answer": None}
    return {"update_id": user.fake.next_update_id(), "callback_query": {
        "id": query_id, "from": user.user_dict(), "message": target.to_api(), "chat_instance": "1", "data": data}}


def was_deleted(bot: World, user: FakeUser, text: str) -> bool:
    mine = bot.fake.messages(user.chat_id, from_bot=False, include_deleted=True)
    return any(m.text == text and m.deleted for m in mine)


# --- numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["²", "①", "٣", "99999999999999999999"])
async def test_status_with_something_that_is_not_an_order_number_gets_the_usual_answer(
    tmp_path: Path, number: str
) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, f"/status {number}")
        assert "Send order numbers after /status" in ann.last_text
        await bot.send(ann, f"/status 12 {number}")
        assert "Not order numbers, skipped" in ann.all_text()
        assert "#12" in ann.last_text


@pytest.mark.parametrize("number", ["²", "①", "99999999999999999999"])
async def test_order_and_bare_text_with_a_look_alike_number_search_instead_of_crashing(
    tmp_path: Path, number: str
) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        searched = ("Nothing found", "Services matching")
        await bot.send(ann, f"/order {number}")
        assert any(s in ann.last_text for s in searched)
        await bot.send(ann, number)
        assert any(s in ann.last_text for s in searched)
        await bot.send(ann, "#1012")  # a real number still opens the service
        assert "Service: 1012" in ann.last_text


@pytest.mark.parametrize("data", ["O:①", "O:99999999999999999999", "v:²", "y:99999999999999999999999"])
async def test_forged_buttons_with_odd_numbers_are_refused_politely(tmp_path: Path, data: str) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await deliver(bot, forged_press(ann, data))
        assert ann.last_answer is not None and "no longer valid" in (ann.last_answer["text"] or "")


# --- a key pasted where it does not belong --------------------------------------------------------


@pytest.mark.parametrize("token", [KEY, HEX_KEY, "AbCdEfGh1234IjKlMnOp5678QrStUvWx", "Xy7_k2Lm9Qp4Rt8Vw1Zs3Bn6",
                                   "AbCdEfGhIjKlMnOpQrStUvWxYz"])
def test_keys_look_like_keys(token: str) -> None:
    assert looks_like_secret(token)


@pytest.mark.parametrize("text", [
    "https://instagram.com/p/Cx1abc12345678901234", "12345678901234567890", "supercalifragilisticexpialidocious",
    "@john_doe_1987", "john_doe_1987_official", "instagram_followers_2024", "2030-12-31", "#travel2024",
    "youtube-views-100000",
])
def test_links_numbers_and_words_are_not_keys(text: str) -> None:
    assert not looks_like_secret(text)


async def test_a_key_pasted_into_a_form_field_is_deleted_not_stored_and_offered_for_linking(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        bot.sandbox.add_account(HEX_KEY, balance="7")
        await bot.send(ann, "/order 1012")
        await bot.press(ann, "Order")
        assert "✏️ Link" in ann.last_text
        await bot.send(ann, HEX_KEY)
        assert was_deleted(bot, ann, HEX_KEY)
        assert "looks like a panel API key" in ann.last_text
        assert HEX_KEY not in ann.all_text()
        assert bot.store is not None
        assert HEX_KEY not in repr(await bot.store.get_flow(ann.id))
        assert bot.sandbox.count("add") == 0
        await bot.press(ann, "🔑 Link this key")
        assert "✅ Linked the key 0123…cdef" in ann.last_text
        assert "$7.00" in ann.last_text
        assert HEX_KEY not in ann.all_text()


async def test_a_key_typed_as_a_search_is_not_searched_and_no_leaves_the_linked_key(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/search followers")
        await bot.send(ann, f"my key is {HEX_KEY}")
        assert was_deleted(bot, ann, f"my key is {HEX_KEY}")
        assert "Nothing found" not in ann.last_text and "Services matching" not in ann.last_text
        await bot.press(ann, "No")
        await bot.send(ann, f"/search {HEX_KEY}")
        assert was_deleted(bot, ann, f"/search {HEX_KEY}")
        assert HEX_KEY not in ann.all_text()
        await bot.send(ann, "/balance")
        assert "$100.00" in ann.last_text  # still the first key


async def test_in_team_mode_a_pasted_key_is_deleted_with_a_warning(tmp_path: Path) -> None:
    async with world(tmp_path, panel_key=KEY, allowed_users="1001") as bot:
        ann = bot.user(1001)
        await bot.send(ann, "/start")
        await bot.send(ann, HEX_KEY)
        assert was_deleted(bot, ann, HEX_KEY)
        assert "looks like a panel API key" in ann.last_text
        assert not ann.last_buttons
        assert HEX_KEY not in ann.all_text()


async def test_ordinary_input_is_not_taken_for_a_key(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order 1012")
        await bot.press(ann, "Order")
        await bot.send(ann, "https://instagram.com/p/Cx1abc12345678901234")
        assert "✏️ Quantity" in ann.last_text
        await bot.send(ann, "instagram_followers_2024")
        assert "looks like a panel API key" not in ann.all_text()


# --- deleting the message with the key ---------------------------------------------------------------


async def test_a_key_message_that_could_not_be_deleted_is_not_said_deleted(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = bot.user()
        await bot.send(ann, "/start")
        bot.fake.inject_error("deleteMessage", 400, DELETE_REFUSED)
        await bot.send(ann, KEY)
        assert "✅ Linked" in ann.last_text
        assert "I deleted your message" not in ann.last_text
        assert "delete your message with the key yourself" in ann.last_text


async def test_a_deleted_key_message_is_said_deleted(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = bot.user()
        await bot.send(ann, "/start")
        await bot.send(ann, KEY)
        assert "I deleted your message with the key." in ann.last_text


async def test_a_misplaced_key_that_could_not_be_deleted_asks_the_user_to_delete_it(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        bot.fake.inject_error("deleteMessage", 400, DELETE_REFUSED)
        await bot.send(ann, HEX_KEY)
        assert "delete your message with the key yourself" in ann.last_text
        assert "I deleted" not in ann.last_text


# --- edits and group chats ------------------------------------------------------------------------


async def test_editing_an_old_message_does_not_answer_the_current_prompt(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order 1012")
        await bot.press(ann, "Order")
        await bot.send(ann, "https://instagram.com/nasa")
        assert "✏️ Quantity" in ann.last_text
        had = len(ann.messages)
        [link_message] = [m for m in bot.fake.messages(ann.chat_id, from_bot=False) if "nasa" in m.text]
        await deliver(bot, ann.update_dict_for_edit(link_message, "1000"))
        assert len(ann.messages) == had
        assert "✏️ Quantity" in ann.last_text
        assert bot.store is not None
        flow = await bot.store.get_flow(ann.id)
        assert flow is not None and flow.get("field") == "quantity"


async def test_in_a_group_the_bot_only_says_to_use_a_private_chat(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = bot.user()
        group = bot.fake.group(-100500)
        for text in ("/start", "/balance", "hello"):
            await deliver(bot, ann.update_dict_for_text_in(group.id, text))
        said = bot.fake.messages(group.id)
        assert len(said) == 3
        assert all("private chat" in m.text for m in said)
        joined = {"update_id": bot.fake.next_update_id(), "message": {
            "message_id": 99, "date": 0, "chat": group.to_api(), "from": ann.user_dict(),
            "new_chat_members": [ann.user_dict()]}}
        await deliver(bot, joined)
        assert len(bot.fake.messages(group.id)) == 3  # nothing for service messages
        assert not ann.messages  # nothing in the private chat either
        assert bot.store is not None
        assert await bot.store.get_flow(ann.id) is None


# --- team mode: one's own orders only -----------------------------------------------------------------


async def test_in_team_mode_status_shows_only_a_members_own_orders_and_admins_see_all(tmp_path: Path) -> None:
    async with world(tmp_path, panel_key=KEY, allowed_users="1001,1002,1003", admin_ids="1003") as bot:
        ann, bob, boss = bot.user(1001), bot.user(1002, first_name="Bob"), bot.user(1003, first_name="Boss")
        order = await place(bot, ann)
        order_id = order.panel_order_id
        checks = bot.sandbox.count("status")
        await bot.send(bob, f"/status {order_id}")
        assert f"#{order_id}" in bob.last_text and "not one of your orders" in bob.last_text
        assert "Pending" not in bob.last_text and "In progress" not in bob.last_text
        assert not bob.last_buttons  # no card of Ann's order
        assert bot.sandbox.count("status") == checks  # the panel was not even asked
        await bot.send(ann, f"/status {order_id}")
        assert "not one of your orders" not in ann.last_text
        await bot.send(boss, f"/status {order_id}")
        assert "not one of your orders" not in boss.last_text


async def test_no_to_a_pasted_key_forgets_it_and_keeps_the_linked_one(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        bot.sandbox.add_account(HEX_KEY, balance="7")
        await bot.send(ann, f"my key is {HEX_KEY}")
        assert "Link it as your panel key?" in ann.last_text
        await bot.press(ann, "No")
        assert ann.last_text == "All right: I forgot that key."
        assert bot.app is not None
        assert bot.app.bot_data["deps"].pasted_keys.get(ann.id) is None
        await bot.send(ann, "/balance")
        assert "$100.00" in ann.last_text  # still the key linked before


async def test_a_pasted_key_offer_pressed_after_it_expired_asks_for_the_key_again(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        bot.sandbox.add_account(HEX_KEY, balance="7")
        await bot.send(ann, f"my key is {HEX_KEY}")
        assert bot.app is not None
        bot.app.bot_data["deps"].pasted_keys.clear()  # the few minutes have passed
        await bot.press(ann, "🔑 Link this key")
        assert "only for a few minutes" in ann.last_text
        await bot.send(ann, HEX_KEY)  # the prompt now takes it
        assert "✅ Linked the key 0123…cdef" in ann.last_text and "$7.00" in ann.last_text
