"""The kinds of notification the outbox carries, and what each payload holds.

Written by the domain (the watcher, accounts), rendered in the user's language by the
sender; a payload is plain JSON so that it is written now and rendered later.
"""

from __future__ import annotations

# To the order's owner.
KIND_ORDER = "order_status"  # a new status: order_payload() in bot/domain/watcher.py
KIND_PROGRESS = "order_progress"  # delivery moved ("every change" mode only): same payload
KIND_REFILL = "refill_status"  # refill_id, order_id, order_pk, service_name, status, final
# The panel keeps refusing the id (e.g. "Incorrect order ID"): watching stopped.
KIND_ORDER_LOST = "order_watch_error"  # order_pk, order_id, service_name, error
KIND_REFILL_LOST = "refill_watch_error"  # refill_id, order_id, order_pk, service_name, error
# To the key's owner.
KIND_KEY_INVALID = "key_invalid"  # key_hint: the panel refuses the key (confirmed)
KIND_KEY_UNDECRYPTABLE = "key_undecryptable"  # key_hint: SECRET_KEY changed; link it again
# To each of ADMIN_IDS.
KIND_ACCOUNT_PAUSED = "account_paused"  # account_id, key_hint, team (bool), owner (id or None)
KIND_ACCOUNT_RESUMED = "account_resumed"  # the same payload
# Shop mode, to each of ADMIN_IDS once a day: balance, currency, low (SHOP_LOW_BALANCE).
KIND_SHOP_OUT_OF_FUNDS = "shop_out_of_funds"  # an order was turned away: the panel balance is short
KIND_SHOP_LOW_BALANCE = "shop_low_balance"  # the panel balance is below SHOP_LOW_BALANCE
# Shop mode, to the customer: amount, currency, and why (topup, credit, debit, referral, refund).
KIND_WALLET = "wallet"
# From the operator (/admin broadcast).
KIND_BROADCAST = "broadcast"  # text

# Sent whatever the user's /notifications choice: about the account or from the operator.
ALWAYS_SENT = frozenset({
    KIND_ORDER_LOST, KIND_REFILL_LOST, KIND_KEY_INVALID, KIND_KEY_UNDECRYPTABLE,
    KIND_ACCOUNT_PAUSED, KIND_ACCOUNT_RESUMED, KIND_BROADCAST, KIND_SHOP_OUT_OF_FUNDS, KIND_SHOP_LOW_BALANCE,
    KIND_WALLET,
})
