"""What a forwarder's batch log line may say of the adjustments the mappers made.

The mappers count each adjustment as ``<action>:<label>``, and a label can be built from a key the
client chose (GA4 ``truncated:<param>`` from a property's name, ``truncated:user_properties.<name>``
from a trait's). A label is logged only when it is one of the mappers' fixed reasons or a dotted
path of fairtrack's own field and destination parameter names; any other is logged as ``<key>``
(counts merged): counts, never a client's key.
"""

from __future__ import annotations

from collections import Counter

__all__ = ["loggable_adjustments"]

_FIXED_REASONS = frozenset(
    [
        "invalid",
        "invalid_name",
        "invalid_hash",
        "invalid_value",
        "invalid_currency",
        "missing_currency",
        "over_27",
        "invalid_items",
        "invalid_unicode",
        "no_id",
        "not_finite",
        "not_scalar",
        "null",
        "unknown",
        "unknown_field",
        "duplicate_name",
        "reserved_name",
        "over_10",
        "over_25",
        "over_200",
        "no_advertising_consent",
        "callback_failed",
        "from_receivedAt",
        "param",
        "user_property",
        "event_name",
        "timestamp",
        "userId_too_long",
    ]
)
_OWN_NAMES = frozenset(
    [
        "type",
        "messageId",
        "timestamp",
        "receivedAt",
        "event",
        "name",
        "anonymousId",
        "userId",
        "groupId",
        "previousId",
        "context",
        "properties",
        "traits",
        "consent",
        "userData",
        "page",
        "url",
        "path",
        "search",
        "referrer",
        "title",
        "campaign",
        "source",
        "medium",
        "term",
        "content",
        "id",
        "library",
        "version",
        "session",
        "number",
        "engaged",
        "engagementTimeMs",
        "firstVisit",
        "start",
        "userAgent",
        "userAgentData",
        "device",
        "os",
        "screen",
        "locale",
        "timezone",
        "ip",
        "location",
        "country",
        "page_location",
        "page_referrer",
        "page_title",
        "page_path",
        "screen_name",
        "session_id",
        "engagement_time_msec",
        "campaign_id",
        "transaction_id",
        "currency",
        "value",
        "revenue",
        "total",
        "order_id",
        "items",
        "products",
        "products[]",
        "coupon",
        "item_id",
        "item_name",
        "affiliation",
        "discount",
        "index",
        "item_brand",
        "item_category",
        "item_category2",
        "item_category3",
        "item_category4",
        "item_category5",
        "item_list_id",
        "item_list_name",
        "item_variant",
        "location_id",
        "price",
        "quantity",
        "promotion_id",
        "promotion_name",
        "creative_name",
        "creative_slot",
        "user_data",
        "user_properties",
        "client_ip_address",
        "client_user_agent",
        "fbc",
        "fbclid",
        "fbp",
        "test_event_code",
        "em",
        "ph",
        "fn",
        "ln",
        "ge",
        "db",
        "ct",
        "st",
        "zp",
    ]
)


def loggable_adjustments(adjustments: Counter[str]) -> dict[str, int]:
    """The adjustments as the batch's log line may hold them (see ``_OWN_NAMES``)."""
    out: Counter[str] = Counter()
    for key, count in adjustments.items():
        action, sep, label = key.partition(":")
        named = not sep or label in _FIXED_REASONS or all(part in _OWN_NAMES for part in label.split("."))
        out[key if named else f"{action}:<key>"] += count
    return dict(out)
