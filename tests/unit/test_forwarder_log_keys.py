"""The forwarder's ``batch forwarded`` log line counts adjustments without naming a key the client
chose (issue 17, class 7): a label built from a property or trait name is logged as ``<key>``."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from ga4_track_hits import track_hit
from hypothesis import given, settings
from hypothesis import strategies as st

from fairtrack.destinations import Delivery
from fairtrack.destinations.ga4_mapping import map_ga4
from fairtrack.forwarder import loggable_adjustments

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_fixed_labels_are_kept_and_client_names_are_counted_as_key() -> None:
    adjustments = Counter(
        {
            "truncated:page_location": 1,
            "dropped_field:context.campaign.source": 2,
            "dropped_field:properties.revenue": 1,
            "dropped_field:user_data.em": 1,
            "dropped_param:over_25": 3,
            "truncated:jane_doe_example_com": 2,
            "truncated:user_properties.user_42_jane_doe": 1,
            "truncated:another_client_key": 1,
            "ldu": 1,
        }
    )

    assert loggable_adjustments(adjustments) == {
        "truncated:page_location": 1,
        "dropped_field:context.campaign.source": 2,
        "dropped_field:properties.revenue": 1,
        "dropped_field:user_data.em": 1,
        "dropped_param:over_25": 3,
        "truncated:<key>": 4,
        "ldu": 1,
    }


def event(properties: dict[str, Any], traits: dict[str, Any]) -> dict[str, Any]:
    return track_hit(properties=properties, context={"traits": traits})


names = st.one_of(
    st.from_regex(r"user_[0-9]{1,4}_[a-z]{3,8}_[a-z]{3,8}", fullmatch=True),
    st.from_regex(r"[a-z]{3,8}\.[a-z]{3,8}@[a-z]{3,8}\.com", fullmatch=True),
)


@settings(max_examples=50, deadline=None)
@given(name=names)
def test_a_property_or_trait_name_never_reaches_the_log_line(name: str) -> None:
    long = "x" * 500  # longer than GA4 takes: truncated, and counted under the parameter's name
    delivery = Delivery("sqs-1", "web", 3, [(["necessary", "analytics"], event({name: long}, {name: long}))])
    mapping = map_ga4([delivery], now=NOW)
    sanitised = name.replace("@", "_").replace(".", "_")

    logged = repr(loggable_adjustments(Counter(mapping.adjustments)))
    assert any(sanitised in key for key in mapping.adjustments)  # the mapper does name it
    assert name not in logged
    assert sanitised not in logged
