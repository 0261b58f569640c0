"""The client reads every reply shape real panels send (served by httpx's mock transport)."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from bot.panel.client import PanelClient
from bot.panel.errors import OutcomeUnknown, PanelRefusal, PanelUnavailable, RefusalKind
from bot.panel.status import CANCELED, COMPLETED, IN_PROGRESS, PARTIAL, PROCESSING

URL = "https://panel.example/api/v2"
KEY = "k-secret-0123456789abcdef"

Reply = Any | Callable[[dict[str, str]], httpx.Response]


class Panel:
    """A scripted panel: replies per action, and every request it was sent."""

    def __init__(self, **replies: Reply) -> None:
        self.replies = replies
        self.sent: list[dict[str, str]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        fields = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.sent.append(fields)
        reply = self.replies[fields["action"]]
        if callable(reply):
            return reply(fields)
        return httpx.Response(200, json=reply)

    def client(self, **kwargs: Any) -> PanelClient:
        http = httpx.AsyncClient(transport=httpx.MockTransport(self.handler))
        kwargs.setdefault("sleep", _no_sleep)
        return PanelClient(URL, KEY, http=http, **kwargs)


async def _no_sleep(_: float) -> None:
    return None


def raw(body: str | bytes, status: int = 200, **headers: str) -> Callable[[dict[str, str]], httpx.Response]:
    content = body.encode() if isinstance(body, str) else body
    return lambda _fields: httpx.Response(status, content=content, headers=headers)


async def test_services_accepts_strings_numbers_and_flag_variants() -> None:
    panel = Panel(services=[
        {"service": "1", "name": "Followers", "type": "Default", "category": "First", "rate": "0.90",
         "min": "50", "max": "10000", "refill": True, "cancel": True},
        {"service": 2, "name": "Comments", "type": " custom_comments ", "category": "Second", "rate": 8,
         "min": 10, "max": 1500, "refill": "true", "cancel": 0, "dripfeed": 1, "desc": "Nice &amp; fast"},
        {"service": 3, "name": "Old script", "type": "default", "category": "Third", "rate": 0.0005,
         "min": "1", "max": "2147483647"},
    ])
    services = await panel.client().services()
    assert [s.id for s in services] == [1, 2, 3]
    first, second, third = services
    assert first.rate == Decimal("0.90") and first.min == 50 and first.max == 10000
    assert first.refill and first.cancel and not first.dripfeed
    assert second.type_key == "customcomments" and second.refill and not second.cancel and second.dripfeed
    assert second.description == "Nice & fast"
    assert third.rate == Decimal("0.0005") and not third.refill and not third.cancel
    assert third.max == 2147483647


async def test_every_request_is_a_form_post_with_key_action_and_browser_user_agent() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"balance": "1.0", "currency": "USD"})

    async with PanelClient(URL, KEY, http=httpx.AsyncClient(transport=httpx.MockTransport(handler))) as client:
        await client.balance()
    request = seen[0]
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "Mozilla/5.0" in request.headers["user-agent"]
    assert parse_qs(request.content.decode()) == {"key": [KEY], "action": ["balance"]}


async def test_balance_is_decimal_with_the_panels_currency_and_extra_keys_ignored() -> None:
    panel = Panel(balance={"status": "success", "balance": "100.84292", "currency": "BRL"})
    balance = await panel.client().balance()
    assert balance.amount == Decimal("100.84292") and balance.currency == "BRL"

    panel = Panel(balance={"balance": 0.1, "currency": "UZS"})
    assert (await panel.client().balance()).amount == Decimal("0.1")


async def test_add_returns_the_order_id_as_int_whatever_its_shape() -> None:
    for reply in ({"order": 23501}, {"order": "23501"}, {"status": "success", "order": 23501}):
        panel = Panel(add=reply)
        assert await panel.client().add({"service": "1", "link": "https://x.y/z", "quantity": "100"}) == 23501
        assert panel.sent[0] == {"key": KEY, "action": "add", "service": "1", "link": "https://x.y/z", "quantity": "100"}


async def test_single_status_with_quirks() -> None:
    panel = Panel(status={"order": 7, "charge": 0.27819, "start_count": "3572", "status": "processing",
                          "remains": "Unknown", "currency": "USD"})
    status = await panel.client().status(7)
    assert status.status == PROCESSING and status.charge == Decimal("0.27819")
    assert status.start_count == 3572 and status.remains is None and not status.is_final

    panel = Panel(status={"charge": "1", "start_count": None, "status": "Cancelled", "remains": "10", "currency": "USD"})
    status = await panel.client().status(8)
    assert status.status == CANCELED and status.is_final and status.remains == 10


async def test_multi_status_keyed_by_strings_with_per_id_errors_as_data() -> None:
    panel = Panel(status={
        "1": {"charge": "0.27819", "start_count": "3572", "status": "Partial", "remains": "157", "currency": "USD"},
        "10": {"error": "Incorrect order ID"},
        "17": "Incorrect order ID",
        "100": {"charge": "1.44219", "start_count": "234", "status": "In progress", "remains": "10", "currency": "USD"},
    })
    result = await panel.client().statuses([1, 10, 17, 100])
    assert result[1].status == PARTIAL and result[1].is_final and result[1].remains == 157
    assert result[10].error is not None and result[10].error.kind is RefusalKind.INCORRECT_ORDER
    assert result[17].error is not None and result[17].error.text == "Incorrect order ID"
    assert result[100].status == IN_PROGRESS
    assert panel.sent[0]["orders"] == "1,10,17,100"


async def test_multi_status_as_a_list_and_missing_ids() -> None:
    panel = Panel(status=[{"order": 5, "status": "Completed", "charge": "2", "remains": 0}])
    result = await panel.client().statuses([5, 6])
    assert result[5].status == COMPLETED
    assert result[6].error is not None and result[6].error.kind is RefusalKind.INCORRECT_ORDER


async def test_batches_are_split_into_calls_of_at_most_100_ids() -> None:
    def reply(fields: dict[str, str]) -> httpx.Response:
        ids = fields["orders"].split(",")
        return httpx.Response(200, json={i: {"status": "Pending", "charge": "0", "remains": "1"} for i in ids})

    panel = Panel(status=reply)
    result = await panel.client().statuses(range(1, 251))
    assert len(result) == 250
    assert [len(s["orders"].split(",")) for s in panel.sent] == [100, 100, 50]


async def test_refill_gives_the_refill_id_or_the_panels_refusal() -> None:
    panel = Panel(refill={"refill": "1"})
    assert await panel.client().refill(1) == 1

    panel = Panel(refill={"error": "Refill is disabled for this service"})
    with pytest.raises(PanelRefusal) as refused:
        await panel.client().refill(1)
    assert refused.value.kind is RefusalKind.REFILL_DISABLED


async def test_refill_status_single_and_batch() -> None:
    panel = Panel(refill_status={"status": "In progess"})
    assert (await panel.client().refill_status(1)).status == IN_PROGRESS

    panel = Panel(refill_status=[{"refill": 1, "status": "Completed"}, {"refill": 2, "status": "Rejected"},
                                 {"refill": 3, "status": {"error": "Refill not found"}}])
    result = await panel.client().refill_statuses([1, 2, 3])
    assert result[1].status == COMPLETED and result[1].is_final
    assert result[2].status == "Rejected" and result[2].is_final
    assert result[3].error is not None and result[3].error.kind is RefusalKind.INCORRECT_REFILL


async def test_cancel_is_a_request_and_per_id_errors_are_data() -> None:
    panel = Panel(cancel=[{"order": 9, "cancel": {"error": "Incorrect order ID"}}, {"order": 2, "cancel": 1}])
    result = await panel.client().cancels([9, 2])
    assert result[2].ok and result[2].error is None
    assert not result[9].ok and result[9].error is not None

    with pytest.raises(PanelRefusal):
        await Panel(cancel=[{"order": 9, "cancel": {"error": "Incorrect order ID"}}]).client().cancel(9)


@pytest.mark.parametrize(
    ("text", "kind", "minimum", "maximum"),
    [
        ("Invalid API key", RefusalKind.INVALID_KEY, None, None),
        ("Invalid API key.", RefusalKind.INVALID_KEY, None, None),
        ("API is Disable for this user or User Not Found! Contact the Support      ", RefusalKind.INVALID_KEY, None, None),
        ("Incorrect request", RefusalKind.INCORRECT_REQUEST, None, None),
        ("There are missing required parameters. Please check your API Manual", RefusalKind.INCORRECT_REQUEST, None, None),
        ("This action is Invalid", RefusalKind.UNSUPPORTED_ACTION, None, None),
        ("Quantity is required", RefusalKind.QUANTITY, None, None),
        ("Comments field is required", RefusalKind.MISSING_FIELD, None, None),
        ("Invalid Interval in minutes", RefusalKind.INVALID_FIELD, None, None),
        ("Incorrect service ID", RefusalKind.INCORRECT_SERVICE, None, None),
        ("error.incorrect_service_id", RefusalKind.INCORRECT_SERVICE, None, None),
        ("Service ID does not exists", RefusalKind.INCORRECT_SERVICE, None, None),
        ("Not enough funds on balance", RefusalKind.NOT_ENOUGH_FUNDS, None, None),
        ("neworder.error.not_enough_funds", RefusalKind.NOT_ENOUGH_FUNDS, None, None),
        ("Quantity less than minimal 100", RefusalKind.QUANTITY, 100, None),
        ("Quantity more than maximum 10000", RefusalKind.QUANTITY, None, 10000),
        ("Quantity must to be greater than or equal to minimum amount 100", RefusalKind.QUANTITY, 100, None),
        ("Quantity must to be less than or equal to maximum amount 5000", RefusalKind.QUANTITY, None, 5000),
        ("neworder.error.min_quantity", RefusalKind.QUANTITY, None, None),
        ("You have active order with this link. Please wait until order being completed.", RefusalKind.DUPLICATE_ORDER, None, None),
        ("neworder.error.link_duplicate", RefusalKind.DUPLICATE_ORDER, None, None),
        ("Incorrect order ID", RefusalKind.INCORRECT_ORDER, None, None),
        ("Refill not found", RefusalKind.INCORRECT_REFILL, None, None),
        ("Refill is disabled for this service", RefusalKind.REFILL_DISABLED, None, None),
        ("The refill task is not completed for this order", RefusalKind.REFILL_NOT_COMPLETED, None, None),
        ("Bad Link", RefusalKind.BAD_LINK, None, None),
        ("This services does not support Dripfeed feature!", RefusalKind.DRIPFEED_UNSUPPORTED, None, None),
        ("Something odd happened", RefusalKind.OTHER, None, None),
    ],
)
async def test_refusals_keep_the_panels_text_and_are_classified(
    text: str, kind: RefusalKind, minimum: int | None, maximum: int | None
) -> None:
    panel = Panel(add={"error": text})
    with pytest.raises(PanelRefusal) as refused:
        await panel.client().add({"service": "1", "link": "https://a.b/c", "quantity": "10"})
    assert refused.value.text == text.strip()
    assert refused.value.kind is kind
    assert (refused.value.minimum, refused.value.maximum) == (minimum, maximum)
    assert len(panel.sent) == 1


async def test_increment_refusal_is_a_quantity_step_problem() -> None:
    panel = Panel(add={"error": "neworder.error.increment"})
    with pytest.raises(PanelRefusal) as refused:
        await panel.client().add({"service": "1"})
    assert refused.value.kind is RefusalKind.QUANTITY and refused.value.refusal.step


async def test_error_in_a_4xx_json_body_is_still_a_refusal() -> None:
    panel = Panel(balance=raw(json.dumps({"error": "Invalid API key"}), status=401))
    with pytest.raises(PanelRefusal) as refused:
        await panel.client().balance()
    assert refused.value.kind is RefusalKind.INVALID_KEY


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (raw("<html><body>502 Bad Gateway</body></html>", status=502), "HTTP 502"),
        (raw("<!DOCTYPE html><html>Checking your browser</html>"), "HTML"),
        (raw('{"balance": "1.0", "curr'), "malformed"),
        (raw("", status=429, **{"Retry-After": "1"}), "429"),
        (raw("", status=301, Location="https://elsewhere/"), "redirect"),
    ],
)
async def test_transport_failures_on_reads_are_retried_then_panel_unavailable(reply: Reply, reason: str) -> None:
    panel = Panel(balance=reply)
    with pytest.raises(PanelUnavailable) as failed:
        await panel.client(retries=2).balance()
    assert reason in str(failed.value)
    assert len(panel.sent) == 3
    assert KEY not in str(failed.value) and KEY not in repr(failed.value)


async def test_reads_honour_retry_after_and_recover() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}),
                    httpx.Response(503, content=b"<html>down</html>"),
                    httpx.Response(200, json={"balance": "5", "currency": "USD"})])
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    panel = Panel(balance=lambda _f: next(answers))
    balance = await panel.client(sleep=sleep, retries=3, backoff=0.5).balance()
    assert balance.amount == Decimal(5)
    assert slept[0] == 7.0 and 0 < slept[1] <= 1.0


async def test_a_retry_after_beyond_the_limit_is_not_waited_for() -> None:
    panel = Panel(status=raw("", status=429, **{"Retry-After": "3600"}))
    with pytest.raises(PanelUnavailable) as failed:
        await panel.client(max_retry_after=30).status(1)
    assert failed.value.retry_after == 3600 and len(panel.sent) == 1


@pytest.mark.parametrize(
    "reply",
    [
        raw("<html>502</html>", status=502),
        raw("<html>Attention required</html>"),
        raw('{"order": 2'),
        raw('{"status": "success"}'),
        raw('"ok"'),
    ],
)
async def test_add_after_the_request_left_is_outcome_unknown_and_sent_once(reply: Reply) -> None:
    panel = Panel(add=reply)
    with pytest.raises(OutcomeUnknown):
        await panel.client(retries=5).add({"service": "1", "link": "https://a.b/c", "quantity": "10"})
    assert len(panel.sent) == 1


async def test_add_read_timeout_is_outcome_unknown_and_sent_once() -> None:
    def timeout(_fields: dict[str, str]) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out")

    panel = Panel(add=timeout)
    with pytest.raises(OutcomeUnknown):
        await panel.client(retries=5).add({"service": "1"})
    assert len(panel.sent) == 1


async def test_add_is_resent_only_when_the_connection_never_opened() -> None:
    attempts = iter([httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), None])

    def flaky(_fields: dict[str, str]) -> httpx.Response:
        failure = next(attempts)
        if failure is not None:
            raise failure
        return httpx.Response(200, json={"order": 99})

    panel = Panel(add=flaky)
    assert await panel.client(retries=3).add({"service": "1"}) == 99
    assert len(panel.sent) == 3


async def test_add_rate_limited_is_unavailable_not_unknown_and_not_resent() -> None:
    panel = Panel(add=raw("", status=429, **{"Retry-After": "2"}))
    with pytest.raises(PanelUnavailable) as failed:
        await panel.client(retries=3).add({"service": "1"})
    assert not isinstance(failed.value, OutcomeUnknown)
    assert failed.value.retry_after == 2
    assert len(panel.sent) == 1


@pytest.mark.parametrize("action", ["refill", "cancel"])
async def test_refill_and_cancel_are_never_resent_after_a_5xx(action: str) -> None:
    panel = Panel(**{action: raw("<html>oops</html>", status=500)})
    client = panel.client(retries=3)
    with pytest.raises(OutcomeUnknown):
        await (client.refill(1) if action == "refill" else client.cancel(1))
    assert len(panel.sent) == 1


async def test_the_key_never_appears_in_reprs_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    panel = Panel(balance=raw("<html>nope</html>", status=500), add=raw("<html>nope</html>", status=500))
    client = panel.client()
    assert KEY not in repr(client)
    with pytest.raises(PanelUnavailable) as unavailable:
        await client.balance()
    with pytest.raises(OutcomeUnknown) as unknown:
        await client.add({"service": "1"})
    for text in (caplog.text, str(unavailable.value), repr(unknown.value), str(unknown.value)):
        assert KEY not in text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1,500", Decimal(1500)), ("0,90", Decimal("0.90")), ("1,5", Decimal("1.5")), ("12,345,678", Decimal(12345678)),
     ("1,234.5", Decimal("1234.5")), (float("nan"), None), (float("inf"), None), ("NaN", None)],
)
def test_amounts_with_thousands_separators_decimal_commas_and_non_numbers(raw: object, expected: Decimal | None) -> None:
    from bot.panel.values import to_decimal

    assert to_decimal(raw) == expected


def test_an_error_that_merely_mentions_the_api_key_is_not_an_invalid_key() -> None:
    from bot.panel.errors import classify

    assert classify("Incorrect request. Check your API key").kind is RefusalKind.INCORRECT_REQUEST
    assert classify("Drip-feed is not available").kind is RefusalKind.DRIPFEED_UNSUPPORTED


async def test_a_panel_echoing_the_key_in_its_error_does_not_leak_it() -> None:
    panel = Panel(balance={"error": f"Invalid API key: {KEY}"})
    with pytest.raises(PanelRefusal) as refused:
        await panel.client().balance()
    assert KEY not in refused.value.text and refused.value.kind is RefusalKind.INVALID_KEY


# --- refusal shapes and the SmartPanel family's words (reference/panel-api.md) -------------


@pytest.mark.parametrize(
    "reply",
    [
        {"status": "error", "message": "Invalid Interval in minutes"},
        {"status": "Error", "message": "Invalid Interval in minutes"},
        {"status": "fail", "message": "Invalid Interval in minutes"},
        {"status": "error", "error": "Invalid Interval in minutes"},
        {"error": "Invalid Interval in minutes"},
    ],
)
async def test_a_status_error_message_reply_is_a_refusal_not_an_unknown_outcome(reply: dict[str, str]) -> None:
    panel = Panel(add=reply)
    with pytest.raises(PanelRefusal) as refused:
        await panel.client(retries=3).add({"service": "1", "link": "https://a.b/c", "quantity": "100",
                                           "runs": "3", "interval": "45"})
    assert not isinstance(refused.value, OutcomeUnknown)
    assert refused.value.text == "Invalid Interval in minutes"
    assert refused.value.kind is RefusalKind.INVALID_FIELD and refused.value.refusal.field == "interval"
    assert len(panel.sent) == 1


async def test_a_status_error_message_reply_to_a_read_is_a_refusal() -> None:
    panel = Panel(balance={"status": "error", "message": "API is Disable for this user or User Not Found! Contact the Support"},
                  status={"status": "error", "message": "Incorrect order ID"})
    client = panel.client()
    with pytest.raises(PanelRefusal) as refused:
        await client.balance()
    assert refused.value.kind is RefusalKind.INVALID_KEY
    with pytest.raises(PanelRefusal) as refused:
        await client.statuses([5])
    assert refused.value.kind is RefusalKind.INCORRECT_ORDER


async def test_an_order_whose_status_is_error_is_a_status_not_a_refusal() -> None:
    panel = Panel(status={"order": "9", "status": "Error", "charge": "0.3", "start_count": None,
                          "remains": "100", "currency": "USD"})
    status = await panel.client().status(9)
    assert status.status == "Error" and status.is_final and status.error is None


@pytest.mark.parametrize(
    ("text", "kind", "field", "missing"),
    [
        ("Quantity is required", RefusalKind.QUANTITY, "quantity", True),
        ("Comments field is required", RefusalKind.MISSING_FIELD, "comments", True),
        ("Invalid Interval in minutes", RefusalKind.INVALID_FIELD, "interval", False),
        ("Bad Link", RefusalKind.BAD_LINK, "link", False),
        ("Quantity must to be greater than or equal to minimum amount 100", RefusalKind.QUANTITY, "quantity", False),
        ("This services does not support Dripfeed feature!", RefusalKind.DRIPFEED_UNSUPPORTED, "runs", False),
        ("This action is Invalid", RefusalKind.UNSUPPORTED_ACTION, None, False),
        ("Service ID does not exists", RefusalKind.INCORRECT_SERVICE, None, False),
    ],
)
def test_a_refusal_names_the_add_field_it_is_about(text: str, kind: RefusalKind, field: str | None, missing: bool) -> None:
    from bot.panel.errors import classify

    refusal = classify(text)
    assert (refusal.kind, refusal.field, refusal.missing) == (kind, field, missing)


@pytest.mark.parametrize("action", ["refill", "refill_status", "cancel"])
async def test_an_action_the_panel_does_not_have_is_an_unsupported_action_refusal(action: str) -> None:
    panel = Panel(**{action: {"error": "This action is Invalid"}})
    client = panel.client(retries=3)
    with pytest.raises(PanelRefusal) as refused:
        if action == "refill":
            await client.refill(1)
        elif action == "refill_status":
            await client.refill_status(1)
        else:
            await client.cancel(1)
    assert refused.value.kind is RefusalKind.UNSUPPORTED_ACTION
    assert len(panel.sent) == 1
    if action == "refill":
        return  # the batch form of refill is never sent
    with pytest.raises(PanelRefusal) as refused:
        if action == "refill_status":
            await client.refill_statuses([1, 2])
        else:
            await client.cancels([1, 2])
    assert refused.value.kind is RefusalKind.UNSUPPORTED_ACTION


async def test_smartpanel_status_shapes_carry_their_own_fields_and_never_invent_delivery() -> None:
    panel = Panel(status={
        "501": {"order": "501", "status": "In progress", "charge": "0.0900", "start_count": "3572",
                "remains": "57", "currency": "USD"},
        "502": {"status": "In progress", "runs": "3", "orders": []},
        "504": {"order": "504", "status": "Completed", "charge": "0.0800", "start_count": None,
                "remains": "0", "currency": "USD"},
        "506": {"order": "506", "status": "Pending", "charge": "0.3000", "start_count": None,
                "remains": "0", "currency": "USD"},
        "600": {"status": "Active", "expiry": True, "posts": "5", "orders": []},
        " 507": {"order": "507", "status": "Partial", "charge": "0.0800", "start_count": "120",
                 "remains": "7", "currency": "USD"},
        "99999": "Incorrect order ID",
    })
    result = await panel.client().statuses([501, 502, 504, 506, 600, 507, 99999])
    running, parent, completed, fresh, subscription, partial, unknown = (
        result[i] for i in (501, 502, 504, 506, 600, 507, 99999))
    assert running.started and running.remains == 57 and running.start_count == 3572
    assert parent.status == IN_PROGRESS and parent.runs == 3 and parent.orders == ()
    assert parent.charge is None and parent.remains is None and parent.currency is None
    assert completed.status == COMPLETED and completed.start_count is None and completed.remains == 0
    # A fresh Pending order with remains "0" has delivered nothing: remains is not known.
    assert fresh.status == "Pending" and not fresh.started and fresh.remains is None and fresh.start_count is None
    assert subscription.status == "Active" and subscription.posts == 5 and subscription.expiry is True
    assert subscription.orders == () and subscription.remains is None and not subscription.is_final
    assert partial.status == PARTIAL and partial.remains == 7
    assert unknown.error is not None and unknown.error.kind is RefusalKind.INCORRECT_ORDER


async def test_a_drip_feed_parent_lists_its_child_orders() -> None:
    panel = Panel(status={"status": "Completed", "runs": "3", "orders": ["701", 702, "x"]})
    status = await panel.client().status(700)
    assert status.status == COMPLETED and status.runs == 3 and status.orders == (701, 702)


async def test_a_single_status_as_a_bare_string_is_a_refusal() -> None:
    panel = Panel(status="Incorrect order ID")
    with pytest.raises(PanelRefusal) as refused:
        await panel.client().status(5)
    assert refused.value.kind is RefusalKind.INCORRECT_ORDER
