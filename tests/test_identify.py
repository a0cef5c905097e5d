"""Unit tests for article identity: canonical URLs, ids, content hashes, domains."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

import identify_rule1
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import CORPUS

from transforms.identify import (
    ID_RULE,
    TRACKING_DATA_FILE,
    TrackingRules,
    article_id,
    canonical_url,
    content_hash,
    domain_of,
    url_id,
)

# ==========================================================================
# canonical_url
# ==========================================================================


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        # scheme and host lower-cased; path case kept
        ("HTTPS://WWW.Web.Example/Path/To", "https://www.web.example/Path/To"),
        ("HTTP://web.example/", "http://web.example/"),
        # default ports dropped, others kept
        ("http://web.example:80/x", "http://web.example/x"),
        ("https://web.example:443/x", "https://web.example/x"),
        ("http://web.example:8080/x", "http://web.example:8080/x"),
        ("http://web.example:443/x", "http://web.example:443/x"),  # 443 is not http's default
        ("https://web.example:80/x", "https://web.example:80/x"),
        # fragment dropped
        ("https://web.example/x#comments", "https://web.example/x"),
        ("https://web.example/x#", "https://web.example/x"),
        # tracking dropped, other parameters sorted by name
        (
            "https://web.example/a?b=2&utm_source=x&a=1&fbclid=zz&utm_medium=y&gclid=q&c=3",
            "https://web.example/a?a=1&b=2&c=3",
        ),
        ("https://web.example/a?UTM_Source=x&keep=1", "https://web.example/a?keep=1"),
        ("https://web.example/a?utm_campaign=spring", "https://web.example/a"),
        ("https://web.example/a?z=1&y=2&x=3", "https://web.example/a?x=3&y=2&z=1"),  # sorted
        ("https://web.example/a?id=1&id=2", "https://web.example/a?id=1&id=2"),  # repeats kept
        ("https://web.example/a?id=2&b=1&id=1", "https://web.example/a?b=1&id=2&id=1"),  # in their order
        ("https://web.example/a?q=%26&r=a+b", "https://web.example/a?q=%26&r=a+b"),
        # empty path written as /
        ("https://web.example", "https://web.example/"),
        ("https://web.example?x=1", "https://web.example/?x=1"),
        ("https://web.example#top", "https://web.example/"),
        # trailing dot of a fully qualified host, surrounding whitespace
        ("https://Web.Example./x", "https://web.example/x"),
        ("  https://web.example/x \n", "https://web.example/x"),
        # characters that must be escaped are escaped, existing escapes kept
        ("https://web.example/a b", "https://web.example/a%20b"),
        ("https://web.example/café", "https://web.example/caf%C3%A9"),
        ("https://web.example/caf%C3%A9", "https://web.example/caf%C3%A9"),
        ("https://web.example/a%2Fb", "https://web.example/a%2Fb"),
        ("https://web.example/100%25", "https://web.example/100%25"),
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
        "ftp://web.example/file",
        "mailto:someone@web.example",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "not a url",
        "web.example/no/scheme",
        "//web.example/protocol-relative",
        "/relative/path",
        "http://",
        "https:///path-without-host",
        "http://[::1",  # unbalanced IPv6 bracket
        "http://web.example:99999/",  # port out of range
        "http://web.example:port/",
    ],
)
def test_canonical_url_rejects(url: Optional[str]) -> None:
    assert canonical_url(url) is None


def test_canonical_url_distinguishes_encoded_slash() -> None:
    assert canonical_url("https://web.example/a%2Fb") != canonical_url("https://web.example/a/b")


_SEGMENT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="#?/\\\x00"), max_size=8)
_URLS = st.builds(
    lambda scheme, host, port, segments, query, fragment: (
        f"{scheme}://{host}{port}/{'/'.join(segments)}{query}{fragment}"
    ),
    st.sampled_from(["http", "https", "HTTP", "HttpS"]),
    st.sampled_from(["web.example", "WWW.Web.Example", "news.example.", "127.0.0.1"]),
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


# --------------------------------------------------------------------------
# canonical_url: trackers (as data), parameter order, what must survive
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        # the campaign parameters of the real feeds in ../shared/corpora/news_feeds
        (
            "https://www.dw.com/en/france-arrests-nine-in-right-wing-activist-s-death/a-75995188?maca=en-rss-en-all-1573-rdf",
            "https://www.dw.com/en/france-arrests-nine-in-right-wing-activist-s-death/a-75995188",
        ),
        (
            "https://www.bbc.com/news/articles/cp81l0e1eg5o?at_medium=RSS&at_campaign=rss",
            "https://www.bbc.com/news/articles/cp81l0e1eg5o",
        ),
        (
            "https://www.aljazeera.com/news/2026/2/18/stephen-colbert?traffic_source=rss",
            "https://www.aljazeera.com/news/2026/2/18/stephen-colbert",
        ),
        (
            "https://www.csmonitor.com/USA/Politics/2026/0217/jesse-jackson-appreciation?icid=rss",
            "https://www.csmonitor.com/USA/Politics/2026/0217/jesse-jackson-appreciation",
        ),
        # other lists' trackers, any case
        ("https://web.example/a?xtor=RSS-3208&id=4", "https://web.example/a?id=4"),
        ("https://web.example/a?_GL=1*abc&mc_eid=x&MKT_TOK=y&id=4", "https://web.example/a?id=4"),
        ("https://web.example/a?Echobox=1700000000&p=12", "https://web.example/a?p=12"),
        # a scoped tracker goes only on its own hosts (and their subdomains)
        ("https://web.example/a?maca=1", "https://web.example/a?maca=1"),
        ("https://m.dw.com/a?maca=1", "https://m.dw.com/a"),
        ("https://notdw.com/a?maca=1", "https://notdw.com/a?maca=1"),
        ("https://www.youtube.com/watch?si=abc&v=dQw4w9WgXcQ", "https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
        ("https://web.example/watch?si=abc&v=1", "https://web.example/watch?si=abc&v=1"),
        # RFC 3986 6.2.2: escapes of unreserved characters decoded, hex digits upper case
        ("https://web.example/%7Euser/a%2db?q=%41%62", "https://web.example/~user/a-b?q=Ab"),
        ("https://web.example/caf%c3%a9?x=%c3%a9", "https://web.example/caf%C3%A9?x=%C3%A9"),
        ("https://web.example/a%2fb/%2E%2E/c", "https://web.example/a%2Fb/%2E%2E/c"),  # reserved and dots kept
    ],
)
def test_canonical_url_drops_trackers(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


#: Parameters that pick what a page shows: never dropped, on any host.
CONTENT_PARAMS = [
    "id", "p", "page", "story", "storyid", "article", "articleid", "v", "q", "s", "search", "ref", "source",
    "cid", "sid", "aid", "pid", "cat", "category", "section", "tag", "year", "month", "day", "date", "lang",
    "hl", "edition", "post", "item", "nid", "node", "slug", "t", "x", "type", "format", "mode", "from",
]  # fmt: skip


@pytest.mark.parametrize("name", CONTENT_PARAMS)
@pytest.mark.parametrize("host", ["web.example", "www.dw.com", "www.aljazeera.com", "www.youtube.com", "x.com"])
def test_canonical_url_keeps_parameters_that_select_content(name: str, host: str) -> None:
    assert canonical_url(f"https://{host}/a?{name}=7") == f"https://{host}/a?{name}=7"


def test_tracking_rules_are_data_with_a_source_each() -> None:
    data = json.loads(TRACKING_DATA_FILE.read_text(encoding="utf-8"))
    rules = data["rules"]
    assert len(rules) > 100
    for rule in rules:
        assert (("param" in rule) != ("prefix" in rule)) and rule["source"].strip(), rule
        assert set(rule) <= {"param", "prefix", "domains", "source"}, rule
    names = [(rule.get("param") or rule.get("prefix")).lower() for rule in rules]
    assert len(names) == len(set(names)), "a parameter listed twice"
    assert not {n.lower() for n in CONTENT_PARAMS} & set(names)
    # Every parameter rule 1 dropped is still dropped everywhere: old rows' ids are recomputed from their URL.
    everywhere = {(r.get("param") or r.get("prefix")).lower() for r in rules if "domains" not in r}
    assert {p.lower() for p in identify_rule1._TRACKING_PARAMS} | {"utm_"} <= everywhere


def test_canonical_url_reads_the_rules_it_is_given(tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps({"rules": [{"param": "keepme", "source": "test"}]}), encoding="utf-8")
    rules = TrackingRules.from_file(rules_file)
    assert canonical_url("https://web.example/a?keepme=1&utm_source=x", rules) == "https://web.example/a?utm_source=x"


def test_query_order_does_not_split_ids() -> None:
    assert article_id("https://web.example/a?b=2&a=1", None, None, None, "") == article_id(
        "https://web.example/a?a=1&b=2", None, None, None, ""
    )
    assert article_id("https://web.example/a?a=1&a=2", None, None, None, "") != article_id(
        "https://web.example/a?a=2&a=1", None, None, None, ""
    )


def test_id_rule_is_pinned() -> None:
    """``ID_RULE`` names the rule; a change of ids without a new rule number fails here."""
    assert ID_RULE == 2
    assert (
        article_id("https://web.example/story", None, None, "Title", "Text") == "b43e0d8494f0c01706b1"
    )  # as in rule 1
    assert article_id(
        "https://www.bbc.com/news/articles/cp81l0e1eg5o?at_medium=RSS&at_campaign=rss", None, None, None, ""
    ) == (url_id("https://www.bbc.com/news/articles/cp81l0e1eg5o"))
    assert url_id("https://web.example/a?b=2&a=1") == "ed0584029630686fb40a"


_TRACKED_URLS = st.builds(
    lambda host, path, pairs, fragment: f"https://{host}/{path}" + ("?" + "&".join(pairs) if pairs else "") + fragment,
    st.sampled_from(["www.dw.com", "Web.Example", "www.bbc.com:443", "news.example:8080"]),
    st.sampled_from(["a", "a/b%2Fc", "caf%c3%a9", "%7Ex", "x y"]),
    st.lists(
        st.tuples(
            st.sampled_from(
                ["a", "b", "id", "utm_source", "UTM_Medium", "fbclid", "maca", "at_medium", "xtor", "ocid", "Z"]
            ),
            st.sampled_from(["1", "2", "%26", "a+b", "%c3%a9", "", "x y"]),
        ).map(lambda kv: f"{kv[0]}={kv[1]}"),
        max_size=5,
    ),
    st.sampled_from(["", "#top"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TRACKED_URLS)
def test_rule_2_of_a_rule_1_url_is_rule_2_of_the_link(url: str) -> None:
    """What lets a re-run recognise old rows: the current rule applied to a stored rule-1 URL gives the same."""
    old = identify_rule1.canonical_url_rule1(url)
    assert old is not None
    assert canonical_url(old) == canonical_url(url)
    assert canonical_url(canonical_url(url)) == canonical_url(url)


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")
@pytest.mark.slow
def test_real_feed_links_lose_their_trackers_and_no_two_articles_share_an_id() -> None:
    import feedparser

    entries = []
    for path in sorted(CORPUS.glob("*.xml")):
        for entry in feedparser.parse(path.read_bytes()).entries:
            entries.append((path.name, entry.get("id") or entry.get("link"), entry.get("title"), entry.get("link")))
    assert len(entries) == 845
    campaign = re.compile(r"[?&](?:utm_[a-z_]+|maca|at_medium|at_campaign|traffic_source|icid)=", re.IGNORECASE)
    assert sum(1 for *_, link in entries if campaign.search(identify_rule1.canonical_url_rule1(link) or "")) == 209
    assert not [link for *_, link in entries if campaign.search(canonical_url(link) or "")]
    # One id per article: entries that share an id are the same story (same title), and
    # stories that rule 1 told apart are told apart still.
    by_id: dict[str, set[tuple[Optional[str], Optional[str]]]] = {}
    for feed, guid, title, link in entries:
        by_id.setdefault(article_id(link, feed, guid, title, ""), set()).add((title, identify_rule1.url_id_rule1(link)))
    for same in by_id.values():
        assert len({title for title, _ in same}) == 1, same
    assert len(by_id) == len({identify_rule1.url_id_rule1(link) for *_, link in entries})


# ==========================================================================
# domain_of
# ==========================================================================


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://www.web.example/x", "web.example"),
        ("https://WWW.Web.Example", "web.example"),
        ("https://news.paper.co.example/a", "news.paper.co.example"),
        ("http://web.example:8080/x", "web.example"),
        ("https://www2.web.example/", "www2.web.example"),
        ("https://wwwweb.example/", "wwwweb.example"),
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
    first = article_id("https://web.example/story", None, None, "Title", "Text")
    assert re.fullmatch(r"[0-9a-f]{20}", first)
    assert article_id("https://web.example/story", None, None, "Title", "Text") == first
    assert first == article_id("https://web.example/story", "other feed", "other guid", "Other", "Other")


def test_article_id_values_are_pinned() -> None:
    # Ids already written to --output must keep matching across releases: a change here is a schema change.
    assert article_id("https://web.example/story", None, None, "Title", "Text") == "b43e0d8494f0c01706b1"
    assert (
        article_id(None, "https://web.example/feed.xml", "tag:web.example,2024:1", None, "") == "c2f1f30bc7856e6188ad"
    )
    assert article_id(None, None, None, "Hello, World!", "Some text.") == "89472a2d822e37ba9521"
    assert content_hash("Title", "Body text.") == "78dd4a75b174eb91a476de186109867d4812229820fff72fc20551ee6056b114"


def test_article_id_url_takes_precedence() -> None:
    by_url = article_id("https://web.example/story", "feed", "guid-1", "Title", "Text")
    assert by_url == article_id("https://web.example/story", "another feed", "guid-2", "Different", "Different")
    assert by_url != article_id(None, "feed", "guid-1", "Title", "Text")
    assert by_url != article_id(None, None, None, "Title", "Text")


def test_article_id_same_url_under_tracking_case_port_and_fragment() -> None:
    ids = {
        article_id(url, None, None, None, "")
        for url in [
            "https://web.example/story?id=7",
            "https://web.example/story?id=7&utm_source=twitter&utm_medium=social",
            "https://web.example/story?fbclid=abc&id=7",
            "HTTPS://WEB.EXAMPLE:443/story?id=7#comments",
            " https://web.example/story?id=7&gclid=zz ",
        ]
    }
    assert len(ids) == 1


def test_article_id_different_urls_differ() -> None:
    assert article_id("https://web.example/a", None, None, "T", "x") != article_id(
        "https://web.example/b", None, None, "T", "x"
    )
    assert article_id("https://web.example/Story", None, None, None, "") != article_id(
        "https://web.example/story", None, None, None, ""
    )
    assert article_id("https://web.example/?id=1", None, None, None, "") != article_id(
        "https://web.example/?id=2", None, None, None, ""
    )


def test_article_id_feed_and_guid_when_no_usable_url() -> None:
    by_guid = article_id(None, "https://web.example/feed.xml", "tag:web.example,2024:1", "Title", "Text")
    # A non-http URL is no URL.
    assert by_guid == article_id(
        "ftp://web.example/x", "https://web.example/feed.xml", "tag:web.example,2024:1", "T", ""
    )
    # Title and text do not matter once feed + guid are known; surrounding spaces of the guid neither.
    assert by_guid == article_id(None, "https://web.example/feed.xml", "  tag:web.example,2024:1 ", "Other", "Other")
    # Another feed, or another guid, is another article.
    assert by_guid != article_id(None, "https://other.example/feed.xml", "tag:web.example,2024:1", "Title", "Text")
    assert by_guid != article_id(None, "https://web.example/feed.xml", "tag:web.example,2024:2", "Title", "Text")


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
