"""Page metadata (publication date, authors) of newsbeam against htmldate and trafilatura, side by side.

Why this exists: issue 13 asks that the dates and authors newsbeam reads from
a fetched page beat htmldate and trafilatura on real pages: at least
htmldate's share of right dates with no more than its share of wrong ones, and
better authors than trafilatura. This measures all of them in one run, on the
same parsed trees, read at run time from ``../shared/corpora`` (or
``$NEWSBEAM_CORPORA``); no corpus text is stored in the project.

Sets:

* **dates, page_dates** (200 news pages, original publication date annotated
  by hand; 5 pages have no date: there a date given is wrong and none is
  right, so "missing" is over the 195 dated pages). The set newsbeam's rules
  were developed on.
* **dates, article_pages** ``evaldata.date`` (the pages with a non-empty date):
  a second set, looked at for two rules only (a URL date outranks a marked
  ``<time>``; htmldate's January 1st is kept when the page states that day).
  Its gold is trafilatura's authors' annotation and is often the displayed
  or updated date, not the original.
* **authors, article_pages** ``evaldata.author``: names compared as sets after
  normalising case, spaces, a leading "By"/"Von"/"Por"… and separators
  (``; | , and und y et &``). exact = same set; partial = a name shared;
  wrong = names given, none shared; on pages annotated without an author, a
  name given counts as ``spurious`` (a soft figure: the annotators left out
  some real bylines).

Methods: newsbeam ``page_metadata`` (and the same without its htmldate /
trafilatura fallbacks), htmldate ``find_date`` default and
``original_date=True``, trafilatura ``extract_metadata`` (date and author),
and newsbeam 0.2's rule for HTML files (first ``<meta>`` of a fixed list,
replicated here since the code it measures is being replaced). Dates found by
newsbeam are read with ``transforms.metadata.parse_date`` to the day in the
zone they were written with, as the pipeline reads them.

Every method gets its own freshly parsed tree (``transforms.extract.parse_page``,
the parse every HTML path shares), untimed. Timing: ``--runs``
passes; in each, every method runs on page *i* before page *i+1*, in an order
rotated per page; per page the median of the passes, then the median and mean
over pages.

    .venv/bin/python bench/page_meta_bench.py [--runs 3] [--out results.json] [--errors]
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import re
import statistics
import sys
import time
import unicodedata
import warnings
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lxml.html  # noqa: E402
from htmldate import find_date  # noqa: E402
from trafilatura.metadata import extract_author, extract_metadata  # noqa: E402
from trafilatura.utils import decode_file  # noqa: E402

from transforms.extract import extract_body, parse_page  # noqa: E402
from transforms.extract.authors import visible_byline  # noqa: E402
from transforms.extract.meta import page_metadata  # noqa: E402
from transforms.metadata import parse_date  # noqa: E402


def corpora_dir() -> Path:
    """``../shared/corpora`` beside the project, or ``$NEWSBEAM_CORPORA``."""
    return Path(os.environ.get("NEWSBEAM_CORPORA") or ROOT.parent / "shared" / "corpora")


class Page(NamedTuple):
    url: str
    html: str
    gold_date: Any  # "YYYY-MM-DD", None (annotated: no date), or absent
    gold_author: Any


def load(corpus: str) -> list[Page]:
    """The pages of ``page_dates`` or ``article_pages``, decoded as trafilatura decodes; [] if absent."""
    folder = corpora_dir() / corpus
    if corpus == "page_dates":
        index = folder / "dates.json"
        if not index.exists():
            return []
        gold = json.loads(index.read_text())
        rows = {u: (v["file"], v["date"] if isinstance(v.get("date"), str) else None, None) for u, v in gold.items()}
    else:
        index = folder / "evaldata.json"
        if not index.exists():
            return []
        gold = json.loads(index.read_text())
        rows = {
            u: (v["file"] + ".gz" if not v["file"].endswith(".gz") else v["file"], v.get("date"), v.get("author"))
            for u, v in gold.items()
        }
    pages = []
    for url in sorted(rows):
        name, day, author = rows[url]
        path = folder / "html" / (name if name.endswith(".gz") else name + ".gz")
        pages.append(Page(url, decode_file(gzip.open(path).read()), day, author))
    return pages


# ------------------------------------------------------------------ methods
# Each takes (tree, url) and returns {"date": "YYYY-MM-DD" | None, "author": str | list | None, "source": …}.

FETCHED_AT = datetime.now(UTC)


def _parsed_day(raw: Optional[str]) -> Optional[str]:
    """The day ``parse_date`` reads ``raw`` to, in the zone it was written with (as the pipeline reads it)."""
    parsed = parse_date(raw)
    if parsed is None:
        return None
    return (parsed.utc + timedelta(minutes=parsed.offset_minutes or 0)).date().isoformat()


def newsbeam(tree: Any, url: str) -> dict[str, Any]:
    meta = page_metadata(tree, url, fetched_at=FETCHED_AT)
    return {
        "date": _parsed_day(meta.published_raw),
        "source": meta.published_source,
        "author": meta.authors,
        "author_source": meta.authors_source,
    }


def newsbeam_strict(tree: Any, url: str) -> dict[str, Any]:
    meta = page_metadata(tree, url, fetched_at=FETCHED_AT, htmldate_fallback=False, trafilatura_authors=False)
    return {"date": _parsed_day(meta.published_raw), "source": meta.published_source, "author": meta.authors}


def newsbeam_not_extensive(tree: Any, url: str) -> dict[str, Any]:
    meta = page_metadata(tree, url, fetched_at=FETCHED_AT, extensive_date_search=False, trafilatura_authors=False)
    return {"date": _parsed_day(meta.published_raw), "source": meta.published_source}


def htmldate_default(tree: Any, url: str) -> dict[str, Any]:
    return {"date": find_date(tree, url=url)}


def htmldate_original(tree: Any, url: str) -> dict[str, Any]:
    return {"date": find_date(tree, url=url, original_date=True)}


def trafilatura_metadata(tree: Any, url: str) -> dict[str, Any]:
    meta = extract_metadata(tree, default_url=url)
    return {"date": meta.date, "author": meta.author}


def _meta_0_2(root: Any, *names: str) -> Optional[str]:
    for name in names:
        for attribute in ("property", "name", "itemprop"):
            for element in root.xpath(f'//meta[@{attribute}="{name}"]'):
                content = (element.get("content") or "").strip()
                if content:
                    return content
    return None


def newsbeam_0_2(tree: Any, url: str) -> dict[str, Any]:
    """newsbeam 0.2's HTML-file rule (``transforms/formats/html_page.py`` before issue 13), replicated."""
    published = _meta_0_2(tree, "article:published_time", "datePublished", "date", "pubdate", "dc.date")
    if not published:
        times = tree.xpath("//time/@datetime")
        published = times[0] if times else None
    return {"date": _parsed_day(published), "author": _meta_0_2(tree, "author", "article:author", "byl")}


def body_for_scale(tree: Any, url: str) -> dict[str, Any]:
    """The body extractor every page also goes through (``transforms.extract.extract_body``): the cost to compare with."""
    extract_body(tree, url)
    return {}


DATE_METHODS: dict[str, Callable[[Any, str], dict[str, Any]]] = {
    "newsbeam page_metadata": newsbeam,
    "newsbeam, no fallbacks (no htmldate, no trafilatura)": newsbeam_strict,
    "newsbeam, htmldate extensive_search=False": newsbeam_not_extensive,
    "htmldate default": htmldate_default,
    "htmldate original_date=True": htmldate_original,
    "trafilatura extract_metadata": trafilatura_metadata,
    "newsbeam 0.2 (html_page.py meta rule)": newsbeam_0_2,
}
#: Timed beside the others on article_pages, scored on nothing.
SCALE_METHODS: dict[str, Callable[[Any, str], dict[str, Any]]] = {
    "body extraction (transforms.extract.extract_body), for scale": body_for_scale,
}
AUTHOR_METHODS: dict[str, Callable[[Any, str], dict[str, Any]]] = {
    "newsbeam page_metadata": newsbeam,
    "newsbeam, no fallbacks (no htmldate, no trafilatura)": newsbeam_strict,
    "trafilatura extract_metadata": trafilatura_metadata,
    "newsbeam 0.2 (html_page.py meta rule)": newsbeam_0_2,
}


# ------------------------------------------------------------------ scoring


def date_verdict(found: Optional[str], gold: Optional[str]) -> str:
    """Right (same day), wrong, missing; a page annotated without a date is right only with no date."""
    if not gold:
        return "wrong" if found else "right"
    if not found:
        return "missing"
    return "right" if str(found)[:10] == gold else "wrong"


_SPLIT = re.compile(r"\s*(?:;|\||,|\band\b|\bund\b|\by\b|\bet\b|&)\s*", re.I)
_BY = re.compile(r"^(?:by|von|por|par|di|door|av|af)\s+", re.I)


def _name(text: str) -> str:
    text = _BY.sub("", " ".join(unicodedata.normalize("NFKC", text).split()))
    return text.strip(" .,:;-–—|").lower()


def name_set(value: Any) -> set[str]:
    """Names compared as the groundwork's author_bench.py compares them."""
    if not value:
        return set()
    if isinstance(value, list):
        value = "; ".join(value)
    return {n for n in (_name(p) for p in _SPLIT.split(value)) if n}


def author_verdict(found: set[str], gold: set[str]) -> str:
    if not gold:
        return "spurious" if found else "none_ok"
    if not found:
        return "missing"
    if found == gold:
        return "exact"
    return "partial" if found & gold else "wrong"


def run(
    pages: list[Page], methods: dict[str, Callable[[Any, str], dict[str, Any]]], runs: int
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[float]]]:
    """Each method on each page, ``runs`` times interleaved; results of the first pass, per-page median times."""
    names = list(methods)
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in names}
    times: dict[str, list[list[float]]] = {m: [[] for _ in pages] for m in names}
    for index in range(runs):
        for i, page in enumerate(pages):
            shift = (i + index) % len(names)
            for name in names[shift:] + names[:shift]:
                tree = parse_page(page.html)
                if tree is None:
                    found: dict[str, Any] = {}
                    elapsed = 0.0
                else:
                    start = time.perf_counter()
                    found = methods[name](tree, page.url)
                    elapsed = time.perf_counter() - start
                times[name][i].append(elapsed)
                if index == 0:
                    results[name].append(found)
    return results, {m: [statistics.median(t) for t in times[m]] for m in names}


def _timing(per_page: list[float]) -> dict[str, float]:
    return {
        "ms_median": round(1000 * statistics.median(per_page), 2),
        "ms_mean": round(1000 * statistics.mean(per_page), 2),
    }


def score_dates(
    pages: list[Page], results: dict[str, list[dict[str, Any]]], times: dict[str, list[float]], errors: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    dated = sum(1 for p in pages if p.gold_date)
    for name, found in results.items():
        verdicts = [date_verdict(f.get("date"), p.gold_date) for f, p in zip(found, pages, strict=True)]
        counts = Counter(verdicts)
        row: dict[str, Any] = {k: counts[k] for k in ("right", "wrong", "missing")}
        row |= {f"{k}_share": round(counts[k] / len(pages), 3) for k in ("right", "wrong", "missing")}
        row |= _timing(times[name])
        if any("source" in f for f in found):
            by: dict[str, Counter[str]] = {"right": Counter(), "wrong": Counter(), "missing": Counter()}
            for f, v in zip(found, verdicts, strict=True):
                by[v][f.get("source") or "none"] += 1
            row["by_source"] = {k: dict(c.most_common()) for k, c in by.items()}
        out[name] = row
        if errors and name == "newsbeam page_metadata":
            for f, p, v in zip(found, pages, verdicts, strict=True):
                if v != "right":
                    print(f"  {v:<8} gold {p.gold_date} found {f.get('date')} via {f.get('source')}  {p.url}")
    return {"pages": len(pages), "dated": dated, "methods": out}


def score_authors(
    pages: list[Page], results: dict[str, list[dict[str, Any]]], times: dict[str, list[float]], errors: bool
) -> dict[str, Any]:
    scored = [i for i, p in enumerate(pages) if p.gold_author is not None]
    with_gold = sum(1 for i in scored if name_set(pages[i].gold_author))
    without = len(scored) - with_gold
    out: dict[str, Any] = {}
    for name, found in results.items():
        counts = Counter(
            author_verdict(name_set(found[i].get("author")), name_set(pages[i].gold_author)) for i in scored
        )
        row: dict[str, Any] = {k: counts[k] for k in ("exact", "partial", "wrong", "missing", "spurious")}
        row |= {
            "exact_share": round(counts["exact"] / with_gold, 3),
            "exact_or_partial_share": round((counts["exact"] + counts["partial"]) / with_gold, 3),
            "wrong_share": round(counts["wrong"] / with_gold, 3),
            "missing_share": round(counts["missing"] / with_gold, 3),
            "spurious_on_no_author_pages": round(counts["spurious"] / without, 3),
        }
        row |= _timing([times[name][i] for i in scored])
        if "author_source" in (found[0] if found else {}):
            by: dict[str, Counter[str]] = {}
            for i in scored:
                v = author_verdict(name_set(found[i].get("author")), name_set(pages[i].gold_author))
                by.setdefault(v, Counter())[found[i].get("author_source") or "none"] += 1
            row["by_source"] = {k: dict(c.most_common()) for k, c in by.items()}
        out[name] = row
        if errors and name == "newsbeam page_metadata":
            for i in scored:
                v = author_verdict(name_set(found[i].get("author")), name_set(pages[i].gold_author))
                if v in ("wrong", "partial", "spurious"):
                    print(
                        f"  {v:<8} gold {pages[i].gold_author!r} found {found[i].get('author')} via {found[i].get('author_source')}  {pages[i].url}"
                    )
    return {"pages_with_author": with_gold, "pages_without_author": without, "methods": out}


def check_port_and_tree(pages: list[Page]) -> dict[str, Any]:
    """``visible_byline`` against trafilatura's ``extract_author`` (same answer? cost of each), and
    whether ``page_metadata`` left every tree as it found it."""
    differ, changed, ours, theirs = [], 0, [], []
    for page in pages:
        tree = parse_page(page.html)
        if tree is None:
            continue
        before = lxml.html.tostring(tree)
        page_metadata(tree, page.url, fetched_at=FETCHED_AT)
        changed += lxml.html.tostring(tree) != before
        start = time.perf_counter()
        port = visible_byline(tree)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        original = extract_author(tree)
        theirs.append(time.perf_counter() - start)
        if port != original:
            differ.append(page.url)
    return {
        "pages": len(ours),
        "byline_answers_differ": len(differ),
        "differ_urls": differ[:20],
        "visible_byline": _timing(ours),
        "trafilatura_extract_author": _timing(theirs),
        "trees_changed_by_page_metadata": changed,
    }


def _date_table(title: str, scored: dict[str, Any]) -> str:
    lines = [
        f"### {title} ({scored['pages']} pages, {scored['dated']} with a date)",
        "",
        "| method | right | wrong | missing | ms/page median | ms/page mean |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in scored["methods"].items():
        lines.append(
            f"| {name} | {r['right_share']:.3f} | {r['wrong_share']:.3f} | {r['missing_share']:.3f} | {r['ms_median']} | {r['ms_mean']} |"
        )
    return "\n".join(lines)


def _author_table(scored: dict[str, Any]) -> str:
    lines = [
        f"### Authors, article_pages ({scored['pages_with_author']} pages with an author, {scored['pages_without_author']} annotated without)",
        "",
        "| method | exact | exact or partial | wrong | missing | name on no-author pages | ms/page median | ms/page mean |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in scored["methods"].items():
        lines.append(
            f"| {name} | {r['exact_share']:.3f} | {r['exact_or_partial_share']:.3f} | {r['wrong_share']:.3f} | "
            f"{r['missing_share']:.3f} | {r['spurious_on_no_author_pages']:.3f} | {r['ms_median']} | {r['ms_mean']} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="timed passes over every page (default 3)")
    ap.add_argument("--out", help="write every figure as JSON here")
    ap.add_argument("--errors", action="store_true", help="print newsbeam's wrong and missing pages (URL, gold, found)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N pages of each set (a quick look)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    logging.disable(logging.CRITICAL)  # htmldate and trafilatura log every page they find nothing on
    page_dates = load("page_dates")
    article_pages = load("article_pages")
    if not page_dates or not article_pages:
        print(f"corpora not found under {corpora_dir()} (page_dates, article_pages): nothing to measure")
        return
    if args.limit:
        page_dates, article_pages = page_dates[: args.limit], article_pages[: args.limit]
    report: dict[str, Any] = {
        "runs": args.runs,
        "fetched_at": FETCHED_AT.isoformat(),
        "lxml": ".".join(map(str, lxml.etree.LXML_VERSION)),
    }
    results, times = run(page_dates, DATE_METHODS, args.runs)
    report["dates_page_dates"] = score_dates(page_dates, results, times, args.errors)
    print(_date_table("Dates, page_dates", report["dates_page_dates"]), "\n")
    dated = [p for p in article_pages if p.gold_date]
    results, times = run(article_pages, {**DATE_METHODS, **AUTHOR_METHODS, **SCALE_METHODS}, args.runs)
    by_url = {p.url: i for i, p in enumerate(article_pages)}
    picked = [by_url[p.url] for p in dated]
    report["dates_article_pages"] = score_dates(
        [article_pages[i] for i in picked],
        {m: [r[i] for i in picked] for m, r in results.items() if m in DATE_METHODS},
        {m: [t[i] for i in picked] for m, t in times.items() if m in DATE_METHODS},
        args.errors,
    )
    print(_date_table("Dates, article_pages evaldata (second set)", report["dates_article_pages"]), "\n")
    report["authors_article_pages"] = score_authors(
        article_pages,
        {m: r for m, r in results.items() if m in AUTHOR_METHODS},
        {m: t for m, t in times.items() if m in AUTHOR_METHODS},
        args.errors,
    )
    print(_author_table(report["authors_article_pages"]), "\n")
    report["cost_article_pages"] = {m: _timing(t) for m, t in times.items()}
    body = report["cost_article_pages"][next(iter(SCALE_METHODS))]
    print(f"### Cost on article_pages ({len(article_pages)} pages), same run\n")
    print("| method | ms/page median | ms/page mean | mean ÷ body extraction's |\n|---|---|---|---|")
    for name, cost in report["cost_article_pages"].items():
        print(f"| {name} | {cost['ms_median']} | {cost['ms_mean']} | {cost['ms_mean'] / body['ms_mean']:.2f} |")
    print()
    port = report["byline_port"] = check_port_and_tree(page_dates + article_pages)
    print(
        f"### trafilatura's byline rules, ported (``visible_byline``), on {port['pages']} pages\n\n"
        f"answers differing from trafilatura ``extract_author``: {port['byline_answers_differ']}; "
        f"ms/page median/mean: ported {port['visible_byline']['ms_median']}/{port['visible_byline']['ms_mean']}, "
        f"trafilatura {port['trafilatura_extract_author']['ms_median']}/{port['trafilatura_extract_author']['ms_mean']}; "
        f"trees changed by page_metadata: {port['trees_changed_by_page_metadata']}"
    )
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
