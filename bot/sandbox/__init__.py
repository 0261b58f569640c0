"""A local SMM panel speaking API v2 (catalog, balances, order progress, refills, cancels,
faults) for trying the bot without spending money, and for tests and benchmarks."""

from bot.sandbox.faults import Fault, Faults
from bot.sandbox.server import RequestRecord, SandboxPanel
from bot.sandbox.state import Order, Refill

__all__ = ["Fault", "Faults", "Order", "Refill", "RequestRecord", "SandboxPanel"]
