"""The sandbox panel, over real loopback HTTP: API v2 as the seed shows it, the panel's
rules and error strings, order progress, refills, cancels, faults and the request log."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.panel.fields import SERVICE_TYPES, build_add_params, quote
from bot.panel.models import Service
from bot.panel.status import CANCELED, COMPLETED, IN_PROGRESS, PARTIAL, PENDING
from bot.playground.sandbox import SandboxPanel
from bot.playground.sandbox.cli import main as cli_main
from bot.playground.sandbox.faults import Faults
from tests.conftest import FixtureSandbox

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).parent.parent

# Built-in services the tests lean on (bot/playground/sandbox/catalog.py).
FOLLOWERS = 1011  # Default, rate 0.90, 50..50000, dripfeed, refill, cancel
LIKES = 1021  # Default, rate 0.12, 20..100000, dripfeed, refill, cancel
BOTS = 1013  # Default, rate 0.32, cancel only, no drip-feed
USA_FOLLOWERS = 1014  # Default, refill but no cancel
COMMENTS = 1031  # Custom Comments, rate 12.00, 5..500
PACKAGE = 1061  # Package, rate 49.00
AUTO_LIKES = 1051  # Subscriptions, rate 0.15, 50..10000
WEB = 9801  # Web Traffic, rate 0.35

DUPLICATE = "You have active order with this link. Please wait until order being completed."


@pytest.fixture
async def client() -> Any:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield http


async def api(client: httpx.AsyncClient, sandbox: SandboxPanel, key: str, action: str | None, **fields: Any) -> Any:
    """POST one API v2 call the way panels expect it: form-encoded, key and action."""
    data = {"key": key, **({"action": action} if action is not None else {}), **{k: str(v) for k, v in fields.items()}}
    response = await client.post(sandbox.url, data=data)
    assert response.status_code == 200
    return response.json()


async def order(client: httpx.AsyncClient, sandbox: FixtureSandbox, link: str, **fields: Any) -> int:
    fields.setdefault("service", FOLLOWERS)
    fields.setdefault("quantity", 1000)
    reply = await api(client, sandbox, sandbox.test_key, "add", link=link, **fields)
    assert set(reply) == {"order"}, reply
    assert isinstance(reply["order"], int)
    return int(reply["order"])


# --- transport and authentication ------------------------------------------------------


async def test_start_returns_the_api_v2_url(sandbox: FixtureSandbox) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v2", sandbox.url)


async def test_a_wrong_or_missing_key_is_refused(sandbox: FixtureSandbox, client: httpx.AsyncClient) -> None:
    assert await api(client, sandbox, "no-such-key", "balance") == {"error": "Invalid API key"}
    assert await api(client, sandbox, "", "services") == {"error": "Invalid API key"}


async def test_a_missing_or_unknown_action_is_an_incorrect_request(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    assert await api(client, sandbox, sandbox.test_key, None) == {"error": "Incorrect request"}
    assert await api(client, sandbox, sandbox.test_key, "withdraw") == {"error": "Incorrect request"}


async def test_the_same_fields_are_accepted_as_a_get_query_string(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    response = await client.get(sandbox.url, params={"key": sandbox.test_key, "action": "balance"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"balance": "100.00000", "currency": "USD"}


# --- services ----------------------------------------------------------------------------


async def test_services_are_served_in_the_seed_shape(sandbox: FixtureSandbox, client: httpx.AsyncClient) -> None:
    services = await api(client, sandbox, sandbox.test_key, "services")
    assert services == sandbox.services
    assert len(services) >= 60
    for item in services:
        assert list(item)[:10] == [
            "service", "name", "type", "category", "rate", "min", "max", "dripfeed", "refill", "cancel",
        ]
        assert isinstance(item["service"], int) and item["service"] > 100
        assert all(isinstance(item[name], str) for name in ("name", "type", "category", "rate", "min", "max"))
        assert all(isinstance(item[flag], bool) for flag in ("dripfeed", "refill", "cancel"))
        assert Decimal(item["rate"]) > 0 and int(item["min"]) <= int(item["max"])
    assert len({item["service"] for item in services}) == len(services)


async def test_the_builtin_catalog_is_realistic_and_covers_every_type(sandbox: FixtureSandbox) -> None:
    services = sandbox.services
    assert {t.name for t in SERVICE_TYPES} <= {item["type"] for item in services}
    platforms = ("Instagram", "TikTok", "YouTube", "Telegram", "Facebook", "Twitter", "Spotify", "Twitch", "Website")
    for platform in platforms:
        assert any(platform in item["category"] for item in services), platform
    for flag in ("refill", "cancel", "dripfeed"):
        assert any(item[flag] for item in services) and not all(item[flag] for item in services)
    names = [item["name"] for item in services]
    assert any("desc" in item for item in services)
    assert any(re.search(r"[\U0001F300-\U0001FAFF]", name) for name in names)
    assert any("<" in name and ">" in name for name in names)
    assert any(re.search(r"&(?!amp;)", name) for name in names)
    assert any("&amp;" in name for name in names)
    assert "0.90" in {item["rate"] for item in services}


async def test_a_real_catalog_file_is_served_back_as_loaded(client: httpx.AsyncClient) -> None:
    path = DATA / "smmwiz-services.json"
    original = json.loads(path.read_text(encoding="utf-8"))
    async with SandboxPanel(path) as sandbox:
        key = sandbox.add_account(balance="10")
        served = await api(client, sandbox, key, "services")
        assert len(served) == 7230
        assert served == original  # integers stay integers, entities stay entities

        # Orders are validated against the real services, parsed as the bot parses them.
        item = next(
            i for i in original
            if i["type"] == "Default" and i["min"] <= 1000 <= i["max"] and not i["dripfeed"] and Decimal(i["rate"]) < 5
        )
        reply = await api(client, sandbox, key, "add", service=item["service"], link="https://x.com/a", quantity=1000)
        assert set(reply) == {"order"}
        assert sandbox.balance(key) == Decimal("10") - Decimal(item["rate"]).quantize(Decimal("0.00001"))
        too_few = await api(client, sandbox, key, "add", service=item["service"], link="https://x.com/b", quantity=1)
        assert too_few == {"error": f"Quantity less than minimal {item['min']}"}


# --- balance -----------------------------------------------------------------------------


async def test_balance_is_a_five_decimal_string_with_the_account_currency(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    assert await api(client, sandbox, sandbox.test_key, "balance") == {"balance": "100.00000", "currency": "USD"}
    rub = sandbox.add_account("rub-key-7777", "12345.6789", "RUB")
    assert await api(client, sandbox, rub, "balance") == {"balance": "12345.67890", "currency": "RUB"}


# --- add ---------------------------------------------------------------------------------


async def test_add_charges_rate_times_quantity_per_thousand_in_decimal(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    first = await order(client, sandbox, "https://instagram.com/alice", quantity=1000)
    assert first == 23501
    assert sandbox.balance(sandbox.test_key) == Decimal("99.10000")
    second = await order(client, sandbox, "https://instagram.com/bob", service=LIKES, quantity=333)
    assert second == 23502
    # 0.12 x 333 / 1000 = 0.03996, exactly.
    assert sandbox.balance(sandbox.test_key) == Decimal("99.06004")
    assert await api(client, sandbox, sandbox.test_key, "balance") == {"balance": "99.06004", "currency": "USD"}


async def test_drip_feed_multiplies_quantity_and_charge_by_runs(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    order_id = await order(client, sandbox, "https://instagram.com/drip", quantity=100, runs=5, interval=30)
    placed = sandbox.order(order_id)
    assert placed.quantity == 500
    assert placed.charge == Decimal("0.45")  # 0.90 x 100 x 5 / 1000
    assert placed.fields == {"service": str(FOLLOWERS), "link": "https://instagram.com/drip", "quantity": "100",
                             "runs": "5", "interval": "30"}
    assert sandbox.balance(sandbox.test_key) == Decimal("99.55")


async def test_drip_feed_on_a_service_without_it_is_refused(sandbox: FixtureSandbox, client: httpx.AsyncClient) -> None:
    reply = await api(client, sandbox, sandbox.test_key, "add", service=BOTS, link="https://instagram.com/a",
                      quantity=100, runs=3, interval=10)
    assert reply == {"error": "This services does not support Dripfeed feature!"}
    assert sandbox.orders(sandbox.test_key) == []


@pytest.mark.parametrize(
    ("quantity", "error"),
    [(49, "Quantity less than minimal 50"), (50001, "Quantity more than maximum 50000"),
     ("lots", "Quantity less than minimal 50")],
)
async def test_quantity_outside_the_service_range_is_refused(
    sandbox: FixtureSandbox, client: httpx.AsyncClient, quantity: Any, error: str
) -> None:
    reply = await api(client, sandbox, sandbox.test_key, "add", service=FOLLOWERS, link="https://a.com/x",
                      quantity=quantity)
    assert reply == {"error": error}
    assert sandbox.balance(sandbox.test_key) == Decimal(100)


async def test_custom_comments_count_their_lines_against_min_and_max(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    reply = await api(client, sandbox, sandbox.test_key, "add", service=COMMENTS, link="https://instagram.com/p/1",
                      comments="nice\ngreat")
    assert reply == {"error": "Quantity less than minimal 5"}


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"service": FOLLOWERS, "quantity": 100}, "There are missing required parameters. Please check your API Manual"),
        ({"service": FOLLOWERS, "link": "https://a.com/x"},
         "There are missing required parameters. Please check your API Manual"),
        ({"service": FOLLOWERS, "link": "not a link", "quantity": 100}, "Bad Link"),
        ({"service": FOLLOWERS, "link": "ftp://a.com/x", "quantity": 100}, "Bad Link"),
        ({"service": 999999, "link": "https://a.com/x", "quantity": 100}, "Incorrect service ID"),
        ({"link": "https://a.com/x", "quantity": 100}, "Incorrect service ID"),
        ({"service": WEB, "link": "https://a.com", "quantity": 1000, "country": "US", "device": "9",
          "type_of_traffic": "3"}, "Incorrect device"),
        ({"service": AUTO_LIKES, "username": "alice", "min": 50, "max": 100},
         "There are missing required parameters. Please check your API Manual"),
    ],
)
async def test_invalid_add_fields_get_the_panels_words(
    sandbox: FixtureSandbox, client: httpx.AsyncClient, fields: dict[str, Any], error: str
) -> None:
    assert await api(client, sandbox, sandbox.test_key, "add", **fields) == {"error": error}
    assert sandbox.orders(sandbox.test_key) == []


async def test_not_enough_funds_creates_no_order(sandbox: FixtureSandbox, client: httpx.AsyncClient) -> None:
    sandbox.set_balance(sandbox.test_key, "0.89999")
    reply = await api(client, sandbox, sandbox.test_key, "add", service=FOLLOWERS, link="https://a.com/x",
                      quantity=1000)
    assert reply == {"error": "Not enough funds on balance"}
    assert sandbox.orders(sandbox.test_key) == []
    assert sandbox.balance(sandbox.test_key) == Decimal("0.89999")
    # Exactly enough is enough.
    sandbox.set_balance(sandbox.test_key, "0.90")
    await order(client, sandbox, "https://a.com/x")
    assert sandbox.balance(sandbox.test_key) == Decimal(0)


async def test_a_second_active_order_for_the_same_link_and_service_is_refused(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    first = await order(client, sandbox, "https://instagram.com/same")
    reply = await api(client, sandbox, sandbox.test_key, "add", service=FOLLOWERS, link="https://instagram.com/same",
                      quantity=100)
    assert reply == {"error": DUPLICATE}
    # Another service, or another account, may use the link.
    await order(client, sandbox, "https://instagram.com/same", service=LIKES)
    other = sandbox.add_account("other-key-0002")
    assert "order" in await api(client, sandbox, other, "add", service=FOLLOWERS, link="https://instagram.com/same",
                                quantity=100)
    # Once the first order is finished the link is free again.
    sandbox.set_status(first, COMPLETED)
    await order(client, sandbox, "https://instagram.com/same")


def _valid_fields(item: dict[str, Any]) -> dict[str, str]:
    """Fields a user would enter for a service of each type in the built-in catalog."""
    low = int(item["min"])
    lines = "\n".join(f"line {n}" for n in range(max(low, 2)))
    by_type: dict[str, dict[str, str]] = {
        "Default": {"link": "https://example.com/p", "quantity": str(low)},
        "Package": {"link": "https://example.com/p"},
        "SEO": {"link": "https://example.com", "quantity": str(low), "keywords": "smm panel\nbuy likes"},
        "Custom Comments": {"link": "https://example.com/p", "comments": lines},
        "Custom Comments Package": {"link": "https://example.com/p", "comments": "wow\nnice"},
        "Mentions": {"link": "https://example.com/p", "quantity": str(low), "usernames": "ann\nbob"},
        "Mentions with Hashtags": {"link": "https://example.com/p", "quantity": str(low), "usernames": "ann",
                                   "hashtags": "#a\n#b"},
        "Mentions Custom List": {"link": "https://example.com/p", "usernames": lines},
        "Mentions Hashtag": {"link": "https://example.com/p", "quantity": str(low), "hashtag": "travel"},
        "Mentions User Followers": {"link": "https://example.com/p", "quantity": str(low), "username": "natgeo"},
        "Mentions Media Likers": {"link": "https://example.com/p", "quantity": str(low),
                                  "media": "https://instagram.com/p/xyz"},
        "Comment Likes": {"link": "https://example.com/p", "quantity": str(low), "username": "ann"},
        "Comment Replies": {"link": "https://example.com/p", "username": "ann", "comments": lines},
        "Poll": {"link": "https://t.me/c/1/2", "quantity": str(low), "answer_number": "2"},
        "Invites from Groups": {"link": "https://t.me/mygroup", "quantity": str(low), "groups": "t.me/a\nt.me/b"},
        "Subscriptions": {"username": "ann", "min": str(low), "max": str(low * 2), "delay": "30", "posts": "4"},
        "Web Traffic": {"link": "https://example.com", "quantity": str(low), "country": "US", "device": "4",
                        "type_of_traffic": "1", "google_keyword": "smm panel"},
    }
    return by_type[item["type"]]


async def test_every_builtin_service_takes_an_order_charged_by_the_shared_quote(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    sandbox.set_balance(sandbox.test_key, "100000")
    expected_total = Decimal("100000")
    for item in sandbox.services:
        fields = _valid_fields(item)
        reply = await api(client, sandbox, sandbox.test_key, "add", service=item["service"], **fields)
        assert set(reply) == {"order"}, (item, reply)
        service = Service.from_api(item)
        assert service is not None
        expected = quote(service, build_add_params(service, fields)).high.quantize(Decimal("0.00001"))
        assert sandbox.order(reply["order"]).charge == expected, item
        expected_total -= expected
    assert sandbox.balance(sandbox.test_key) == expected_total


async def test_packages_are_flat_priced_and_subscriptions_charge_the_max_per_post(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    package = await api(client, sandbox, sandbox.test_key, "add", service=PACKAGE, link="https://instagram.com/me")
    assert sandbox.order(package["order"]).charge == Decimal("49.00")
    subscription = await api(client, sandbox, sandbox.test_key, "add", service=AUTO_LIKES, username="me", min=50,
                             max=1000, delay=0)
    assert sandbox.order(subscription["order"]).charge == Decimal("0.15")  # 0.15 x 1000 / 1000
    assert sandbox.balance(sandbox.test_key) == Decimal("50.85")


# --- status ------------------------------------------------------------------------------


async def test_status_of_one_order_in_the_seed_shape(sandbox: FixtureSandbox, client: httpx.AsyncClient) -> None:
    order_id = await order(client, sandbox, "https://instagram.com/x")
    reply = await api(client, sandbox, sandbox.test_key, "status", order=order_id)
    assert reply == {"charge": "0.90000", "start_count": "0", "status": "Pending", "remains": "1000",
                     "currency": "USD"}
    assert list(reply) == ["charge", "start_count", "status", "remains", "currency"]


async def test_status_of_several_orders_is_keyed_by_id_strings(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    a = await order(client, sandbox, "https://instagram.com/a")
    b = await order(client, sandbox, "https://instagram.com/b", quantity=100)
    reply = await api(client, sandbox, sandbox.test_key, "status", orders=f"{a}, {b},10")
    assert reply == {
        str(a): {"charge": "0.90000", "start_count": "0", "status": "Pending", "remains": "1000", "currency": "USD"},
        str(b): {"charge": "0.09000", "start_count": "0", "status": "Pending", "remains": "100", "currency": "USD"},
        "10": {"error": "Incorrect order ID"},
    }


async def test_status_of_an_unknown_order_is_an_incorrect_order_id(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    assert await api(client, sandbox, sandbox.test_key, "status", order=1) == {"error": "Incorrect order ID"}
    assert await api(client, sandbox, sandbox.test_key, "status", order="abc") == {"error": "Incorrect order ID"}
    assert await api(client, sandbox, sandbox.test_key, "status") == {"error": "Incorrect order ID"}


@pytest.mark.parametrize(("action", "field"), [("status", "orders"), ("refill", "orders"),
                                               ("refill_status", "refills"), ("cancel", "orders")])
async def test_batches_take_up_to_100_ids(
    sandbox: FixtureSandbox, client: httpx.AsyncClient, action: str, field: str
) -> None:
    hundred = ",".join(str(n) for n in range(1, 101))
    reply = await api(client, sandbox, sandbox.test_key, action, **{field: hundred})
    assert len(reply) == 100
    too_many = ",".join(str(n) for n in range(1, 102))
    assert await api(client, sandbox, sandbox.test_key, action, **{field: too_many}) == {"error": "Incorrect request"}


async def test_an_order_goes_pending_then_in_progress_with_falling_remains_then_finishes(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    order_id = await order(client, sandbox, "https://instagram.com/progress")
    seen: list[dict[str, str]] = []
    for _ in range(50):
        seen.append(await api(client, sandbox, sandbox.test_key, "status", order=order_id))
        sandbox.advance(5)
    statuses = [s["status"] for s in seen]
    first_running = statuses.index(IN_PROGRESS)
    first_final = next(i for i, s in enumerate(statuses) if s in (COMPLETED, PARTIAL))
    assert set(statuses[:first_running]) == {PENDING}
    assert set(statuses[first_running:first_final]) == {IN_PROGRESS}
    assert first_final - first_running >= 8  # at least 45 s of delivery at speed 1
    assert first_final * 5 <= 180  # and done within about 3 minutes
    remains = [int(s["remains"]) for s in seen]
    assert remains[:first_running] == [1000] * first_running
    running = remains[first_running:first_final]
    assert running == sorted(running, reverse=True) and running[0] > running[-1]
    assert all(s["start_count"] == "0" for s in seen[:first_running])
    start_counts = {s["start_count"] for s in seen[first_running:]}
    assert len(start_counts) == 1 and 0 <= int(start_counts.pop()) <= 5000
    if statuses[first_final] == COMPLETED:
        assert remains[first_final] == 0


async def test_time_runs_by_itself_at_the_configured_speed(client: httpx.AsyncClient) -> None:
    async with SandboxPanel(speed=1000) as sandbox:
        key = sandbox.add_account()
        reply = await api(client, sandbox, key, "add", service=FOLLOWERS, link="https://a.com/x", quantity=100)
        await asyncio.sleep(0.4)  # 400 virtual seconds
        status = await api(client, sandbox, key, "status", order=reply["order"])
        assert status["status"] in (COMPLETED, PARTIAL)


async def test_about_a_fifth_of_orders_end_partial_with_a_proportional_refund(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    ids = [await order(client, sandbox, f"https://instagram.com/p{n}", service=LIKES) for n in range(20)]
    assert sandbox.balance(sandbox.test_key) == Decimal("100") - 20 * Decimal("0.12")
    sandbox.advance(300)
    replies = await api(client, sandbox, sandbox.test_key, "status", orders=",".join(map(str, ids)))
    partial = [r for r in replies.values() if r["status"] == PARTIAL]
    completed = [r for r in replies.values() if r["status"] == COMPLETED]
    assert len(partial) + len(completed) == 20
    assert 1 <= len(partial) <= 8
    for reply in partial:
        delivered = 1000 - int(reply["remains"])
        assert 0 < delivered < 1000
        assert Decimal(reply["charge"]) == (Decimal("0.12") * delivered / 1000).quantize(Decimal("0.00001"))
    for reply in completed:
        assert reply["remains"] == "0" and reply["charge"] == "0.12000"
    charged = sum(Decimal(r["charge"]) for r in replies.values())
    assert sandbox.balance(sandbox.test_key) == Decimal(100) - charged


async def test_the_same_seed_tells_the_same_story(client: httpx.AsyncClient) -> None:
    async def story(seed: int) -> list[tuple[str, int, int]]:
        async with SandboxPanel(speed=0, seed=seed) as sandbox:
            key = sandbox.add_account()
            for n in range(10):
                await api(client, sandbox, key, "add", service=LIKES, link=f"https://a.com/{n}", quantity=1000)
            sandbox.advance(300)
            return [(o.status, o.remains, o.start_count) for o in sandbox.orders(key)]

    assert await story(0) == await story(0)
    assert await story(0) != await story(1)


async def test_set_status_forces_an_order_and_moves_the_money_like_a_panel(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    order_id = await order(client, sandbox, "https://instagram.com/forced")
    sandbox.set_status(order_id, IN_PROGRESS, remains=400)
    sandbox.advance(1000)  # a forced order stays where it was put
    reply = await api(client, sandbox, sandbox.test_key, "status", order=order_id)
    assert (reply["status"], reply["remains"]) == (IN_PROGRESS, "400")
    sandbox.set_status(order_id, PARTIAL, remains=250)
    assert await api(client, sandbox, sandbox.test_key, "status", order=order_id) == {
        "charge": "0.67500", "start_count": reply["start_count"], "status": "Partial", "remains": "250",
        "currency": "USD",
    }
    assert sandbox.balance(sandbox.test_key) == Decimal("99.325")
    sandbox.set_status(order_id, "Cancelled")  # any spelling a panel might send
    assert (await api(client, sandbox, sandbox.test_key, "status", order=order_id))["status"] == "Cancelled"


# --- refill ------------------------------------------------------------------------------


async def test_refill_of_a_finished_order_then_its_progress(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    order_id = await order(client, sandbox, "https://instagram.com/refill")
    sandbox.advance(200)
    assert await api(client, sandbox, sandbox.test_key, "refill", order=order_id) == {"refill": "4001"}
    assert await api(client, sandbox, sandbox.test_key, "refill_status", refill=4001) == {"status": "Pending"}
    # One refill at a time per order.
    assert await api(client, sandbox, sandbox.test_key, "refill", order=order_id) == {
        "error": "The refill task is not completed for this order"
    }
    sandbox.advance(20)
    assert await api(client, sandbox, sandbox.test_key, "refill_status", refill=4001) == {"status": "In progress"}
    sandbox.advance(100)
    assert await api(client, sandbox, sandbox.test_key, "refill_status", refill=4001) == {"status": "Completed"}
    assert await api(client, sandbox, sandbox.test_key, "refill", order=order_id) == {"refill": "4002"}


async def test_refill_is_refused_where_the_service_or_order_does_not_allow_it(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    no_refill = await order(client, sandbox, "https://instagram.com/a", service=BOTS)
    unfinished = await order(client, sandbox, "https://instagram.com/b")
    assert await api(client, sandbox, sandbox.test_key, "refill", order=unfinished) == {
        "error": "Refill is disabled for this order"
    }
    sandbox.advance(200)
    assert await api(client, sandbox, sandbox.test_key, "refill", order=no_refill) == {
        "error": "Refill is disabled for this service"
    }
    assert await api(client, sandbox, sandbox.test_key, "refill", order=99) == {"error": "Incorrect order ID"}


async def test_refill_and_refill_status_batches_in_the_seed_shape(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    a = await order(client, sandbox, "https://instagram.com/a")
    b = await order(client, sandbox, "https://instagram.com/b")
    sandbox.advance(200)
    reply = await api(client, sandbox, sandbox.test_key, "refill", orders=f"{a},{b},3")
    assert reply == [
        {"order": a, "refill": 4001},
        {"order": b, "refill": 4002},
        {"order": 3, "refill": {"error": "Incorrect order ID"}},
    ]
    sandbox.set_refill_status(4002, "Rejected")
    sandbox.advance(200)
    assert await api(client, sandbox, sandbox.test_key, "refill_status", refills="4001,4002,3") == [
        {"refill": 4001, "status": "Completed"},
        {"refill": 4002, "status": "Rejected"},
        {"refill": 3, "status": {"error": "Refill not found"}},
    ]
    assert [r.status for r in sandbox.refills(sandbox.test_key)] == ["Completed", "Rejected"]


async def test_refill_status_of_an_unknown_refill_is_not_found(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    assert await api(client, sandbox, sandbox.test_key, "refill_status", refill=5) == {"error": "Refill not found"}


# --- cancel ------------------------------------------------------------------------------


async def test_cancel_is_requested_then_the_order_is_canceled_and_refunded(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    order_id = await order(client, sandbox, "https://instagram.com/cancel")
    assert await api(client, sandbox, sandbox.test_key, "cancel", orders=str(order_id)) == [
        {"order": order_id, "cancel": 1}
    ]
    sandbox.advance(10)
    assert await api(client, sandbox, sandbox.test_key, "status", order=order_id) == {
        "charge": "0.00000", "start_count": "0", "status": "Canceled", "remains": "1000", "currency": "USD",
    }
    assert sandbox.balance(sandbox.test_key) == Decimal(100)
    # The link is free again.
    await order(client, sandbox, "https://instagram.com/cancel")


async def test_cancel_takes_a_single_order_too(sandbox: FixtureSandbox, client: httpx.AsyncClient) -> None:
    order_id = await order(client, sandbox, "https://instagram.com/one")
    assert await api(client, sandbox, sandbox.test_key, "cancel", order=order_id) == {"cancel": 1}
    sandbox.advance(10)
    assert sandbox.order(order_id).status == CANCELED


async def test_cancel_is_refused_per_order_where_not_allowed(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    no_cancel = await order(client, sandbox, "https://instagram.com/a", service=USA_FOLLOWERS, quantity=100)
    finished = await order(client, sandbox, "https://instagram.com/b")
    open_ = await order(client, sandbox, "https://instagram.com/c")
    sandbox.set_status(finished, COMPLETED)
    reply = await api(client, sandbox, sandbox.test_key, "cancel", orders=f"9,{no_cancel},{finished},{open_}")
    assert reply == [
        {"order": 9, "cancel": {"error": "Incorrect order ID"}},
        {"order": no_cancel, "cancel": {"error": "Cancel is disabled for this service"}},
        {"order": finished, "cancel": {"error": "This order cannot be canceled"}},
        {"order": open_, "cancel": 1},
    ]


# --- other accounts ----------------------------------------------------------------------


async def test_another_accounts_orders_and_refills_do_not_exist_for_you(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    mine = await order(client, sandbox, "https://instagram.com/mine")
    sandbox.advance(200)
    refill = await api(client, sandbox, sandbox.test_key, "refill", order=mine)
    other = sandbox.add_account("other-key-0002", "5")
    assert await api(client, sandbox, other, "status", order=mine) == {"error": "Incorrect order ID"}
    assert await api(client, sandbox, other, "status", orders=str(mine)) == {str(mine): {"error": "Incorrect order ID"}}
    assert await api(client, sandbox, other, "refill", order=mine) == {"error": "Incorrect order ID"}
    assert await api(client, sandbox, other, "cancel", orders=str(mine)) == [
        {"order": mine, "cancel": {"error": "Incorrect order ID"}}
    ]
    assert await api(client, sandbox, other, "refill_status", refill=refill["refill"]) == {"error": "Refill not found"}
    assert sandbox.orders(other) == []


async def test_orders_carry_the_currency_of_their_account(client: httpx.AsyncClient) -> None:
    async with SandboxPanel(currency="UZS") as sandbox:
        key = sandbox.add_account(balance="5000")
        reply = await api(client, sandbox, key, "add", service=FOLLOWERS, link="https://a.com/x", quantity=1000)
        assert (await api(client, sandbox, key, "status", order=reply["order"]))["currency"] == "UZS"
        assert await api(client, sandbox, key, "balance") == {"balance": "4999.10000", "currency": "UZS"}


# --- faults ------------------------------------------------------------------------------


async def _post(client: httpx.AsyncClient, sandbox: FixtureSandbox, action: str, **fields: Any) -> httpx.Response:
    return await client.post(sandbox.url, data={"key": sandbox.test_key, "action": action,
                                                **{k: str(v) for k, v in fields.items()}})


ADD = {"service": FOLLOWERS, "link": "https://instagram.com/fault", "quantity": 100}


async def test_http_status_fault_answers_an_html_error_page_after_placing_the_order(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    sandbox.faults.set("add", http_status=502)
    response = await _post(client, sandbox, "add", **ADD)
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>502 Bad Gateway</title>" in response.text
    assert [o.link for o in sandbox.orders(sandbox.test_key)] == ["https://instagram.com/fault"]
    assert sandbox.balance(sandbox.test_key) == Decimal("99.91")


async def test_html_fault_answers_200_with_a_cdn_page_after_placing_the_order(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    sandbox.faults.set("add", html=True)
    response = await _post(client, sandbox, "add", **ADD)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.lstrip().startswith("<!DOCTYPE html>")
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert len(sandbox.orders(sandbox.test_key)) == 1


async def test_malformed_fault_answers_200_with_truncated_json_after_placing_the_order(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    sandbox.faults.set("add", malformed=True)
    response = await _post(client, sandbox, "add", **ADD)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.text.startswith('{"order')
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert len(sandbox.orders(sandbox.test_key)) == 1


async def test_rate_limit_fault_answers_429_with_retry_after_and_places_nothing(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    sandbox.faults.set("add", rate_limit=2.0)
    response = await _post(client, sandbox, "add", **ADD)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert sandbox.orders(sandbox.test_key) == []


async def test_error_fault_answers_the_forced_panel_text_and_places_nothing(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    sandbox.faults.set("add", error="Not enough funds on balance")
    response = await _post(client, sandbox, "add", **ADD)
    assert (response.status_code, response.json()) == (200, {"error": "Not enough funds on balance"})
    assert sandbox.orders(sandbox.test_key) == []
    assert sandbox.balance(sandbox.test_key) == Decimal(100)


async def test_hang_fault_never_answers_but_the_order_is_placed(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    sandbox.faults.set("add", hang=True)
    with pytest.raises(httpx.ReadTimeout):
        await client.post(sandbox.url, data={"key": sandbox.test_key, "action": "add", **ADD}, timeout=0.3)
    assert len(sandbox.orders(sandbox.test_key)) == 1
    # Other actions still answer while a request hangs.
    assert (await _post(client, sandbox, "balance")).json() == {"balance": "99.91000", "currency": "USD"}


async def test_stop_releases_hung_requests_promptly(client: httpx.AsyncClient) -> None:
    sandbox = SandboxPanel()
    key = sandbox.add_account()
    await sandbox.start()
    sandbox.faults.set("*", hang=True)
    hung = asyncio.create_task(client.post(sandbox.url, data={"key": key, "action": "balance"}, timeout=30))
    await asyncio.sleep(0.2)
    assert not hung.done()
    started = time.monotonic()
    await sandbox.stop()
    try:
        await asyncio.wait_for(hung, 5)
    except httpx.HTTPError:
        pass  # the connection closing is a fine way to end a hang
    assert time.monotonic() - started < 5


async def test_latency_fault_delays_a_correct_reply(sandbox: FixtureSandbox, client: httpx.AsyncClient) -> None:
    sandbox.faults.set("balance", latency=0.3)
    started = time.monotonic()
    response = await _post(client, sandbox, "balance")
    assert time.monotonic() - started >= 0.3
    assert response.json() == {"balance": "100.00000", "currency": "USD"}


async def test_a_fault_set_for_n_times_clears_itself(sandbox: FixtureSandbox, client: httpx.AsyncClient) -> None:
    sandbox.faults.set("balance", http_status=503, times=2)
    codes = [(await _post(client, sandbox, "balance")).status_code for _ in range(3)]
    assert codes == [503, 503, 200]


async def test_a_star_fault_hits_every_action_unless_one_has_its_own(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    sandbox.faults.set("*", http_status=500)
    sandbox.faults.set("balance", latency=0.01)
    assert (await _post(client, sandbox, "services")).status_code == 500
    assert (await _post(client, sandbox, "status", order=1)).status_code == 500
    assert (await _post(client, sandbox, "balance")).status_code == 200
    sandbox.faults.clear()
    assert (await _post(client, sandbox, "services")).status_code == 200


def test_faults_reject_typos_and_empty_rules() -> None:
    faults = Faults()
    with pytest.raises(ValueError):
        faults.set("ad", hang=True)
    with pytest.raises(ValueError):
        faults.set("add")


@pytest.mark.parametrize(
    ("spec", "action", "expected"),
    [
        ("add=hang", "add", {"hang": True}),
        ("status=502", "status", {"http_status": 502}),
        ("status=http:503", "status", {"http_status": 503}),
        ("balance=latency:0.5", "balance", {"latency": 0.5}),
        ("services=html", "services", {"html": True}),
        ("refill=malformed", "refill", {"malformed": True}),
        ("add=rate_limit:2", "add", {"rate_limit": 2.0}),
        ("add=429:3", "add", {"rate_limit": 3.0}),
        ("add=error:Not enough funds on balance", "add", {"error": "Not enough funds on balance"}),
        ("*=502@3", "cancel", {"http_status": 502, "times": 3}),
    ],
)
def test_fault_specs_from_the_command_line(spec: str, action: str, expected: dict[str, Any]) -> None:
    faults = Faults()
    faults.parse(spec)
    fault = faults.get(action)
    assert fault is not None
    for name, value in expected.items():
        assert getattr(fault, name) == value


def test_fault_specs_for_one_action_combine() -> None:
    faults = Faults()
    faults.parse("add=latency:0.2")
    faults.parse("add=502")
    fault = faults.get("add")
    assert fault is not None and (fault.latency, fault.http_status) == (0.2, 502)


@pytest.mark.parametrize("spec", ["add", "add=", "add=explode", "nope=hang", "add=latency:soon", "add=error:"])
def test_bad_fault_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        Faults().parse(spec)


# --- request log ---------------------------------------------------------------------------


async def test_the_request_log_keeps_every_field_but_the_key(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    before = time.time()
    await order(client, sandbox, "https://instagram.com/log", quantity=100)
    await api(client, sandbox, sandbox.test_key, "status", order=23501)
    await api(client, sandbox, sandbox.test_key, "status", orders="23501")
    assert sandbox.count("status") == 2 and sandbox.count("add") == 1 and sandbox.count("cancel") == 0
    [add] = sandbox.calls("add")
    assert add.action == "add"
    assert add.fields == {"action": "add", "service": str(FOLLOWERS), "link": "https://instagram.com/log",
                          "quantity": "100"}
    assert add.key_hint == "0001"
    assert before <= add.time <= time.time()
    assert [r.action for r in sandbox.requests] == ["add", "status", "status"]
    assert "test-key-0001" not in repr(sandbox.requests)


async def test_refused_and_faulty_requests_are_logged_too(sandbox: FixtureSandbox, client: httpx.AsyncClient) -> None:
    sandbox.faults.set("balance", http_status=502)
    await _post(client, sandbox, "balance")
    await api(client, sandbox, "wrong-key-abcd", "status", order=1)
    assert [(r.action, r.key_hint) for r in sandbox.requests] == [("balance", "0001"), ("status", "abcd")]


# --- speed -------------------------------------------------------------------------------


async def test_a_batch_status_of_100_orders_costs_well_under_10_ms(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    sandbox.set_balance(sandbox.test_key, "1000000")
    ids = [await order(client, sandbox, f"https://example.com/{n}", service=LIKES, quantity=20) for n in range(100)]
    fields = {"action": "status", "orders": ",".join(map(str, ids))}
    rounds = 50
    started = time.perf_counter()
    for _ in range(rounds):
        body = sandbox._dispatch(sandbox.test_key, "status", fields)
    per_call = (time.perf_counter() - started) / rounds
    assert len(json.loads(body)) == 100
    assert per_call < 0.003, f"{per_call * 1000:.2f} ms per batch"


# --- command line --------------------------------------------------------------------------


def test_cli_help_documents_the_fault_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--help"]) == 0
    out = capsys.readouterr().out
    for word in ("--fault", "hang", "latency:SECONDS", "rate_limit", "error:TEXT", "@N", "--catalog", "--speed"):
        assert word in out


def test_cli_refuses_a_bad_fault(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--fault", "add=explode"]) == 2
    assert "explode" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_cli_serves_until_sigterm_and_exits_zero(client: httpx.AsyncClient) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; from bot.playground.sandbox.cli import main; sys.exit(main(sys.argv[1:]))",
        "--port", "0", "--key", "cli-key-9999", "--balance", "5", "--currency", "EUR", "--fault", "status=502@1",
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        first = (await asyncio.wait_for(process.stdout.readline(), 15)).decode()
        url = first.split()[-1]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v2", url)
        header = ""
        while "Ctrl+C" not in header:
            header += (await asyncio.wait_for(process.stdout.readline(), 5)).decode()
        assert "cli-key-9999" in header and "5.00000 EUR" in header
        balance = await client.post(url, data={"key": "cli-key-9999", "action": "balance"})
        assert balance.json() == {"balance": "5.00000", "currency": "EUR"}
        status = [(await client.post(url, data={"key": "cli-key-9999", "action": "status", "order": "1"}))
                  for _ in range(2)]
        assert [r.status_code for r in status] == [502, 200]
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 10)
    assert code == 0


# --- catalog changes -------------------------------------------------------------------------


async def test_a_service_changed_by_the_panel_is_served_and_charged_anew(
    sandbox: FixtureSandbox, client: httpx.AsyncClient
) -> None:
    await api(client, sandbox, sandbox.test_key, "services")  # the old list is cached
    sandbox.update_service(FOLLOWERS, rate="9.99", cancel=False)
    served = await api(client, sandbox, sandbox.test_key, "services")
    assert next(i for i in served if i["service"] == FOLLOWERS)["rate"] == "9.99"
    order_id = await order(client, sandbox, "https://instagram.com/new-price")
    assert sandbox.order(order_id).charge == Decimal("9.99")
    assert await api(client, sandbox, sandbox.test_key, "cancel", order=order_id) == {
        "error": "Cancel is disabled for this service"
    }
    sandbox.remove_service(FOLLOWERS)
    assert FOLLOWERS not in {i["service"] for i in await api(client, sandbox, sandbox.test_key, "services")}
    reply = await api(client, sandbox, sandbox.test_key, "add", service=FOLLOWERS, link="https://a.com/x", quantity=100)
    assert reply == {"error": "Incorrect service ID"}
