"""The panel client against the real sandbox panel over loopback HTTP: the contract
between `bot/panel/client.py` and `bot/playground/sandbox`, written as specifications.

Every action single and batch, every service type's `add` fields, every panel error
string and the class it raises, every fault and the error it maps to, and the rule that
writes (`add`, `refill`, `cancel`) reach the panel at most once. The API key must never
show up in an exception or a log line.

Replies are parsed here from what the sandbox really sends; the reply *shapes* other
panels use are covered with a mock transport in `test_client_replies.py`, and the
sandbox's own behaviour in `test_sandbox.py`.
"""

from __future__ import annotations

import logging
import socket
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import httpx
import pytest

from bot.panel.client import PanelClient
from bot.panel.errors import OutcomeUnknown, PanelRefusal, PanelUnavailable, RefusalKind
from bot.panel.fields import SERVICE_TYPES, FieldInvalid, build_add_params, service_type
from bot.panel.models import Balance, Service
from bot.panel.status import CANCELED, COMPLETED, IN_PROGRESS, PARTIAL, PENDING
from bot.playground.sandbox.catalog import builtin_catalog
from tests.conftest import TEST_KEY, FixtureSandbox

OTHER_KEY = "other-account-key-0002"
WRONG_KEY = "wrong-secret-key-9999"
SECRETS = (TEST_KEY, OTHER_KEY, WRONG_KEY)

# Built-in services (bot/playground/sandbox/catalog.py) the specifications lean on.
FOLLOWERS = 1011  # Default, 0.90, 50..50000, drip-feed, refill, cancel
HQ_FOLLOWERS = 1012  # Default, 2.45, 100..100000, refill, cancel, no drip-feed
BOTS = 1013  # Default, 0.32, 10..20000, cancel only (no refill, no drip-feed)
USA_FOLLOWERS = 1014  # Default, 6.80, 20..10000, drip-feed and refill, no cancel
REEL_VIEWS = 1023  # Default, 0.0045, 100..10000000
COMMENTS = 1031  # Custom Comments, 12.00, 5..500 lines
WEB = 9801  # Web Traffic, 0.35, 1000..10000000, drip-feed

# The sandbox's words (bot/playground/sandbox/state.py), as the panels send them.
CANCEL_DISABLED = "Cancel is disabled for this service"
CANCEL_TOO_LATE = "This order cannot be canceled"

# Short timeouts: a normal loopback call takes milliseconds. Fault tests wait on the
# read timeout only; connecting stays generous so that a loaded machine does not flake.
TIMEOUT = httpx.Timeout(1.0)
FAULT_TIMEOUT = httpx.Timeout(0.25, connect=1.0)
BACKOFF = 0.01
RETRIES = 2

BUILTIN_TYPES = list(dict.fromkeys(item["type"] for item in builtin_catalog()))


# --- the key must never leak ---------------------------------------------------------------


def _assert_secret_free(text: str, where: str) -> None:
    for key in SECRETS:
        assert key not in text, f"the API key {key!r} leaked into {where}: {text!r}"


def assert_no_key_in(exc: BaseException) -> None:
    """Neither the exception, nor anything chained to it, nor its traceback names a key."""
    _assert_secret_free("".join(traceback.format_exception(exc)), "a traceback")
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        _assert_secret_free(str(current), f"str({type(current).__name__})")
        _assert_secret_free(repr(current), f"repr({type(current).__name__})")
        for arg in current.args:
            _assert_secret_free(repr(arg), f"{type(current).__name__}.args")
        current = current.__cause__ or current.__context__


@contextmanager
def fails(kind: type[BaseException]) -> Iterator[pytest.ExceptionInfo[Any]]:
    """`pytest.raises` that also checks the key stays out of the exception."""
    with pytest.raises(kind) as info:
        yield info
    assert_no_key_in(info.value)


@pytest.fixture(autouse=True)
def no_key_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test here runs with DEBUG logging captured (httpx, httpcore, the client,
    aiohttp), and no captured line may contain a key."""
    caplog.set_level(logging.DEBUG)
    yield
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in records:
        _assert_secret_free(formatter.format(record), f"the log line of {record.name}")


# --- fixtures and helpers ----------------------------------------------------------------------


class Sleeps(list[float]):
    """A fake `sleep` for the client: records each delay, waits for none."""

    async def __call__(self, delay: float) -> None:
        self.append(delay)


class MakeClient(Protocol):
    def __call__(self, key: str = ..., *, url: str | None = ..., **kwargs: Any) -> PanelClient: ...


@pytest.fixture
async def make_client(sandbox: FixtureSandbox) -> AsyncIterator[MakeClient]:
    """Clients on the sandbox with short timeouts and a recording fake sleep
    (`client._sleep`); all closed at the end."""
    made: list[PanelClient] = []

    def make(key: str = TEST_KEY, *, url: str | None = None, **kwargs: Any) -> PanelClient:
        kwargs.setdefault("timeout", TIMEOUT)
        kwargs.setdefault("retries", RETRIES)
        kwargs.setdefault("backoff", BACKOFF)
        kwargs.setdefault("sleep", Sleeps())
        client = PanelClient(url or sandbox.url, key, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
def client(make_client: MakeClient) -> PanelClient:
    return make_client()


@pytest.fixture
def frozen(sandbox: FixtureSandbox) -> FixtureSandbox:
    """The sandbox with its clock stopped: only `advance` moves orders on."""
    sandbox.speed = 0
    return sandbox


def sleeps_of(client: PanelClient) -> Sleeps:
    sleeps = client._sleep
    assert isinstance(sleeps, Sleeps)
    return sleeps


async def place(client: PanelClient, service: int = FOLLOWERS, link: str = "https://instagram.com/a",
                quantity: int = 100) -> int:
    return await client.add({"service": str(service), "link": link, "quantity": str(quantity)})


async def service_by_id(client: PanelClient, service_id: int) -> Service:
    return next(s for s in await client.services() if s.id == service_id)


async def finished_order(client: PanelClient, sandbox: FixtureSandbox, service: int = FOLLOWERS,
                         link: str = "https://instagram.com/done") -> int:
    order_id = await place(client, service, link)
    sandbox.advance(600)
    status = await client.status(order_id)
    assert status.status in (COMPLETED, PARTIAL)
    return order_id


def valid_values(service: Service) -> dict[str, str]:
    """What a user would enter for a service of each type; plus a field no type has,
    which must never be sent."""
    lines = "\n".join(f"comment {n} 👍 & <b>" for n in range(max(service.min, 2)))
    link = f"https://example.com/p/{service.id}"
    low = str(service.min)
    expiry = (datetime.now().date() + timedelta(days=30)).strftime("%d/%m/%Y")
    by_type: dict[str, dict[str, str]] = {
        "Default": {"link": link, "quantity": low},
        "Package": {"link": link, "quantity": "5"},
        "SEO": {"link": link, "quantity": low, "keywords": "smm panel\nbuy likes"},
        "Custom Comments": {"link": link, "comments": lines},
        "Custom Comments Package": {"link": link, "comments": "wow\nnice"},
        "Mentions": {"link": link, "quantity": low, "usernames": "ann\nbob"},
        "Mentions with Hashtags": {"link": link, "quantity": low, "usernames": "ann\nbob", "hashtags": "#a\n#b"},
        "Mentions Custom List": {"link": link, "usernames": "\n".join(f"user{n}" for n in range(service.min))},
        "Mentions Hashtag": {"link": link, "quantity": low, "hashtag": "travel"},
        "Mentions User Followers": {"link": link, "quantity": low, "username": "natgeo"},
        "Mentions Media Likers": {"link": link, "quantity": low, "media": "https://instagram.com/p/xyz"},
        "Comment Likes": {"link": link, "quantity": low, "username": "ann"},
        "Comment Replies": {"link": link, "username": "ann", "comments": lines},
        "Poll": {"link": link, "quantity": low, "answer_number": "2"},
        "Invites from Groups": {"link": link, "quantity": low, "groups": "t.me/a\nt.me/b"},
        "Subscriptions": {"username": "ann", "min": low, "max": str(service.min * 2), "posts": "3",
                          "old_posts": "1", "delay": "30", "expiry": expiry, "link": link},
        # Custom referrer: the referring URL is asked for, the Google keyword is not.
        "Web Traffic": {"link": link, "quantity": low, "country": "US", "device": "4", "type_of_traffic": "2",
                        "referring_url": "https://google.com/search", "google_keyword": "not sent"},
    }
    return {**by_type[service.type], "unrelated": "never sent"}


# --- 1. every action, single and batch ---------------------------------------------------------


async def test_services_reads_the_builtin_catalog_with_decimal_rates_and_known_types(
    sandbox: FixtureSandbox, client: PanelClient
) -> None:
    services = await client.services()
    raw = sandbox.services
    assert [s.id for s in services] == [item["service"] for item in raw]
    for service, item in zip(services, raw, strict=True):
        assert isinstance(service.rate, Decimal) and service.rate == Decimal(item["rate"]), item
        assert (service.min, service.max) == (int(item["min"]), int(item["max"])), item
        assert (service.refill, service.cancel, service.dripfeed) == (item["refill"], item["cancel"],
                                                                       item["dripfeed"]), item
        assert service.type == item["type"] and service_type(service.type).known, item
        assert "&amp;" not in service.name and service.name, item
    assert {service_type(s.type).name for s in services} == {t.name for t in SERVICE_TYPES}
    assert next(s for s in services if s.id == 1022).name == "Instagram Likes + Impressions & Reach [Power]"
    assert sandbox.count("services") == 1 and client.calls == 1


async def test_balance_is_an_exact_decimal_with_the_account_currency(
    sandbox: FixtureSandbox, make_client: MakeClient
) -> None:
    client = make_client()
    assert await client.balance() == Balance(Decimal("100"), "USD")
    sandbox.set_balance(TEST_KEY, "12.34567")
    balance = await client.balance()
    assert isinstance(balance.amount, Decimal) and balance.amount == Decimal("12.34567")
    sandbox.add_account(OTHER_KEY, "0.1", "EUR")
    assert await make_client(OTHER_KEY).balance() == Balance(Decimal("0.1"), "EUR")
    assert sandbox.calls("balance")[-1].fields == {"action": "balance"}


async def test_add_places_an_order_that_reads_back_pending(frozen: FixtureSandbox, client: PanelClient) -> None:
    order_id = await place(client, FOLLOWERS, "https://instagram.com/new", 1000)
    assert isinstance(order_id, int)
    assert [o.id for o in frozen.orders(TEST_KEY)] == [order_id]
    status = await client.status(order_id)
    assert status.order_id == order_id and status.status == PENDING and not status.is_final
    assert status.charge == Decimal("0.9") and status.remains == 1000 and status.start_count == 0
    assert status.currency == "USD" and status.error is None
    assert frozen.calls("status")[-1].fields == {"action": "status", "order": str(order_id)}
    assert (await client.balance()).amount == Decimal("99.1")


async def test_status_of_another_accounts_order_is_refused_as_incorrect_order(
    frozen: FixtureSandbox, make_client: MakeClient
) -> None:
    frozen.add_account(OTHER_KEY)
    foreign = await place(make_client(OTHER_KEY), link="https://instagram.com/theirs")
    with fails(PanelRefusal) as refused:
        await make_client().status(foreign)
    assert refused.value.kind is RefusalKind.INCORRECT_ORDER and refused.value.text == "Incorrect order ID"


async def test_statuses_give_per_id_errors_for_foreign_and_unknown_ids_as_data(
    frozen: FixtureSandbox, make_client: MakeClient
) -> None:
    frozen.add_account(OTHER_KEY)
    foreign = await place(make_client(OTHER_KEY), link="https://instagram.com/theirs")
    client = make_client()
    mine = [await place(client, link=f"https://instagram.com/mine{n}") for n in range(2)]
    frozen.advance(600)
    unknown = 999_999
    result = await client.statuses([*mine, foreign, unknown])
    assert list(result) == [*mine, foreign, unknown]
    for order_id in mine:
        assert result[order_id].error is None and result[order_id].status in (COMPLETED, PARTIAL)
        assert result[order_id].is_final
    for order_id in (foreign, unknown):
        error = result[order_id].error
        assert error is not None and error.kind is RefusalKind.INCORRECT_ORDER, result[order_id]
        assert result[order_id].status is None
    assert frozen.count("status") == 1
    assert frozen.calls("status")[0].fields == {"action": "status",
                                                "orders": ",".join(map(str, [*mine, foreign, unknown]))}
    assert await client.statuses([]) == {} and frozen.count("status") == 1


async def test_statuses_of_250_ids_cost_exactly_3_calls_of_at_most_100(
    frozen: FixtureSandbox, client: PanelClient
) -> None:
    real = [await place(client, link=f"https://instagram.com/b{n}") for n in range(3)]
    ids = real + [900_000 + n for n in range(247)]
    result = await client.statuses(ids + ids[:20])  # repeated ids are asked once
    assert len(result) == 250 and list(result) == ids
    assert frozen.count("status") == 3 and client.calls == 3 + 3
    sizes = [len(call.fields["orders"].split(",")) for call in frozen.calls("status")]
    assert sizes == [100, 100, 50]
    assert all(result[i].status == PENDING for i in real)
    assert {(e.kind if (e := result[i].error) else None) for i in ids[3:]} == {RefusalKind.INCORRECT_ORDER}


async def test_refill_of_a_completed_order_and_its_progress(frozen: FixtureSandbox, client: PanelClient) -> None:
    order_id = await finished_order(client, frozen)
    refill_id = await client.refill(order_id)
    assert isinstance(refill_id, int)
    assert frozen.calls("refill")[-1].fields == {"action": "refill", "order": str(order_id)}
    assert [r.id for r in frozen.refills(TEST_KEY)] == [refill_id]
    first = await client.refill_status(refill_id)
    assert (first.refill_id, first.status, first.error) == (refill_id, PENDING, None) and not first.is_final
    assert frozen.calls("refill_status")[-1].fields == {"action": "refill_status", "refill": str(refill_id)}

    # A second refill while the first runs is refused.
    with fails(PanelRefusal) as refused:
        await client.refill(order_id)
    assert refused.value.kind is RefusalKind.REFILL_NOT_COMPLETED

    frozen.advance(30)
    assert (await client.refill_status(refill_id)).status in (PENDING, IN_PROGRESS)
    frozen.advance(600)
    done = await client.refill_status(refill_id)
    assert done.status == COMPLETED and done.is_final
    # Once it is done, the order may be refilled again.
    assert await client.refill(order_id) > refill_id


async def test_refill_refusals_say_why(frozen: FixtureSandbox, client: PanelClient) -> None:
    running = await place(client, HQ_FOLLOWERS, "https://instagram.com/r2")
    no_refill = await place(client, BOTS, "https://instagram.com/r3")
    frozen.advance(600)
    await client.refill(running)
    with fails(PanelRefusal) as refused:
        await client.refill(running)  # its refill is still running
    assert refused.value.kind is RefusalKind.REFILL_NOT_COMPLETED
    with fails(PanelRefusal) as refused:
        await client.refill(999_999)
    assert refused.value.kind is RefusalKind.INCORRECT_ORDER

    unfinished = await place(client, FOLLOWERS, "https://instagram.com/r4")
    with fails(PanelRefusal) as refused:
        await client.refill(unfinished)
    assert refused.value.text == "Refill is disabled for this order"
    assert all(r.order != unfinished for r in frozen.refills(TEST_KEY))

    with fails(PanelRefusal) as refused:
        await client.refill(no_refill)
    assert refused.value.kind is RefusalKind.REFILL_DISABLED
    assert refused.value.text == "Refill is disabled for this service"


async def test_refill_statuses_batch_and_unknown_refill_ids(
    frozen: FixtureSandbox, make_client: MakeClient
) -> None:
    frozen.add_account(OTHER_KEY)
    other = make_client(OTHER_KEY)
    foreign = await other.refill(await finished_order(other, frozen, link="https://instagram.com/theirs"))
    client = make_client()
    refill_ids = []
    for n, service in enumerate((FOLLOWERS, HQ_FOLLOWERS)):
        order_id = await place(client, service, f"https://instagram.com/rs{n}")
        frozen.advance(600)
        refill_ids.append(await client.refill(order_id))
    unknown = 999_999

    result = await client.refill_statuses([*refill_ids, foreign, unknown])
    assert list(result) == [*refill_ids, foreign, unknown]
    assert frozen.calls("refill_status")[-1].fields == {
        "action": "refill_status", "refills": ",".join(map(str, [*refill_ids, foreign, unknown]))}
    # The first refill had 600 s to finish before the second was made.
    assert result[refill_ids[0]].status == COMPLETED and result[refill_ids[0]].error is None
    assert result[refill_ids[1]].status == PENDING and result[refill_ids[1]].error is None
    for refill_id in (foreign, unknown):
        error = result[refill_id].error
        assert error is not None and error.kind is RefusalKind.INCORRECT_REFILL and result[refill_id].status is None

    for refill_id in (foreign, unknown):
        with fails(PanelRefusal) as refused:
            await client.refill_status(refill_id)
        assert refused.value.kind is RefusalKind.INCORRECT_REFILL and refused.value.text == "Refill not found"


async def test_cancel_of_an_unfinished_order_then_canceled_and_refunded(
    frozen: FixtureSandbox, client: PanelClient
) -> None:
    order_id = await place(client, BOTS, "https://instagram.com/c1", 1000)
    assert (await client.balance()).amount == Decimal("99.68")
    result = await client.cancel(order_id)
    assert (result.order_id, result.ok, result.error) == (order_id, True, None)
    assert frozen.calls("cancel")[-1].fields == {"action": "cancel", "orders": str(order_id)}
    assert frozen.order(order_id).cancel_requested
    assert (await client.status(order_id)).status == PENDING  # requested, not yet done

    frozen.advance(10)
    status = await client.status(order_id)
    assert status.status == CANCELED and status.is_final and status.remains == 1000
    assert status.charge == Decimal(0)
    assert (await client.balance()).amount == Decimal(100)

    # Too late now.
    with fails(PanelRefusal) as refused:
        await client.cancel(order_id)
    assert refused.value.text == CANCEL_TOO_LATE


async def test_cancels_batch_gives_per_order_refusals_as_data(frozen: FixtureSandbox, client: PanelClient) -> None:
    cancelable = await place(client, BOTS, "https://instagram.com/c1")
    no_cancel = await place(client, USA_FOLLOWERS, "https://instagram.com/c2")
    unknown = 999_999
    result = await client.cancels([cancelable, no_cancel, unknown])
    assert list(result) == [cancelable, no_cancel, unknown]
    assert frozen.count("cancel") == 1
    assert result[cancelable].ok and result[cancelable].error is None
    refusal = result[no_cancel].error
    assert not result[no_cancel].ok and refusal is not None and refusal.text == CANCEL_DISABLED
    unknown_refusal = result[unknown].error
    assert unknown_refusal is not None and unknown_refusal.kind is RefusalKind.INCORRECT_ORDER

    with fails(PanelRefusal) as refused:
        await client.cancel(no_cancel)
    assert refused.value.text == CANCEL_DISABLED
    frozen.advance(10)
    statuses = await client.statuses([cancelable, no_cancel])
    assert statuses[cancelable].status == CANCELED
    assert statuses[no_cancel].status != CANCELED


# --- 2. every type's request fields ------------------------------------------------------------


@pytest.mark.parametrize("type_name", BUILTIN_TYPES)
async def test_add_order_sends_exactly_the_fields_of_the_type(
    type_name: str, frozen: FixtureSandbox, client: PanelClient
) -> None:
    frozen.set_balance(TEST_KEY, "10000")
    service = next(s for s in await client.services() if s.type == type_name)
    values = valid_values(service)
    expected = build_add_params(service, values)
    order_id = await client.add(build_add_params(service, values))

    sent = frozen.calls("add")[-1].fields
    assert sent == {"action": "add", **expected}
    assert "unrelated" not in sent and "key" not in sent
    if not service.dripfeed:
        assert "runs" not in sent and "interval" not in sent
    order = frozen.order(order_id)
    assert order.service == service.id and order.fields == expected
    assert [o.id for o in frozen.orders(TEST_KEY)] == [order_id]
    assert (await client.status(order_id)).status == PENDING


@pytest.mark.parametrize("service_id", [FOLLOWERS, WEB])
async def test_drip_feed_sends_runs_and_interval_and_is_charged_times_runs(
    service_id: int, frozen: FixtureSandbox, client: PanelClient
) -> None:
    frozen.set_balance(TEST_KEY, "1000")
    service = await service_by_id(client, service_id)
    assert service.dripfeed
    values = {**valid_values(service), "quantity": str(service.min * 2), "runs": "5", "interval": "30"}
    before = (await client.balance()).amount
    order_id = await client.add(build_add_params(service, values))

    sent = frozen.calls("add")[-1].fields
    assert sent == {"action": "add", **build_add_params(service, values)}
    assert (sent["runs"], sent["interval"]) == ("5", "30")
    charge = service.rate * Decimal(service.min * 2) * 5 / 1000
    after = (await client.balance()).amount
    assert before - after == charge
    status = await client.status(order_id)
    assert status.charge == charge and status.remains == service.min * 2 * 5


async def test_invalid_values_are_refused_before_anything_is_sent(
    sandbox: FixtureSandbox, client: PanelClient
) -> None:
    service = await service_by_id(client, FOLLOWERS)
    with pytest.raises(FieldInvalid):
        await client.add(build_add_params(service, {"link": "https://instagram.com/x", "quantity": "10"}))
    with pytest.raises(FieldInvalid):
        await client.add(build_add_params(service, {"link": "https://instagram.com/x", "quantity": "100",
                                                    "runs": "3"}))
    assert sandbox.count("add") == 0 and sandbox.orders(TEST_KEY) == []


# --- 3. every panel error string and the class it raises ----------------------------------------


INVALID_KEY_CALLS: dict[str, Callable[[PanelClient], Awaitable[Any]]] = {
    "balance": lambda c: c.balance(),
    "services": lambda c: c.services(),
    "add": lambda c: place(c),
    "status": lambda c: c.status(23501),
    "statuses": lambda c: c.statuses([23501, 23502]),
    "refill": lambda c: c.refill(23501),
    "refill_status": lambda c: c.refill_status(4001),
    "cancel": lambda c: c.cancel(23501),
}


@pytest.mark.parametrize("method", list(INVALID_KEY_CALLS))
async def test_a_wrong_key_is_an_invalid_key_refusal_sent_once(
    method: str, frozen: FixtureSandbox, make_client: MakeClient
) -> None:
    await place(make_client(), link="https://instagram.com/owned")  # order 23501 exists, but not for this key
    client = make_client(WRONG_KEY, retries=5)
    with fails(PanelRefusal) as refused:
        await INVALID_KEY_CALLS[method](client)
    assert refused.value.kind is RefusalKind.INVALID_KEY and refused.value.text == "Invalid API key"
    assert client.calls == 1 and sleeps_of(client) == []
    assert [r.key_hint for r in frozen.requests[-1:]] == [WRONG_KEY[-4:]]
    assert len(frozen.orders(TEST_KEY)) == 1


@pytest.mark.parametrize(
    ("params", "kind"),
    [
        ({"service": "999999", "link": "https://instagram.com/x", "quantity": "100"}, RefusalKind.INCORRECT_SERVICE),
        ({"service": "abc", "link": "https://instagram.com/x", "quantity": "100"}, RefusalKind.INCORRECT_SERVICE),
        ({"service": str(BOTS), "link": "https://instagram.com/x", "quantity": "100", "runs": "2", "interval": "10"},
         RefusalKind.DRIPFEED_UNSUPPORTED),
        ({"service": str(FOLLOWERS), "link": "not a link", "quantity": "100"}, RefusalKind.BAD_LINK),
        ({"service": str(FOLLOWERS)}, RefusalKind.INCORRECT_REQUEST),
    ],
    ids=["unknown-service", "garbage-service", "dripfeed-unsupported", "bad-link", "missing-fields"],
)
async def test_add_refusals_are_classified_and_place_nothing(
    params: dict[str, str], kind: RefusalKind, sandbox: FixtureSandbox, client: PanelClient
) -> None:
    with fails(PanelRefusal) as refused:
        await client.add(params)
    assert refused.value.kind is kind, refused.value.text
    assert sandbox.count("add") == 1 and sandbox.orders(TEST_KEY) == []
    assert sandbox.balance(TEST_KEY) == Decimal(100)


async def test_not_enough_funds(sandbox: FixtureSandbox, client: PanelClient) -> None:
    sandbox.set_balance(TEST_KEY, "0.08999")
    with fails(PanelRefusal) as refused:
        await place(client, FOLLOWERS, quantity=100)  # costs 0.09
    assert refused.value.kind is RefusalKind.NOT_ENOUGH_FUNDS
    assert refused.value.text == "Not enough funds on balance"
    assert sandbox.orders(TEST_KEY) == [] and (await client.balance()).amount == Decimal("0.08999")
    sandbox.set_balance(TEST_KEY, "0.09")
    assert await place(client, FOLLOWERS, quantity=100)


@pytest.mark.parametrize("service_id", [FOLLOWERS, BOTS, REEL_VIEWS, WEB])
async def test_quantity_out_of_range_carries_the_services_minimum_and_maximum(
    service_id: int, sandbox: FixtureSandbox, client: PanelClient
) -> None:
    service = await service_by_id(client, service_id)
    base = {"service": str(service.id), "link": "https://example.com/q", "country": "US", "device": "1",
            "type_of_traffic": "3"}
    with fails(PanelRefusal) as low:
        await client.add({**base, "quantity": str(service.min - 1)})
    assert low.value.kind is RefusalKind.QUANTITY
    assert (low.value.minimum, low.value.maximum) == (service.min, None), low.value.text
    with fails(PanelRefusal) as high:
        await client.add({**base, "quantity": str(service.max + 1)})
    assert high.value.kind is RefusalKind.QUANTITY
    assert (high.value.minimum, high.value.maximum) == (None, service.max), high.value.text
    assert sandbox.orders(TEST_KEY) == []


async def test_a_line_count_out_of_range_is_a_quantity_refusal_with_the_minimum(
    sandbox: FixtureSandbox, client: PanelClient
) -> None:
    with fails(PanelRefusal) as refused:
        await client.add({"service": str(COMMENTS), "link": "https://instagram.com/p/1", "comments": "a\nb"})
    assert refused.value.kind is RefusalKind.QUANTITY and refused.value.minimum == 5


async def test_a_second_active_order_for_the_same_link_is_a_duplicate(
    frozen: FixtureSandbox, client: PanelClient
) -> None:
    await place(client, FOLLOWERS, "https://instagram.com/same")
    with fails(PanelRefusal) as refused:
        await place(client, FOLLOWERS, "https://instagram.com/same")
    assert refused.value.kind is RefusalKind.DUPLICATE_ORDER
    assert len(frozen.orders(TEST_KEY)) == 1 and frozen.count("add") == 2


async def test_an_unknown_action_is_an_incorrect_request(sandbox: FixtureSandbox, client: PanelClient) -> None:
    with fails(PanelRefusal) as refused:
        await client._call("nope", {})
    assert refused.value.kind is RefusalKind.INCORRECT_REQUEST and refused.value.text == "Incorrect request"
    assert sandbox.count("nope") == 1


FORCED_ERRORS = [
    ("neworder.error.link_duplicate", RefusalKind.DUPLICATE_ORDER, None, None),
    ("You have active order with this link. Please wait until order being completed.",
     RefusalKind.DUPLICATE_ORDER, None, None),
    ("Not enough funds on balance", RefusalKind.NOT_ENOUGH_FUNDS, None, None),
    ("Incorrect service ID", RefusalKind.INCORRECT_SERVICE, None, None),
    ("Invalid API key", RefusalKind.INVALID_KEY, None, None),
    ("neworder.error.link", RefusalKind.BAD_LINK, None, None),
    ("Quantity less than minimal 1,000", RefusalKind.QUANTITY, 1000, None),
    ("Quantity more than maximum 250000", RefusalKind.QUANTITY, None, 250000),
    ("This services does not support Dripfeed feature!", RefusalKind.DRIPFEED_UNSUPPORTED, None, None),
    ("Incorrect request", RefusalKind.INCORRECT_REQUEST, None, None),
    ("Something odd happened", RefusalKind.OTHER, None, None),
]


@pytest.mark.parametrize(("text", "kind", "minimum", "maximum"), FORCED_ERRORS, ids=[e[0][:30] for e in FORCED_ERRORS])
async def test_a_forced_add_error_is_a_classified_refusal_sent_once_placing_nothing(
    text: str, kind: RefusalKind, minimum: int | None, maximum: int | None,
    sandbox: FixtureSandbox, make_client: MakeClient
) -> None:
    client = make_client(retries=5)
    sandbox.faults.set("add", error=text)
    with fails(PanelRefusal) as refused:
        await place(client)
    assert (refused.value.text, refused.value.kind) == (text, kind)
    assert (refused.value.minimum, refused.value.maximum) == (minimum, maximum)
    assert sandbox.count("add") == 1 and client.calls == 1 and sleeps_of(client) == []
    assert sandbox.orders(TEST_KEY) == []


@pytest.mark.parametrize("action", ["balance", "status", "services"])
async def test_a_forced_error_on_a_read_is_a_refusal_not_retried(
    action: str, sandbox: FixtureSandbox, client: PanelClient
) -> None:
    sandbox.faults.set(action, error="Incorrect order ID")
    with fails(PanelRefusal) as refused:
        if action == "balance":
            await client.balance()
        elif action == "status":
            await client.status(23501)
        else:
            await client.services()
    assert refused.value.kind is RefusalKind.INCORRECT_ORDER
    assert sandbox.count(action) == 1 and client.calls == 1


# --- 4. every fault mapped to the right error ----------------------------------------------------

READ_ACTIONS = ["balance", "status", "services", "refill_status"]

Read = Callable[[PanelClient], Awaitable[Any]]


async def prepare_read(action: str, sandbox: FixtureSandbox, client: PanelClient) -> Read:
    """Something for `action` to read (without a fault yet), and the call that reads it."""
    sandbox.speed = 0
    if action == "balance":
        return lambda c: c.balance()
    if action == "services":
        return lambda c: c.services()
    if action == "status":
        order_id = await place(client, link="https://instagram.com/read")
        return lambda c: c.status(order_id)
    order_id = await finished_order(client, sandbox, link="https://instagram.com/read")
    refill_id = await client.refill(order_id)
    return lambda c: c.refill_status(refill_id)


async def check_read_succeeds(action: str, read: Read, client: PanelClient) -> None:
    result = await read(client)
    if action == "balance":
        assert result == Balance(Decimal(100), "USD")
    elif action == "services":
        assert len(result) == len(builtin_catalog())
    else:
        assert result.status == PENDING and result.error is None


@pytest.mark.parametrize("action", READ_ACTIONS)
@pytest.mark.parametrize("http_status", [500, 502, 503])
async def test_a_read_answered_by_5xx_is_retried_with_backoff_then_unavailable(
    action: str, http_status: int, sandbox: FixtureSandbox, make_client: MakeClient
) -> None:
    client = make_client(timeout=FAULT_TIMEOUT)
    read = await prepare_read(action, sandbox, client)
    before, calls = sandbox.count(action), client.calls
    sandbox.faults.set(action, http_status=http_status)
    with fails(PanelUnavailable) as unavailable:
        await read(client)
    assert unavailable.value.status_code == http_status and unavailable.value.retry_after is None
    assert sandbox.count(action) - before == RETRIES + 1 == client.calls - calls
    delays = sleeps_of(client)
    assert len(delays) == RETRIES
    for attempt, delay in enumerate(delays):  # exponential, with jitter in [50%, 100%]
        assert BACKOFF * 2**attempt / 2 <= delay <= BACKOFF * 2**attempt


@pytest.mark.parametrize("action", READ_ACTIONS)
@pytest.mark.parametrize("kind", ["html", "malformed"])
async def test_a_read_answered_by_garbage_is_retried_then_unavailable(
    action: str, kind: str, sandbox: FixtureSandbox, make_client: MakeClient
) -> None:
    client = make_client(timeout=FAULT_TIMEOUT)
    read = await prepare_read(action, sandbox, client)
    before = sandbox.count(action)
    if kind == "html":
        sandbox.faults.set(action, html=True)
    else:
        sandbox.faults.set(action, malformed=True)
    with fails(PanelUnavailable) as unavailable:
        await read(client)
    assert unavailable.value.status_code == 200
    assert ("HTML" if kind == "html" else "malformed") in unavailable.value.reason
    assert sandbox.count(action) - before == RETRIES + 1 and len(sleeps_of(client)) == RETRIES


@pytest.mark.parametrize("action", READ_ACTIONS)
async def test_a_rate_limited_read_waits_the_retry_after_then_is_unavailable_with_it(
    action: str, sandbox: FixtureSandbox, make_client: MakeClient
) -> None:
    client = make_client(timeout=FAULT_TIMEOUT)
    read = await prepare_read(action, sandbox, client)
    before = sandbox.count(action)
    sandbox.faults.set(action, rate_limit=7)
    with fails(PanelUnavailable) as unavailable:
        await read(client)
    assert (unavailable.value.status_code, unavailable.value.retry_after) == (429, 7.0)
    assert sleeps_of(client) == [7.0] * RETRIES
    assert sandbox.count(action) - before == RETRIES + 1


@pytest.mark.parametrize("action", READ_ACTIONS)
async def test_a_read_rate_limited_once_succeeds_after_waiting_the_retry_after(
    action: str, sandbox: FixtureSandbox, make_client: MakeClient
) -> None:
    client = make_client(timeout=FAULT_TIMEOUT)
    read = await prepare_read(action, sandbox, client)
    before = sandbox.count(action)
    sandbox.faults.set(action, rate_limit=3, times=1)
    await check_read_succeeds(action, read, client)
    assert sleeps_of(client) == [3.0]
    assert sandbox.count(action) - before == 2


async def test_a_retry_after_beyond_the_cap_is_not_waited_for(sandbox: FixtureSandbox, make_client: MakeClient) -> None:
    client = make_client(timeout=FAULT_TIMEOUT, max_retry_after=30.0)
    sandbox.faults.set("balance", rate_limit=60)
    with fails(PanelUnavailable) as unavailable:
        await client.balance()
    assert (unavailable.value.status_code, unavailable.value.retry_after) == (429, 60.0)
    assert sleeps_of(client) == [] and sandbox.count("balance") == 1


@pytest.mark.parametrize("action", ["balance", "status", "services"])
async def test_a_hung_read_times_out_each_try_then_is_unavailable(
    action: str, sandbox: FixtureSandbox, make_client: MakeClient
) -> None:
    client = make_client(timeout=FAULT_TIMEOUT)
    read = await prepare_read(action, sandbox, client)
    before = sandbox.count(action)
    sandbox.faults.set(action, hang=True)
    with fails(PanelUnavailable) as unavailable:
        await read(client)
    assert "timed out" in unavailable.value.reason and unavailable.value.status_code is None
    assert sandbox.count(action) - before == RETRIES + 1 and len(sleeps_of(client)) == RETRIES


@pytest.mark.parametrize("action", READ_ACTIONS)
async def test_a_read_slower_than_usual_but_within_the_timeout_succeeds_first_time(
    action: str, sandbox: FixtureSandbox, make_client: MakeClient
) -> None:
    client = make_client(timeout=FAULT_TIMEOUT)
    read = await prepare_read(action, sandbox, client)
    before = sandbox.count(action)
    sandbox.faults.set(action, latency=0.05)
    await check_read_succeeds(action, read, client)
    assert sandbox.count(action) - before == 1 and sleeps_of(client) == []


TRANSIENT: dict[str, dict[str, Any]] = {"502": {"http_status": 502}, "html": {"html": True}, "malformed": {"malformed": True},
             "hang": {"hang": True}, "slow": {"latency": 0.6}}


@pytest.mark.parametrize(
    ("fault", "action"),
    # The timeouts cost real time: they run on three reads, not on refill_status too.
    [(f, a) for f in TRANSIENT for a in READ_ACTIONS if not (f in ("hang", "slow") and a == "refill_status")],
)
async def test_a_transient_read_fault_is_recovered_by_the_retry(
    fault: str, action: str, sandbox: FixtureSandbox, make_client: MakeClient
) -> None:
    client = make_client(timeout=FAULT_TIMEOUT)
    read = await prepare_read(action, sandbox, client)
    before = sandbox.count(action)
    sandbox.faults.set(action, times=1, **TRANSIENT[fault])
    await check_read_succeeds(action, read, client)
    assert sandbox.count(action) - before == 2 and len(sleeps_of(client)) == 1


# Faults that act after the panel did the work: the order exists, the reply is lost.
BROKEN_REPLIES: dict[str, dict[str, Any]] = {
    "hang": {"hang": True},
    "500": {"http_status": 500},
    "502": {"http_status": 502},
    "503": {"http_status": 503},
    "504": {"http_status": 504},
    "html": {"html": True},
    "malformed": {"malformed": True},
    "slower-than-timeout": {"latency": 0.6},
}


@pytest.mark.parametrize("fault", list(BROKEN_REPLIES))
async def test_add_with_a_lost_reply_is_sent_exactly_once_and_outcome_unknown(
    fault: str, sandbox: FixtureSandbox, make_client: MakeClient
) -> None:
    client = make_client(timeout=FAULT_TIMEOUT, retries=5)
    sandbox.faults.set("add", **BROKEN_REPLIES[fault])
    with fails(OutcomeUnknown) as unknown:
        await place(client, FOLLOWERS, "https://instagram.com/lost", 1000)
    assert unknown.value.action == "add"
    assert sandbox.count("add") == 1 and client.calls == 1 and sleeps_of(client) == []
    orders = sandbox.orders(TEST_KEY)
    assert len(orders) <= 1
    # The books agree with whatever happened: charged once or not at all.
    assert sandbox.balance(TEST_KEY) == Decimal(100) - sum((o.charge for o in orders), Decimal(0))


async def test_add_slower_than_usual_but_within_the_timeout_succeeds(
    sandbox: FixtureSandbox, make_client: MakeClient
) -> None:
    client = make_client(timeout=FAULT_TIMEOUT, retries=5)
    sandbox.faults.set("add", latency=0.05)
    order_id = await place(client)
    assert [o.id for o in sandbox.orders(TEST_KEY)] == [order_id] and sandbox.count("add") == 1


async def test_a_rate_limited_add_is_unavailable_not_unknown_sent_once_placing_nothing(
    sandbox: FixtureSandbox, make_client: MakeClient
) -> None:
    client = make_client(timeout=FAULT_TIMEOUT, retries=5)
    sandbox.faults.set("add", rate_limit=2)
    with fails(PanelUnavailable) as unavailable:
        await place(client)
    assert not isinstance(unavailable.value, OutcomeUnknown)
    assert (unavailable.value.status_code, unavailable.value.retry_after) == (429, 2.0)
    assert sandbox.count("add") == 1 and client.calls == 1 and sleeps_of(client) == []
    assert sandbox.orders(TEST_KEY) == []


# (fault, batch): the batch calls share the single call's transport, so no second hang.
WRITE_FAULTS = [("hang", False), ("502", False), ("malformed", False), ("502", True), ("malformed", True)]
WRITE_FAULT_IDS = [f"{fault}-{'batch' if batch else 'single'}" for fault, batch in WRITE_FAULTS]


@pytest.mark.parametrize("fault", ["hang", "502", "malformed"])
async def test_refill_with_a_lost_reply_is_sent_exactly_once_and_outcome_unknown(
    fault: str, frozen: FixtureSandbox, make_client: MakeClient
) -> None:
    client = make_client(timeout=FAULT_TIMEOUT, retries=5)
    order_id = await finished_order(client, frozen)
    frozen.faults.set("refill", **BROKEN_REPLIES[fault])
    with fails(OutcomeUnknown) as unknown:
        await client.refill(order_id)
    assert unknown.value.action == "refill"
    assert frozen.count("refill") == 1 and sleeps_of(client) == []
    assert len(frozen.refills(TEST_KEY)) <= 1


@pytest.mark.parametrize(("fault", "batch"), WRITE_FAULTS, ids=WRITE_FAULT_IDS)
async def test_cancel_with_a_lost_reply_is_sent_exactly_once_and_outcome_unknown(
    fault: str, batch: bool, frozen: FixtureSandbox, make_client: MakeClient
) -> None:
    client = make_client(timeout=FAULT_TIMEOUT, retries=5)
    order_id = await place(client, BOTS, "https://instagram.com/c")
    frozen.faults.set("cancel", **BROKEN_REPLIES[fault])
    with fails(OutcomeUnknown) as unknown:
        await (client.cancels([order_id]) if batch else client.cancel(order_id))
    assert unknown.value.action == "cancel"
    assert frozen.count("cancel") == 1 and sleeps_of(client) == []


@pytest.mark.parametrize("action", ["refill", "cancel"])
async def test_rate_limited_refill_and_cancel_are_unavailable_and_sent_once(
    action: str, frozen: FixtureSandbox, make_client: MakeClient
) -> None:
    client = make_client(timeout=FAULT_TIMEOUT, retries=5)
    order_id = await finished_order(client, frozen) if action == "refill" else await place(client, BOTS)
    frozen.faults.set(action, rate_limit=1)
    with fails(PanelUnavailable) as unavailable:
        await (client.refill(order_id) if action == "refill" else client.cancel(order_id))
    assert not isinstance(unavailable.value, OutcomeUnknown) and unavailable.value.status_code == 429
    assert frozen.count(action) == 1
    assert frozen.refills(TEST_KEY) == [] and not frozen.order(order_id).cancel_requested


WRITES: dict[str, Callable[[PanelClient], Awaitable[Any]]] = {
    "add": lambda c: place(c),
    "refill": lambda c: c.refill(23501),
    "cancel": lambda c: c.cancel(23501),
}


@pytest.mark.parametrize("write", list(WRITES))
async def test_a_write_to_a_port_nobody_listens_on_is_retried_then_unavailable(
    write: str, make_client: MakeClient
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))  # bound but not listening: connections are refused
        port = unused.getsockname()[1]
        client = make_client(url=f"http://127.0.0.1:{port}/api/v2", timeout=FAULT_TIMEOUT)
        with fails(PanelUnavailable) as unavailable:
            await WRITES[write](client)
    assert not isinstance(unavailable.value, OutcomeUnknown)
    assert "cannot connect" in unavailable.value.reason and unavailable.value.status_code is None
    assert client.calls == RETRIES + 1 and len(sleeps_of(client)) == RETRIES


async def test_add_to_a_stopped_panel_is_retried_then_unavailable_and_places_nothing(
    sandbox: FixtureSandbox, make_client: MakeClient
) -> None:
    client = make_client(timeout=FAULT_TIMEOUT)
    await client.balance()  # a kept-alive connection to the panel that is about to go away
    await sandbox.stop()
    with fails(PanelUnavailable) as unavailable:
        await place(client)
    assert not isinstance(unavailable.value, OutcomeUnknown)
    assert client.calls == 1 + RETRIES + 1 and len(sleeps_of(client)) == RETRIES
    assert sandbox.count("add") == 0 and sandbox.orders(TEST_KEY) == []


async def test_the_client_recovers_when_the_panel_comes_back_on_its_address(
    sandbox: FixtureSandbox, make_client: MakeClient
) -> None:
    client = make_client(timeout=FAULT_TIMEOUT)
    await client.balance()
    port = int(sandbox.url.rsplit(":", 1)[1].split("/")[0])
    await sandbox.stop()
    with fails(PanelUnavailable):
        await place(client, link="https://instagram.com/while-down")
    await sandbox.start(port=port)
    order_id = await place(client, link="https://instagram.com/back")
    assert [o.id for o in sandbox.orders(TEST_KEY)] == [order_id]
    assert sandbox.count("add") == 1


async def test_reads_from_a_stopped_panel_are_unavailable(sandbox: FixtureSandbox, make_client: MakeClient) -> None:
    client = make_client(timeout=FAULT_TIMEOUT)
    await sandbox.stop()
    for read in (client.balance(), client.statuses([1, 2]), client.services()):
        with fails(PanelUnavailable):
            await read
    assert client.calls == 3 * (RETRIES + 1)


# --- 5. the key never leaks ----------------------------------------------------------------------


async def test_the_key_stays_out_of_every_error_repr_and_log_line(
    sandbox: FixtureSandbox, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(timeout=FAULT_TIMEOUT)
    wrong = make_client(WRONG_KEY, timeout=FAULT_TIMEOUT)
    for shown in (repr(client), str(client), repr(client._key), repr(wrong)):
        _assert_secret_free(shown, "a client repr")
    attempts: list[tuple[dict[str, Any] | None, Callable[[], Awaitable[Any]]]] = [
        (None, wrong.balance),
        (None, lambda: wrong.add({"service": "1011", "link": "https://instagram.com/k", "quantity": "100"})),
        ({"http_status": 502}, client.balance),
        ({"malformed": True}, client.services),
        ({"html": True}, lambda: client.statuses([1, 2, 3])),
        ({"rate_limit": 1}, client.balance),
        ({"hang": True}, lambda: place(client)),
        ({"http_status": 500}, lambda: place(client, link="https://instagram.com/k2")),
        ({"error": f"Invalid API key {TEST_KEY[:4]}"}, lambda: place(client, link="https://instagram.com/k3")),
    ]
    errors: list[BaseException] = []
    for fault, call in attempts:
        sandbox.faults.clear()
        if fault is not None:
            sandbox.faults.set("*", **fault)
        try:
            await call()
        except Exception as exc:  # noqa: BLE001 - every kind is checked below
            errors.append(exc)
    assert len(errors) == len(attempts)
    assert {type(e) for e in errors} == {PanelRefusal, PanelUnavailable, OutcomeUnknown}
    for error in errors:
        assert_no_key_in(error)
    assert any(r.name == "bot.panel.client" for r in caplog.records)  # the client did log
    for record in caplog.records:
        _assert_secret_free(record.getMessage(), f"the log line of {record.name}")
    # The panel saw the key (it authenticated), but its request log keeps only a hint.
    assert all("key" not in r.fields for r in sandbox.requests)
    assert {r.key_hint for r in sandbox.requests} == {TEST_KEY[-4:], WRONG_KEY[-4:]}
