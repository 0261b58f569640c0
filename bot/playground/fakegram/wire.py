"""What crosses the wire: JSON values, parameters read the way Telegram reads them, error
replies, and the record of one request."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["ApiCall", "ApiError", "JSONDict", "as_bool", "as_int", "as_json", "json_copy"]

# Bot API parameters and answers: JSON objects, whatever their fields hold.
JSONDict = dict[str, Any]


def json_copy(value: Any) -> Any:
    """A copy of JSON-shaped data (dicts, lists, scalars): what deepcopy gives, at a
    fraction of its cost, for the fake's every message."""
    if isinstance(value, dict):
        return {key: json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_copy(item) for item in value]
    return value


class ApiError(Exception):
    """A Bot API error reply; the fake turns it into ``{"ok": false, ...}``."""

    def __init__(
        self, status: int, description: str, parameters: JSONDict | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    @classmethod
    def bad_request(cls, text: str) -> ApiError:
        return cls(400, f"Bad Request: {text}")

    def payload(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass
class ApiCall:
    """One request as the fake saw it; ``response`` is the JSON body that was returned."""

    method: str
    params: JSONDict
    status: int
    response: JSONDict
    at: float

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def result(self) -> Any:
        return self.response.get("result")

    @property
    def description(self) -> str | None:
        description = self.response.get("description")
        return None if description is None else str(description)


def as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ApiError.bad_request(f"{name} is invalid")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ApiError.bad_request(f"{name} is invalid")


def as_json(value: Any, name: str) -> Any:
    # Over HTTP every parameter is a string; accept both wire and already-decoded forms.
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ApiError.bad_request(f"can't parse {name} JSON object") from exc
    return value


def as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)
