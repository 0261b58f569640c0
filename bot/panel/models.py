"""The catalog's `Service` and the account's `Balance`, parsed tolerantly from what real
panels send (statuses: bot/panel/status.py; numbers and text: bot/panel/values.py)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.panel.values import clean_text, to_bool, to_decimal, to_int, type_key


@dataclass(frozen=True, slots=True)
class Service:
    id: int
    name: str
    type: str
    category: str
    rate: Decimal
    min: int
    max: int
    refill: bool = False
    cancel: bool = False
    dripfeed: bool = False
    description: str | None = None

    @property
    def type_key(self) -> str:
        return type_key(self.type)

    def to_dict(self) -> dict[str, Any]:
        """The service in the API's own shape (a snapshot `from_api` reads back)."""
        item: dict[str, Any] = {
            "service": self.id, "name": self.name, "type": self.type, "category": self.category,
            "rate": str(self.rate), "min": self.min, "max": self.max, "refill": self.refill,
            "cancel": self.cancel, "dripfeed": self.dripfeed,
        }
        if self.description:
            item["desc"] = self.description
        return item

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> Service | None:
        """One entry of `services`; `None` for an entry without a usable id."""
        service_id = to_int(item.get("service"))
        if service_id is None:
            service_id = to_int(item.get("id"))
        if service_id is None:
            return None
        description = item.get("desc", item.get("description"))
        return cls(
            id=service_id,
            name=clean_text(item.get("name")) or str(service_id),
            type=clean_text(item.get("type")) or "Default",
            category=clean_text(item.get("category")),
            rate=to_decimal(item.get("rate")) or Decimal(0),
            min=to_int(item.get("min")) or 0,
            max=to_int(item.get("max")) or 0,
            refill=to_bool(item.get("refill")),
            cancel=to_bool(item.get("cancel")),
            dripfeed=to_bool(item.get("dripfeed")),
            description=clean_text(description) or None,
        )


@dataclass(frozen=True, slots=True)
class Balance:
    amount: Decimal
    currency: str
