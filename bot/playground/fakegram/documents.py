"""Documents (sendDocument) as Telegram takes them: a file uploaded with the request, or
the file_id of one sent before; a caption of at most 1024 characters; 50 MB at most, and
never an empty file. The bytes stay on the message (``FakeMessage.file``) for tests."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from bot.playground.fakegram.html import utf16_len
from bot.playground.fakegram.keyboards import read_markup
from bot.playground.fakegram.messages import Messages
from bot.playground.fakegram.text import read_text
from bot.playground.fakegram.wire import ApiError, JSONDict

__all__ = ["MAX_CAPTION_LENGTH", "MAX_UPLOAD_BYTES", "UPLOADS", "Documents", "Upload"]

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # a bot's upload limit
MAX_CAPTION_LENGTH = 1024
# The parameter under which FakeRequest hands over a request's uploaded files (multipart
# parts by name: file name, bytes, MIME type); no Bot API parameter has this name.
UPLOADS = "_uploads"

Upload = tuple[str, bytes, str]


class Documents:
    """The documents the bot sent, by file_id."""

    def __init__(self, messages: Messages, bot_user: Callable[[], JSONDict]) -> None:
        self._messages = messages
        self._bot_user = bot_user
        self.files: dict[str, Upload] = {}

    def send_document(self, params: JSONDict) -> JSONDict:
        chat = self._messages.chat(params.get("chat_id"))
        name, content, mime = self._file(params)
        caption = params.get("caption")
        text, entities = "", []
        if caption:
            parsed = read_text({"text": caption, "parse_mode": params.get("parse_mode"),
                                "entities": params.get("caption_entities")}, editing=False, strict_html=True)
            if utf16_len(parsed.text) > MAX_CAPTION_LENGTH:
                raise ApiError.bad_request("message caption is too long")
            text, entities = parsed.text, parsed.entities
        markup = read_markup(params)
        self._messages.admit_send(chat, "senddocument")
        file_id = "DOC" + hashlib.sha256(content).hexdigest()[:24]
        self.files[file_id] = (name, content, mime)
        document = {"file_id": file_id, "file_unique_id": file_id[3:19], "file_name": name, "mime_type": mime,
                    "file_size": len(content)}
        message = self._messages.add_message(chat, self._bot_user(), kind="sent", document=document, file=content,
                                             reply_markup=markup)
        message.text, message.entities = text, entities
        return message.to_api()

    def _file(self, params: JSONDict) -> Upload:
        uploads = params.get(UPLOADS) or {}
        given = params.get("document")
        if "document" in uploads:
            name, content, mime = uploads["document"]
        elif isinstance(given, str) and given.startswith("attach://") and given[9:] in uploads:
            name, content, mime = uploads[given[9:]]
        elif isinstance(given, str) and given in self.files:
            return self.files[given]
        elif isinstance(given, str) and given:
            raise ApiError.bad_request("wrong file identifier/HTTP URL specified")
        else:
            raise ApiError.bad_request("there is no document in the request")
        if not content:
            raise ApiError.bad_request("file must be non-empty")
        if len(content) > MAX_UPLOAD_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        return str(name or "document"), bytes(content), str(mime or "application/octet-stream")
