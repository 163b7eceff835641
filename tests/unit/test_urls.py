"""Page URL cleaning and referrer origins (fairtrack/anonymise/urls.py).

Concrete cases (what is kept, what becomes a placeholder, what is refused, and the false
positives that must stay: slugs, order ids, dates, numeric ids), then properties: personal data
planted in a path segment or a UTM value, plain or percent-encoded, never appears in the clear in
any field of the result, and nothing raises on arbitrary text.
"""

from __future__ import annotations

import string
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, provisional, settings
from hypothesis import strategies as st
from test_pii import cards, emails, ibans, ips, phones

from fairtrack.anonymise.urls import CLICK_IDS, UTM_PARAMS, CleanUrl, clean_path, clean_url, referrer_origin

PROPERTY = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def test_typical_page_url() -> None:
    """Given a shop URL with UTM, a click id, another parameter and a fragment, then only UTM stays."""
    out = clean_url(
        "https://Shop.Example/products/blue-shirt?utm_source=newsletter&ref=home&utm_medium=email"
        "&gclid=Cj0KCQiA2eW9BhCBARIsAA&utm_campaign=spring%20sale#reviews"
    )
    assert out == CleanUrl(
        url="https://shop.example/products/blue-shirt?utm_source=newsletter&utm_medium=email&utm_campaign=spring%20sale",
        path="/products/blue-shirt",
        search="?utm_source=newsletter&utm_medium=email&utm_campaign=spring%20sale",
        click_ids={"gclid": "Cj0KCQiA2eW9BhCBARIsAA"},
    )


@pytest.mark.parametrize(
    ("url", "expected_url"),
    [
        ("https://shop.example", "https://shop.example/"),
        ("https://shop.example/?ref=home#top", "https://shop.example/"),
        ("HTTPS://SHOP.EXAMPLE:443/A/B", "https://shop.example/A/B"),
        ("http://shop.example:80/", "http://shop.example/"),
        ("http://shop.example:8080/x", "http://shop.example:8080/x"),
        ("https://jane:secret@shop.example/x", "https://shop.example/x"),
        ("http://[2001:DB8::1]:8443/x", "http://[2001:db8::1]:8443/x"),
        ("  https://shop.example/a\n/b\t ", "https://shop.example/a/b"),
        ("https://shop.example/orders/ord_1042", "https://shop.example/orders/ord_1042"),
        ("https://shop.example/orders/1042", "https://shop.example/orders/1042"),
        ("https://shop.example/blog/2026/11/24/summer-sale", "https://shop.example/blog/2026/11/24/summer-sale"),
        ("https://shop.example/blog/2026-11-24-summer", "https://shop.example/blog/2026-11-24-summer"),
        ("https://shop.example/p/price-12.50-eur", "https://shop.example/p/price-12.50-eur"),
        (
            "https://shop.example/blog/how-to-clean-urls-in-python-2026",
            "https://shop.example/blog/how-to-clean-urls-in-python-2026",
        ),
        ("https://shop.example/img/logo@2x.png", "https://shop.example/img/logo@2x.png"),
        (
            "https://shop.example/docs/SummerSaleNewsletterHeader",
            "https://shop.example/docs/SummerSaleNewsletterHeader",
        ),
        ("https://shop.example/m%C3%BCsli/bio", "https://shop.example/m%C3%BCsli/bio"),
        ("https://shop.example/a//b/", "https://shop.example/a//b/"),
        (
            "https://shop.example/?utm_id=1042&utm_term=running+shoes",
            "https://shop.example/?utm_id=1042&utm_term=running+shoes",
        ),
        (
            "https://shop.example/?utm_source=2026-11-24T10%3A15%3A30Z",
            "https://shop.example/?utm_source=2026-11-24T10%3A15%3A30Z",
        ),
        ("https://shop.example/?utm_content=price_12.50", "https://shop.example/?utm_content=price_12.50"),
    ],
)
def test_kept_as_is(url: str, expected_url: str) -> None:
    """Given an ordinary URL, then scheme and host are normalised and nothing else changes."""
    out = clean_url(url)
    assert out is not None
    assert out.url == expected_url


@pytest.mark.parametrize(
    ("url", "expected_path"),
    [
        ("https://s.example/users/jane@example.com/orders", "/users/:email/orders"),
        ("https://s.example/users/jane%40example.com", "/users/:email"),
        ("https://s.example/users/JANE%2540EXAMPLE.COM", "/users/:email"),
        ("https://s.example/u/profile-jane.doe@example.com", "/u/:email"),
        ("https://s.example/call/+49-30-1234567", "/call/:phone"),
        ("https://s.example/call/%2B49%2030%201234567", "/call/:phone"),
        ("https://s.example/pay/4111111111111111", "/pay/:card"),
        ("https://s.example/pay/DE89370400440532013000", "/pay/:iban"),
        ("https://s.example/ip/192.168.1.20/x", "/ip/:ip/x"),
        ("https://s.example/ip/2001:db8::1", "/ip/:ip"),
        ("https://s.example/a/550e8400-e29b-41d4-a716-446655440000/b", "/a/:id/b"),
        ("https://s.example/report-550E8400-E29B-41D4-A716-446655440000.pdf", "/:id"),
        (
            "https://s.example/reset/eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0In0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            "/reset/:token",
        ),
        ("https://s.example/s/a1b2c3d4e5f6a7b8c9d0", "/s/:token"),
        ("https://s.example/stores/221B%20Baker%20Street/hours", "/stores/:address/hours"),
        ("https://s.example/u/amFuZUBleGFtcGxlLmNvbQ", "/u/:email"),
        ("https://s.example/u/jane&%2364;example.com", "/u/:email"),
        ("https://s.example/s/5F4DCC3B5AA765D61D8327DEB882CF99", "/s/:token"),
        ("https://s.example/t/Xk9vQ2hT7mLp3RzW8yBn4JcF", "/t/:token"),
        ("https://s.example/t/k3j4h5g6f7d8s9a0q1w2e3r4t5y6", "/t/:token"),
        ("https://s.example/p;jsessionid=0123456789ABCDEF0123", "/:token"),
    ],
)
def test_path_segments_become_placeholders(url: str, expected_path: str) -> None:
    """Given a path segment holding personal data or a token, then the whole segment is a placeholder."""
    out = clean_url(url)
    assert out is not None
    assert out.path == expected_path
    assert out.url == "https://s.example" + expected_path


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("", "/"),
        ("/", "/"),
        ("/products/blue-shirt", "/products/blue-shirt"),
        ("/users/jane%40example.com/orders", "/users/:email/orders"),
        ("/a/550e8400-e29b-41d4-a716-446655440000", "/a/:id"),
        ("/search?q=jane@example.com", "/:email"),
    ],
)
def test_clean_path_alone(path: str, expected: str) -> None:
    """Given a path sent without its URL, then it is cleaned as clean_url cleans a path."""
    assert clean_path(path) == expected


@pytest.mark.parametrize(
    ("query", "expected_search"),
    [
        ("utm_source=newsletter&utm_term=jane@example.com", "?utm_source=newsletter&utm_term=:email"),
        ("utm_term=jane%40example.com", "?utm_term=:email"),
        ("utm_term=jane%2540example.com", "?utm_term=:email"),
        ("utm_content=call+%2B49+30+1234567", "?utm_content=:phone"),
        ("utm_content=+49+30+1234567", "?utm_content=:phone"),  # '+' is a space: "49 30 1234567"
        ("utm_content=5f4dcc3b5aa765d61d8327deb882cf99", "?utm_content=:token"),
        ("utm_id=550e8400-e29b-41d4-a716-446655440000", "?utm_id=:id"),
        ("utm_source=10.1.2.3", "?utm_source=:ip"),
        ("UTM_SOURCE=news&Utm_Medium=mail", "?UTM_SOURCE=news&Utm_Medium=mail"),
        ("utm_source=a&utm_source=b", "?utm_source=a&utm_source=b"),
        ("utm_source", "?utm_source"),
        ("email=jane@example.com&q=shoes&page=2", None),
        ("&&utm_medium=cpc&", "?utm_medium=cpc"),
    ],
)
def test_query(query: str, expected_search: str | None) -> None:
    """Given a query, then only allowed parameters stay, in order, a value that is PII redacted."""
    out = clean_url("https://s.example/p?" + query)
    assert out is not None
    assert out.search == expected_search
    assert out.url == "https://s.example/p" + (expected_search or "")


def test_click_ids_are_taken_out() -> None:
    """Given click ids, then they leave the URL for click_ids (first wins, lower-cased names, PII refused)."""
    out = clean_url(
        "https://s.example/?GCLID=first&gclid=second&fbclid=IwAR2x%2By&msclkid=jane%40example.com"
        "&ttclid=&twclid=+49+30+1234567&utm_source=x&wbraid=abc"
    )
    assert out is not None
    assert out.click_ids == {"gclid": "first", "fbclid": "IwAR2x+y", "wbraid": "abc"}
    assert out.search == "?utm_source=x"
    assert "gclid" not in out.url and "fbclid" not in out.url


def test_custom_parameter_sets() -> None:
    """Given other allowed parameters and click ids, then those are used instead of the defaults."""
    out = clean_url(
        "https://s.example/?q=shoes&utm_source=x&gclid=g&ref=r",
        allowed_params=frozenset({"q"}),
        click_ids=frozenset({"ref"}),
    )
    assert out is not None
    assert out.search == "?q=shoes"
    assert out.click_ids == {"ref": "r"}
    assert "utm_source" in UTM_PARAMS and "gclid" in CLICK_IDS


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "/relative/path",
        "shop.example/x",
        "ftp://shop.example/x",
        "mailto:jane@example.com",
        "javascript:alert(1)",
        "data:text/html,hi",
        "https:shop.example",
        "https://",
        "https:///path",
        "https://:443/",
        "http://[::1",
        "http://[not-an-ip]/",
        "http://[::1]x/",
        "https://exa mple.com/",
        "https://shop.example:99999/",
        "https://shop.example:-1/",
        "https://shop.example:8o/",
        "https://shop.example:١٢/",
        "https://a:b:c/",
        "https://sh<op>.example/",
    ],
)
def test_not_http_urls_give_none(url: str) -> None:
    """Given something that is not an absolute http(s) URL with a valid host and port, then None."""
    assert clean_url(url) is None
    assert referrer_origin(url) is None


def test_non_strings_give_none() -> None:
    assert clean_url(None) is None  # type: ignore[arg-type]
    assert referrer_origin(42) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://www.google.com/search?q=jane%40example.com", "https://www.google.com"),
        ("https://jane:pw@Shop.Example:443/a#b", "https://shop.example"),
        ("http://localhost:3000/x", "http://localhost:3000"),
        ("http://[::1]:8080/", "http://[::1]:8080"),
        ("HTTP://EXAMPLE.ORG", "http://example.org"),
        ("android-app://com.google.android.gm/", None),
        ("", None),
    ],
)
def test_referrer_origin(url: str, origin: str | None) -> None:
    """Given a referrer, then only scheme://host[:port] remains."""
    assert referrer_origin(url) == origin


# -- properties -----------------------------------------------------------------------------------

planted = st.one_of(emails, phones(), ips, cards(), ibans())


def encodings(value: str) -> st.SearchStrategy[str]:
    return st.sampled_from(
        [
            quote(value, safe="@+:"),  # as typed: '@', '+', ':' left as they are
            quote(value, safe=""),  # percent-encoded once
            quote(quote(value, safe=""), safe=""),  # twice
        ]
    )


def assert_not_in_clear(out: CleanUrl | None, value: str, sent: str) -> None:
    assert out is not None
    for text in (out.url, out.path, out.search or "", *out.click_ids.values()):
        assert value not in text
        assert sent not in text


@PROPERTY
@given(
    data=st.data(),
    value=planted,
    before=st.sampled_from(["", "/users", "/a/b"]),
    after=st.sampled_from(["", "/orders", "/x/y?utm_source=s"]),
)
def test_planted_in_path_never_in_clear(data: st.DataObject, value: str, before: str, after: str) -> None:
    """Given personal data as a path segment, plain or percent-encoded, then it is a placeholder."""
    sent = data.draw(encodings(value))
    out = clean_url(f"https://s.example{before}/{sent}{after}")
    assert_not_in_clear(out, value, sent)
    assert out is not None and ":" in out.path


@PROPERTY
@given(
    data=st.data(),
    value=planted,
    param=st.sampled_from(sorted(UTM_PARAMS | CLICK_IDS)),
    words=st.sampled_from(["", "call ", "mail to "]),
)
def test_planted_in_query_never_in_clear(data: st.DataObject, value: str, param: str, words: str) -> None:
    """Given personal data in a UTM or click-id value, plain or percent-encoded, then it is not kept."""
    sent = data.draw(encodings(words + value))
    out = clean_url(f"https://s.example/p?utm_source=news&{param}={sent}&utm_medium=mail#{quote(value)}")
    assert_not_in_clear(out, value, sent)
    assert out is not None and out.search is not None and out.search.startswith("?utm_source=news")


@PROPERTY
@given(url=provisional.urls())
def test_generated_urls_clean_and_keep_their_origin(url: str) -> None:
    """Given any generated http(s) URL, then it cleans, its origin is kept, and cleaning is idempotent."""
    out = clean_url(url)
    assert out is not None
    origin = referrer_origin(url)
    assert origin is not None and out.url.startswith(origin + "/")
    assert "#" not in out.url
    again = clean_url(out.url)
    assert again is not None and again.url == out.url


@PROPERTY
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.text(max_size=100).map(lambda t: "https://" + t),
        st.text(alphabet=string.printable + "%[]@:", max_size=120).map(lambda t: "http://" + t),
    )
)
def test_never_raises(text: str) -> None:
    """Given arbitrary text, then clean_url and referrer_origin return a result or None, never raise."""
    out = clean_url(text)
    origin = referrer_origin(text)
    assert (out is None) == (origin is None)
    if out is not None:
        assert out.url.startswith(f"{origin}/")
        assert out.path.startswith("/")
