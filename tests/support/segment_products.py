"""Test helper: Segment e-commerce products, for the tests that size orders and product lists."""

from __future__ import annotations

from typing import Any


def product(i: int) -> dict[str, Any]:
    """The ``i``-th product, with every field of the Segment e-commerce spec's products."""
    return {
        "product_id": f"p-{i}",
        "sku": f"S-{i}",
        "category": "Shoes",
        "name": f"Runner {i}",
        "brand": "Acme",
        "variant": "red",
        "price": 19.99,
        "quantity": 1,
        "coupon": "SPRING",
        "position": i,
        "url": f"https://shop.example/p/{i}",
        "image_url": f"https://shop.example/i/{i}.jpg",
    }
