"""Misbehaviour on demand: Bot API errors for the next calls of a method, and transport
failures (before Telegram handles a call, or after, with only the answer lost)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.playground.fakegram.wire import ApiError

__all__ = ["Faults"]


@dataclass
class _InjectedError:
    method: str
    error: ApiError
    remaining: int


@dataclass
class _TransportFault:
    method: str
    error: BaseException
    delivered: bool
    remaining: int


class Faults:
    """Faults set for the next calls; a method name is lower case, "*" stands for any."""

    def __init__(self) -> None:
        self._errors: list[_InjectedError] = []
        self._transport: list[_TransportFault] = []

    def add_error(self, method: str, error: ApiError, count: int) -> None:
        self._errors.append(_InjectedError(method.lower(), error, count))

    def raise_error(self, name: str) -> None:
        """Raise the error set for this call of ``name``, if any."""
        for injected in self._errors:
            if injected.method in (name, "*") and injected.remaining > 0:
                injected.remaining -= 1
                if injected.remaining == 0:
                    self._errors.remove(injected)
                raise injected.error

    def add_transport(self, method: str, error: BaseException, delivered: bool, count: int) -> None:
        self._transport.append(_TransportFault(method.lower(), error, delivered, count))

    def take_transport(self, method: str) -> tuple[BaseException, bool] | None:
        """The transport fault for this call, if one is set: ``(error, delivered)``."""
        name = method.lower()
        for fault in self._transport:
            if fault.method in (name, "*") and fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._transport.remove(fault)
                return fault.error, fault.delivered
        return None
