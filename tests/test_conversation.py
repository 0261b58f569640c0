"""The conversation's state (bot/handlers/states.py, bot/handlers/conversation.py): typed,
stored with the draft it goes with, resumed after a restart, closed when abandoned, and
never advanced twice by one message."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from telegram import Update
from telegram.ext import (
    ApplicationBuilder,
    BasePersistence,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    PersistenceInput,
    filters,
)

from bot.handlers.states import (
    FORM_TIMEOUT,
    AwaitingKey,
    AwaitingOrderId,
    Browsing,
    Confirming,
    EnteringPrice,
    FillingField,
    FindingService,
    ReviewingBroadcast,
    State,
    WritingBroadcast,
    decode,
    encode,
    expired,
)
from bot.playground.fakegram import FakeRequest, FakeTelegram
from bot.store import DraftState
from tests.harness import PG_URL, world

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    PG_URL is None, reason="TEST_DATABASE_URL not set: the PostgreSQL run of these tests is skipped"))]

EVERY_STATE: list[State] = [
    Browsing(), Browsing("instagram likes"), AwaitingKey(), FillingField(7, "quantity"),
    FillingField(7, "link", returning=True), Confirming(7), AwaitingOrderId(12),
    WritingBroadcast(), ReviewingBroadcast("9001.55", "Hello, all"),
    EnteringPrice("markup", "", "percent"), EnteringPrice("category", "Instagram Followers ⭐", "per_1000"),
    FindingService(),
]


@pytest.mark.parametrize("state", EVERY_STATE, ids=repr)
def test_every_state_is_stored_and_read_back_as_itself(state: State) -> None:
    assert decode(encode(state)) == state


@pytest.mark.parametrize("stored, state", [
    ({"step": "browse"}, Browsing()),
    ({"step": "browse", "q": "likes"}, Browsing("likes")),
    ({"step": "key"}, AwaitingKey()),
    ({"step": "field", "draft": 3, "field": "quantity", "return": False}, FillingField(3, "quantity")),
    ({"step": "field", "draft": 3, "field": "link", "return": True}, FillingField(3, "link", True)),
    ({"step": "confirm", "draft": 3}, Confirming(3)),
    ({"step": "admin_order_id", "target": 8}, AwaitingOrderId(8)),
    ({"step": "admin_broadcast"}, WritingBroadcast()),
    ({"step": "admin_broadcast_ready", "broadcast": "1.2", "text": "hi"}, ReviewingBroadcast("1.2", "hi")),
])
def test_states_stored_by_the_previous_version_resume_after_an_upgrade(stored: dict[str, Any], state: State) -> None:
    assert decode(stored) == state
    assert not expired(decode(stored))  # no time was kept then: never closed for that


@pytest.mark.parametrize("stored", [
    {}, {"step": "nonsense"}, {"step": "field", "draft": "3", "field": "quantity"}, {"step": "field", "draft": 3},
    {"step": "confirm", "draft": True}, {"step": "admin_order_id"}, {"step": "admin_broadcast_ready", "text": 5},
    {"step": "admin_price", "scope": "everything", "key": "", "what": "percent"},
    {"step": "admin_price", "scope": "markup", "key": "", "what": "free"}, {"step": "admin_price", "scope": "markup"},
])
def test_a_malformed_stored_state_is_dropped_not_guessed_at(stored: dict[str, Any]) -> None:
    assert decode(stored) is None


def test_only_an_order_form_expires_and_only_after_the_timeout() -> None:
    now = time.time()
    old = now - FORM_TIMEOUT.total_seconds() - 1
    assert expired(decode(encode(FillingField(1, "quantity"), now=old)), now=now)
    assert expired(decode(encode(Confirming(1), now=old)), now=now)
    assert not expired(decode(encode(Confirming(1), now=now - 60)), now=now)
    assert not expired(decode(encode(AwaitingKey(), now=old)), now=now)


class RecordingPersistence(BasePersistence[dict[str, Any], dict[str, Any], dict[str, Any]]):
    """Records when PTB hands a conversation's state over to be stored."""

    def __init__(self) -> None:
        super().__init__(store_data=PersistenceInput(bot_data=False, chat_data=False, user_data=False,
                                                     callback_data=False))
        self.conversation_writes: list[tuple[str, object, object]] = []

    async def get_conversations(self, name: str) -> dict[Any, Any]:
        return {}

    async def update_conversation(self, name: str, key: Any, new_state: object) -> None:
        self.conversation_writes.append((name, key, new_state))

    async def get_user_data(self) -> dict[int, dict[str, Any]]:
        return {}

    async def get_chat_data(self) -> dict[int, dict[str, Any]]:
        return {}

    async def get_bot_data(self) -> dict[str, Any]:
        return {}

    async def get_callback_data(self) -> None:
        return None

    async def update_user_data(self, user_id: int, data: dict[str, Any]) -> None: ...
    async def update_chat_data(self, chat_id: int, data: dict[str, Any]) -> None: ...
    async def update_bot_data(self, data: dict[str, Any]) -> None: ...
    async def update_callback_data(self, data: Any) -> None: ...
    async def drop_chat_data(self, chat_id: int) -> None: ...
    async def drop_user_data(self, user_id: int) -> None: ...
    async def refresh_user_data(self, user_id: int, user_data: dict[str, Any]) -> None: ...
    async def refresh_chat_data(self, chat_id: int, chat_data: dict[str, Any]) -> None: ...
    async def refresh_bot_data(self, bot_data: dict[str, Any]) -> None: ...
    async def flush(self) -> None: ...


async def test_why_not_conversation_handler_its_state_is_stored_apart_from_the_callback() -> None:
    """The measurement behind bot/handlers/conversation.py: a persistent ConversationHandler's
    new state reaches the persistence only when `update_persistence()` runs (every
    `update_interval`, 60 s by default), not in the callback that stored the answer. A
    crash in between keeps the answer and loses the step it moved to."""
    fake = FakeTelegram("123456:conversation-measurement")
    persistence = RecordingPersistence()
    app = (ApplicationBuilder().token("123456:conversation-measurement").persistence(persistence)
           .request(FakeRequest(fake)).get_updates_request(FakeRequest(fake)).build())
    stored_answers: list[str] = []

    async def ask(update: Update, context: Any) -> int:
        return 1

    async def answer(update: Update, context: Any) -> int:
        assert update.message is not None and update.message.text is not None
        stored_answers.append(update.message.text)  # the draft's value, written now
        return 2

    app.add_handler(ConversationHandler(
        entry_points=[CommandHandler("order", ask)],
        states={1: [MessageHandler(filters.TEXT & ~filters.COMMAND, answer)], 2: []},
        fallbacks=[], name="order", persistent=True))
    await app.initialize()
    try:
        ann = fake.user(1001)
        await app.process_update(ann.update_for_text("/order", app.bot))
        await app.process_update(ann.update_for_text("1000", app.bot))
        assert stored_answers == ["1000"]
        assert persistence.conversation_writes == []  # the answer is stored, its step is not
        await app.update_persistence()
        assert [state for _name, _key, state in persistence.conversation_writes] == [2]
    finally:
        await app.shutdown()


async def _to_quantity(bot: Any, ann: Any) -> None:
    await bot.send(ann, "/order 1012")
    await bot.press(ann, "Order")
    await bot.send(ann, "https://instagram.com/nasa")
    assert "Quantity" in ann.last_text


@pytest.mark.parametrize("db", DATABASES)
async def test_the_draft_value_and_the_next_step_are_stored_together(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db) as bot:
        ann = await bot.linked_user()
        await _to_quantity(bot, ann)
        assert bot.store is not None
        state = decode(await bot.store.get_flow(1001))
        assert isinstance(state, FillingField) and state.field == "quantity"
        draft = await bot.store.get_draft(state.draft, 1001)
        assert draft is not None and draft.values == {"link": "https://instagram.com/nasa"}
        await bot.restart()  # a deploy mid-form
        await bot.send(ann, "1000")
        assert "Check your order" in ann.last_text
        assert isinstance(decode(await bot.store.get_flow(1001)), Confirming)


@pytest.mark.parametrize("db", DATABASES)
async def test_a_text_delivered_twice_answers_one_field_only(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order 1012")
        await bot.press(ann, "Order")
        assert bot.app is not None and bot.store is not None
        link = ann.update_dict_for_text("https://instagram.com/nasa")
        await bot.app.process_update(Update.de_json(link, bot.app.bot))
        assert "Quantity" in ann.last_text
        shown = len(ann.messages)
        # Telegram sends the same update again (the bot died before confirming it).
        await bot.app.process_update(Update.de_json(link, bot.app.bot))
        state = decode(await bot.store.get_flow(1001))
        assert isinstance(state, FillingField) and state.field == "quantity"
        assert len(ann.messages) == shown  # no "that is not a number" for the link
        await bot.send(ann, "1000")
        assert "Check your order" in ann.last_text


@pytest.mark.parametrize("db", DATABASES)
async def test_an_order_form_left_for_a_day_is_closed_when_its_owner_comes_back(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db) as bot:
        ann = await bot.linked_user()
        await _to_quantity(bot, ann)
        assert bot.store is not None
        state = decode(await bot.store.get_flow(1001))
        assert isinstance(state, FillingField)
        a_day_ago = time.time() - FORM_TIMEOUT.total_seconds() - 60
        await bot.store.set_flow(1001, encode(state, now=a_day_ago))
        await bot.send(ann, "1000")
        assert "closed after a day without an answer" in ann.last_text
        assert "nothing was ordered" in ann.last_text
        draft = await bot.store.get_draft(state.draft, 1001)
        assert draft is not None and draft.state == DraftState.ABANDONED
        assert await bot.store.get_flow(1001) is None
        # The "1000" was meant for the closed form: it opened no service #1000.
        assert "There is no service" not in ann.all_text()
        await bot.send(ann, "/order 1012")
        assert "Order" in [label for row in ann.last_buttons for label, _data in row]
        assert bot.sandbox.count("add") == 0


async def test_a_command_after_the_timeout_still_runs(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await _to_quantity(bot, ann)
        assert bot.store is not None
        state = decode(await bot.store.get_flow(1001))
        assert state is not None
        await bot.store.set_flow(1001, encode(state, now=time.time() - FORM_TIMEOUT.total_seconds() - 60))
        replies = await bot.send(ann, "/balance")
        texts = [m.text for m in replies]
        assert any("closed after a day" in t for t in texts), texts
        assert "Balance" in ann.last_text or "balance" in ann.last_text


async def test_a_form_within_the_timeout_goes_on(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await _to_quantity(bot, ann)
        assert bot.store is not None
        state = decode(await bot.store.get_flow(1001))
        assert state is not None
        await bot.store.set_flow(1001, encode(state, now=time.time() - FORM_TIMEOUT.total_seconds() + 600))
        await bot.send(ann, "1000")
        assert "Check your order" in ann.last_text


async def test_an_admin_prompt_left_by_someone_no_longer_admin_is_void(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:  # no ADMIN_IDS
        ann = await bot.linked_user()
        assert bot.store is not None
        await bot.store.set_flow(1001, encode(AwaitingOrderId(1)))
        await bot.send(ann, "likes")
        assert await bot.store.get_flow(1001) != encode(AwaitingOrderId(1))
        assert "likes" in ann.last_text.lower()  # searched, not taken as an order id


async def test_a_button_pressed_on_a_form_left_for_a_day_places_nothing_and_says_it_closed(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order 1012")
        await bot.press(ann, "Order")
        await bot.send(ann, "https://instagram.com/nasa")
        await bot.send(ann, "1000")
        assert "Check your order" in ann.last_text
        assert bot.store is not None
        state = decode(await bot.store.get_flow(1001))
        assert isinstance(state, Confirming)
        await bot.store.set_flow(1001, encode(state, now=time.time() - FORM_TIMEOUT.total_seconds() - 60))
        await bot.press(ann, "Confirm")
        assert "closed after a day without an answer" in ann.last_text
        assert bot.sandbox.count("add") == 0  # the old form's Confirm placed nothing
        draft = await bot.store.get_draft(state.draft, 1001)
        assert draft is not None and draft.state == DraftState.ABANDONED
