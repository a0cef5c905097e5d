"""Unit tests for article identity: canonical URLs, ids, content hashes, domains."""

from __future__ import annotations

import re
from typing import Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.identify import article_id, canonical_url, content_hash, domain_of

# ==========================================================================
# canonical_url
# ==========================================================================


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        # scheme and host lower-cased; path case kept
        ("HTTPS://WWW.Example.COM/Path/To", "https://www.example.com/Path/To"),
        ("HTTP://example.com/", "http://example.com/"),
        # default ports dropped, others kept
        ("http://example.com:80/x", "http://example.com/x"),
        ("https://example.com:443/x", "https://example.com/x"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        ("http://example.com:443/x", "http://example.com:443/x"),  # 443 is not http's default
        ("https://example.com:80/x", "https://example.com:80/x"),
        # fragment dropped
        ("https://example.com/x#comments", "https://example.com/x"),
        ("https://example.com/x#", "https://example.com/x"),
        # tracking dropped, other parameters kept in order
        (
            "https://example.com/a?b=2&utm_source=x&a=1&fbclid=zz&utm_medium=y&gclid=q&c=3",
            "https://example.com/a?b=2&a=1&c=3",
        ),
        ("https://example.com/a?UTM_Source=x&keep=1", "https://example.com/a?keep=1"),
        ("https://example.com/a?utm_campaign=spring", "https://example.com/a"),
        ("https://example.com/a?z=1&y=2&x=3", "https://example.com/a?z=1&y=2&x=3"),  # not sorted
        ("https://example.com/a?id=1&id=2", "https://example.com/a?id=1&id=2"),  # repeats kept
        ("https://example.com/a?q=%26&r=a+b", "https://example.com/a?q=%26&r=a+b"),
        # empty path written as /
        ("https://example.com", "https://example.com/"),
        ("https://example.com?x=1", "https://example.com/?x=1"),
        ("https://example.com#top", "https://example.com/"),
        # trailing dot of a fully qualified host, surrounding whitespace
        ("https://Example.com./x", "https://example.com/x"),
        ("  https://example.com/x \n", "https://example.com/x"),
        # characters that must be escaped are escaped, existing escapes kept
        ("https://example.com/a b", "https://example.com/a%20b"),
        ("https://example.com/café", "https://example.com/caf%C3%A9"),
        ("https://example.com/caf%C3%A9", "https://example.com/caf%C3%A9"),
        ("https://example.com/a%2Fb", "https://example.com/a%2Fb"),
        ("https://example.com/100%25", "https://example.com/100%25"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "   ",
        "ftp://example.com/file",
        "mailto:someone@example.com",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "not a url",
        "example.com/no/scheme",
        "//example.com/protocol-relative",
        "/relative/path",
        "http://",
        "https:///path-without-host",
        "http://[::1",  # unbalanced IPv6 bracket
        "http://example.com:99999/",  # port out of range
        "http://example.com:port/",
    ],
)
def test_canonical_url_rejects(url: Optional[str]) -> None:
    assert canonical_url(url) is None


def test_canonical_url_distinguishes_encoded_slash() -> None:
    assert canonical_url("https://example.com/a%2Fb") != canonical_url("https://example.com/a/b")


_SEGMENT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="#?/\\\x00"), max_size=8)
_URLS = st.builds(
    lambda scheme, host, port, segments, query, fragment: (
        f"{scheme}://{host}{port}/{'/'.join(segments)}{query}{fragment}"
    ),
    st.sampled_from(["http", "https", "HTTP", "HttpS"]),
    st.sampled_from(["example.com", "WWW.Example.COM", "news.example.co.uk.", "127.0.0.1"]),
    st.sampled_from(["", ":80", ":443", ":8080"]),
    st.lists(st.one_of(_SEGMENT, st.sampled_from(["%2F", "%25", "%20", "a%41", "caf%C3%A9", "~x"])), max_size=4),
    st.lists(
        st.tuples(
            st.sampled_from(["a", "id", "utm_source", "UTM_medium", "fbclid", "gclid", "q", "utm%5Fterm"]),
            st.one_of(_SEGMENT, st.sampled_from(["%26", "a+b", "%20", ""])),
        ),
        max_size=4,
    ).map(lambda pairs: ("?" + "&".join(f"{k}={v}" for k, v in pairs)) if pairs else ""),
    st.sampled_from(["", "#", "#frag", "#!/x"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_URLS)
def test_canonical_url_properties(url: str) -> None:
    canonical = canonical_url(url)
    assert canonical is not None
    assert canonical_url(canonical) == canonical  # idempotent
    assert "#" not in canonical
    assert re.match(r"^https?://[a-z0-9.\-]+(:\d+)?/", canonical)
    assert not re.search(r"[?&](utm_|fbclid=|gclid=)", canonical, re.IGNORECASE)
    assert " " not in canonical
    assert canonical.isascii()
    scheme, _, netloc = canonical.split("/", 3)[:3]
    assert not netloc.endswith({"http:": ":80", "https:": ":443"}[scheme])  # default port dropped
    assert netloc == netloc.lower()


# ==========================================================================
# domain_of
# ==========================================================================


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://www.example.com/x", "example.com"),
        ("https://WWW.Example.COM", "example.com"),
        ("https://news.example.co.uk/a", "news.example.co.uk"),
        ("http://example.com:8080/x", "example.com"),
        ("https://www2.example.com/", "www2.example.com"),
        ("https://wwwexample.com/", "wwwexample.com"),
        (None, None),
        ("", None),
        ("garbage", None),
        ("/relative/path", None),
        ("http://[::1", None),
    ],
)
def test_domain_of(url: Optional[str], domain: Optional[str]) -> None:
    assert domain_of(url) == domain


# ==========================================================================
# article_id
# ==========================================================================


def test_article_id_is_short_hex_and_stable() -> None:
    first = article_id("https://example.com/story", None, None, "Title", "Text")
    assert re.fullmatch(r"[0-9a-f]{20}", first)
    assert article_id("https://example.com/story", None, None, "Title", "Text") == first
    assert first == article_id("https://example.com/story", "other feed", "other guid", "Other", "Other")


def test_article_id_values_are_pinned() -> None:
    # Ids already written to --output must keep matching across releases: a change here is a schema change.
    assert article_id("https://example.com/story", None, None, "Title", "Text") == "82e75309cf19496cf980"
    assert (
        article_id(None, "https://example.com/feed.xml", "tag:example.com,2024:1", None, "") == "63a906ad982a27580675"
    )
    assert article_id(None, None, None, "Hello, World!", "Some text.") == "89472a2d822e37ba9521"
    assert content_hash("Title", "Body text.") == "78dd4a75b174eb91a476de186109867d4812229820fff72fc20551ee6056b114"


def test_article_id_url_takes_precedence() -> None:
    by_url = article_id("https://example.com/story", "feed", "guid-1", "Title", "Text")
    assert by_url == article_id("https://example.com/story", "another feed", "guid-2", "Different", "Different")
    assert by_url != article_id(None, "feed", "guid-1", "Title", "Text")
    assert by_url != article_id(None, None, None, "Title", "Text")


def test_article_id_same_url_under_tracking_case_port_and_fragment() -> None:
    ids = {
        article_id(url, None, None, None, "")
        for url in [
            "https://example.com/story?id=7",
            "https://example.com/story?id=7&utm_source=twitter&utm_medium=social",
            "https://example.com/story?fbclid=abc&id=7",
            "HTTPS://EXAMPLE.COM:443/story?id=7#comments",
            " https://example.com/story?id=7&gclid=zz ",
        ]
    }
    assert len(ids) == 1


def test_article_id_different_urls_differ() -> None:
    assert article_id("https://example.com/a", None, None, "T", "x") != article_id(
        "https://example.com/b", None, None, "T", "x"
    )
    assert article_id("https://example.com/Story", None, None, None, "") != article_id(
        "https://example.com/story", None, None, None, ""
    )
    assert article_id("https://example.com/?id=1", None, None, None, "") != article_id(
        "https://example.com/?id=2", None, None, None, ""
    )


def test_article_id_feed_and_guid_when_no_usable_url() -> None:
    by_guid = article_id(None, "https://example.com/feed.xml", "tag:example.com,2024:1", "Title", "Text")
    # A non-http URL is no URL.
    assert by_guid == article_id(
        "ftp://example.com/x", "https://example.com/feed.xml", "tag:example.com,2024:1", "T", ""
    )
    # Title and text do not matter once feed + guid are known; surrounding spaces of the guid neither.
    assert by_guid == article_id(None, "https://example.com/feed.xml", "  tag:example.com,2024:1 ", "Other", "Other")
    # Another feed, or another guid, is another article.
    assert by_guid != article_id(None, "https://other.example/feed.xml", "tag:example.com,2024:1", "Title", "Text")
    assert by_guid != article_id(None, "https://example.com/feed.xml", "tag:example.com,2024:2", "Title", "Text")


def test_article_id_guid_without_feed_falls_back_to_text() -> None:
    assert article_id(None, None, "guid-1", "Title", "Text") == article_id(None, None, None, "Title", "Text")
    assert article_id(None, "feed", None, "Title", "Text") == article_id(None, None, None, "Title", "Text")
    assert article_id(None, "feed", "", "Title", "Text") == article_id(None, None, None, "Title", "Text")


def test_article_id_text_only_ignores_case_punctuation_and_whitespace() -> None:
    base = article_id(None, None, None, "Hello, World!", "Some text. More text.")
    assert base == article_id(None, None, None, "hello world", "some  text\n\nmore TEXT")
    assert base == article_id(None, None, None, "  HELLO —  WORLD  ", "Some text… more text!")
    assert base != article_id(None, None, None, "Hello, World!", "Some other text.")
    assert base != article_id(None, None, None, "Goodbye, World!", "Some text. More text.")


def test_article_id_title_and_text_are_kept_apart() -> None:
    assert article_id(None, None, None, "a b", "c") != article_id(None, None, None, "a", "b c")


def test_article_id_kinds_do_not_collide() -> None:
    # The same string as a URL-less text and as a guid must give different ids.
    assert article_id(None, "f", "x", None, "") != article_id(None, None, None, "f", "x")


def test_article_id_empty() -> None:
    assert article_id(None, None, None, None, "") == article_id(None, None, None, "", "")
    assert re.fullmatch(r"[0-9a-f]{20}", article_id(None, None, None, None, ""))


# ==========================================================================
# content_hash
# ==========================================================================


def test_content_hash() -> None:
    digest = content_hash("Title", "Body text.")
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest == content_hash("TITLE", "  body   TEXT ")
    assert digest == content_hash("Title!", "Body\n\ntext")
    assert digest != content_hash("Title", "Other body text.")
    assert digest != content_hash("Other", "Body text.")
    assert content_hash(None, "x") == content_hash("", "x")
    assert content_hash("a b", "c") != content_hash("a", "b c")


def test_content_hash_ignores_url_and_is_accent_insensitive() -> None:
    assert content_hash("Café", "Naïve résumé") == content_hash("Cafe", "Naive resume")
    assert content_hash("Cafe\u0301", "x") == content_hash("Café", "x")


def test_content_hash_differs_from_article_id_space() -> None:
    assert len(content_hash("T", "x")) != len(article_id(None, None, None, "T", "x"))
