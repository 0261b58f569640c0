"""A local SMM panel speaking API v2 (catalog, balances, order progress, refills, cancels,
faults) for trying the bot without spending money, and for tests and benchmarks."""

from bot.playground.sandbox.faults import Fault, Faults
from bot.playground.sandbox.server import RequestRecord, SandboxPanel
from bot.playground.sandbox.state import Order, Refill

__all__ = ["Fault", "Faults", "Order", "Refill", "RequestRecord", "SandboxPanel"]
