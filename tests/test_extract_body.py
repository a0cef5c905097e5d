"""Main-content extraction (``transforms.extract.body``): the article's paragraphs, none of the page around it.

The pages under ``tests/fixtures/pages/`` are written for these tests (and
``bench/extract_bench.py``): news sites in four languages, a blog, an old
table-layout page, a paywall teaser and an explainer, each with the snippets
its text must and must not contain. The corpus test at the end compares with
trafilatura alone on real pages of ``../shared/corpora/article_pages``.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path

import lxml.etree
import lxml.html
import pytest

from transforms.extract.body import (
    BOILERPLATE,
    FLATTENED,
    FRAGMENT,
    SHORT_FRAGMENT,
    TITLE,
    Body,
    drop_boilerplate,
    extract_body,
    parse_page,
    render_text,
)

ROOT = Path(__file__).resolve().parents[1]
PAGES = Path(__file__).resolve().parent / "fixtures" / "pages"
SNIPPETS = {k: v for k, v in json.loads((PAGES / "snippets.json").read_text(encoding="utf-8")).items() if k[0] != "_"}


def _page(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")


def _paragraphs(body: Body) -> list[str]:
    return body.text.split("\n\n")


def _assert_house_format(text: str) -> None:
    """Paragraphs separated by exactly one blank line, no other line break, no markup, no padding."""
    assert "\n\n\n" not in text
    for paragraph in text.split("\n\n"):
        assert paragraph and "\n" not in paragraph
        assert paragraph == paragraph.strip()
        assert "  " not in paragraph
    assert "<p" not in text and "</" not in text


# --------------------------------------------------------------------------
# An article page with everything around it
# --------------------------------------------------------------------------


def test_news_article_keeps_its_paragraphs_one_blank_line_apart() -> None:
    body = extract_body(_page("news_en.html"), url="https://ledger.example/news/2024/05/harbour-bridge-reopens")
    _assert_house_format(body.text)
    paragraphs = _paragraphs(body)
    assert paragraphs[0].startswith("The Harbour Bridge will reopen to traffic on Monday morning")
    # a heading and each list item are paragraphs of their own
    assert "Tolls and cycling lanes" in paragraphs
    assert "Peak hours run from 7 to 10 in the morning and 4 to 7 in the evening." in paragraphs
    assert "Residents of the two harbour districts can apply for a reduced toll." in paragraphs
    assert paragraphs[-1].startswith("Local businesses near the southern ramp")
    assert body.paragraphs == len(paragraphs) and body.method == "trafilatura" and not body.flattened
    # the headline is the title column's, not the text's first paragraph
    assert "Harbour bridge to reopen after two years of repairs" not in body.text and TITLE in body.dropped


@pytest.mark.parametrize(
    "boilerplate",
    [
        "We use cookies",  # cookie banner
        "Sport",  # navigation
        "Share on",  # share bar
        "Advertisement",  # an ad slot's label inside the article
        "Read more:",  # a link to another article between paragraphs
        "newsletter",  # newsletter box
        "Morning Briefing",
        "Related stories",  # related-links box and its links
        "Ferry fares to rise",
        "Finally! My commute",  # comments
        "Log in to leave a comment",
        "(Photo: AP)",  # a caption's credit
        "Storm warning",  # sidebar
        "All rights reserved",  # footer
    ],
)
def test_news_article_drops_the_page_around_it(boilerplate: str) -> None:
    assert boilerplate not in extract_body(_page("news_en.html")).text


def test_boilerplate_rules_say_what_they_dropped() -> None:
    body = extract_body(_page("news_es.html"))
    assert {"read_more", "advertisement", "follow_us", "caption_credit"} <= set(body.dropped)
    assert set(body.dropped) <= {rule.name for rule in BOILERPLATE} | {"related_list", TITLE}


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_assembled_pages_keep_every_article_snippet(name: str) -> None:
    text = extract_body(_page(name)).text
    _assert_house_format(text)
    missing = [snippet for snippet in SNIPPETS[name]["with"] if snippet not in text]
    assert not missing


def _f1(texts: dict[str, str]) -> float:
    tp = fp = fn = 0
    for name, text in texts.items():
        found = sum(1 for s in SNIPPETS[name]["with"] if s in text)
        tp, fn = tp + found, fn + len(SNIPPETS[name]["with"]) - found
        fp += sum(1 for s in SNIPPETS[name]["without"] if s in text)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return 2 * precision * recall / (precision + recall)


def test_assembled_pages_score_above_trafilatura_alone_and_above_no_rules() -> None:
    """The boilerplate rules must pay on these pages too, not only on the benchmark they were measured on."""
    import trafilatura

    ours = _f1({name: extract_body(_page(name)).text for name in SNIPPETS})
    unfiltered = _f1({name: extract_body(_page(name), rules=()).text for name in SNIPPETS})
    alone = _f1({name: trafilatura.extract(_page(name), include_comments=False) or "" for name in SNIPPETS})
    assert ours > unfiltered
    assert ours > alone


def test_paywalled_page_keeps_the_teaser_without_the_prompt() -> None:
    body = extract_body(_page("paywall_en.html"))
    assert body.text.startswith("In a converted warehouse on the edge of the city")
    assert "Subscribe today" not in body.text and "Already a subscriber" not in body.text
    assert "subscribe_prompt" in body.dropped


def test_br_separated_paragraphs_of_an_old_page_become_paragraphs() -> None:
    paragraphs = _paragraphs(extract_body(_page("oldcms_en.html")))
    assert any(p.startswith("The old corn mill museum at Ashby Bridge") and p.endswith("visitors.") for p in paragraphs)
    assert any(p.startswith("Volunteers have run the museum since 1987") for p in paragraphs)


def test_table_rows_are_paragraphs_and_cells_are_joined() -> None:
    paragraphs = _paragraphs(extract_body(_page("explainer_en.html")))
    assert "Year of birth | Pension age" in paragraphs
    assert "1970 to 1977 | 67" in paragraphs


# --------------------------------------------------------------------------
# The tree is shared with the metadata extractor
# --------------------------------------------------------------------------


def test_extract_body_leaves_the_tree_as_it_was() -> None:
    tree = parse_page(_page("news_de.html"))
    assert tree is not None
    before = lxml.etree.tostring(tree)
    from_tree = extract_body(tree)
    assert lxml.etree.tostring(tree) == before
    assert from_tree == extract_body(_page("news_de.html"))
    assert extract_body(tree) == from_tree  # a second extraction from the same tree: same answer


def test_parse_page_parses_like_trafilatura() -> None:
    from trafilatura.utils import load_html

    ours = parse_page(_page("blog_en.html"))
    theirs = load_html(_page("blog_en.html"))
    assert ours is not None and theirs is not None
    assert [e.tag for e in ours.iter()] == [e.tag for e in theirs.iter()]
    assert ours.get(FRAGMENT) is None and ours.get(FLATTENED) is None


# --------------------------------------------------------------------------
# Fragments: a feed's content:encoded, a JSON record's html field
# --------------------------------------------------------------------------


def test_short_fragment_keeps_all_of_its_text() -> None:
    fragment = "<p>The minister resigned on Tuesday.</p><h2>Why</h2><p>Her deputy takes over &amp; a vote follows.</p>"
    body = extract_body(fragment)
    assert body.text == "The minister resigned on Tuesday.\n\nWhy\n\nHer deputy takes over & a vote follows."
    assert body.method == "fragment"
    assert parse_page(fragment).get(FRAGMENT) == "1"  # type: ignore[union-attr]


def test_plain_text_fragment_is_kept() -> None:
    assert extract_body("Officials said the road will reopen in May.").text == (
        "Officials said the road will reopen in May."
    )


def test_long_fragment_loses_only_its_boilerplate() -> None:
    story = "".join(
        f"<p>Paragraph {i} of the report: the council will publish the audit of the harbour works "
        "before the summer and answer the residents' questions at a public meeting.</p>"
        for i in range(8)
    )
    fragment = (
        '<figure><img src="https://img.example/a.jpg"><figcaption>The harbour in June. (Photo: Reuters)</figcaption>'
        f"</figure>{story}<p>Read more: Council faces questions over harbour audit</p>"
    )
    body = extract_body(fragment)
    assert body.method == "trafilatura"
    assert [p for p in _paragraphs(body) if p.startswith("Paragraph ")] == [
        f"Paragraph {i} of the report: the council will publish the audit of the harbour works before the summer and answer the residents' questions at a public meeting."
        for i in range(8)
    ]
    assert "Read more" not in body.text and "Reuters" not in body.text


def test_fragment_trafilatura_would_throw_away_keeps_its_text() -> None:
    """A list of links is all link text to trafilatura; as a feed's content it is the content."""
    items = "".join(
        f'<li><a href="https://news.example/{i}">Council approves budget line {i} for the coming year</a></li>'
        for i in range(30)
    )
    body = extract_body(f"<ul>{items}</ul>")
    assert body.method == "fragment"
    assert body.paragraphs == 30
    assert _paragraphs(body)[29] == "Council approves budget line 29 for the coming year"
    assert len(body.text) > SHORT_FRAGMENT


# --------------------------------------------------------------------------
# What is not an article page
# --------------------------------------------------------------------------


@pytest.mark.parametrize("markup", ["", "   \n\t ", "<!-- only a comment -->", "<html><body></body></html>"])
def test_empty_markup_gives_an_empty_body(markup: str) -> None:
    body = extract_body(markup)
    assert body.text == "" and body.paragraphs == 0


def test_pdf_decoded_as_text_gives_an_empty_body() -> None:
    pdf = (
        "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\nBT /F1 12 Tf (Hello) Tj ET\n"
    )
    assert parse_page(pdf) is None
    assert extract_body(pdf) == Body("", 0, "none", False, ())


@pytest.mark.parametrize("seed", range(5))
def test_binary_junk_decoded_as_text_gives_no_exception_and_no_body(seed: int) -> None:
    junk = random.Random(seed).randbytes(50_000)
    for text in (junk.decode("latin-1"), junk.decode("utf-8", "replace")):
        assert extract_body(text).text == ""


def test_markup_with_lone_surrogates_and_controls_is_read() -> None:
    body = extract_body("<p>Caf\ud800e opens \x01today\x00 in the square.</p>")
    assert body.text == "Caf\ufffde opens today in the square."


# --------------------------------------------------------------------------
# Trees deeper than the parser builds
# --------------------------------------------------------------------------

_STORY = "<p>" + "The committee met on Tuesday to discuss next year's budget for the harbour works. " * 4 + "</p>"


@pytest.mark.parametrize("depth", [300, 5_000, 100_000])
def test_deeply_nested_page_still_gives_its_text(depth: int) -> None:
    page = (
        "<html><head><title>Budget</title></head><body>"
        + "<div>" * depth
        + _STORY * 3
        + "</div>" * depth
        + "<p>The vote is next week.</p></body></html>"
    )
    tree = parse_page(page)
    assert tree is not None and tree.get(FLATTENED) == "1"
    assert tree.findtext(".//title") == "Budget"  # the head is kept for the metadata
    body = extract_body(tree)
    assert body.flattened
    assert "The committee met on Tuesday" in body.text and "The vote is next week." in body.text


def test_nesting_the_parser_builds_is_not_flattened() -> None:
    page = "<html><body>" + "<div>" * 200 + _STORY * 3 + "</div>" * 200 + "</body></html>"
    body = extract_body(page)
    assert not body.flattened and "The committee met on Tuesday" in body.text


# --------------------------------------------------------------------------
# Rendering and the boilerplate rules, directly
# --------------------------------------------------------------------------


def test_render_text_of_trafilatura_tags() -> None:
    body = lxml.etree.fromstring(
        "<body><head rend='h2'>Results</head><p>First<lb/>line, <hi rend='#b'>bold</hi> word.</p>"
        "<p>One.<lb/><lb/>Two.</p><list><item>a</item><item>b</item></list>"
        "<quote>Said so.</quote><p>Use <code>ls -l</code> here.</p>"
        "<table><row><cell>x</cell><cell>1</cell></row></table><p>soft\u00adhyphen \ue001icon</p></body>"
    )
    assert render_text(body) == [
        "Results",
        "First line, bold word.",
        "One.",
        "Two.",
        "a",
        "b",
        "Said so.",
        "Use ls -l here.",
        "x | 1",
        "softhyphen icon",
    ]


def test_render_text_skips_scripts_and_keeps_tails() -> None:
    root = lxml.html.fromstring("<div><p>Before <script>var x = 1;</script>after.</p><!-- note -->Tail text</div>")
    assert render_text(root) == ["Before after.", "Tail text"]


@pytest.mark.parametrize(
    "paragraph",
    [
        "He declined to comment.",
        "The newsletter, founded in 1998, now reaches 40,000 readers in the region every week.",
        "You can sign up for notifications, though.",
        "Amazon isn't taking pre-orders either, but you can sign up to be notified when products become available.",
        "The photo agency said its photographers had been detained for two days.",
        "Readers who follow the council on Twitter saw the announcement first.",
        "Share prices fell sharply after the announcement on Monday morning.",
        "Related parties must declare their interests before the vote, the regulator said.",
        "Cookies and cakes were sold at the fair to raise money for the school.",
        "Watch the video of the launch on our website, the agency said in a statement on Monday.",
        "Copyright law in the country has not changed since 1965, the report found.",
        "On 12 March 2024 the council voted to close the library.",
    ],
)
def test_article_sentences_are_never_boilerplate(paragraph: str) -> None:
    assert drop_boilerplate([paragraph]) == ([paragraph], [])


@pytest.mark.parametrize(
    ("paragraph", "rule"),
    [
        ("Read more: Ferry operators brace for drop in passengers", "read_more"),
        ("Lesen Sie auch: Fernwärme wird teurer", "read_more"),
        ("Czytaj też: Wyścig zbrojeń ruszył z kopyta", "read_more"),
        ("Advertisement", "advertisement"),
        ("Photo: Getty Images", "photo_credit"),
        ("Marco Odermatt, Ski-Star aus der Schweiz. © AFP / MARCO BERTORELLO", "caption_credit"),
        ("Sign up for our free morning newsletter and get the day's top stories in your inbox.", "newsletter"),
        ("Already a subscriber? Log in", "subscribe_prompt"),
        ("Síguenos en Twitter, Facebook e Instagram para recibir todas nuestras actualizaciones.", "follow_us"),
        ("Partager sur Facebook", "share"),
        ("Print this article | E-mail to a friend", "share"),
        ("3 comments", "comments"),
        ("Updated June 13, 2019", "date_only"),
        ("© 2024 The Coastal Ledger. All rights reserved.", "copyright"),
    ],
)
def test_boilerplate_paragraphs_are_dropped_by_their_rule(paragraph: str, rule: str) -> None:
    assert drop_boilerplate(["An article sentence that stays.", paragraph]) == (
        ["An article sentence that stays."],
        [rule],
    )


def test_links_after_a_related_heading_go_until_a_sentence() -> None:
    paragraphs = [
        "The bridge reopens on Monday.",
        "Related stories",
        "Ferry fares to rise in autumn",
        "Council revives plan for harbour tunnel",
        "Traffic on the ring road is expected to fall by a fifth once the bridge is open again.",
    ]
    kept, dropped = drop_boilerplate(paragraphs)
    assert kept == [paragraphs[0], paragraphs[4]]
    assert dropped == ["related_heading", "related_list", "related_list"]
    assert drop_boilerplate(paragraphs, lists=False)[0] == [paragraphs[0], *paragraphs[2:]]


# --------------------------------------------------------------------------
# Real pages: at least trafilatura's F1 on the same pages
# --------------------------------------------------------------------------


def _scoring() -> object:
    spec = importlib.util.spec_from_file_location("extract_scoring", ROOT / "bench" / "extract_scoring.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("extract_scoring", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_real_pages_score_at_least_trafilatura_alone() -> None:
    """~165 pages of article_pages (every sixth): extract_body's F1 against trafilatura alone, same options."""
    import trafilatura

    from transforms.text import decode_bytes

    scoring = _scoring()
    pages = list(scoring.article_pages(every=6))  # type: ignore[attr-defined]
    if not pages:
        pytest.skip("../shared/corpora/article_pages is absent (or $NEWSBEAM_CORPORA points elsewhere)")
    ours, alone = [], []
    for page in pages:
        html = decode_bytes(page.payload).text
        ours.append(scoring.score_page(extract_body(html).text, page.with_, page.without))  # type: ignore[attr-defined]
        text = trafilatura.extract(html, include_comments=False)
        alone.append(scoring.score_page(text, page.with_, page.without))  # type: ignore[attr-defined]
    ours_f1, alone_f1 = scoring.prf(ours).f1, scoring.prf(alone).f1  # type: ignore[attr-defined]
    assert ours_f1 >= alone_f1, (ours_f1, alone_f1)
    assert scoring.prf(ours).recall >= scoring.prf(alone).recall  # type: ignore[attr-defined]
