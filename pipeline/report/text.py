"""The report for a terminal (``render_text``) and as JSON for dashboards (``render_json``).

Feed text is hostile input here too: titles, URLs and error messages go
through ``clean`` (control characters and bidirectional overrides out) before
they reach a terminal, and columns are measured in display cells (a CJK
character takes two), so tables stay aligned in any script.
"""

from __future__ import annotations

import dataclasses
import json
import unicodedata
from typing import Any, Mapping, Optional, Sequence

from pipeline.report.shape import DEFAULT_TOP, ENTITY_KINDS, DayCount, Feeds, Report


def as_dict(report: Report) -> dict[str, Any]:
    """The report as the JSON object: ``report_version`` first, then the sections in the documented order."""
    data = dataclasses.asdict(report)
    return {"report_version": data.pop("report_version"), **data}


def render_json(report: Report) -> str:
    return json.dumps(as_dict(report), ensure_ascii=False, indent=2) + "\n"


#: Bidirectional overrides and isolates: in a terminal they reorder what follows (a title could disguise a URL).
_BIDI = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c")


def clean(text: Optional[str]) -> str:
    """Feed text made safe to print: control characters (escape sequences), bidi overrides and line breaks become spaces.

    Titles and URLs come from feeds, which anyone can write: an ESC byte
    would let one recolour or rewrite the terminal.
    """
    if not text:
        return ""
    out = []
    for char in text:
        if char in _BIDI or unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            out.append(" ")
        else:
            out.append(char)
    return " ".join("".join(out).split())


def _char_width(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: wide (CJK) characters count two, combining marks none."""
    return sum(_char_width(c) for c in text)


def _head(text: str, width: int, from_end: bool = False) -> str:
    """The longest start (or end) of ``text`` that fits in ``width`` columns."""
    out, used = [], 0
    for char in reversed(text) if from_end else text:
        if used + _char_width(char) > width:
            break
        out.append(char)
        used += _char_width(char)
    return "".join(reversed(out) if from_end else out)


def fit(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` columns, with an ellipsis where it was cut."""
    return text if display_width(text) <= width else _head(text, width - 1) + "…"


def fit_middle(text: str, width: int) -> str:
    """``text`` cut in the middle to ``width`` columns: for paths and URLs, whose end tells them apart."""
    if display_width(text) <= width:
        return text
    tail = _head(text, (width - 1) // 2, from_end=True)
    return _head(text, width - 1 - display_width(tail)) + "…" + tail


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * max(0, width - display_width(text))
    return gap + text if right else text + gap


def text_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[int]) -> list[str]:
    """Aligned columns: numbers to the right, text to the left, each cell cut to its column's maximum width."""
    cells = [[fit(clean(_cell(value)), widths[i]) for i, value in enumerate(row)] for row in rows]
    numeric = [all(isinstance(row[i], (int, float)) or row[i] is None for row in rows) for i in range(len(headers))]
    sizes = [max([display_width(headers[i])] + [display_width(row[i]) for row in cells]) for i in range(len(headers))]
    lines = ["  " + "  ".join(_pad(h, sizes[i], numeric[i]) for i, h in enumerate(headers)).rstrip()]
    for row in cells:
        lines.append("  " + "  ".join(_pad(c, sizes[i], numeric[i]) for i, c in enumerate(row)).rstrip())
    return lines


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def percent(share: Optional[float]) -> str:
    return "–" if share is None else f"{share * 100:.0f}%"


def range_text(window: Mapping[str, Optional[str]]) -> str:
    since, until = window.get("since"), window.get("until")
    if since is None and until is None:
        return "all days"
    return f"{since or 'the first day'} to {until or 'the last day'} (inclusive)"


#: Columns of the per-day table in the terminal: the busiest sources, then "other" and the total.
TEXT_SOURCE_COLUMNS = 5
#: Days shown in the terminal's per-day table (the latest ones); --json has them all.
TEXT_DAYS = 31
#: Members listed per cluster in the terminal.
TEXT_MEMBERS = 5


def day_matrix(per_day: Sequence[DayCount], sources: Sequence[str]) -> list[tuple[str, list[int], int, int]]:
    """Rows of (day, count per named source, count of the others, total), oldest day first."""
    index = {name: i for i, name in enumerate(sources)}
    rows: dict[str, tuple[list[int], list[int]]] = {}
    for entry in per_day:
        day = entry.day or "(undated)"
        named, other = rows.setdefault(day, ([0] * len(sources), [0]))
        if entry.source in index:
            named[index[entry.source]] += entry.articles
        else:
            other[0] += entry.articles
    return [(day, named, other[0], sum(named) + other[0]) for day, (named, other) in sorted(rows.items())]


def _section(title: str, lines: list[str]) -> list[str]:
    return ["", title, *(lines or ["  none"])]


def _articles_lines(report: Report) -> list[str]:
    if not report.articles_per_day:
        return ["  no articles in range"]
    named = [s.name for s in report.sources[:TEXT_SOURCE_COLUMNS]]
    others = len(report.sources) > len(named)
    matrix = day_matrix(report.articles_per_day, named)
    shown = matrix[-TEXT_DAYS:]
    headers = ["day", *named, *(["other"] if others else []), "total"]
    rows = [[day, *counts, *([other] if others else []), total] for day, counts, other, total in shown]
    lines = text_table(headers, rows, [10] + [18] * (len(headers) - 1))
    if len(matrix) > len(shown):
        lines.append(
            f"  ({len(matrix) - len(shown)} earlier day(s) not shown: narrow with --since/--until, or see --json)"
        )
    return lines


def _cluster_lines(report: Report) -> list[str]:
    lines: list[str] = []
    for cluster in report.clusters:
        span = " to ".join(dict.fromkeys(t[:10] for t in (cluster.first_seen, cluster.last_seen) if t))
        lines.append(
            f"  {cluster.in_range} in range ({cluster.size} in all) · {len(cluster.sources)} source(s) · {span}  "
            f"{fit(clean(cluster.title) or cluster.cluster_id, 70)}"
        )
        for member in cluster.members[:TEXT_MEMBERS]:
            when = (member.published_at or "")[:10] or "undated   "
            source = _pad(fit_middle(clean(member.source), 22), 22, right=False)
            lines.append(f"      {when}  {source}  {fit(clean(member.title), 60)}")
        hidden = cluster.in_range - min(len(cluster.members), TEXT_MEMBERS)
        if hidden > 0:
            lines.append(f"      … {hidden} more (--json or --html list them)")
    return lines


def _feed_lines(feeds: Feeds) -> list[str]:
    if not feeds.feeds:
        return ["  no feed fetched in range"]
    lines = [
        f"  {feeds.feeds} feed(s), {feeds.fetches} fetch(es), {feeds.failing} failing; "
        f"{percent(feeds.not_modified_share)} of responses were 304 Not Modified; "
        f"median latency {_cell(feeds.median_ms)} ms"
    ]
    failing = [f for f in feeds.per_feed if f.failing]
    if failing:
        lines.append("  failing feeds:")
        lines.extend(
            text_table(
                ["feed", "streak", "status", "error", "last ok"],
                [
                    [
                        f.url,
                        f.streak,
                        f.status,
                        f"{f.error_class}: {f.error_message or ''}",
                        (f.last_ok or "never")[:10],
                    ]
                    for f in failing
                ],
                [60, 6, 6, 60, 10],
            )
        )
    return lines


def render_text(report: Report) -> str:
    """The report for a terminal: one section per question, numbers right-aligned, feed text made printable."""
    t = report.totals
    days = f" ({t.first_day} to {t.last_day})" if t.first_day else ""
    out = [
        f"newsbeam report: {clean(report.output)}",
        f"  range: {range_text(report.range)} — articles by publication day (UTC; ingest day when undated)",
        f"  {t.articles} article(s) from {t.sources} source(s) over {t.days} day(s){days} · "
        f"{t.dead_letters} dead letter(s) · {t.feeds} feed(s), {t.failing_feeds} failing · "
        f"{t.clusters} story cluster(s)",
    ]
    out += _section("Articles per source and day", _articles_lines(report))
    out += _section(
        "Sources",
        text_table(
            ["source", "articles", "first day", "last day"],
            [[s.name, s.articles, s.first_day, s.last_day] for s in report.sources[: DEFAULT_TOP * 2]],
            [50, 8, 10, 10],
        )
        if report.sources
        else [],
    )
    total = max(t.articles, 1)
    for title, tallies in (("Languages", report.languages), ("Text source (page, feed, file)", report.text_sources)):
        out += _section(
            title,
            text_table(
                ["name", "articles", "share"],
                [[x.name, x.articles, percent(x.articles / total)] for x in tallies],
                [30, 8, 5],
            )
            if tallies
            else [],
        )
    for kind, title in zip(
        ENTITY_KINDS, ("Top people", "Top organisations", "Top places", "Top countries"), strict=True
    ):
        tallies = report.entities.get(kind, [])
        out += _section(
            title, text_table(["name", "articles"], [[x.name, x.articles] for x in tallies], [50, 8]) if tallies else []
        )
    out += _section("Largest story clusters", _cluster_lines(report))
    out += _section(
        "Encoding repairs by kind",
        text_table(
            ["kind", "repairs", "articles"], [[r.kind, r.repairs, r.articles] for r in report.repairs], [40, 8, 8]
        )
        if report.repairs
        else [],
    )
    out += _section(
        "Dead letters by stage and error",
        text_table(
            ["stage", "error", "count", "last", "example"],
            [[d.stage, d.error_type, d.count, (d.last_seen or "")[:10], d.example] for d in report.dead_letters],
            [12, 28, 6, 10, 60],
        )
        if report.dead_letters
        else [],
    )
    out += _section("Feeds", _feed_lines(report.feeds))
    pages = report.pages
    page_lines = (
        [f"  {pages.failed} article(s) without their page's text (why below); {pages.from_page} took the page's text"]
        + text_table(["why", "articles"], [[k.name, k.articles] for k in pages.by_kind], [30, 8])
        + [""]
        + text_table(["why", "host", "articles"], [[h.kind, h.host, h.articles] for h in pages.by_host], [30, 40, 8])
        if pages.failed
        else [f"  no page failed ({pages.from_page} article(s) took the page's text)"]
    )
    out += _section("Failing pages", page_lines)
    out += _section(
        "Latest runs",
        text_table(
            ["run", "mode", "state", "started", "written", "dead letters"],
            [[r.run_id, r.mode, r.state, (r.started_at or "")[:19], r.written, r.dead_lettered] for r in report.runs],
            [40, 6, 10, 19, 8, 12],
        )
        if report.runs
        else [],
    )
    notes = [f"  {clean(note)}" for note in report.notes]
    notes += [f"  skipped {clean(s.path)}: {clean(s.reason)}" for s in report.skipped_files]
    if notes:
        out += _section("Notes", notes)
    return "\n".join(out) + "\n"
