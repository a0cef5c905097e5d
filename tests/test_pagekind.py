"""Article or not: ``transforms.pagekind`` on the fixture pages, on pages built for each precedence rule, and through the format.

A news crawl holds front, section, tag, author, video and gallery pages
beside its articles; the classifier must throw none of the articles away and
keep none of the rest. The fixtures (``tests/fixtures/pagekind``, fictional
pages, each with the kind it must get in ``expected.json``) are read as the
WARC path reads them: ``decode_bytes``, ``prepare_markup``, ``parse_page``,
then ``link_stats`` of the tree before ``read_tree``. The pages built here
hold one signal each (a declared type, a URL, a shape), so that a verdict
that changes names the rule that changed. All pure functions: no pipeline.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, Optional

import pytest
from apache_beam.utils.timestamp import Timestamp

from schemas import RawArticle, RawDocument
from transforms.extract import Page, parse_page, read_tree
from transforms.formats.base import Skipped
from transforms.formats.html_page import page_outcome
from transforms.pagekind import (
    ARTICLE,
    ARTICLE_WORDS,
    DECLARED_MIN_WORDS,
    KINDS,
    TOO_SHORT_WORDS,
    LinkStats,
    PageKind,
    link_stats,
    page_kind,
    text_words,
    url_kind,
)
from transforms.text import decode_bytes, prepare_markup

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pagekind"
EXPECTED: dict[str, dict[str, str]] = {
    name: item
    for name, item in json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8")).items()
    if not name.startswith("_")
}
ARTICLE_FIXTURES = sorted(name for name, item in EXPECTED.items() if item["kind"] == ARTICLE)
OTHER_FIXTURES = sorted(name for name, item in EXPECTED.items() if item["kind"] != ARTICLE)
#: When the pages were fetched: after every date they carry, as a crawl's would be.
FETCHED = datetime(2024, 5, 20, 9, 30, tzinfo=UTC)
SITE = "https://gazette.example"


# ------------------------------------------------------------------ reading a page as the pipeline does


class Reading(NamedTuple):
    """One page read: ``link_stats`` before and after ``read_tree``, what ``read_tree`` found, the verdict."""

    before: LinkStats
    after: LinkStats
    page: Page
    kind: PageKind


def read(markup: str, url: str) -> Reading:
    """``markup`` classified at ``url`` the way ``page_outcome`` does it: stats of the tree as served, then the read."""
    tree = parse_page(prepare_markup(markup)[0])
    assert tree is not None, "the page did not parse"
    before = link_stats(tree)
    page = read_tree(tree, url, FETCHED)
    after = link_stats(tree)
    return Reading(before, after, page, page_kind(url, page.meta, page.body, before))


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.html").read_bytes()


@pytest.fixture(scope="module")
def readings() -> dict[str, Reading]:
    """Every fixture read once (trafilatura is the costly part), shared by the tests that look at them."""
    return {name: read(decode_bytes(fixture_bytes(name)).text, item["url"]) for name, item in sorted(EXPECTED.items())}


# ------------------------------------------------------------------ fictional text for the built pages

PROSE = (
    "The ferry that has carried passengers across the river Wend at Alderbury since the spring of 1952 will stop "
    "running at the end of next month, the parish council confirmed on Tuesday evening after a long meeting.",
    "Councillors said the flat-bottomed boat needs a new hull and a new engine, and that the cost of both, put at just "
    "under three hundred thousand pounds, is more than the parish can raise from its reserves.",
    "The ferryman, who has worked the crossing for nineteen years, told the meeting that he understood the figures "
    "but feared the village would lose its only direct link with the market town on the far bank.",
    "About forty residents attended, several of them holding hand-painted signs asking the council to keep the boat. "
    "One woman said she had crossed the river twice a day for most of her working life.",
    "The county highways office has offered to study a footbridge downstream, but its officers warned that any design "
    "would take at least three years to approve and build, and that no money has yet been found for it.",
    "In the meantime a minibus will run between the two landing stages four times a day, along a road route of eleven "
    "miles that adds about twenty-five minutes to a trip the ferry makes in four.",
    "A group of volunteers has formed a trust to buy the boat for a nominal sum and repair it with grants. Its chair "
    "said the trust would publish a costed plan before the council meets again in July.",
    "The council agreed to keep both landing stages in good repair for two years while the trust looks for money, so "
    "that the crossing could reopen quickly once the hull has been rebuilt at a fair price.",
)

CARDS = (
    ("Library opening hours extended for summer", "The branch on Mill Lane will stay open until eight on weekdays."),
    ("Cricket club wins its first cup final", "A last-ball boundary settled a tense afternoon at the county ground."),
    ("New bus shelter planned for the square", "The parish will pay for half of it from the village fund."),
    ("School choir to sing at the cathedral", "Forty pupils have rehearsed since March for the June concert."),
    ("Road closure on the bypass this weekend", "Resurfacing work starts on Saturday at six in the morning."),
    ("Allotment holders fight rent increase", "Tenants say the new charge would double what they pay."),
    ("Farmers market moves to the old station", "Stallholders hope the larger yard will draw more visitors."),
    ("Bridge inspection finds minor cracks", "Engineers say the crossing remains safe for all traffic."),
    ("Village hall roof repairs near completion", "Scaffolding should be gone before the harvest supper."),
    ("Teenager raises funds for the lifeboat", "She walked the whole coastal path in nine days."),
    ("Heron colony returns to the water meadows", "Wardens counted twelve nests along the eastern bank."),
    ("Chess tournament draws record entry", "Players came from as far as the northern islands."),
)

NAV = "".join(
    f'<li><a href="/{section.lower()}/">{section}</a></li>'
    for section in (
        "News",
        "Local",
        "Politics",
        "Business",
        "Sport",
        "Culture",
        "Opinion",
        "Weather",
        "Traffic",
        "Farming",
        "Schools",
        "Health",
        "Letters",
        "Puzzles",
        "Obituaries",
        "Archive",
    )
)


def prose(paragraphs: int = len(PROSE)) -> str:
    """``paragraphs`` paragraphs of a (fictional) story, as ``<p>`` elements."""
    return "".join(f"<p>{text}</p>" for text in PROSE[:paragraphs])


def cards(count: int = len(CARDS), teasers: bool = True) -> str:
    """An index's cards: an image link, a headline link and (``teasers``) a teaser; each to its own story."""
    out = []
    for i, (headline, teaser) in enumerate(CARDS[:count]):
        href = f"/news/2024/05/{i:02d}-{headline.lower().replace(' ', '-')}"
        out.append(
            f'<div class="card"><a href="{href}"><img src="/img/{i}.jpg" alt=""></a>'
            f'<h3><a href="{href}">{headline}</a></h3>{f"<p>{teaser}</p>" if teasers else ""}</div>'
        )
    return "".join(out)


def json_ld(kind: str, **fields: Any) -> str:
    """A JSON-LD block whose main entity is of schema.org type ``kind``."""
    data = {"@context": "https://schema.org", "@type": kind, **fields}
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


def html(title: str, main: str, head: str = "", menu: bool = True) -> str:
    """A page of the fictional Alderbury Gazette: site header (with a menu unless not ``menu``), ``main``, a footer."""
    nav = f"<nav><ul>{NAV}</ul></nav>" if menu else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{title} | The Alderbury Gazette</title>{head}</head><body>"
        f'<header><a class="logo" href="/">The Alderbury Gazette</a>{nav}</header>'
        f"<main>{main}</main>"
        '<footer><p>&copy; 2024 The Alderbury Gazette</p><a href="/about/">About us</a> '
        '<a href="/privacy/">Privacy</a></footer></body></html>'
    )


def article_ld(kind: str = "NewsArticle", headline: str = "Ferry to stop running") -> str:
    return json_ld(kind, headline=headline, datePublished="2024-05-14T18:00:00Z")


STORY_URL = f"{SITE}/news/2024/05/14/alderbury-ferry-to-stop"
BRIEF = (
    "Firefighters put out a grass fire beside the railway line near Alderbury halt on Sunday afternoon. "
    "Nobody was hurt and trains ran normally."
)


# ------------------------------------------------------------------ the fixtures


def test_fixture_kinds_are_verdicts() -> None:
    """expected.json names only kinds ``page_kind`` can give, for pages that exist: a typo fails here, not silently."""
    assert EXPECTED, "no fixtures in expected.json"
    for name, item in EXPECTED.items():
        assert item["kind"] in KINDS, name
        assert (FIXTURES / f"{name}.html").is_file(), name
    assert ARTICLE_FIXTURES and OTHER_FIXTURES


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_kind(name: str, readings: dict[str, Reading]) -> None:
    kind = readings[name].kind
    assert kind.kind == EXPECTED[name]["kind"], f"{name} ({EXPECTED[name]['why']}): got {kind.kind}: {kind.evidence}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_link_stats_unchanged_by_read_tree(name: str, readings: dict[str, Reading]) -> None:
    """``link_stats`` describes the page as served: the extractor, run after it, leaves the tree as it was."""
    reading = readings[name]
    assert reading.after == reading.before
    assert reading.before.links > 0 and reading.before.text_chars > 0


# ------------------------------------------------------------------ precedence, one rule per page


def test_declared_article_short_text_stays_article() -> None:
    """A brief of ~20 words that says it is a NewsArticle is kept; the same page undeclared is too short."""
    assert DECLARED_MIN_WORDS <= text_words(BRIEF) < TOO_SHORT_WORDS
    main = f"<article><h1>Grass fire by the railway</h1><p>{BRIEF}</p></article>"
    declared = read(html("Grass fire by the railway", main, article_ld()), STORY_URL).kind
    assert declared.kind == ARTICLE, declared.evidence
    assert declared.evidence.startswith("declared NewsArticle"), declared.evidence
    undeclared = read(html("Grass fire by the railway", main), STORY_URL).kind
    assert undeclared.kind == "too_short", undeclared.evidence


def test_declared_article_without_text_is_too_short() -> None:
    """Fewer than ``DECLARED_MIN_WORDS`` words (a page its script draws): the declaration alone is not an article.

    Built without a menu: trafilatura's last resort would run the menu into
    the text, and ``page_kind`` counts a menu's words like any others (a
    declared page whose only text is its menu is kept as an article today).
    """
    main = '<article><h1>Ferry to stop running</h1><div id="app"></div><p>Loading…</p></article>'
    reading = read(html("Ferry to stop running", main, article_ld(), menu=False), STORY_URL)
    kind = reading.kind
    assert text_words(reading.page.body.text) < DECLARED_MIN_WORDS, reading.page.body.text
    assert kind.kind == "too_short", kind.evidence
    assert "declared NewsArticle" in kind.evidence


def test_tag_url_with_prose_is_article() -> None:
    """A story filed at a /tag/ address, declaring nothing: its prose outweighs the URL."""
    assert text_words(" ".join(PROSE)) >= ARTICLE_WORDS
    url = f"{SITE}/tag/ferry/alderbury-ferry-to-stop"
    kind = read(html("Ferry to stop running", f"<article><h1>Ferry to stop running</h1>{prose()}</article>"), url).kind
    assert kind.kind == ARTICLE, kind.evidence
    assert kind.evidence.startswith("prose over url /tag/"), kind.evidence


def test_tag_url_with_listing_is_tag() -> None:
    kind = read(html("Ferry", f"<h1>Ferry</h1>{cards()}"), f"{SITE}/tag/ferry/").kind
    assert kind.kind == "tag", kind.evidence


def test_tag_url_listing_stamped_newsarticle_is_tag() -> None:
    """A CMS that stamps NewsArticle on every template: tiny prose, link-dense, a /tag/ URL say index."""
    page = html("Ferry", f"<h1>Ferry</h1>{cards(teasers=False)}", article_ld(headline="Ferry"))
    reading = read(page, f"{SITE}/tag/ferry/")
    kind = reading.kind
    assert reading.before.density >= 0.5 and reading.before.links >= 30, kind.evidence
    assert kind.kind == "tag", kind.evidence
    assert "over declared NewsArticle" in kind.evidence


def test_root_path_is_home_even_with_prose() -> None:
    """The root path is the front page, whatever it holds (a site that opens on its lead story in full)."""
    kind = read(
        html("Ferry to stop running", f"<article><h1>Ferry to stop running</h1>{prose()}</article>"), SITE + "/"
    ).kind
    assert kind.kind == "home", kind.evidence
    assert kind.evidence.startswith("url /"), kind.evidence


def test_video_with_little_text_is_video() -> None:
    head = json_ld("VideoObject", name="The last crossing", uploadDate="2024-05-14T18:00:00Z") + (
        '<meta property="og:type" content="video.other">'
    )
    main = (
        '<h1>The last crossing</h1><video src="/v/ferry.mp4" controls></video>'
        "<p>The ferry makes one of its last trips across the Wend. Filmed by our video team.</p>"
    )
    kind = read(html("The last crossing", main, head), f"{SITE}/video/2024/05/14/the-last-crossing").kind
    assert kind.kind == "video", kind.evidence
    assert "VideoObject" in kind.evidence


def test_video_with_prose_is_article() -> None:
    """A video page with its full write-up (``ARTICLE_WORDS`` of prose and more) is somebody's story."""
    head = json_ld("VideoObject", name="The last crossing", uploadDate="2024-05-14T18:00:00Z") + (
        '<meta property="og:type" content="video.other">'
    )
    main = f'<h1>The last crossing</h1><video src="/v/ferry.mp4" controls></video>{prose()}'
    kind = read(html("The last crossing", main, head), f"{SITE}/video/2024/05/14/the-last-crossing").kind
    assert kind.kind == ARTICLE, kind.evidence
    assert kind.evidence.startswith("prose over type VideoObject"), kind.evidence


def test_soft_404_is_error_page() -> None:
    main = (
        "<h1>Sorry, we cannot find that page</h1>"
        "<p>The page you asked for may have moved. Try the search box, or start again from our front page.</p>"
    )
    kind = read(html("Page not found", main), f"{SITE}/news/2024/05/14/alderbury-fery").kind
    assert kind.kind == "error_page", kind.evidence
    assert "Page not found" in kind.evidence


def test_not_found_in_a_story_title_with_prose_is_article() -> None:
    """ "404" in the title of a story (a bus route) is not a soft error page when the page is prose."""
    main = f"<article><h1>Route 404 bus to replace the ferry</h1>{prose()}</article>"
    kind = read(html("Route 404 bus to replace the ferry", main), STORY_URL).kind
    assert kind.kind == ARTICLE, kind.evidence


def test_undeclared_listing_shape_is_listing() -> None:
    """No metadata and an ordinary address: many links and teasers are an index's shape."""
    reading = read(html("Local news", f"<h1>Local news</h1>{cards()}"), f"{SITE}/local/")
    assert url_kind(f"{SITE}/local/") is None
    assert reading.kind.kind == "listing", reading.kind.evidence
    assert len(reading.before.teasers) >= 4


def test_undeclared_prose_is_article() -> None:
    """The same site template with a story in place of the cards: nothing but its shape says article."""
    kind = read(
        html("Ferry to stop running", f"<article><h1>Ferry to stop running</h1>{prose()}</article>"), STORY_URL
    ).kind
    assert kind.kind == ARTICLE, kind.evidence


def test_liveblog_is_article() -> None:
    """LiveBlogPosting is a kind of BlogPosting: its updates are its own coverage, however short each is."""
    updates = "".join(
        f'<div class="update"><time>{18 + i // 2}:{(i % 2) * 30:02d}</time><p>{text}</p></div>'
        for i, text in enumerate(PROSE[:4])
    )
    head = article_ld("LiveBlogPosting", headline="Ferry vote: live")
    url = f"{SITE}/news/live/2024/05/14/ferry-vote-live"
    kind = read(html("Ferry vote: live", f"<h1>Ferry vote: live</h1>{updates}", head), url).kind
    assert kind.kind == ARTICLE, kind.evidence
    assert "LiveBlogPosting" in kind.evidence


def test_unspaced_prose_is_not_too_short() -> None:
    """A Chinese story with no metadata: few tokens between spaces, but its characters count as words."""
    paragraph = (
        "阿尔德伯里的渡船自一九五二年起在河上往返，本月底将停止运营，因为船体和发动机都需要更换，教区无力承担费用。"
    )
    main = "<article><h1>渡船停运</h1>" + "".join(f"<p>{paragraph}第{i}段。</p>" for i in range(6)) + "</article>"
    kind = read(html("渡船停运", main), STORY_URL).kind
    assert kind.kind == ARTICLE, kind.evidence


# ------------------------------------------------------------------ url_kind


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        (f"{SITE}/tag/ferry/", "tag"),
        (f"{SITE}/tags/ferry", "tag"),
        (f"{SITE}/category/politics/", "section"),
        (f"{SITE}/author/ines-moreau/", "author"),
        (f"{SITE}/news/page/2/", "listing"),
        (f"{SITE}/?s=ferry+alderbury", "search"),
        (f"{SITE}/results?q=ferry", "search"),
        (f"{SITE}/gallery/ferry-in-pictures", "gallery"),
        (f"{SITE}/live/", "liveblog_index"),
        (f"{SITE}/", "home"),
        (SITE, "home"),
        (f"{SITE}/index.html", "home"),
        (f"{SITE}/en/", "home"),
        (f"{SITE}/?p=123", None),
        (STORY_URL, None),
        (f"{SITE}/news/live/2024/05/14/ferry-vote-live", None),
        (None, None),
        ("", None),
    ],
)
def test_url_kind(url: Optional[str], kind: Optional[str]) -> None:
    found = url_kind(url)
    assert (found[0] if found else None) == kind, found


# ------------------------------------------------------------------ text_words


def test_text_words_spaced() -> None:
    assert text_words("the ferry stops next month") == 5
    assert text_words("Über die Brücke gehen wir nicht mehr") == 7  # not ASCII, but spaced: tokens only
    assert text_words("") == 0


@pytest.mark.parametrize(
    "text",
    [
        "川沿いの町で渡し船の運航が来月末で終わることになり、住民は別の交通手段を探している。",
        "阿尔德伯里的渡船自一九五二年起在河上往返，本月底将停止运营。",
    ],
    ids=["ja", "zh"],
)
def test_text_words_unspaced(text: str) -> None:
    """A Japanese or Chinese sentence is one token between spaces, and about its characters / 2 in words."""
    assert len(text.split()) == 1
    assert abs(text_words(text) - len(text) / 2) <= 3, text_words(text)
    assert text_words(f"{text} {text}") == 2 * text_words(text)


# ------------------------------------------------------------------ through the format


def document_of(name: str) -> tuple[RawDocument, Any]:
    """A fixture as a WARC response becomes a ``RawDocument`` and its decoded text (``warc.page_outcomes``)."""
    payload = fixture_bytes(name)
    content_type = "text/html; charset=utf-8"
    document = RawDocument(
        EXPECTED[name]["url"], "warc", payload, Timestamp.from_utc_datetime(FETCHED), content_type, None
    )
    return document, decode_bytes(payload, "utf-8")


@pytest.mark.parametrize("name", OTHER_FIXTURES)
def test_page_outcome_skips_non_article(name: str) -> None:
    document, decoded = document_of(name)
    url = EXPECTED[name]["url"]
    outcomes = list(page_outcome(document, decoded, url=url, status=200, keep_non_articles=False))
    assert outcomes == [Skipped(f"page.{EXPECTED[name]['kind']}")]


@pytest.mark.parametrize("name", ARTICLE_FIXTURES)
def test_page_outcome_keeps_article(name: str) -> None:
    document, decoded = document_of(name)
    url = EXPECTED[name]["url"]
    outcomes = list(page_outcome(document, decoded, url=url, status=200, keep_non_articles=False))
    assert len(outcomes) == 1 and isinstance(outcomes[0], RawArticle), outcomes
    article = outcomes[0]
    assert article.text_source == "page"
    assert article.page_url == url and article.url == url
    assert article.page_status == 200
    assert article.body.strip()


@pytest.mark.parametrize("name", OTHER_FIXTURES)
def test_page_outcome_keep_non_articles(name: str) -> None:
    """``keep_non_articles``: the page is written like any other, its kind not asked."""
    document, decoded = document_of(name)
    url = EXPECTED[name]["url"]
    outcomes = list(page_outcome(document, decoded, url=url, status=200, keep_non_articles=True))
    assert len(outcomes) == 1 and isinstance(outcomes[0], RawArticle), outcomes
    assert outcomes[0].text_source == "page" and outcomes[0].page_url == url


def test_declared_article_whose_only_text_is_its_menu_is_too_short() -> None:
    """The extractor ran the menu into the text: the words that are not links' are what the page says itself."""
    page = html("Ferry", "<h1>Ferry to stop running</h1><p>Open in our app.</p>", article_ld())
    kind = read(page, STORY_URL).kind
    assert kind.kind == "too_short", kind.evidence


def test_tag_page_of_teaser_cards_stamped_newsarticle_is_tag() -> None:
    """Teasers under each headline link are the index's text, not prose: they count with the links."""
    page = html("Ferry", f"<h1>Ferry</h1>{cards(teasers=True)}", article_ld(headline="Ferry"))
    kind = read(page, f"{SITE}/tag/ferry/").kind
    assert kind.kind == "tag", kind.evidence
    assert "over declared NewsArticle" in kind.evidence
