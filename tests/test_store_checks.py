"""`Store.apply_checks`: how a watcher cycle's status changes, notifications and leases are
written (bot/domain/watcher.py), on a SQLite file and, with TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.store import Notice, Order, Store
from tests.store_rows import add_order
from tests.test_store import BIG_USER, KEY, PANEL, Backend, backend, store  # noqa: F401 (fixtures)

WATCHER = "watcher-1"


async def open_orders(store: Store, count: int, *, status: str = "Pending") -> list[int]:
    """`count` open orders of one account, all due for a check."""
    await store.ensure_user(BIG_USER, "en")
    account = await store.link_account(BIG_USER, PANEL, KEY, "USD")
    assert account.id is not None
    ids = []
    for n in range(count):
        order = await add_order(store, panel_order_id=1000 + n, account_id=account.id, user_id=BIG_USER,
                                service_id=1, service_name="Followers", quantity=100, status=status)
        assert order.id is not None
        ids.append(order.id)
    return ids


async def order(store: Store, order_id: int) -> Order:
    found = await store.order_by_id(order_id)
    assert found is not None
    return found


def completed(order_id: int) -> Notice:
    return Notice(BIG_USER, "order_status", f"order:{order_id}:Completed", {"order_id": order_id, "status": "Completed"})


async def queued(store: Store) -> list[str]:
    """The dedupe keys of the notifications waiting to be sent."""
    return sorted(n.dedupe_key for n in await store.claim_notifications("sender", limit=10_000))


async def test_a_cycle_stores_its_changes_queues_their_notices_and_releases_its_leases(store: Store) -> None:
    first, second, untouched = await open_orders(store, 3)
    assert len(await store.lease_due_checks(WATCHER)) == 3
    next_check = datetime.now(UTC) + timedelta(minutes=5)
    changes = [
        (first, {"status": "Completed", "remains": 0, "final": True}, completed(first), "Pending"),
        (second, {"status": "In progress", "start_count": 120}, None, "Pending"),
    ]

    assert await store.apply_checks(WATCHER, changes, {next_check: [first, second, untouched]}) == 2

    done, running, same = [await order(store, i) for i in (first, second, untouched)]
    assert (done.status, done.remains, done.final) == ("Completed", 0, True)
    assert (running.status, running.start_count, running.final) == ("In progress", 120, False)
    assert (same.status, same.start_count) == ("Pending", None)
    assert await queued(store) == [f"order:{first}:Completed"]
    for row in (done, running, same):
        assert (row.lease_owner, row.lease_until) == (None, None)
        assert row.next_check_at is not None and row.next_check_at.replace(tzinfo=UTC) == next_check


async def test_a_change_read_before_a_refresh_stored_a_newer_status_is_dropped_unannounced(store: Store) -> None:
    (order_id,) = await open_orders(store, 1)
    await store.lease_due_checks(WATCHER)
    # Meanwhile the owner pressed Refresh, which stored what the panel says now.
    assert await store.update_order(order_id, {"status": "In progress", "remains": 40})
    late = [(order_id, {"status": "Partial", "remains": 70}, completed(order_id), "Pending")]

    assert await store.apply_checks(WATCHER, late, {datetime.now(UTC): [order_id]}) == 0

    row = await order(store, order_id)
    assert (row.status, row.remains) == ("In progress", 40)
    assert row.lease_owner is None  # the lease goes back all the same
    assert await queued(store) == []


async def test_a_final_status_is_never_overwritten(store: Store) -> None:
    read_running, read_final = await open_orders(store, 2, status="In progress")
    await store.lease_due_checks(WATCHER)
    for order_id in (read_running, read_final):
        assert await store.update_order(order_id, {"status": "Completed", "remains": 0, "final": True})
    changes = [
        # read while it ran, stored after Refresh had finished it
        (read_running, {"status": "In progress", "remains": 10}, None, "In progress"),
        # read as it is now, but a final order changes no more
        (read_final, {"remains": 5}, None, "Completed"),
    ]

    assert await store.apply_checks(WATCHER, changes, {}) == 0

    for order_id in (read_running, read_final):
        row = await order(store, order_id)
        assert (row.status, row.remains, row.final) == ("Completed", 0, True)


async def test_a_change_without_the_status_read_is_stored_unless_the_order_is_final(store: Store) -> None:
    open_one, final_one = await open_orders(store, 2, status="In progress")
    assert await store.update_order(final_one, {"status": "Canceled", "final": True})
    changes = [(open_one, {"check_errors": 2}, None, None), (final_one, {"check_errors": 2}, None, None)]

    await store.apply_checks(WATCHER, changes, {})

    assert (await order(store, open_one)).check_errors == 2
    assert (await order(store, final_one)).check_errors == 0


async def test_the_same_notice_in_two_cycles_is_queued_once(store: Store) -> None:
    (order_id,) = await open_orders(store, 1, status="In progress")
    progress = Notice(BIG_USER, "order_progress", f"order:{order_id}:progress:40", {"remains": 40})
    change = [(order_id, {"remains": 40}, progress, "In progress")]

    assert await store.apply_checks(WATCHER, change, {}) == 1
    assert await store.apply_checks("watcher-2", change, {}) == 1  # stored again, not announced again

    assert await queued(store) == [progress.dedupe_key]


async def test_orders_changing_different_columns_in_one_cycle_each_get_their_own(store: Store) -> None:
    status, start, errors = await open_orders(store, 3)
    changes = [
        (status, {"status": "In progress", "remains": 60}, None, "Pending"),
        (start, {"start_count": 7}, None, "Pending"),
        (errors, {"check_errors": 1, "last_checked_at": datetime.now(UTC)}, None, "Pending"),
    ]

    assert await store.apply_checks(WATCHER, changes, {}) == 3

    rows = {i: await order(store, i) for i in (status, start, errors)}
    assert (rows[status].status, rows[status].remains, rows[status].start_count) == ("In progress", 60, None)
    assert (rows[start].status, rows[start].remains, rows[start].start_count) == ("Pending", None, 7)
    assert (rows[errors].check_errors, rows[errors].status) == (1, "Pending")
    assert rows[errors].last_checked_at is not None


async def test_another_watchers_leases_are_left_alone(store: Store) -> None:
    ids = await open_orders(store, 2)
    leased = await store.lease_due_checks("watcher-a")
    assert sorted(row.id for row in leased) == ids
    before = [await order(store, i) for i in ids]

    assert await store.apply_checks("watcher-b", [], {datetime.now(UTC) + timedelta(hours=1): ids}) == 0

    after = [await order(store, i) for i in ids]
    assert [row.lease_owner for row in after] == ["watcher-a", "watcher-a"]
    assert [row.next_check_at for row in after] == [row.next_check_at for row in before]


async def test_nothing_to_store_and_no_lease_to_release_writes_nothing(store: Store) -> None:
    (order_id,) = await open_orders(store, 1)
    before = await order(store, order_id)

    assert await store.apply_checks(WATCHER, [], {}) == 0
    assert await store.apply_checks(WATCHER, [], {datetime.now(UTC): []}) == 0

    assert (await order(store, order_id)).updated_at == before.updated_at


async def test_a_cycle_of_thousands_of_orders_is_stored_whole(store: Store) -> None:
    """More orders and notices than one statement takes (5,000 and 500 a statement)."""
    await store.ensure_user(BIG_USER, "en")
    account = await store.link_account(BIG_USER, PANEL, KEY, "USD")
    count = 5_001
    async with store.session() as s:
        s.add_all(Order(panel_order_id=n, account_id=account.id, user_id=BIG_USER, service_id=1, status="Pending")
                  for n in range(count))
    ids = sorted(row.id for row in await store.lease_due_checks(WATCHER))
    assert len(ids) == count
    changes = [(i, {"status": "Completed", "final": True}, completed(i), "Pending") for i in ids]
    next_check = datetime.now(UTC) + timedelta(minutes=1)

    assert await store.apply_checks(WATCHER, changes, {next_check: ids}) == count

    assert await store.count_orders(BIG_USER, open_only=True) == 0
    assert len(await queued(store)) == count
    assert await store.lease_due_checks("watcher-2", now=next_check + timedelta(seconds=1)) == []  # all final
