"""``newsbeam report --html``: the report as one self-contained page.

Everything is drawn here, in Python, as inline SVG: no script, no font, no
stylesheet or image to fetch, so the file opens the same offline, from a
mail attachment or a shared drive. A Content-Security-Policy in the page
(``default-src 'none'``) makes that a rule the browser enforces: even if a
feed's title slipped past escaping, it could load and run nothing.

Reading it: every chart is an ``<svg role="img">`` with a title and a
description, its bars carry their numbers as text (colour is never the only
key), and a ``<details>`` table below it holds the numbers behind it. The
colours are Okabe and Ito's colour-blind-safe set; each bar has a dark
outline, so the lighter ones still stand apart from the white card. Sizes
are in ``rem`` with a viewport-based root size, so the page reads on a phone
(one column, wide charts scroll inside their box) and on a projector (larger
type, several charts a row).

All text from the data (titles, URLs, names, error messages) is escaped;
links are made only of ``http``/``https`` URLs.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from typing import NamedTuple, Optional, Sequence

from pipeline.report.shape import DayCount, Report
from pipeline.report.text import day_matrix, percent, range_text

#: C0 and C1 control characters but tab and newline, mapped to a space.
_CONTROLS = {n: " " for n in (*range(0, 9), *range(11, 32), *range(127, 160))}
#: Okabe & Ito (2008), black left out: distinguishable with every common colour-vision deficiency.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
OTHER = "#8C8C8C"
BAR = "#0072B2"
BAD = "#D55E00"
TEXT = "#1B1B1B"
MUTED = "#4A4A4A"
BACKGROUND = "#F4F5F7"
CARD = "#FFFFFF"
LINK = "#005A9C"
OUTLINE = "#1B1B1B"
#: Sources drawn in their own colour on the time chart; the rest are "other".
CHART_SOURCES = len(PALETTE)
#: Bars per bar chart (feeds: the slowest and the failing ones first).
CHART_BARS = 15
#: Days apart at most for the time chart to show every day in between (a gap is a day with nothing).
FILL_DAYS = 92
#: Characters of a label drawn in a chart (the full text is in its tooltip and table).
LABEL_CHARS = 46

_CSS = f"""
:root {{ color-scheme: light; }}
* {{ box-sizing: border-box; }}
html {{ font-size: clamp(15px, 9px + 0.62vw, 22px); }}
body {{ margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", Arial, sans-serif;
  line-height: 1.45; color: {TEXT}; background: {BACKGROUND}; }}
header, main, footer {{ max-width: 100rem; margin: 0 auto; padding: 0 1rem; }}
header {{ padding-top: 1rem; }}
h1 {{ font-size: 1.6rem; margin: 0 0 .25rem; }}
h2 {{ font-size: 1.3rem; margin: 0 0 .75rem; }}
h3 {{ font-size: 1.05rem; margin: 0 0 .5rem; }}
p {{ margin: .25rem 0 .75rem; }}
.meta, .note {{ color: {MUTED}; }}
.skip {{ position: absolute; left: -100rem; }}
.skip:focus {{ left: 1rem; top: 1rem; background: {CARD}; padding: .5rem; z-index: 1; }}
nav ul {{ list-style: none; padding: 0; margin: .5rem 0; display: flex; flex-wrap: wrap; gap: .25rem 1rem; }}
a {{ color: {LINK}; }}
a:focus-visible, summary:focus-visible {{ outline: 3px solid {BAD}; outline-offset: 2px; }}
section {{ background: {CARD}; border: 1px solid #C9CED6; border-radius: .5rem; padding: 1rem; margin: 1rem 0; min-width: 0; }}
.tiles {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 8rem), 1fr)); gap: .5rem; margin: .75rem 0 0; padding: 0; }}
.tiles div {{ background: {CARD}; border: 1px solid #C9CED6; border-radius: .5rem; padding: .5rem .75rem; }}
.tiles dt {{ color: {MUTED}; font-size: .85rem; }}
.tiles dd {{ margin: 0; font-size: 1.5rem; font-weight: 600; font-variant-numeric: tabular-nums; }}
.tiles .bad dd {{ color: #A33A00; }}
.grid {{ display: grid; gap: 1rem 1.5rem; grid-template-columns: repeat(auto-fit, minmax(min(100%, 24rem), 1fr)); }}
.grid.four {{ grid-template-columns: minmax(0, 1fr); }}
@media (min-width: 40rem) {{ .grid.four {{ grid-template-columns: repeat(2, minmax(0, 1fr)); }} }}
@media (min-width: 90rem) {{ .grid.four {{ grid-template-columns: repeat(4, minmax(0, 1fr)); }} }}
figure {{ margin: 0 0 1rem; min-width: 0; }}
figcaption {{ font-weight: 600; margin-bottom: .25rem; }}
svg.chart {{ display: block; width: 100%; height: auto; max-width: 30rem; }}
.wide svg.chart {{ max-width: none; }}
.scroll {{ overflow-x: auto; max-width: 100%; }}
svg text {{ font-family: inherit; }}
.legend {{ list-style: none; padding: 0; margin: .5rem 0; display: flex; flex-wrap: wrap; gap: .25rem 1rem; }}
.swatch {{ display: inline-block; width: .9rem; height: .9rem; border: 1px solid {OUTLINE}; vertical-align: -.1rem; margin-right: .35rem; }}
details {{ margin: .5rem 0; }}
summary {{ cursor: pointer; color: {LINK}; }}
table {{ border-collapse: collapse; width: 100%; font-size: .9rem; margin: .5rem 0; }}
caption {{ text-align: left; color: {MUTED}; padding-bottom: .25rem; }}
th, td {{ text-align: left; vertical-align: top; padding: .3rem .5rem; border-bottom: 1px solid #DDE1E6; overflow-wrap: break-word; }}
td {{ min-width: 5rem; }}
td.long {{ min-width: 14rem; overflow-wrap: anywhere; }}
th {{ background: {BACKGROUND}; }}
.num {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; overflow-wrap: normal; }}
.cluster {{ border-top: 1px solid #DDE1E6; padding-top: .75rem; margin-top: .75rem; }}
.cluster ol {{ margin: .25rem 0 0; padding-left: 1.5rem; }}
.cluster li {{ margin: .2rem 0; overflow-wrap: anywhere; }}
.failing {{ color: #A33A00; font-weight: 600; }}
footer {{ padding-bottom: 2rem; }}
@media print {{ section {{ break-inside: avoid; }} details {{ display: block; }} }}
"""


def esc(value: object) -> str:
    """Text from the data, safe in HTML text and in quoted attributes (inline SVG included).

    Control characters (a terminal escape in a feed title) are not markup but
    still garbage on the page: they become spaces.
    """
    text = "" if value is None else str(value)
    return html.escape(text.translate(_CONTROLS), quote=True)


def short_label(text: str, limit: int = LABEL_CHARS) -> str:
    """A label cut to ``limit`` characters: a URL loses its scheme and then its middle (its end tells feeds apart)."""
    text = " ".join(text.split())
    if "://" in text:
        text = text.split("://", 1)[1]
        if len(text) > limit:
            keep = limit - 1
            return text[: keep // 2] + "…" + text[len(text) - (keep - keep // 2) :]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def when(value: Optional[str]) -> str:
    """A UTC time as people read it in a table: day and minute."""
    return value[:16].replace("T", " ") if value else "–"


def _number(value: Optional[float]) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def safe_link(url: Optional[str], text: str) -> str:
    """A link for http(s) URLs only (a feed can give ``javascript:``); anything else is plain text."""
    if url and url.strip().lower().startswith(("http://", "https://")):
        return f'<a href="{esc(url.strip())}" rel="noopener noreferrer nofollow">{esc(text)}</a>'
    return esc(text)


def nice_ceiling(value: float) -> float:
    """The axis maximum: the first of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten at least ``value``.

    Fine steps keep the tallest bar near the top (246 articles: an axis to
    250, not 400); 1 for an empty chart.
    """
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def _table(
    caption: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    numeric: Sequence[int] = (),
    long: Sequence[int] = (),
) -> str:
    """A data table; ``long`` columns (URLs, titles, messages) wrap anywhere, the others keep their words whole."""
    head = "".join(
        f'<th scope="col"{" class=num" if i in numeric else ""}>{esc(h)}</th>' for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{esc(_number(v) if isinstance(v, (int, float)) or v is None else v)}</td>'
            if i in numeric
            else f"<td{' class=long' if i in long else ''}>{v if isinstance(v, _Markup) else esc(v)}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return (
        f'<div class="scroll"><table><caption>{esc(caption)}</caption><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


class _Markup(str):
    """HTML already built (a link): put in a table cell as it is."""


def _numbers(table: str) -> str:
    return f"<details><summary>Numbers behind the chart</summary>{table}</details>"


def _svg(chart_id: str, title: str, description: str, width: int, height: int, body: str, wide: bool = False) -> str:
    # A wide chart scrolls in its box below 60% of its size and stops growing at 160%.
    style = f' style="min-width:{width * 0.6:.0f}px;max-width:{width * 1.6:.0f}px"' if wide else ""
    return (
        f'<svg class="chart" id="{chart_id}"{style} viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-t">{esc(title)}</title><desc id="{chart_id}-d">{esc(description)}</desc>'
        f"{body}</svg>"
    )


class Bar(NamedTuple):
    label: str
    value: float
    text: str
    colour: str = BAR
    #: Said after the value, in words: what the colour also says ("failing").
    note: str = ""


def bar_chart(chart_id: str, title: str, bars: Sequence[Bar], maximum: Optional[float] = None) -> str:
    """Horizontal bars, each with its label above it and its value (and note) written after it.

    Labels above the bars, not beside them, keep the chart narrow, so its
    text stays readable when a phone scales it down.
    """
    width, row, bar_h = 360, 42, 15
    # Room after the longest bar for its value text (about 7.5 units a character at this size).
    value_room = min(max(len(f"{b.text} {b.note}".strip()) for b in bars) * 7.5 + 10, width * 0.6) if bars else 0
    top = maximum if maximum is not None else max([b.value for b in bars] + [0.0])
    scale = (width - value_room) / (top or 1)
    parts = []
    for i, bar in enumerate(bars):
        y = i * row
        length = max(bar.value * scale, 1.5 if bar.value > 0 else 0)
        after = f"{bar.text} {bar.note}".strip()
        parts.append(
            f'<g class="bar"><title>{esc(bar.label)}: {esc(after)}</title>'
            f'<text x="0" y="{y + 15}" font-size="14" fill="{TEXT}">{esc(short_label(bar.label))}</text>'
            f'<rect x="0" y="{y + 21}" width="{length:.1f}" height="{bar_h}" fill="{bar.colour}" '
            f'stroke="{OUTLINE}" stroke-width="0.6"/>'
            f'<text x="{length + 6:.1f}" y="{y + 33}" font-size="14" fill="{TEXT}">{esc(after)}</text></g>'
        )
    height = max(len(bars) * row + 4, row)
    description = "; ".join(f"{b.label}: {b.text} {b.note}".strip() for b in bars[:20])
    return _svg(chart_id, title, description, width, height, "".join(parts))


def _days_between(first: str, last: str) -> list[str]:
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [(start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def timeline_days(per_day: Sequence[DayCount]) -> list[str]:
    """The days on the time chart's axis: every day from first to last when close, else only days with articles."""
    days = sorted({d.day for d in per_day if d.day})
    if not days:
        return []
    try:
        span = (dt.date.fromisoformat(days[-1]) - dt.date.fromisoformat(days[0])).days
    except ValueError:
        return days
    return _days_between(days[0], days[-1]) if span < FILL_DAYS else days


def stacked_days_chart(chart_id: str, per_day: Sequence[DayCount], sources: Sequence[str]) -> str:
    """Articles per day as stacked bars, one colour per named source and grey for the rest."""
    days = timeline_days(per_day)
    counts: dict[tuple[str, str], int] = {}
    for entry in per_day:
        if entry.day:
            key = entry.source if entry.source in sources else ""
            counts[(entry.day, key)] = counts.get((entry.day, key), 0) + entry.articles
    series = [*sources, ""]
    totals = {day: sum(counts.get((day, s), 0) for s in series) for day in days}
    # About 30 units a day, within 360 (a phone shows it whole) and 960; below 60% of that it scrolls in its box.
    width, height, left, bottom, top_pad = min(max(30 * len(days) + 70, 360), 960), 300, 48, 46, 12
    plot_w, plot_h = width - left - 8, height - bottom - top_pad
    top = nice_ceiling(max(totals.values(), default=0))
    step = plot_w / max(len(days), 1)
    bar_w = max(step * 0.8, 1.0)
    parts = []
    for tick in (0.0, top / 2, top) if (top / 2).is_integer() else (0.0, top):  # gridlines on whole articles
        y = top_pad + plot_h - tick / top * plot_h
        parts.append(
            f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#C9CED6" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="14" text-anchor="end" fill="{TEXT}">{_number(tick)}</text>'
        )
    label_every = max(1, math.ceil(len(days) * 80 / plot_w))  # a label needs about 80 units
    for i, day in enumerate(days):
        x = left + i * step + (step - bar_w) / 2
        y = top_pad + plot_h
        for index, source in enumerate(series):
            n = counts.get((day, source), 0)
            if not n:
                continue
            h = n / top * plot_h
            y -= h
            colour = PALETTE[index] if source else OTHER
            name = source or "other sources"
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colour}" '
                f'stroke="{OUTLINE}" stroke-width="0.5"><title>{esc(day)} · {esc(name)}: {n}</title></rect>'
            )
        if i % label_every == 0:
            label = day if i == 0 or day[:4] != days[i - label_every][:4] else day[5:]
            parts.append(
                f'<text x="{left + i * step + step / 2:.1f}" y="{height - bottom + 18}" font-size="14" '
                f'text-anchor="middle" fill="{TEXT}">{esc(label)}</text>'
            )
    parts.append(
        f'<text x="{left}" y="{height - 6}" font-size="14" fill="{MUTED}">UTC publication day (ingest day when undated)</text>'
    )
    busiest = max(totals.items(), key=lambda item: (item[1], item[0]), default=("", 0))
    description = (
        f"{sum(totals.values())} articles over {len(days)} days, stacked by source "
        f"({', '.join(sources) or 'none'}{', and others' if any(s == '' for _, s in counts) else ''}); "
        f"the busiest day {busiest[0]} with {busiest[1]}."
    )
    return _svg(chart_id, "Articles per day by source", description, width, height, "".join(parts), wide=True)


def _legend(sources: Sequence[str], others: bool, totals: dict[str, int]) -> str:
    items = [
        f'<li><span class="swatch" style="background:{PALETTE[i]}"></span>{esc(s)} ({totals.get(s, 0):,})</li>'
        for i, s in enumerate(sources)
    ]
    if others:
        items.append(
            f'<li><span class="swatch" style="background:{OTHER}"></span>other sources ({totals.get("", 0):,})</li>'
        )
    return f'<ul class="legend" aria-label="Sources on the chart">{"".join(items)}</ul>'


def _figure(caption: str, chart: str, numbers: str, wide: bool = False) -> str:
    chart_box = f'<div class="scroll">{chart}</div>' if wide else chart
    return (
        f"<figure{' class=wide' if wide else ''}><figcaption>{esc(caption)}</figcaption>{chart_box}{numbers}</figure>"
    )


def _empty(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------


def _header(report: Report) -> str:
    t = report.totals
    tiles = [
        ("Articles", t.articles, False),
        ("Sources", t.sources, False),
        ("Days", t.days, False),
        ("Story clusters", t.clusters, False),
        ("Dead letters", t.dead_letters, t.dead_letters > 0),
        ("Failing feeds", t.failing_feeds, t.failing_feeds > 0),
        ("Pages not used", t.page_failures, False),
        ("Text repairs", t.repairs, False),
    ]
    tile_html = "".join(
        f"<div{' class=bad' if bad else ''}><dt>{esc(name)}</dt><dd>{value:,}</dd></div>" for name, value, bad in tiles
    )
    span = f"; articles published {t.first_day} to {t.last_day}" if t.first_day else ""
    nav = "".join(
        f'<li><a href="#{anchor}">{esc(name)}</a></li>'
        for anchor, name in (
            ("articles", "Articles"),
            ("clusters", "Story clusters"),
            ("entities", "In the news"),
            ("feeds", "Feed health"),
            ("failures", "Repairs and failures"),
            ("languages", "Languages"),
            ("runs", "Runs"),
        )
    )
    return (
        '<a class="skip" href="#main">Skip to the report</a><header>'
        f"<h1>newsbeam report</h1><p class=meta>{esc(report.output)} · {esc(range_text(report.range))}{esc(span)} · "
        f"generated {esc(report.generated_at)}</p>"
        f'<nav aria-label="Sections"><ul>{nav}</ul></nav><dl class="tiles">{tile_html}</dl></header>'
    )


def _articles_section(report: Report) -> str:
    if not report.articles_per_day:
        return (
            '<section id="articles" aria-labelledby="h-articles"><h2 id="h-articles">Articles over time</h2>'
            + _empty("No articles in range.")
            + "</section>"
        )
    named = [s.name for s in report.sources[:CHART_SOURCES]]
    others = len(report.sources) > len(named)
    per_source = {s.name: s.articles for s in report.sources}
    per_source[""] = sum(s.articles for s in report.sources[CHART_SOURCES:])
    chart = stacked_days_chart("chart-days", report.articles_per_day, named)
    # The chart's own numbers: a row a day, a column per source drawn (every pair is in --json).
    matrix = day_matrix(report.articles_per_day, named)
    headers = ["day", *named, *(["other sources"] if others else []), "total"]
    rows = [[day, *counts, *([other] if others else []), total] for day, counts, other, total in matrix]
    numbers = _numbers(_table("Articles per day and source", headers, rows, numeric=range(1, len(headers))))
    sources_table = _table(
        "Every source",
        ["source", "articles", "first day", "last day"],
        [[s.name, s.articles, s.first_day, s.last_day] for s in report.sources],
        numeric=(1,),
        long=(0,),
    )
    return (
        '<section id="articles" aria-labelledby="h-articles"><h2 id="h-articles">Articles over time</h2>'
        + _figure("Articles per day, by source", chart, _legend(named, others, per_source) + numbers, wide=True)
        + f"<details><summary>All {len(report.sources):,} sources</summary>{sources_table}</details></section>"
    )


def _tally_figure(chart_id: str, caption: str, tallies: Sequence[object], what: str = "articles") -> str:
    rows = [(t.name, t.articles) for t in tallies]  # type: ignore[attr-defined]
    if not rows:
        return f"<figure><figcaption>{esc(caption)}</figcaption>{_empty('None recorded in range.')}</figure>"
    bars = [Bar(name, n, f"{n:,}") for name, n in rows]
    chart = bar_chart(chart_id, caption, bars)
    return _figure(caption, chart, _numbers(_table(caption, ["name", what], rows, numeric=(1,))))


def _entities_section(report: Report) -> str:
    figures = "".join(
        _tally_figure(f"chart-{kind}", caption, report.entities.get(kind, []))
        for kind, caption in (
            ("people", "Top people"),
            ("organizations", "Top organisations"),
            ("locations", "Top places"),
            ("countries", "Top countries"),
        )
    )
    return (
        '<section id="entities" aria-labelledby="h-entities"><h2 id="h-entities">Who and what is in the news</h2>'
        '<p class="note">Articles naming each, in range.</p>'
        f'<div class="grid four">{figures}</div></section>'
    )


def _clusters_section(report: Report) -> str:
    head = '<section id="clusters" aria-labelledby="h-clusters"><h2 id="h-clusters">Largest story clusters</h2>'
    if not report.clusters:
        return head + _empty("No story cluster of two or more articles in range.") + "</section>"
    bars = [
        Bar(c.title or c.cluster_id, c.in_range, f"{c.in_range:,} articles", note=f"· {len(c.sources)} sources")
        for c in report.clusters
    ]
    chart = bar_chart("chart-clusters", "Largest story clusters: articles in range", bars)
    table = _table(
        "Story clusters",
        ["cluster", "title", "in range", "in all", "sources", "first seen", "last seen"],
        [
            [c.cluster_id, c.title, c.in_range, c.size, len(c.sources), when(c.first_seen), when(c.last_seen)]
            for c in report.clusters
        ],
        numeric=(2, 3, 4),
        long=(1,),
    )
    cards: list[str] = []
    for c in report.clusters:
        members = "".join(
            f"<li>{safe_link(m.url, m.title or m.url or m.article_id)} "
            f'<span class="meta">· {esc(m.source)} · {esc(when(m.published_at) if m.published_at else "undated")}</span></li>'
            for m in c.members
        )
        more = c.in_range - len(c.members)
        cards.append(
            f'<div class="cluster"><h3>{esc(c.title or c.cluster_id)}</h3>'
            f'<p class="meta">{c.in_range:,} articles in range ({c.size:,} in all) from {len(c.sources):,} sources: '
            f"{esc(', '.join(c.sources))} · {esc((c.first_seen or '')[:10])} to {esc((c.last_seen or '')[:10])} · "
            f"id {esc(c.cluster_id)}</p>"
            f"<details{' open' if len(cards) < 3 else ''}><summary>{len(c.members):,} members</summary><ol>{members}</ol>"
            f"{_empty(f'… and {more:,} more (see --json)') if more > 0 else ''}</details></div>"
        )
    return head + _figure("Articles per story cluster", chart, _numbers(table)) + "".join(cards) + "</section>"


def _feeds_section(report: Report) -> str:
    feeds = report.feeds
    head = '<section id="feeds" aria-labelledby="h-feeds"><h2 id="h-feeds">Feed health</h2>'
    if not feeds.feeds:
        return (
            head
            + _empty("No feed was fetched in range (feeds read from files have no fetch to report).")
            + "</section>"
        )
    summary = (
        f"<p>{feeds.feeds:,} feeds, {feeds.fetches:,} fetches, "
        f'<span class="{"failing" if feeds.failing else ""}">{feeds.failing:,} failing</span>; '
        f"{esc(percent(feeds.not_modified_share))} of responses were 304 Not Modified; "
        f"median latency {_number(feeds.median_ms)} ms.</p>"
    )
    failing = [f for f in feeds.per_feed if f.failing]
    failing_table = (
        _table(
            "Failing feeds (their latest fetch gave nothing usable), longest streak first",
            ["feed", "failures in a row", "status", "error", "last success"],
            [
                [
                    _Markup(safe_link(f.url, f.url)),
                    f.streak,
                    f.status,
                    f"{f.error_class}: {f.error_message or ''}",
                    when(f.last_ok) if f.last_ok else "never",
                ]
                for f in failing
            ],
            numeric=(1, 2),
            long=(0, 3),
        )
        if failing
        else _empty("No feed is failing.")
    )
    ranked = sorted(feeds.per_feed, key=lambda f: (not f.failing, -(f.median_ms or 0), f.url))[:CHART_BARS]
    latency = bar_chart(
        "chart-latency",
        "Median fetch latency per feed",
        [
            Bar(
                f.url,
                f.median_ms or 0,
                f"{_number(f.median_ms)} ms" if f.median_ms is not None else "no response",
                BAD if f.failing else BAR,
                f"· failing, {f.streak} in a row" if f.failing else "",
            )
            for f in ranked
        ],
    )
    latency_numbers = _table(
        "Latency of the fetches that got a response",
        ["feed", "responses", "median ms", "p90 ms", "failing", "streak"],
        [[f.url, f.responses, f.median_ms, f.p90_ms, "yes" if f.failing else "no", f.streak] for f in ranked],
        numeric=(1, 2, 3, 5),
        long=(0,),
    )
    by_share = sorted(feeds.per_feed, key=lambda f: (-(f.not_modified_share or 0), f.url))[:CHART_BARS]
    shares = bar_chart(
        "chart-304",
        "Share of responses that were 304 Not Modified",
        [
            Bar(
                f.url,
                f.not_modified_share or 0,
                percent(f.not_modified_share) if f.responses else "no response",
                BAR,
                f"of {f.responses:,}" if f.responses else "",
            )
            for f in by_share
        ],
        maximum=1.0,
    )
    share_numbers = _table(
        "304 Not Modified answers",
        ["feed", "responses", "304s", "share"],
        [[f.url, f.responses, f.not_modified, percent(f.not_modified_share)] for f in by_share],
        numeric=(1, 2),
        long=(0,),
    )
    table = _table(
        "Every feed",
        [
            "feed",
            "fetches",
            "failures",
            "responses",
            "304s",
            "304 share",
            "median ms",
            "p90 ms",
            "streak",
            "last fetch",
        ],
        [
            [
                f.url,
                f.fetches,
                f.failures,
                f.responses,
                f.not_modified,
                percent(f.not_modified_share),
                f.median_ms,
                f.p90_ms,
                f.streak,
                when(f.last_fetch),
            ]
            for f in feeds.per_feed
        ],
        numeric=(1, 2, 3, 4, 6, 7, 8),
        long=(0,),
    )
    return (
        head
        + summary
        + failing_table
        + '<div class="grid">'
        + _figure("Latency (failing feeds first, then the slowest)", latency, _numbers(latency_numbers))
        + _figure("304 Not Modified share", shares, _numbers(share_numbers))
        + "</div>"
        + f"<details><summary>Every feed ({feeds.feeds:,})</summary>{table}</details>"
        + "</section>"
    )


def _failures_section(report: Report) -> str:
    repairs = (
        _figure(
            "Encoding repairs by kind",
            bar_chart(
                "chart-repairs",
                "Encoding repairs by kind",
                [Bar(r.kind, r.repairs, f"{r.repairs:,}", note=f"in {r.articles:,} articles") for r in report.repairs],
            ),
            _numbers(
                _table(
                    "Encoding repairs",
                    ["kind", "repairs", "articles"],
                    [[r.kind, r.repairs, r.articles] for r in report.repairs],
                    numeric=(1, 2),
                )
            ),
        )
        if report.repairs
        else f"<figure><figcaption>Encoding repairs by kind</figcaption>{_empty('No text needed repair.')}</figure>"
    )
    dead = (
        _figure(
            "Dead letters by stage and error",
            bar_chart(
                "chart-dead",
                "Dead letters by stage and error",
                [Bar(f"{d.stage}: {d.error_type}", d.count, f"{d.count:,}", BAD) for d in report.dead_letters],
            ),
            _numbers(
                _table(
                    "Dead letters",
                    ["stage", "error", "count", "last seen", "latest message"],
                    [[d.stage, d.error_type, d.count, when(d.last_seen), d.example] for d in report.dead_letters],
                    numeric=(2,),
                    long=(4,),
                )
            ),
        )
        if report.dead_letters
        else f"<figure><figcaption>Dead letters by stage and error</figcaption>{_empty('No dead letters.')}</figure>"
    )
    pages = report.pages
    page_figure = (
        _figure(
            "Pages not used, by reason",
            bar_chart(
                "chart-pages",
                "Articles whose page text was not used, by reason",
                [Bar(k.name, k.articles, f"{k.articles:,}") for k in pages.by_kind],
            ),
            _numbers(
                _table("By reason", ["reason", "articles"], [[k.name, k.articles] for k in pages.by_kind], numeric=(1,))
                + _table(
                    "By reason and host",
                    ["reason", "host", "articles"],
                    [[h.kind, h.host, h.articles] for h in pages.by_host],
                    numeric=(2,),
                )
            ),
        )
        if pages.failed
        else f"<figure><figcaption>Pages not used</figcaption>{_empty('Every page fetched gave its text.' if pages.from_page else 'No page failures recorded.')}</figure>"
    )
    return (
        '<section id="failures" aria-labelledby="h-failures"><h2 id="h-failures">Repairs and failures</h2>'
        f'<p class="note">{pages.from_page:,} articles took their text from their page; {pages.failed:,} kept the feed\'s '
        "text because the page could not be had or used.</p>"
        f'<div class="grid">{repairs}{dead}{page_figure}</div></section>'
    )


def _languages_section(report: Report) -> str:
    return (
        '<section id="languages" aria-labelledby="h-languages"><h2 id="h-languages">Languages and text source</h2>'
        '<div class="grid">'
        + _tally_figure("chart-languages", "Languages", report.languages)
        + _tally_figure("chart-text-source", "Where the text came from (page, feed, file)", report.text_sources)
        + "</div></section>"
    )


def _runs_section(report: Report) -> str:
    table = (
        _table(
            "Latest runs, newest first",
            ["run", "mode", "state", "started", "finished", "written", "dead letters"],
            [
                [r.run_id, r.mode, r.state, when(r.started_at), when(r.finished_at), r.written, r.dead_lettered]
                for r in report.runs
            ],
            numeric=(5, 6),
        )
        if report.runs
        else _empty("No run summary found.")
    )
    return f'<section id="runs" aria-labelledby="h-runs"><h2 id="h-runs">Runs</h2>{table}</section>'


def _footer(report: Report) -> str:
    items = [esc(note) for note in report.notes]
    items += [f"skipped {esc(s.path)}: {esc(s.reason)}" for s in report.skipped_files]
    notes = f"<h2>Notes</h2><ul>{''.join(f'<li>{i}</li>' for i in items)}</ul>" if items else ""
    versions = ", ".join(f"version {v['version']}: {v['articles']:,}" for v in report.schema_versions) or "none"
    return (
        f'<footer>{notes}<p class="note">Articles by schema version: {esc(versions)}. Ranges are inclusive UTC days: '
        "articles by publication day (ingest day when undated), dead letters and fetches by the day they happened. "
        f"Report format {report.report_version}.</p></footer>"
    )


def render_html(report: Report) -> str:
    """The whole page: header, sections, notes; one string, nothing to fetch."""
    title = f"newsbeam report — {report.output} ({range_text(report.range)})"
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
        f'<meta name="generator" content="newsbeam report"><title>{esc(title)}</title><style>{_CSS}</style></head><body>'
        + _header(report)
        + '<main id="main">'
        + _articles_section(report)
        + _clusters_section(report)
        + _entities_section(report)
        + _feeds_section(report)
        + _failures_section(report)
        + _languages_section(report)
        + _runs_section(report)
        + "</main>"
        + _footer(report)
        + "</body></html>\n"
    )
