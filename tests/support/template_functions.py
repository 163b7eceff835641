"""Test helper: the logical ids template.yaml gives the functions."""

from __future__ import annotations

from fairtrack.settings import DESTINATIONS


def forwarder_function(destination: str) -> str:
    """The logical id of a destination's forwarder (``ga4`` -> ``Ga4ForwarderFunction``)."""
    return f"{destination.capitalize()}ForwarderFunction"


# every destination's forwarder, by destination
FORWARDER_FUNCTIONS = {destination: forwarder_function(destination) for destination in DESTINATIONS}
