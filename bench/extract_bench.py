"""Main-content extraction: newsbeam's ``extract_body`` beside the libraries it was chosen from, on the same pages.

Why this exists: the article text of every fetched page, HTML file and HTML
field goes through ``transforms.extract.body.extract_body``. It is
trafilatura's choice of content, rendered with a blank line between
paragraphs, minus a few kinds of boilerplate paragraph (``BOILERPLATE``).
This bench shows that it is at least as good as trafilatura alone and the
other candidates, and what the wrapper costs on top of trafilatura.

Pages:

* ``../shared/corpora/article_pages`` (990 real pages with ``with`` /
  ``without`` snippets; read at run time, nothing of it is stored), scored as
  its README says (see ``bench/extract_scoring.py``). Skipped, with a
  message, when the corpus is absent.
* ``tests/fixtures/pages`` (8 pages written for newsbeam: news sites in four
  languages, a blog, an old table-layout page, a paywall teaser, an
  explainer), scored the same way from their ``snippets.json``.

Extractors (all on the same decoded string, decoded once by newsbeam's
``decode_bytes``):

* newsbeam ``extract_body`` (default: trafilatura with its fallbacks) and
  ``extract_body(fast=True)``;
* trafilatura 2.3.1 alone with the same options (``include_comments=False``,
  txt output), also with ``fast=True``, and trafilatura's defaults;
* readability-lxml (``summary()`` rendered with a blank line between blocks),
  resiliparse (``extract_plain_text(main_content=True)``), jusText with the
  page's language (py3langid → stoplist; jusText's language-free mode when it
  has none);
* newsbeam 0.2, the extractor before issue 13 (the ``<article>``/``<main>``/
  densest-``<p>`` element, then ``html_text``), copied here so it stays
  runnable once the pipeline no longer has it.

Timing: ``--runs`` passes over the pages; within a pass every extractor runs
on page i before page i+1, in an order rotated per page, so the noise of a
shared machine falls on all of them alike. Per page the median of the passes
is kept; the table gives the median and mean over pages, and the cost of
``extract_body`` relative to trafilatura alone both as the ratio of the mean
times and as the median of the per-page ratios. The goal is a speed of at
least 0.9 of trafilatura alone (time ratio at most 1.11).

Fragments: the HTML of a feed's ``content:encoded`` or a JSON record's
``html`` field is an article body already, not a page. The bench reads the
HTML ``content`` values and HTML summaries of every entry of
``../shared/corpora/news_feeds`` (feedparser) and reports, per feed, the
share of ``html_text(fragment)``'s words that ``extract_body`` keeps (and
trafilatura alone on the same fragment), and how each was decided.
``--fragments`` adds fragments cut from article_pages (each page's main
element, as newsbeam 0.2 found it), scored with the page's snippets:
``extract_body`` against trafilatura alone and the fragment's own text.

``--rules`` adds the effect of each boilerplate rule: the rule alone, and the
whole set without it (leave-one-out), in true/false positives and F1, on both
page sets, from one extraction with no rule (the rules only drop paragraphs,
so each subset is applied to the same paragraphs).

    .venv/bin/python bench/extract_bench.py [--runs 3] [--limit N] [--rules] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import statistics
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Callable, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import lxml.html  # noqa: E402
from extract_scoring import Counts, Page, article_pages, corpora_dir, paragraph_stats, prf, score_page  # noqa: E402

from transforms.extract.body import (  # noqa: E402
    BOILERPLATE,
    RELATED_LIST,
    Rule,
    drop_boilerplate,
    extract_body,
    parse_page,
    render_text,
)  # noqa: E402
from transforms.text import decode_bytes, flat_text, html_text, parse_markup, prepare_markup  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "pages"
NEWSBEAM = "newsbeam extract_body"
TRAFILATURA = "trafilatura alone (no comments, txt)"

# --------------------------------------------------------------------------
# newsbeam 0.2 (before issue 13), copied from transforms/formats/html_page.py
# --------------------------------------------------------------------------


def _main_element_0_2(root: lxml.html.HtmlElement) -> lxml.html.HtmlElement:
    """The element holding the article: ``<article>``, ``<main>``, or the densest in ``<p>`` text."""
    for path in ("//article", "//main", '//*[@itemprop="articleBody"]'):
        candidates = root.xpath(path)
        if candidates:
            return max(candidates, key=lambda e: len(e.text_content()))
    scores: dict[lxml.html.HtmlElement, int] = {}
    for paragraph in root.iter("p"):
        parent = paragraph.getparent()
        if parent is not None:
            scores[parent] = scores.get(parent, 0) + len(paragraph.text_content())
    if scores:
        return max(scores, key=lambda e: scores[e])
    body = root.find("body")
    return body if body is not None else root


_BODY_TAG_RE = re.compile(r"<body[\s>]", re.I)


def newsbeam_0_2(html: str) -> str:
    """The page's text as newsbeam 0.2 wrote it: its main element (h1 dropped) through ``html_text``."""
    markup, _ = prepare_markup(html)
    root, complete = parse_markup(markup, fragment=False)
    if root is None:
        return ""
    if not complete:
        opening = _BODY_TAG_RE.search(markup)
        return flat_text(markup[opening.start() if opening else 0 :])
    main = _main_element_0_2(root)
    for heading in main.xpath(".//h1"):
        heading.drop_tree()
    return html_text(lxml.html.tostring(main, encoding="unicode"))[0]


# --------------------------------------------------------------------------
# The candidates
# --------------------------------------------------------------------------

_BLOCKS = (
    "p div h1 h2 h3 h4 h5 h6 li br tr blockquote pre section article table ul ol dd dt figure header footer".split()
)


def _block_text(fragment: str) -> str:
    """An HTML fragment's text with one blank line between blocks (readability-lxml returns HTML)."""
    if not fragment or not fragment.strip():
        return ""
    root = lxml.html.fromstring(fragment)
    for element in root.iter(*_BLOCKS):
        element.tail = "\n\n" + (element.tail or "")
        if element.tag != "br":
            element.text = "\n\n" + (element.text or "")
    paragraphs = (" ".join(p.split()) for p in re.split(r"\n\s*\n", root.text_content()))
    return "\n\n".join(p for p in paragraphs if p)


def _candidates() -> dict[str, Callable[[str], Optional[str]]]:
    """Extractor name -> function of the decoded page; libraries imported here, not at import time."""
    import justext
    import py3langid
    import trafilatura
    from babel import Locale
    from readability import Document
    from resiliparse.extract.html2text import extract_plain_text

    stoplists = set(justext.get_stoplists())
    names: dict[str, str] = {}

    def justext_language(html: str) -> str:
        try:
            root = lxml.html.fromstring(html)
            for element in root.xpath("//script|//style|//noscript"):
                element.drop_tree()
            sample = " ".join(root.text_content().split())[:20000]
        except (lxml.etree.LxmlError, ValueError):
            sample = ""
        code = py3langid.classify(sample)[0] if sample else ""
        if code not in names:
            try:
                names[code] = Locale.parse(code).english_name or ""
            except (ValueError, TypeError, LookupError):
                names[code] = ""
        name = names[code]
        if name in stoplists:
            paragraphs = justext.justext(html, justext.get_stoplist(name))
        else:  # jusText's documented language-independent mode
            paragraphs = justext.justext(html, frozenset(), stopwords_low=0, stopwords_high=0)
        return "\n\n".join(p.text for p in paragraphs if not p.is_boilerplate)

    return {
        NEWSBEAM: lambda html: extract_body(html).text,
        "newsbeam extract_body fast=True": lambda html: extract_body(html, fast=True).text,
        TRAFILATURA: lambda html: trafilatura.extract(html, include_comments=False),
        "trafilatura alone fast=True": lambda html: trafilatura.extract(html, include_comments=False, fast=True),
        "trafilatura default (comments on)": lambda html: trafilatura.extract(html),
        "readability-lxml": lambda html: _block_text(Document(html).summary(html_partial=True)),
        "resiliparse main_content": lambda html: extract_plain_text(html, main_content=True),
        "jusText (page language)": justext_language,
        "newsbeam 0.2 (before issue 13)": newsbeam_0_2,
    }


# --------------------------------------------------------------------------
# Running and scoring
# --------------------------------------------------------------------------


def fixture_pages() -> list[Page]:
    """The pages under tests/fixtures/pages with their snippets."""
    snippets = json.loads((FIXTURES / "snippets.json").read_text(encoding="utf-8"))
    return [
        Page(name, (FIXTURES / name).read_bytes(), tuple(item["with"]), tuple(item["without"]))
        for name, item in sorted(snippets.items())
        if not name.startswith("_")
    ]


def run(
    pages: Sequence[Page], extractors: dict[str, Callable[[str], Optional[str]]], runs: int, label: str
) -> tuple[dict[str, list[str]], dict[str, list[float]], Counter[str]]:
    """Outputs of the first pass and per-page median times, extractors interleaved page by page."""
    htmls = [decode_bytes(page.payload).text for page in pages]
    names = list(extractors)
    outputs: dict[str, list[str]] = {name: [""] * len(pages) for name in names}
    times: dict[str, list[list[float]]] = {name: [[] for _ in pages] for name in names}
    errors: Counter[str] = Counter()
    started = time.time()
    for run_number in range(runs):
        for i, html in enumerate(htmls):
            k = (i + run_number) % len(names)
            for name in names[k:] + names[:k]:
                t0 = time.perf_counter()
                try:
                    output = extractors[name](html) or ""
                except Exception:  # noqa: BLE001 - a candidate failing on a page scores as empty, and is counted
                    output = ""
                    if run_number == 0:
                        errors[name] += 1
                times[name][i].append(time.perf_counter() - t0)
                if run_number == 0:
                    outputs[name][i] = output
        print(f"{label}: pass {run_number + 1}/{runs} after {time.time() - started:.0f} s", file=sys.stderr, flush=True)
    return outputs, {name: [statistics.median(t) for t in times[name]] for name in names}, errors


def summarise(
    pages: Sequence[Page], outputs: dict[str, list[str]], times: dict[str, list[float]], errors: Counter[str]
) -> list[dict[str, object]]:
    rows = []
    base = times[TRAFILATURA]
    for name, texts in outputs.items():
        exact = prf(score_page(t, p.with_, p.without) for t, p in zip(texts, pages, strict=True))
        loose = prf(score_page(t, p.with_, p.without, normalise=True) for t, p in zip(texts, pages, strict=True))
        ms = [1000 * t for t in times[name]]
        per_page_ratio = [t / b for t, b in zip(times[name], base, strict=True) if b > 0]
        rows.append(
            {
                "extractor": name,
                "precision": round(exact.precision, 4),
                "recall": round(exact.recall, 4),
                "f1": round(exact.f1, 4),
                "f1_whitespace_normalised": round(loose.f1, 4),
                "tp": exact.tp,
                "fp": exact.fp,
                "fn": exact.fn,
                "empty_pages": sum(1 for t in texts if not t.strip()),
                "exceptions": errors[name],
                "ms_per_page_median": round(statistics.median(ms), 2),
                "ms_per_page_mean": round(statistics.fmean(ms), 2),
                "time_vs_trafilatura_alone_mean": round(sum(times[name]) / sum(base), 3),
                "time_vs_trafilatura_alone_median_of_pages": round(statistics.median(per_page_ratio), 3),
                "paragraphs": paragraph_stats(texts),
            }
        )
    return rows


def rule_effects(pages: Sequence[Page], unfiltered: Sequence[str]) -> list[dict[str, object]]:
    """Each boilerplate rule alone and left out of the set, against no rule and the whole set."""
    paragraphs = [text.split("\n\n") if text else [] for text in unfiltered]

    def score(rules: Sequence[Rule], lists: bool = True) -> tuple[Counts, ...]:
        kept = ["\n\n".join(drop_boilerplate(p, rules, lists)[0]) for p in paragraphs]
        return tuple(score_page(t, page.with_, page.without) for t, page in zip(kept, pages, strict=True))

    def totals(counts: tuple[Counts, ...]) -> dict[str, float]:
        s = prf(counts)
        return {"tp": s.tp, "fp": s.fp, "f1": round(s.f1, 4)}

    none, whole = totals(score([])), totals(score(BOILERPLATE))
    dropped = Counter(name for p in paragraphs for name in drop_boilerplate(p)[1])
    rows: list[dict[str, object]] = [{"rule": "(no rule)", **none}, {"rule": "(all rules)", **whole}]
    for rule in BOILERPLATE:
        alone = totals(score([rule]))
        without = totals(score([r for r in BOILERPLATE if r is not rule]))
        rows.append(
            {
                "rule": rule.name,
                "paragraphs_dropped": dropped[rule.name],
                "alone_dtp": alone["tp"] - none["tp"],
                "alone_dfp": alone["fp"] - none["fp"],
                "alone_df1": round(alone["f1"] - none["f1"], 4),
                "leave_one_out_dtp": whole["tp"] - without["tp"],
                "leave_one_out_dfp": whole["fp"] - without["fp"],
                "leave_one_out_df1": round(whole["f1"] - without["f1"], 4),
            }
        )
    related = RELATED_LIST[0]
    without = totals(score(BOILERPLATE, lists=False))
    rows.append(
        {
            "rule": f"{related} (the links after a related_heading or a bare read_more cue)",
            "paragraphs_dropped": dropped[related],
            "leave_one_out_dtp": whole["tp"] - without["tp"],
            "leave_one_out_dfp": whole["fp"] - without["fp"],
            "leave_one_out_df1": round(whole["f1"] - without["f1"], 4),
        }
    )
    return rows


def feed_fragments() -> list[tuple[str, str]]:
    """(feed, HTML) of every HTML content value and HTML summary in news_feeds; [] when absent."""
    import feedparser

    from transforms.text import looks_like_html

    folder = corpora_dir() / "news_feeds"
    fragments = []
    for path in sorted(folder.glob("*.xml")) if folder.is_dir() else []:
        parsed = feedparser.parse(path.read_bytes())
        for entry in parsed.entries:
            for content in entry.get("content") or []:
                if content.get("type") == "text/html" and content.get("value"):
                    fragments.append((path.name.split("__")[0], content["value"]))
            summary = entry.get("summary") or ""
            if looks_like_html(summary):
                fragments.append((path.name.split("__")[0] + " (summary)", summary))
    return fragments


def fragment_report(fragments: list[tuple[str, str]]) -> list[dict[str, object]]:
    """Per feed: words kept by extract_body and by trafilatura alone, against html_text of the fragment."""
    import trafilatura

    per_feed: dict[str, list[tuple[int, int, int, str]]] = {}
    for feed, fragment in fragments:
        reference = len(html_text(fragment)[0].split())
        body = extract_body(fragment)
        alone = trafilatura.extract(fragment, include_comments=False) or ""
        per_feed.setdefault(feed, []).append((reference, len(body.text.split()), len(alone.split()), body.method))
    rows: list[dict[str, object]] = []
    for feed, items in sorted(per_feed.items()):
        reference = sum(r for r, _, _, _ in items)
        rows.append(
            {
                "feed": feed,
                "fragments": len(items),
                "html_text_words": reference,
                "extract_body_kept": round(sum(k for _, k, _, _ in items) / reference, 3) if reference else None,
                "extract_body_min_kept": round(min(k / r for r, k, _, _ in items if r), 3),
                "trafilatura_alone_kept": round(sum(a for _, _, a, _ in items) / reference, 3) if reference else None,
                "methods": dict(Counter(m for *_, m in items)),
            }
        )
    return rows


def page_fragments(pages: Sequence[Page]) -> list[dict[str, object]]:
    """Fragments cut from article_pages (the main element): extract_body, trafilatura alone, the fragment's text."""
    import trafilatura

    texts: dict[str, list[str]] = {"extract_body": [], "trafilatura alone": [], "fragment's own text": []}
    methods: Counter[str] = Counter()
    for page in pages:
        markup, _ = prepare_markup(decode_bytes(page.payload).text)
        root, _complete = parse_markup(markup, fragment=False)
        fragment = lxml.html.tostring(_main_element_0_2(root), encoding="unicode") if root is not None else ""
        body = extract_body(fragment)
        methods[body.method] += 1
        texts["extract_body"].append(body.text)
        tree = parse_page(fragment)
        texts["trafilatura alone"].append(
            (trafilatura.extract(tree, include_comments=False) or "") if tree is not None else ""
        )
        own = tree.find("body") if tree is not None else None
        texts["fragment's own text"].append("\n\n".join(render_text(own)) if own is not None else "")
    rows: list[dict[str, object]] = []
    for name, outputs in texts.items():
        s = prf(score_page(t, p.with_, p.without) for t, p in zip(outputs, pages, strict=True))
        rows.append(
            {"extractor": name, "precision": round(s.precision, 4), "recall": round(s.recall, 4), "f1": round(s.f1, 4)}
        )
    rows.append({"extract_body methods": dict(methods)})
    return rows


def print_table(title: str, rows: list[dict[str, object]]) -> None:
    print(f"\n{title}")
    print(
        f"{'extractor':<38} {'P':>6} {'R':>6} {'F1':>6} {'F1 ws':>6} {'empty':>5} {'ms med':>7} {'ms mean':>7} "
        f"{'x traf':>6} {'x med':>6}"
    )
    for r in rows:
        print(
            f"{r['extractor']:<38} {r['precision']:>6.3f} {r['recall']:>6.3f} {r['f1']:>6.3f} "
            f"{r['f1_whitespace_normalised']:>6.3f} {r['empty_pages']:>5} {r['ms_per_page_median']:>7} "
            f"{r['ms_per_page_mean']:>7} {r['time_vs_trafilatura_alone_mean']:>6} "
            f"{r['time_vs_trafilatura_alone_median_of_pages']:>6}"
        )


def print_rules(title: str, rows: list[dict[str, object]]) -> None:
    print(f"\n{title}")
    for r in rows:
        print("  " + ", ".join(f"{k}={v}" for k, v in r.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed passes over the pages (medians are kept)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N corpus pages (by URL)")
    parser.add_argument("--rules", action="store_true", help="also measure each boilerplate rule")
    parser.add_argument("--fragments", action="store_true", help="also score fragments cut from article_pages")
    parser.add_argument("--out", default="", help="write the results as JSON here")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.disable(logging.CRITICAL)  # trafilatura logs every page it finds no text in
    extractors = _candidates()
    results: dict[str, object] = {"runs": args.runs}

    fixtures = fixture_pages()
    outputs, times, errors = run(fixtures, extractors, 1, "assembled pages")
    rows = summarise(fixtures, outputs, times, errors)
    results["assembled_pages"] = {"pages": len(fixtures), "results": rows}
    print_table(f"Assembled pages (tests/fixtures/pages, {len(fixtures)} pages; one pass, times not meaningful)", rows)
    if args.rules:
        effects = rule_effects(fixtures, [extract_body(decode_bytes(p.payload).text, rules=()).text for p in fixtures])
        results["assembled_pages"]["rules"] = effects  # type: ignore[index]
        print_rules("Boilerplate rules on the assembled pages", effects)

    fragments = feed_fragments()
    if fragments:
        rows = fragment_report(fragments)
        results["feed_fragments"] = rows
        print_rules(f"Feed fragments (news_feeds, {len(fragments)} HTML contents and summaries): words kept", rows)

    pages = list(article_pages(limit=args.limit or None))
    if pages and args.fragments:
        rows = page_fragments(pages)
        results["page_fragments"] = rows
        print_rules(f"Fragments cut from article_pages ({len(pages)}: each page's main element)", rows)
    if not pages:
        print("\narticle_pages not found (../shared/corpora or $NEWSBEAM_CORPORA): corpus bench skipped")
    else:
        outputs, times, errors = run(pages, extractors, args.runs, "article_pages")
        rows = summarise(pages, outputs, times, errors)
        results["article_pages"] = {"pages": len(pages), "results": rows}
        print_table(f"article_pages ({len(pages)} pages, {args.runs} passes, median per page)", rows)
        if args.rules:
            unfiltered = [extract_body(decode_bytes(p.payload).text, rules=()).text for p in pages]
            effects = rule_effects(pages, unfiltered)
            results["article_pages"]["rules"] = effects  # type: ignore[index]
            print_rules("Boilerplate rules on article_pages", effects)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
