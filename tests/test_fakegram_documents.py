"""The fake Telegram's sendDocument (bot/playground/fakegram/documents.py), which the shop's
price list stands on: the file arrives as uploaded, with its caption; Telegram refuses an
empty file, an over-long caption and a file id it never gave."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot
from telegram.error import BadRequest

from bot.playground.fakegram import FakeRequest, FakeTelegram
from bot.playground.fakegram.documents import MAX_CAPTION_LENGTH

TOKEN = "123456:documents-test-token"


@pytest.fixture
async def chat() -> AsyncIterator[tuple[FakeTelegram, Bot, int]]:
    fake = FakeTelegram(TOKEN)
    user = fake.user(1001)
    bot = Bot(TOKEN, request=FakeRequest(fake), get_updates_request=FakeRequest(fake))
    await bot.initialize()
    try:
        yield fake, bot, user.id
    finally:
        await bot.shutdown()


async def test_a_document_arrives_with_its_name_bytes_and_caption(chat: tuple[FakeTelegram, Bot, int]) -> None:
    fake, bot, user_id = chat
    content = "id,name\r\n1,Likes ❤️\r\n".encode("utf-8-sig")
    sent = await bot.send_document(user_id, content, filename="prices.csv", caption="<b>Prices</b> &amp; more",
                                   parse_mode="HTML")
    assert sent.document is not None and sent.document.file_name == "prices.csv"
    assert sent.document.file_size == len(content) and sent.caption == "Prices & more"
    (message,) = fake.messages(user_id)
    assert message.file == content and message.text == "Prices & more"
    assert message.document is not None and message.document["mime_type"] == "text/csv"
    # Sent again by its file id: the same file.
    again = await bot.send_document(user_id, sent.document.file_id)
    assert again.document is not None and again.document.file_id == sent.document.file_id
    assert fake.messages(user_id)[-1].file == content


async def test_telegram_refuses_an_empty_file_a_long_caption_and_an_unknown_file_id(
        chat: tuple[FakeTelegram, Bot, int]) -> None:
    fake, bot, user_id = chat
    with pytest.raises(BadRequest, match="(?i)file must be non-empty"):
        await bot.send_document(user_id, b"", filename="empty.csv")
    with pytest.raises(BadRequest, match="caption is too long"):
        await bot.send_document(user_id, b"x", filename="a.txt", caption="x" * (MAX_CAPTION_LENGTH + 1))
    with pytest.raises(BadRequest, match="(?i)wrong file identifier"):
        await bot.send_document(user_id, "no-such-file-id")
    assert fake.messages(user_id) == []
