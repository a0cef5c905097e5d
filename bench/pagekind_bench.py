"""Article or not: ``transforms.pagekind.page_kind`` on real article pages and on pages that are not articles.

Why this exists: issue 15 has newsbeam read news crawls (CC-NEWS WARCs), which
hold home, section, tag, author, video and gallery pages beside the articles,
and write only the articles. Two errors cost differently: a real article
thrown away is lost for good, an index page written is noise. This measures
both, and what the classifier adds to the page's extraction.

Sets (read at run time; nothing of the corpora is stored in the project):

* **articles, real**: ``../shared/corpora/article_pages`` (990 pages, every
  one chosen by trafilatura's authors for its main text: news, blogs,
  magazines, but also company, government, shop and recipe pages, a few of
  them home pages) and ``page_dates`` (200 news articles, many languages).
  Each is read at its own URL. Every verdict that is not ``article`` is
  listed with its evidence.
* **fixtures**: ``tests/fixtures/pagekind`` (pages written for the tests,
  each with the kind it must get) and ``tests/fixtures/pages`` (newsbeam's
  hand-made article pages).
* **listings made from real templates**: for a sample of article_pages, the
  page itself with its story replaced by a list of 20 other pages' real
  headlines (and, in one variant, their real descriptions as teasers), its
  JSON-LD, ``og:type`` and microdata removed, read at ``/news/`` of its own
  host: an index page that declares nothing and whose URL says nothing, to be
  told by its shape alone, the hardest case. Variants ``teasers`` and
  ``headlines``; pages whose story is not in ``<p>`` elements are left out.

Figures: the share of each set classified ``article``; precision and recall
of ``article`` over articles (real + fixture articles) against non-articles
(fixture non-articles + made listings); the cost of ``link_stats`` +
``page_kind`` per page next to ``read_tree``'s own (metadata + trafilatura),
in the same run: ``--runs`` passes, per page the median of the passes, then
the median and mean over pages. Also checked on every page: ``link_stats`` is
the same before and after ``read_tree`` (the extractor leaves the tree as it
is).

    .venv/bin/python bench/pagekind_bench.py [--runs 3] [--every 5] [--limit N] [--out results.json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Optional
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lxml.etree  # noqa: E402
import lxml.html  # noqa: E402

from transforms.extract import parse_page, read_tree  # noqa: E402
from transforms.pagekind import ARTICLE, PageKind, link_stats, page_kind  # noqa: E402
from transforms.text import decode_bytes, prepare_markup  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "pagekind"
ARTICLE_FIXTURES = ROOT / "tests" / "fixtures" / "pages"


def corpora_dir() -> Path:
    """``../shared/corpora`` beside the project, or ``$NEWSBEAM_CORPORA``."""
    return Path(os.environ.get("NEWSBEAM_CORPORA") or ROOT.parent / "shared" / "corpora")


class Case(NamedTuple):
    """One page to classify: its set, name, URL, markup (decoded as the pipeline decodes) and expected kind."""

    group: str
    name: str
    url: Optional[str]
    markup: str
    expected: str


def _markup(payload: bytes) -> str:
    """The page as the WARC path reads it: ``decode_bytes`` (no HTTP charset here), then ``prepare_markup``."""
    return prepare_markup(decode_bytes(payload).text)[0]


def real_articles(limit: Optional[int]) -> Iterator[Case]:
    """article_pages and page_dates, in URL order; nothing when the corpora are absent."""
    for corpus, index in (("article_pages", "evaldata.json"), ("page_dates", "dates.json")):
        folder = corpora_dir() / corpus
        if not (folder / index).is_file():
            continue
        gold = json.loads((folder / index).read_text(encoding="utf-8"))
        urls = sorted(gold)
        for url in urls[:limit] if limit else urls:
            name = gold[url]["file"]
            path = folder / "html" / (name if name.endswith(".gz") else f"{name}.gz")
            with gzip.open(path) as handle:
                yield Case(corpus, url, url, _markup(handle.read()), ARTICLE)


def fixtures() -> Iterator[Case]:
    """The test fixtures: pagekind's (each with its expected kind) and the hand-made article pages."""
    expected = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
    for name, item in expected.items():
        if not name.startswith("_"):
            yield Case("fixtures", name, item["url"], _markup((FIXTURES / f"{name}.html").read_bytes()), item["kind"])
    for path in sorted(ARTICLE_FIXTURES.glob("*.html")):
        url = f"https://ledger.example/news/2024/05/{path.stem}"
        yield Case("fixtures", path.stem, url, _markup(path.read_bytes()), ARTICLE)


# ------------------------------------------------------------------ listings made from real templates

_STRIP_META = ("og:type", "article:published_time", "article:modified_time", "article:section", "article:tag")


def _story_container(tree: lxml.html.HtmlElement) -> Optional[lxml.html.HtmlElement]:
    """The element whose ``<p>`` children hold the most words of prose (paragraphs of 20 words or more)."""
    words: Counter[lxml.html.HtmlElement] = Counter()
    for paragraph in tree.iter("p"):
        count = len(paragraph.text_content().split())
        parent = paragraph.getparent()
        if count >= 20 and parent is not None:
            words[parent] += count
    if not words:
        return None
    container, count = words.most_common(1)[0]
    return container if count >= 100 else None


def _card(href: str, headline: str, teaser: Optional[str]) -> lxml.html.HtmlElement:
    card = lxml.html.Element("div", {"class": "teaser"})
    heading = lxml.etree.SubElement(card, "h3")
    link = lxml.etree.SubElement(heading, "a", {"href": href})
    link.text = headline
    if teaser:
        lxml.etree.SubElement(card, "p").text = teaser
    return card


def _own_words(element: lxml.html.HtmlElement) -> int:
    """Words of ``element``'s own text runs (its text and its children's tails), not of its children."""
    runs = [element.text or ""] + [child.tail or "" for child in element]
    return sum(len(run.split()) for run in runs)


def made_listing(case: Case, items: list[tuple[str, str]], teasers: bool) -> Optional[Case]:
    """``case``'s page as an undeclared index: its prose removed, cards of ``items`` where its story was.

    Prose: every ``<p>`` of 20 words or more, and every element with 20
    words of text of its own (stories set as text and ``<br>``); the cards
    (headline link, and with ``teasers`` the other page's description) go in
    the element that held the most of it.
    """
    tree = parse_page(case.markup)
    if tree is None:
        return None
    container = _story_container(tree)
    if container is None:
        return None
    for child in list(container):
        container.remove(child)
    container.text = None
    body = tree.find("body")
    if body is None:
        return None
    keep = {container, *container.iterancestors()}
    for element in list(body.iter()):
        if element in keep or not isinstance(element.tag, str):
            continue
        if (element.tag == "p" and len(element.text_content().split()) >= 20) or _own_words(element) >= 20:
            element.drop_tree()
    for i, (headline, description) in enumerate(items):
        container.append(_card(f"/news/story-{i}", headline, description if teasers else None))
    for element in list(tree.iter("script")):
        if "ld+json" in (element.get("type") or "").lower():
            element.drop_tree()
    for element in list(tree.iter("meta")):
        if (element.get("property") or element.get("name") or "").lower() in _STRIP_META:
            element.drop_tree()
    for element in tree.xpath("//*[@itemtype]"):
        del element.attrib["itemtype"]
    for heading in tree.iter("h1"):
        heading.text, heading[:] = "News", []
    host = urlsplit(case.url or "").netloc or "site.example"
    variant = "teasers" if teasers else "headlines"
    markup = lxml.html.tostring(tree, encoding="unicode")
    return Case(f"made_{variant}", f"{variant}:{case.name}", f"https://{host}/news/", markup, "listing")


def made_listings(pages: list[Case], every: int) -> Iterator[Case]:
    """Both variants for every ``every``-th article_pages page, with headlines of the 20 pages after it."""
    catalogue: list[tuple[str, str]] = []
    for case in pages:
        tree = parse_page(case.markup)
        if tree is None:
            continue
        meta = read_tree(tree, case.url).meta
        if meta.title and meta.description and len(meta.description.split()) >= 8:
            catalogue.append((meta.title, meta.description))
    if len(catalogue) < 21:
        return
    for i, case in enumerate(pages[::every]):
        items = [catalogue[(i * every + k) % len(catalogue)] for k in range(1, 21)]
        for teasers in (True, False):
            made = made_listing(case, items, teasers)
            if made is not None:
                yield made


# ------------------------------------------------------------------ running


class Verdict(NamedTuple):
    case: Case
    kind: PageKind
    stats_ms: float
    kind_ms: float
    read_ms: float
    unchanged: bool


def classify(case: Case, runs: int) -> Optional[Verdict]:
    """``case`` read as the pipeline reads it, ``runs`` times; per-step medians of the passes."""
    stats_ms, kind_ms, read_ms = [], [], []
    verdict: Optional[PageKind] = None
    unchanged = True
    for _ in range(runs):
        tree = parse_page(case.markup)
        if tree is None:
            return None
        t0 = time.perf_counter()
        stats = link_stats(tree)
        t1 = time.perf_counter()
        page = read_tree(tree, case.url)
        t2 = time.perf_counter()
        verdict = page_kind(case.url or page.meta.canonical_url, page.meta, page.body, stats)
        t3 = time.perf_counter()
        unchanged = unchanged and link_stats(tree) == stats
        stats_ms.append((t1 - t0) * 1000)
        read_ms.append((t2 - t1) * 1000)
        kind_ms.append((t3 - t2) * 1000)
    assert verdict is not None
    return Verdict(
        case, verdict, statistics.median(stats_ms), statistics.median(kind_ms), statistics.median(read_ms), unchanged
    )


def precision_recall(verdicts: list[Verdict]) -> dict[str, Any]:
    """Of "article": precision and recall over the pages, true/false positives and negatives."""
    tp = sum(1 for v in verdicts if v.case.expected == ARTICLE and v.kind.kind == ARTICLE)
    fn = sum(1 for v in verdicts if v.case.expected == ARTICLE and v.kind.kind != ARTICLE)
    fp = sum(1 for v in verdicts if v.case.expected != ARTICLE and v.kind.kind == ARTICLE)
    tn = sum(1 for v in verdicts if v.case.expected != ARTICLE and v.kind.kind != ARTICLE)
    return {
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "tp": tp,
        "fn": fn,
        "fp": fp,
        "tn": tn,
    }


def _cost(verdicts: list[Verdict]) -> dict[str, float]:
    added = [v.stats_ms + v.kind_ms for v in verdicts]
    reads = [v.read_ms for v in verdicts]
    ratios = [a / r for a, r in zip(added, reads, strict=True) if r > 0]
    return {
        "link_stats_ms_median": round(statistics.median(v.stats_ms for v in verdicts), 3),
        "page_kind_ms_median": round(statistics.median(v.kind_ms for v in verdicts), 3),
        "added_ms_median": round(statistics.median(added), 3),
        "added_ms_mean": round(statistics.mean(added), 3),
        "read_tree_ms_median": round(statistics.median(reads), 3),
        "read_tree_ms_mean": round(statistics.mean(reads), 3),
        "added_over_read_tree_median": round(statistics.median(ratios), 4),
        "added_over_read_tree_of_means": round(statistics.mean(added) / statistics.mean(reads), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="passes over every page (timing medians)")
    parser.add_argument("--every", type=int, default=5, help="make listings from every N-th article_pages page")
    parser.add_argument("--limit", type=int, default=0, help="at most N pages of each corpus (0: all)")
    parser.add_argument("--out", type=Path, help="write the figures and every non-article verdict as JSON here")
    args = parser.parse_args()

    real = list(real_articles(args.limit or None))
    if not real:
        print(f"corpora not found under {corpora_dir()} (article_pages, page_dates): only the fixtures are measured")
    article_pages = [c for c in real if c.group == "article_pages"]
    cases = real + list(fixtures()) + list(made_listings(article_pages, args.every))
    verdicts = [v for v in (classify(c, args.runs) for c in cases) if v is not None]

    groups: dict[str, list[Verdict]] = defaultdict(list)
    for v in verdicts:
        groups[v.case.group].append(v)
    report: dict[str, Any] = {"runs": args.runs, "sets": {}}
    print(f"## page_kind, {len(verdicts)} pages, {args.runs} passes\n")
    print("| set | pages | expected | classified article | verdicts |")
    print("|---|---:|---|---:|---|")
    for group, members in groups.items():
        kinds = Counter(v.kind.kind for v in members)
        articles = kinds[ARTICLE]
        expected = Counter(v.case.expected for v in members)
        right = sum(1 for v in members if v.kind.kind == v.case.expected)
        report["sets"][group] = {
            "pages": len(members),
            "article_share": round(articles / len(members), 4),
            "right": right,
            "verdicts": dict(kinds.most_common()),
        }
        shown = ", ".join(f"{k} {n}" for k, n in kinds.most_common())
        wanted = ", ".join(f"{k} {n}" for k, n in expected.most_common())
        print(f"| {group} | {len(members)} | {wanted} | {articles / len(members):.1%} | {shown} |")

    report["article_precision_recall"] = precision_recall(verdicts)
    pr = report["article_precision_recall"]
    print(
        f"\n'article' over all sets: precision {pr['precision']}, recall {pr['recall']} "
        f"(tp {pr['tp']}, fn {pr['fn']}, fp {pr['fp']}, tn {pr['tn']})"
    )
    for name, members in (
        ("real articles + fixtures (no made listings)", [v for v in verdicts if not v.case.group.startswith("made")]),
        ("fixtures only", groups.get("fixtures", [])),
    ):
        part = precision_recall(members)
        report[f"article_precision_recall, {name}"] = part
        print(f"'article', {name}: precision {part['precision']}, recall {part['recall']}  {part}")

    wrong_fixtures = [v for v in groups.get("fixtures", []) if v.kind.kind != v.case.expected]
    for v in wrong_fixtures:
        print(f"  fixture {v.case.name}: expected {v.case.expected}, got {v.kind.kind} ({v.kind.evidence})")

    print("\n### Real article pages classified as something else\n")
    misses = [v for v in verdicts if v.case.group in ("article_pages", "page_dates") and v.kind.kind != ARTICLE]
    for v in misses:
        print(f"- {v.kind.kind}: {v.case.url} — {v.kind.evidence}")
    report["real_not_article"] = [
        {"set": v.case.group, "url": v.case.url, "kind": v.kind.kind, "evidence": v.kind.evidence} for v in misses
    ]
    made_articles = [v for v in verdicts if v.case.group.startswith("made") and v.kind.kind == ARTICLE]
    report["made_listings_read_as_article"] = [
        {"name": v.case.name, "evidence": v.kind.evidence} for v in made_articles
    ]
    print(f"\n### Made listings read as articles: {len(made_articles)}")
    for v in made_articles[:15]:
        print(f"- {v.case.name}: {v.kind.evidence}")

    timed = [v for v in verdicts if v.case.group in ("article_pages", "page_dates")] or verdicts
    report["cost_real_pages"] = _cost(timed)
    cost = report["cost_real_pages"]
    print(f"\n### Cost per page ({len(timed)} real pages; median of {args.runs} passes per page)\n")
    print("| step | median ms | mean ms |")
    print("|---|---:|---:|")
    print(f"| link_stats | {cost['link_stats_ms_median']} | |")
    print(f"| page_kind | {cost['page_kind_ms_median']} | |")
    print(f"| link_stats + page_kind | {cost['added_ms_median']} | {cost['added_ms_mean']} |")
    print(f"| read_tree (metadata + trafilatura) | {cost['read_tree_ms_median']} | {cost['read_tree_ms_mean']} |")
    print(
        f"\nadded / read_tree: median of per-page ratios {cost['added_over_read_tree_median']:.1%}, "
        f"ratio of means {cost['added_over_read_tree_of_means']:.1%}"
    )
    changed = [v.case.name for v in verdicts if not v.unchanged]
    report["link_stats_changed_by_read_tree"] = changed
    print(f"link_stats changed by read_tree on {len(changed)} of {len(verdicts)} pages {changed[:5]}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
