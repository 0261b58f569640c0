"""The sandbox speaks the SmartPanel family's dialect as the captured panel does
(panel-dumps/smartpanel-replies.txt), and the client orders, reads statuses and takes
refusals in both dialects: what each type's `add` does there, and what it says."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bot.panel.client import PanelClient
from bot.panel.errors import OutcomeUnknown, PanelRefusal, RefusalKind
from bot.panel.fields import build_add_params
from bot.panel.models import Service
from bot.panel.status import COMPLETED, IN_PROGRESS, PENDING
from bot.playground.sandbox import SandboxPanel

KEY = "k_live_tester_0123456789abcdef"
FOLLOWERS = 1011  # Default, 0.90, 50..50000, drip-feed
COMMENTS = 1031  # Custom Comments, 12.00, 5..500
COMMENT_LIKES = 1034  # Comment Likes, 3.20, 20..5000
MENTIONS_HASHTAG = 1044  # Mentions Hashtag, 3.60, 1000..100000
AUTO_LIKES = 1051  # Subscriptions, 0.15, 50..10000
PACKAGE = 1061  # Package, 49.00
COMMENTS_PACKAGE = 1033  # Custom Comments Package

DIALECTS = ["seed", "smartpanel"]


@pytest.fixture(params=DIALECTS)
async def panel(request: pytest.FixtureRequest) -> AsyncIterator[SandboxPanel]:
    sandbox = SandboxPanel(speed=0, dialect=request.param)
    sandbox.add_account(KEY, Decimal(1000))
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.stop()


@pytest.fixture
async def smart() -> AsyncIterator[SandboxPanel]:
    sandbox = SandboxPanel(speed=0, dialect="smartpanel")
    sandbox.add_account(KEY, Decimal(100))
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.stop()


async def post(url: str, **fields: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(url, data=fields)


def body(response: httpx.Response) -> Any:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("\n")
    return json.loads(response.text)


# --- the dialect, on the wire -------------------------------------------------------------------


async def test_smartpanel_answers_at_api_v1_and_api_v2_is_a_403_web_page(smart: SandboxPanel) -> None:
    assert smart.url.endswith("/api/v1")
    forbidden = await post(smart.base_url + "/api/v2", key=KEY, action="balance")
    assert forbidden.status_code == 403 and forbidden.text.lstrip().startswith("<")
    assert "An Error Was Encountered" in forbidden.text
    assert body(await post(smart.url, key=KEY, action="balance")) == {
        "status": "success", "balance": "100.0000", "currency": "USD"}


async def test_smartpanel_services_are_strings_with_snake_case_types_and_no_refill_or_cancel(smart: SandboxPanel) -> None:
    services = body(await post(smart.url, key=KEY, action="services"))
    first = services[0]
    assert list(first) == ["service", "name", "category", "rate", "min", "max", "type", "desc", "dripfeed"]
    assert all(isinstance(item[k], str) for item in services for k in ("service", "rate", "min", "max", "dripfeed"))
    types = {item["type"] for item in services}
    assert {"default", "custom_comments", "custom_comments_package", "package", "subscriptions"} <= types
    assert all(t == t.lower() and " " not in t for t in types)
    assert {item["dripfeed"] for item in services} == {"0", "1"}
    packages = [item for item in services if item["type"] in ("package", "custom_comments_package")]
    assert packages and all((item["min"], item["max"]) == ("1", "1") for item in packages)


@pytest.mark.parametrize("action", ["refill", "refill_status", "cancel", "foo", ""])
async def test_smartpanel_has_no_refill_or_cancel(smart: SandboxPanel, action: str) -> None:
    for fields in ({"order": "1"}, {"orders": "1,2"}, {"refill": "1"}, {"refills": "1,2"}):
        assert body(await post(smart.url, key=KEY, action=action, **fields)) == {"error": "This action is Invalid"}


async def test_smartpanel_refusal_words_and_shapes(smart: SandboxPanel) -> None:
    async def add(**fields: str) -> Any:
        return body(await post(smart.url, key=KEY, action="add", **fields))

    assert body(await post(smart.url, key="wrong", action="balance")) == {
        "error": "API is Disable for this user or User Not Found! Contact the Support"}
    assert await add(service="99999", link="https://instagram.com/x", quantity="100") == {
        "error": "Service ID does not exists"}
    assert await add(link="https://instagram.com/x", quantity="100") == {
        "error": "There are missing required parameters. Please check your API Manual"}
    assert await add(service=str(FOLLOWERS), link="https://instagram.com/x", quantity="10") == {
        "error": "Quantity must to be greater than or equal to minimum amount 50"}
    assert await add(service=str(FOLLOWERS), link="https://instagram.com/x") == {"error": "Quantity is required"}
    assert await add(service=str(FOLLOWERS), quantity="100") == {"error": "Bad Link"}
    assert await add(service=str(COMMENT_LIKES), link="https://instagram.com/x", quantity="50", runs="2",
                     interval="10") == {"error": "This services does not support Dripfeed feature!"}
    assert await add(service=str(COMMENTS), link="https://instagram.com/x") == {"error": "Comments field is required"}
    interval = await post(smart.url, key=KEY, action="add", service=str(FOLLOWERS), link="https://instagram.com/x",
                          quantity="100", runs="3", interval="45")
    assert interval.text == '\n{"status":"error","message":"Invalid Interval in minutes"}'
    assert await add(service=str(PACKAGE), link="https://instagram.com/x") == {"error": "Quantity is required"}
    assert await add(service=str(AUTO_LIKES), username="someacc", min="100", max="200", delay="30") == {
        "error": "Bad Link"}
    assert smart.orders(KEY) == []


async def test_smartpanel_status_shapes(smart: SandboxPanel) -> None:
    async def add(**fields: str) -> int:
        reply = body(await post(smart.url, key=KEY, action="add", **fields))
        assert reply["status"] == "success"
        return int(reply["order"])

    plain = await add(service=str(FOLLOWERS), link="https://instagram.com/a", quantity="100")
    drip = await add(service=str(FOLLOWERS), link="https://instagram.com/b", quantity="100", runs="3", interval="30")
    comments = await add(service=str(COMMENTS), link="https://instagram.com/p/c", comments="wow, great 1\nnice\nok\nfine")
    assert smart.order(comments).quantity == 5  # split at the comma too
    fresh = body(await post(smart.url, key=KEY, action="status", order=str(plain)))
    assert fresh == {"order": str(plain), "status": "Pending", "charge": "0.0900", "start_count": None,
                     "remains": "0", "currency": "USD"}
    assert body(await post(smart.url, key=KEY, action="status", order=str(drip))) == {
        "status": "Pending", "runs": "3", "orders": []}
    smart.advance(3600)
    many = body(await post(smart.url, key=KEY, action="status", orders=f"{plain}, {comments},99999"))
    assert list(many) == [str(plain), f" {comments}", "99999"]
    assert many["99999"] == "Incorrect order ID"
    assert many[str(plain)]["status"] in ("Completed", "Partial") and isinstance(many[str(plain)]["start_count"], str)
    empty = await post(smart.url, key=KEY, action="status")
    assert empty.text == "\n"


async def test_smartpanel_multi_status_has_no_100_id_cap(smart: SandboxPanel) -> None:
    reply = body(await post(smart.url, key=KEY, action="status", orders=",".join(str(i) for i in range(1, 251))))
    assert len(reply) == 250 and set(reply.values()) == {"Incorrect order ID"}


async def test_the_seed_dialect_stays_the_default() -> None:
    async with SandboxPanel(speed=0) as sandbox:
        assert sandbox.dialect == "seed" and sandbox.url.endswith("/api/v2")
        key = sandbox.add_account()
        reply = await post(sandbox.url, key=key, action="balance")
        assert reply.headers["content-type"].startswith("application/json")
        assert reply.json() == {"balance": "100.00000", "currency": "USD"}


# --- the client in both dialects ------------------------------------------------------------


async def client_and_services(panel: SandboxPanel) -> tuple[PanelClient, dict[int, Service]]:
    client = PanelClient(panel.url, KEY, timeout=5.0)
    return client, {service.id: service for service in await client.services()}


async def test_client_reads_catalog_and_balance_in_both_dialects(panel: SandboxPanel) -> None:
    client, services = await client_and_services(panel)
    async with client:
        assert services[FOLLOWERS].type_key == "default" and services[FOLLOWERS].dripfeed
        assert services[COMMENTS].type_key == "customcomments"
        assert services[AUTO_LIKES].type_key == "subscriptions"
        assert services[FOLLOWERS].rate == Decimal("0.90")
        balance = await client.balance()
        assert balance.amount == Decimal(1000) and balance.currency == "USD"


async def test_client_orders_a_default_service_and_follows_it_in_both_dialects(panel: SandboxPanel) -> None:
    client, services = await client_and_services(panel)
    async with client:
        values = {"link": "https://instagram.com/a", "quantity": "100"}
        order_id = await client.add(build_add_params(services[FOLLOWERS], values))
        fresh = await client.status(order_id)
        assert fresh.status == PENDING and not fresh.started
        assert fresh.remains in (None, 100)  # never "0 left" before it started
        panel.advance(3600)
        done = (await client.statuses([order_id, 99999]))
        assert done[order_id].is_final and done[order_id].started
        assert done[99999].error is not None and done[99999].error.kind is RefusalKind.INCORRECT_ORDER
        assert panel.balance(KEY) < Decimal(1000)


async def test_client_drip_feed_in_both_dialects(panel: SandboxPanel) -> None:
    client, services = await client_and_services(panel)
    async with client:
        values = {"link": "https://instagram.com/a", "quantity": "100", "runs": "3", "interval": "30"}
        order_id = await client.add(build_add_params(services[FOLLOWERS], values))
        status = await client.status(order_id)
        assert status.status == PENDING
        if panel.dialect == "smartpanel":
            assert status.runs == 3 and status.orders == () and status.charge is None and status.remains is None
        assert panel.order(order_id).quantity == 300


async def test_a_refused_drip_feed_interval_is_a_refusal_and_no_order_in_both_dialects(panel: SandboxPanel) -> None:
    client, services = await client_and_services(panel)
    async with client:
        values = {"link": "https://instagram.com/a", "quantity": "100", "runs": "3", "interval": "45"}
        if panel.dialect == "seed":
            assert await client.add(build_add_params(services[FOLLOWERS], values)) > 0  # the seed takes any interval
            return
        with pytest.raises(PanelRefusal) as refused:
            await client.add(build_add_params(services[FOLLOWERS], values))
        assert not isinstance(refused.value, OutcomeUnknown)
        assert refused.value.kind is RefusalKind.INVALID_FIELD and refused.value.refusal.field == "interval"
        assert panel.orders(KEY) == []


@pytest.mark.parametrize("service_id", [PACKAGE, COMMENTS_PACKAGE])
async def test_packages_need_a_quantity_on_smartpanel(panel: SandboxPanel, service_id: int) -> None:
    client, services = await client_and_services(panel)
    values = {"link": "https://instagram.com/p/a", "comments": "one\ntwo\nthree"}
    async with client:
        if panel.dialect == "seed":
            assert await client.add(build_add_params(services[service_id], values)) > 0
            return
        with pytest.raises(PanelRefusal) as refused:
            await client.add(build_add_params(services[service_id], values))
        refusal = refused.value.refusal
        assert (refusal.kind, refusal.field, refusal.missing) == (RefusalKind.QUANTITY, "quantity", True)
        assert panel.orders(KEY) == []
        # The same draft with quantity = the service's min is taken.
        order_id = await client.add({**values, "service": str(service_id), "quantity": str(services[service_id].min)})
        assert panel.order(order_id).charge == services[service_id].rate


async def test_subscriptions_cannot_be_created_on_smartpanel(panel: SandboxPanel) -> None:
    client, services = await client_and_services(panel)
    values = {"username": "someacc", "min": "100", "max": "200", "delay": "30", "posts": "5"}
    async with client:
        if panel.dialect == "seed":
            assert await client.add(build_add_params(services[AUTO_LIKES], values)) > 0
            return
        with pytest.raises(PanelRefusal) as refused:
            await client.add(build_add_params(services[AUTO_LIKES], values))
        assert refused.value.kind is RefusalKind.BAD_LINK
        assert panel.orders(KEY) == []


async def test_custom_comments_with_commas_are_counted_per_piece_on_smartpanel(panel: SandboxPanel) -> None:
    client, services = await client_and_services(panel)
    comments = "wow, great 1\nwow, great 2\nnice 3\nnice 4\nnice 5"
    async with client:
        values = {"link": "https://instagram.com/p/c", "comments": comments}
        order_id = await client.add(build_add_params(services[COMMENTS], values))
        expected = 7 if panel.dialect == "smartpanel" else 5
        assert panel.order(order_id).quantity == expected
        assert panel.order(order_id).charge == Decimal("12.00") * expected / 1000


@pytest.mark.parametrize("service_id", [COMMENT_LIKES, MENTIONS_HASHTAG])
async def test_types_with_extra_fields_are_ordered_in_both_dialects(panel: SandboxPanel, service_id: int) -> None:
    client, services = await client_and_services(panel)
    service = services[service_id]
    values = {"link": "https://instagram.com/p/c", "quantity": str(service.min), "username": "bob", "hashtag": "sun"}
    async with client:
        order_id = await client.add(build_add_params(service, values))
        fields = panel.order(order_id).fields
        if panel.dialect == "smartpanel":
            assert set(fields) == {"service", "link", "quantity"}  # the extra fields are dropped
        panel.advance(3600)
        assert (await client.status(order_id)).status in (COMPLETED, "Partial", IN_PROGRESS)


async def test_refill_and_cancel_are_unsupported_actions_on_smartpanel(panel: SandboxPanel) -> None:
    client, services = await client_and_services(panel)
    async with client:
        values = {"link": "https://instagram.com/a", "quantity": "100"}
        order_id = await client.add(build_add_params(services[FOLLOWERS], values))
        panel.advance(3600)
        if panel.dialect == "seed":
            assert (await client.cancels([99999]))[99999].error is not None
            return
        for call in (client.refill(order_id), client.refill_status(1), client.cancel(order_id),
                     client.refill_statuses([1]), client.cancels([order_id])):
            with pytest.raises(PanelRefusal) as refused:
                await call
            assert refused.value.kind is RefusalKind.UNSUPPORTED_ACTION


async def test_a_wrong_key_is_an_invalid_key_in_both_dialects(panel: SandboxPanel) -> None:
    async with PanelClient(panel.url, "nope-0000", timeout=5.0) as client:
        with pytest.raises(PanelRefusal) as refused:
            await client.balance()
        assert refused.value.kind is RefusalKind.INVALID_KEY
