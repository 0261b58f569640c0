"""The bot's profile as Telegram keeps it: commands per scope and language, descriptions,
menu buttons; what the bot sets, and what a user is shown."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from bot.playground.fakegram.wire import ApiError, JSONDict, as_int, as_json

__all__ = ["MAX_DESCRIPTION_LENGTH", "MAX_SHORT_DESCRIPTION_LENGTH", "BotProfile"]

MAX_DESCRIPTION_LENGTH = 512
MAX_SHORT_DESCRIPTION_LENGTH = 120
MENU_BUTTON_TYPES = frozenset({"commands", "web_app", "default"})


def scope_key(scope: Any) -> str:
    """A command scope (JSON text or decoded; None is the default scope) as a dict key."""
    scope = as_json(scope, "scope") if scope is not None else None
    if not scope:
        scope = {"type": "default"}
    return json.dumps(scope, sort_keys=True)


def _language(params: JSONDict) -> str:
    lang = str(params.get("language_code") or "")
    if lang and (len(lang) != 2 or not lang.isascii() or not lang.isalpha()):
        raise ApiError.bad_request("invalid language code specified")
    return lang


def _bot_text(params: JSONDict, name: str, limit: int) -> str:
    # Cleaned of control characters (line breaks stay) but not trimmed, as TDLib does.
    text = "".join(ch for ch in str(params.get(name) or "") if ch == "\n" or ord(ch) >= 32)
    if len(text) > limit:
        # The wording of Telegram's refusal is not public; the limit is documented.
        raise ApiError.bad_request(f"{name.replace('_', ' ')} is too long")
    return text


def _set_bot_text(store: dict[str, str], params: JSONDict, name: str, limit: int) -> bool:
    text = _bot_text(params, name, limit)
    lang = _language(params)
    if text:
        store[lang] = text
    else:
        store.pop(lang, None)  # an empty text removes the language's own one
    return True


class BotProfile:
    """Commands, descriptions and menu buttons; ``is_user`` says whether a chat id is a
    user's private chat (a menu button is set per user)."""

    def __init__(self, is_user: Callable[[int], bool]) -> None:
        self._is_user = is_user
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}
        # Per language code ("" = everyone without a dedicated text), as set*Description keeps them.
        self.descriptions: dict[str, str] = {}
        self.short_descriptions: dict[str, str] = {}
        # None = the default for every private chat; a user id = that chat's own button.
        self.menu_buttons: dict[int | None, JSONDict] = {}

    # ------------------------------------------------------------------ what a user sees

    def get_commands(self, language_code: str = "", scope: JSONDict | None = None) -> list[JSONDict]:
        """Exactly what getMyCommands would return for this scope/language (no fallback)."""
        return copy.deepcopy(self.commands.get((scope_key(scope), language_code), []))

    def visible_commands(self, language_code: str | None, chat_id: int | None = None) -> list[JSONDict]:
        """What a private-chat user sees, in Telegram's documented order: chat scope,
        all_private_chats, default; each with the user's language first, then without."""
        scopes: list[JSONDict] = [{"type": "all_private_chats"}, {"type": "default"}]
        if chat_id is not None:
            scopes.insert(0, {"type": "chat", "chat_id": chat_id})
        for scope in scopes:
            for lang in (language_code or "", ""):
                found = self.commands.get((scope_key(scope), lang))
                if found:
                    return copy.deepcopy(found)
        return []

    def visible_description(self, language_code: str | None) -> str:
        """The description a user with this language sees in the empty chat: the one set for
        their language, else the one set without a language (Telegram's documented fallback)."""
        lang = (language_code or "").split("-")[0].lower()
        return self.descriptions.get(lang) or self.descriptions.get("", "")

    def visible_short_description(self, language_code: str | None) -> str:
        """The short description on the bot's profile for a user with this language."""
        lang = (language_code or "").split("-")[0].lower()
        return self.short_descriptions.get(lang) or self.short_descriptions.get("", "")

    def menu_button(self, chat_id: int | None = None) -> JSONDict:
        """What getChatMenuButton returns: the chat's own button, else the default one."""
        found = self.menu_buttons.get(chat_id) if chat_id is not None else None
        return copy.deepcopy(found or self.menu_buttons.get(None) or {"type": "default"})

    # ------------------------------------------------------------------ Bot API methods

    def set_my_commands(self, params: JSONDict) -> bool:
        commands = as_json(params.get("commands"), "commands")
        if not isinstance(commands, list):
            raise ApiError.bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise ApiError.bad_request("BOT_COMMANDS_TOO_MUCH")
        cleaned: list[JSONDict] = []
        for item in commands:
            command = str(item.get("command", "")).lstrip("/")
            description = str(item.get("description", ""))
            valid_chars = all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in command)
            if not command or len(command) > 32 or not valid_chars or command != command.lower():
                raise ApiError.bad_request("BOT_COMMAND_INVALID")
            if not description.strip() or len(description) > 256:
                raise ApiError.bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": command, "description": description})
        key = (scope_key(params.get("scope")), _language(params))
        if cleaned:
            self.commands[key] = cleaned
        else:
            self.commands.pop(key, None)
        return True

    def get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        key = (scope_key(params.get("scope")), _language(params))
        return copy.deepcopy(self.commands.get(key, []))

    def delete_my_commands(self, params: JSONDict) -> bool:
        key = (scope_key(params.get("scope")), _language(params))
        self.commands.pop(key, None)
        return True

    def set_my_description(self, params: JSONDict) -> bool:
        return _set_bot_text(self.descriptions, params, "description", MAX_DESCRIPTION_LENGTH)

    def get_my_description(self, params: JSONDict) -> JSONDict:
        # Exactly the language asked for, "" when it has none: no fallback, as getMyCommands.
        return {"description": self.descriptions.get(_language(params), "")}

    def set_my_short_description(self, params: JSONDict) -> bool:
        return _set_bot_text(
            self.short_descriptions, params, "short_description", MAX_SHORT_DESCRIPTION_LENGTH
        )

    def get_my_short_description(self, params: JSONDict) -> JSONDict:
        return {"short_description": self.short_descriptions.get(_language(params), "")}

    def set_chat_menu_button(self, params: JSONDict) -> bool:
        raw = params.get("menu_button")
        button = as_json(raw, "menu_button") if raw is not None else {"type": "default"}
        if not isinstance(button, dict):
            raise ApiError.bad_request("can't parse menu button: MenuButton must be an Object")
        kind = button.get("type")
        if kind not in MENU_BUTTON_TYPES:
            raise ApiError.bad_request("can't parse menu button: MenuButton has unsupported type")
        cleaned: JSONDict = {"type": kind}
        if kind == "web_app":
            text = str(button.get("text") or "")
            web_app = button.get("web_app")
            url = str(web_app.get("url") or "") if isinstance(web_app, dict) else ""
            if not text.strip():
                raise ApiError.bad_request("menu button text must be non-empty")
            if not url.startswith("https://"):
                raise ApiError.bad_request(
                    f"menu button Web App URL '{url}' is invalid: Only HTTPS links are allowed"
                )
            cleaned.update(text=text, web_app={"url": url})
        chat_id = self._menu_chat(params)
        if kind == "default":
            self.menu_buttons.pop(chat_id, None)  # the default button removes the choice
        else:
            self.menu_buttons[chat_id] = cleaned
        return True

    def get_chat_menu_button(self, params: JSONDict) -> JSONDict:
        return self.menu_button(self._menu_chat(params))

    def _menu_chat(self, params: JSONDict) -> int | None:
        if params.get("chat_id") is None:
            return None
        chat_id = as_int(params.get("chat_id"), "chat_id")
        if chat_id <= 0:
            raise ApiError.bad_request("invalid chat_id specified")
        if not self._is_user(chat_id):
            raise ApiError.bad_request("user not found")
        return chat_id
