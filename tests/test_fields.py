"""The service types' field table: what each type asks for, how values are checked,
what `add` receives, and what an order costs."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bot.panel.fields import (
    DELAYS,
    SERVICE_TYPES,
    FieldInvalid,
    build_add_params,
    clean_link,
    form_fields,
    quote,
    service_type,
    total_quantity,
)
from bot.panel.models import Service

TODAY = date(2026, 11, 30)


def service(type_: str = "Default", *, rate: str = "0.90", min_: int = 50, max_: int = 10000,
            dripfeed: bool = False) -> Service:
    return Service(id=1, name="S", type=type_, category="C", rate=Decimal(rate), min=min_, max=max_,
                   dripfeed=dripfeed)


def names(svc: Service, values: dict[str, str] | None = None) -> list[str]:
    return [f.name for f in form_fields(svc, values)]


@pytest.mark.parametrize(
    ("type_", "expected"),
    [
        ("Default", ["link", "quantity"]),
        ("Package", ["link"]),
        ("SEO", ["link", "quantity", "keywords"]),
        ("Custom Comments", ["link", "comments"]),
        ("Custom Comments Package", ["link", "comments"]),
        ("Mentions", ["link", "quantity", "usernames"]),
        ("Mentions with Hashtags", ["link", "quantity", "usernames", "hashtags"]),
        ("Mentions Custom List", ["link", "usernames"]),
        ("Mentions Hashtag", ["link", "quantity", "hashtag"]),
        ("Mentions User Followers", ["link", "quantity", "username"]),
        ("Mentions Media Likers", ["link", "quantity", "media"]),
        ("Comment Likes", ["link", "quantity", "username"]),
        ("Comment Replies", ["link", "username", "comments"]),
        ("Poll", ["link", "quantity", "answer_number"]),
        ("Invites from Groups", ["link", "quantity", "groups"]),
        ("Subscriptions", ["username", "min", "max", "posts", "old_posts", "delay", "expiry"]),
        ("Web Traffic", ["link", "quantity", "country", "device", "type_of_traffic"]),
    ],
)
def test_each_type_asks_for_the_fields_of_the_api(type_: str, expected: list[str]) -> None:
    assert names(service(type_)) == expected


def test_the_table_has_every_type_of_the_reference() -> None:
    assert len(SERVICE_TYPES) == 17


@pytest.mark.parametrize("spelling", ["custom_comments", "Custom Comments ", "CUSTOM-COMMENTS", " customComments"])
def test_type_names_match_whatever_their_case_spaces_or_underscores(spelling: str) -> None:
    assert service_type(spelling).name == "Custom Comments"


def test_an_unknown_type_is_orderable_with_link_and_quantity_and_marked_unknown() -> None:
    svc = service("Special Magic")
    assert not service_type(svc.type).known
    assert names(svc) == ["link", "quantity"]
    assert build_add_params(svc, {"link": "https://x.com/a", "quantity": "100"}) == {
        "service": "1", "link": "https://x.com/a", "quantity": "100"}


def test_drip_feed_fields_only_where_the_service_offers_it() -> None:
    assert names(service(dripfeed=True)) == ["link", "quantity", "runs", "interval"]
    params = build_add_params(service(dripfeed=True), {"link": "https://x.com/a", "quantity": "100",
                                                       "runs": "5", "interval": "30"})
    assert params["runs"] == "5" and params["interval"] == "30"
    # A service without drip-feed never sends runs, even if they were somehow entered.
    params = build_add_params(service(), {"link": "https://x.com/a", "quantity": "100", "runs": "5"})
    assert "runs" not in params


def test_drip_feed_total_quantity_and_price_multiply_by_runs() -> None:
    svc = service(dripfeed=True, rate="0.90")
    values = {"link": "https://x.com/a", "quantity": "1000", "runs": "5", "interval": "30"}
    assert total_quantity(svc, values) == 5000
    assert quote(svc, values).low == Decimal("4.5")


def test_runs_without_interval_is_incomplete() -> None:
    with pytest.raises(FieldInvalid) as bad:
        build_add_params(service(dripfeed=True), {"link": "https://x.com/a", "quantity": "100", "runs": "3"})
    assert bad.value.field == "interval" and bad.value.code == "required"


@pytest.mark.parametrize(
    ("raw", "code", "params"),
    [
        ("49", "out_of_range", {"minimum": 50, "maximum": 10000}),
        ("10001", "out_of_range", {"minimum": 50, "maximum": 10000}),
        ("ten", "not_integer", {}),
        ("1.5", "not_integer", {}),
        ("-100", "not_integer", {}),
    ],
)
def test_quantity_outside_the_services_range_names_the_limits(raw: str, code: str, params: dict[str, int]) -> None:
    with pytest.raises(FieldInvalid) as bad:
        build_add_params(service(), {"link": "https://x.com/a", "quantity": raw})
    assert (bad.value.field, bad.value.code, bad.value.params) == ("quantity", code, params)


@pytest.mark.parametrize("raw", ["1000", "1 000", "1,000", " 1000 "])
def test_quantity_accepts_how_people_write_numbers(raw: str) -> None:
    assert build_add_params(service(), {"link": "https://x.com/a", "quantity": raw})["quantity"] == "1000"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://instagram.com/p/abc", "https://instagram.com/p/abc"),
        ("http://t.me/channel/5", "http://t.me/channel/5"),
        ("instagram.com/someone", "https://instagram.com/someone"),
    ],
)
def test_links_are_http_with_a_host(raw: str, expected: str) -> None:
    assert clean_link(raw) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("ftp://files.example.com/a", "link_scheme"),
        ("javascript:alert(1)", "link_invalid"),
        ("https://", "link_invalid"),
        ("not a link", "link_spaces"),
        ("https://nohost/", "link_invalid"),
        ("https://x.com/" + "a" * 2100, "too_long"),
        ("", "required"),
    ],
)
def test_bad_links_are_refused_with_a_reason(raw: str, code: str) -> None:
    with pytest.raises(FieldInvalid) as bad:
        clean_link(raw)
    assert bad.value.code == code


def test_custom_comments_one_per_line_count_within_range_and_no_quantity_sent() -> None:
    svc = service("Custom Comments", min_=2, max_=3, rate="8")
    values = {"link": "https://x.com/p", "comments": "Great!\n\n  Love it  \r\nWow"}
    params = build_add_params(svc, values)
    assert params == {"service": "1", "link": "https://x.com/p", "comments": "Great!\nLove it\nWow"}
    assert total_quantity(svc, params) == 3
    assert quote(svc, params).low == Decimal("0.024")
    with pytest.raises(FieldInvalid) as bad:
        build_add_params(svc, {"link": "https://x.com/p", "comments": "only one"})
    assert bad.value.code == "line_count" and bad.value.params == {"count": 1, "minimum": 2, "maximum": 3}


def test_package_sends_only_the_link_and_costs_its_rate() -> None:
    svc = service("Package", rate="12.50", min_=1, max_=1)
    assert build_add_params(svc, {"link": "https://x.com/p", "quantity": "5"}) == {"service": "1", "link": "https://x.com/p"}
    assert quote(svc, {"link": "https://x.com/p"}).low == Decimal("12.50")


def test_poll_answer_number_is_a_positive_integer() -> None:
    svc = service("Poll")
    with pytest.raises(FieldInvalid) as bad:
        build_add_params(svc, {"link": "https://t.me/c/1", "quantity": "100", "answer_number": "0"})
    assert bad.value.field == "answer_number" and bad.value.code == "too_small"
    params = build_add_params(svc, {"link": "https://t.me/c/1", "quantity": "100", "answer_number": "2"})
    assert params["answer_number"] == "2"


def test_subscriptions_min_max_delay_expiry_and_no_link() -> None:
    svc = service("Subscriptions", min_=100, max_=1000, rate="2")
    values = {"username": "nasa", "min": "100", "max": "500", "posts": "0", "old_posts": "5",
              "delay": "30", "expiry": "1/2/2027"}
    params = build_add_params(svc, values, today=TODAY)
    assert params == {"service": "1", "username": "nasa", "min": "100", "max": "500", "posts": "0",
                      "old_posts": "5", "delay": "30", "expiry": "01/02/2027"}
    assert "link" not in params
    price = quote(svc, params)
    assert (price.low, price.high, price.per_post) == (Decimal("0.2"), Decimal("1"), True)


def test_subscription_skipped_optionals_are_left_out() -> None:
    svc = service("Subscriptions", min_=100, max_=1000)
    params = build_add_params(svc, {"username": "nasa", "min": "100", "max": "200", "delay": "0"}, today=TODAY)
    assert set(params) == {"service", "username", "min", "max", "delay"}


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"min": "600", "max": "500"}, "max", "min_above_max"),
        ({"min": "50"}, "min", "out_of_range"),
        ({"delay": "7"}, "delay", "choice"),
        ({"expiry": "31/02/2027"}, "expiry", "date_invalid"),
        ({"expiry": "2027-02-01"}, "expiry", "date_format"),
        ({"expiry": "29/11/2026"}, "expiry", "date_past"),
    ],
)
def test_subscription_rules(change: dict[str, str], field: str, code: str) -> None:
    svc = service("Subscriptions", min_=100, max_=1000)
    values = {"username": "nasa", "min": "100", "max": "500", "delay": "0", **change}
    with pytest.raises(FieldInvalid) as bad:
        build_add_params(svc, values, today=TODAY)
    assert (bad.value.field, bad.value.code) == (field, code)


def test_delays_are_the_seeds_list() -> None:
    assert DELAYS[0] == "0" and DELAYS[-1] == "600" and len(DELAYS) == 19


def test_web_traffic_asks_the_keyword_or_referrer_its_traffic_type_needs() -> None:
    svc = service("Web Traffic", dripfeed=True)
    base = {"link": "https://site.com", "quantity": "100", "country": "US", "device": "5"}
    assert names(svc, {**base, "type_of_traffic": "1"})[-3:] == ["google_keyword", "runs", "interval"]
    assert "referring_url" in names(svc, {**base, "type_of_traffic": "2"})
    assert names(svc, {**base, "type_of_traffic": "3"})[-2:] == ["runs", "interval"]
    params = build_add_params(svc, {**base, "type_of_traffic": "2", "referring_url": "https://ref.com"})
    assert params["referring_url"] == "https://ref.com" and "google_keyword" not in params
    with pytest.raises(FieldInvalid) as bad:
        build_add_params(svc, {**base, "type_of_traffic": "9"})
    assert bad.value.code == "choice"


def test_mentions_lists_are_sent_one_per_line() -> None:
    svc = service("Mentions with Hashtags")
    params = build_add_params(svc, {"link": "https://x.com/p", "quantity": "100",
                                    "usernames": "@a\n@b", "hashtags": "#x\n#y\n"})
    assert params["usernames"] == "@a\n@b" and params["hashtags"] == "#x\n#y"


def test_a_service_with_min_above_max_does_not_make_every_quantity_invalid() -> None:
    # A real catalog (topsmm.uz 370) has min 1000 > max 500; the panel decides then.
    svc = service(min_=1000, max_=500)
    assert build_add_params(svc, {"link": "https://x.com/a", "quantity": "700"})["quantity"] == "700"


def test_a_service_without_min_and_max_lets_the_panel_decide() -> None:
    # Older scripts omit min/max; they parse as 0 and must not refuse every quantity.
    svc = service(min_=0, max_=0)
    assert build_add_params(svc, {"link": "https://x.com/a", "quantity": "700"})["quantity"] == "700"
    with pytest.raises(FieldInvalid) as bad:
        build_add_params(svc, {"link": "https://x.com/a", "quantity": "0"})
    assert bad.value.code == "too_small"


def test_a_conditional_field_follows_the_cleaned_choice() -> None:
    svc = service("Web Traffic")
    values = {"link": "https://site.com", "quantity": "100", "country": "US", "device": "1", "type_of_traffic": " 1"}
    with pytest.raises(FieldInvalid) as bad:
        build_add_params(svc, values)
    assert bad.value.field == "google_keyword"
