"""The run summary: counters to ``runs/<run_id>.json`` and a short printed table.

Counts come from Beam metrics in the ``newsbeam`` namespace, so they are the
same on every runner that reports metrics. The reconciliation
``read == written + duplicates + dead_lettered + skipped`` (+ ``out_of_range``
when a publication date range is set) is computed and recorded, not assumed.
``skipped`` are records read and deliberately not written, each under a named
rule (a web archive's request records, its pages that are not articles).
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional, Sequence, TextIO

from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.runner import PipelineResult

from schemas import SCHEMA_VERSION, read_parquet
from transforms.errors import NAMESPACE
from transforms.sinks import join


def counters(result: PipelineResult) -> Optional[dict[str, int]]:
    """Every newsbeam counter of a finished run (committed values where the runner has them).

    None when the runner keeps no metrics (a Dataflow dry run, some
    portable runners): the summary then says so instead of failing.
    """
    try:
        query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    except (NotImplementedError, AttributeError):
        return None
    totals: dict[str, int] = {}
    for item in query["counters"]:
        value = item.committed if item.committed is not None else item.attempted
        totals[item.key.metric.name] = totals.get(item.key.metric.name, 0) + int(value or 0)
    return totals


def _grouped(values: Mapping[str, int], prefix: str) -> dict[str, int]:
    return {k[len(prefix) :]: v for k, v in sorted(values.items()) if k.startswith(prefix)}


def build_summary(
    metrics: Optional[Mapping[str, int]],
    *,
    run_id: str,
    inputs: list[str],
    output: str,
    options: Mapping[str, Any],
    started_at: str,
    finished_at: str,
    elapsed_seconds: float,
    state: str,
    feed_health: Sequence[Mapping[str, Any]] = (),
    date_range: Optional[Mapping[str, str]] = None,
    recovered: Sequence[str] = (),
) -> dict[str, Any]:
    values: Mapping[str, int] = metrics or {}
    read = values.get("read", 0)
    written = values.get("written", 0)
    duplicates = values.get("duplicates", 0)
    dead = values.get("dead_lettered", 0)
    skipped = values.get("skipped", 0)
    counts: dict[str, Any] = {
        "read": read,
        "written": written,
        "duplicates": duplicates,
        "dead_lettered": dead,
        "skipped": skipped,
    }
    if date_range is not None:
        counts["out_of_range"] = values.get("out_of_range", 0)
    # None: unknown (no metrics), never "yes" by default.
    counts["reconciled"] = (
        read == written + duplicates + dead + skipped + values.get("out_of_range", 0) if metrics is not None else None
    )
    return {
        "run_id": run_id,
        "schema_version": SCHEMA_VERSION,
        "state": state,
        "inputs": inputs,
        "output": output,
        "options": dict(options),
        "started_at": started_at,
        "finished_at": finished_at,
        "timings": {
            "elapsed_seconds": round(elapsed_seconds, 3),
            "articles_per_second": round(read / elapsed_seconds, 2) if elapsed_seconds > 0 else None,
        },
        "counts": counts,
        **({} if metrics is not None else {"metrics_note": "this runner reported no metrics: the counts are unknown"}),
        **({"recovered": list(recovered)} if recovered else {}),
        "existing": {
            "files_unreadable": values.get("existing_files_unreadable", 0),
            "ids_recomputed": values.get("existing_ids_recomputed", 0),
        },
        "skipped": {
            "records": _grouped(values, "skipped."),
            "files": _grouped(values, "files_skipped."),
            "opml_references_refused": values.get("opml_references_refused", 0),
            "file_names_replaced": values.get("file_names_replaced", 0),
        },
        **({"date_range": {**date_range, "undated_kept": values.get("undated_kept", 0)}} if date_range else {}),
        "duplicates": _grouped(values, "duplicates."),
        "dead_lettered_by_stage": _grouped(values, "dead_letter."),
        "documents": {
            "read": values.get("documents_read", 0),
            "bytes": values.get("bytes_read", 0),
            "opml_files": values.get("opml_files", 0),
            "by_format": _grouped(values, "documents."),
            # Files read in byte ranges by several workers (WARC): the ranges and the records they held.
            "ranges": values.get("file_ranges", 0),
            "records_in_ranges": values.get("records_read", 0),
        },
        "stages": {
            "parse": {"articles": values.get("articles_parsed", 0)},
            "repair_text": {
                "articles_repaired": values.get("articles_repaired", 0),
                "bodies_from_html": values.get("bodies_from_html", 0),
                "language_unknown": values.get("language_unknown", 0),
            },
            "extract_metadata": {
                "articles": values.get("articles_enriched", 0),
                "datelines_found": values.get("datelines_found", 0),
                "bylines_found": values.get("bylines_found", 0),
                "dates_parsed": values.get("dates_ok", 0),
                "dates_missing": values.get("dates_missing", 0),
                "dates_invalid": values.get("dates_invalid", 0),
            },
            "extract_entities": {
                "articles": values.get("entities.articles", 0),
                "mentions": values.get("entities.mentions", 0),
                "linked": values.get("entities.linked", 0),
                "skipped_language": values.get("entities.skipped_language", 0),
                "empty_text": values.get("entities.empty_text", 0),
                "truncated": values.get("entities.truncated", 0),
            },
            "write": {
                "article_files": values.get("files.articles", 0),
                "dead_letter_files": values.get("files.dead_letter", 0),
            },
        },
        "feeds": {
            "fetched": values.get("feeds.fetched", 0),
            "not_modified": values.get("feeds.not_modified", 0),
            "failed": values.get("feeds.failed", 0),
            "failing": values.get("feeds.failing", 0),
            "retries": values.get("feeds.retries", 0),
            "redirects": values.get("feeds.redirects", 0),
            "bytes": values.get("bytes_fetched", 0),
            "opml_lists": values.get("opml_fetched", 0),
            "over_entry_limit": values.get("feeds.over_entry_limit", 0),
            "documents_capped": values.get("documents_capped", 0),
            "entries_capped": values.get("entries_capped", 0),
        },
        "failing_feeds": failing_feeds(feed_health),
        "pages": page_counts(values, options.get("full_text")),
        "clusters": cluster_counts(values, options.get("clusters")),
        "repairs": _grouped(values, "repairs."),
        "counters": dict(sorted(values.items())),
    }


def latest_per_feed(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each feed's last health row of a stream run (one row per poll)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["fetched_at"]):
        latest[row["url"]] = row
    return list(latest.values())


def stream_counts(reports: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """A stream run's totals: the sum of its window reports."""
    totals: dict[str, int] = {}
    for report in reports:
        for kind, count in report["counts"].items():
            totals[kind] = totals.get(kind, 0) + int(count)
    return totals


STREAM_METRICS_NOTE = (
    "counts, dead letters by stage, feeds and pages (their bytes aside) come from the window reports; the per-stage counters, "
    "repairs and entities come from Beam metrics, which the local streaming runner reports for the "
    "first bundle of each step only"
)


def with_window_reports(
    summary: dict[str, Any],
    reports: Sequence[Mapping[str, Any]],
    polls: Optional[int] = None,
    abandoned: Optional[int] = None,
) -> dict[str, Any]:
    """A stream's summary with its counts rebuilt from its window reports (the data), not Beam metrics.

    The local streaming runner's metrics keep only each step's first bundle,
    so the counts that must reconcile, the dead letters by stage and the feed
    totals are the sums of the window reports the stream wrote; ``polls`` and
    ``abandoned`` are the tick server's (None on a remote runner).
    """
    totals = stream_counts(reports)
    read, written = totals.get("read", 0), totals.get("written", 0)
    duplicates, dead = totals.get("duplicates", 0), totals.get("dead_lettered", 0)
    skipped = totals.get("skipped", 0)
    summary["counts"] = {
        "read": read,
        "written": written,
        "duplicates": duplicates,
        "dead_lettered": dead,
        "skipped": skipped,
        "reconciled": read == written + duplicates + dead + skipped,
    }
    summary["skipped"]["records"] = {
        k.removeprefix("skipped."): v for k, v in sorted(totals.items()) if k.startswith("skipped.")
    }
    summary["dead_lettered_by_stage"] = {
        k.removeprefix("dead_letter."): v for k, v in sorted(totals.items()) if k.startswith("dead_letter.")
    }
    summary["feeds"].update(
        fetched=totals.get("polled", 0) - totals.get("failed", 0) - totals.get("not_modified", 0),
        not_modified=totals.get("not_modified", 0),
        failed=totals.get("failed", 0),
        bytes=totals.get("bytes", 0),
        **{key: totals.get(key, 0) for key in ("skipped_not_due", "skipped_in_flight", "skipped_abandoned")},
    )
    if "pages" in summary:
        summary["pages"] = page_counts(totals, summary["pages"]["full_text"])
    if "clusters" in summary:
        summary["clusters"] = cluster_counts(totals, summary["clusters"]["enabled"])
    summary["metrics_note"] = STREAM_METRICS_NOTE
    summary["stream"] = {"polls": polls, "abandoned_fetches": abandoned, "windows": list(reports)}
    return summary


def failing_feeds(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The feeds of this run that gave nothing usable, longest failure streak first."""
    failing = [
        {
            "url": row["url"],
            "status": row["status"],
            "error_class": row["error_class"],
            "error_message": row["error_message"],
            "consecutive_failures": row["consecutive_failures"],
        }
        for row in rows
        if row.get("error_class")
    ]
    return sorted(failing, key=lambda f: (-f["consecutive_failures"], f["url"]))


def write_summary(output: str, summary: Mapping[str, Any]) -> str:
    """Writes ``runs/<run_id>.json`` under ``output``; returns its path."""
    runs = join(output, "runs")
    if not FileSystems.exists(runs):
        FileSystems.mkdirs(runs)
    path = join(runs, f"{summary['run_id']}.json")
    with FileSystems.create(path, mime_type="application/json") as handle:
        handle.write(json.dumps(summary, indent=2, sort_keys=False).encode("utf-8"))
    return path


def page_counts(values: Mapping[str, int], full_text: Any) -> dict[str, Any]:
    """What full text did: pages fetched and why not, and where each article's text came from.

    ``requested`` is every page within budget the step set out to get:
    ``fetched + not_modified + robots_blocked + failed + refused`` (refused:
    before any request, a special-use name or a non-public address).
    ``text_from`` counts every article the step saw (``page`` + ``feed`` are
    the new feed entries, ``file`` the articles read from files); ``page_errors`` says why an article
    kept the feed's text (robots, budget, http_404, paywall, …;
    ``transforms.pages.PAGE_ERRORS``). ``from_archive``: pages taken from
    newsbeam's own web archives read as input, not fetched (not in ``requested``);
    ``archived_unclaimed``: archived page fetches for entries this run does not hold.
    """
    return {
        "full_text": full_text,
        "requested": values.get("pages.requested", 0),
        "fetched": values.get("pages.fetched", 0),
        "not_modified": values.get("pages.not_modified", 0),
        "robots_blocked": values.get("pages.robots_blocked", 0),
        "robots_txt_fetched": values.get("pages.robots_fetched", 0),
        "failed": values.get("pages.failed", 0),
        "refused": values.get("pages.refused", 0),
        "bytes": values.get("pages.bytes", 0),
        "no_link": values.get("pages.no_link", 0),
        "from_archive": values.get("pages.from_archive", 0),
        "archived_unclaimed": values.get("pages.archived_unclaimed", 0),
        "text_from": {source: values.get(f"text_from.{source}", 0) for source in ("page", "feed", "file")},
        "page_errors": _grouped(values, "page_error."),
    }


def cluster_counts(values: Mapping[str, int], enabled: Any) -> dict[str, Any]:
    """What story clustering did (``transforms.clusters``): the written articles that are copies of a story.

    ``clustered``: articles written into a cluster of two or more; ``cluster_rows``: rows added to
    ``clusters/`` (a batch run: one per cluster it added to); ``merges``: earlier clusters joined into
    another; ``signed``/``short_texts``: articles compared by likeness, and those too short for it
    (matched on identical content only); ``past_members``: earlier articles read back (within the
    lookback), ``past_candidates``: those sharing a key with a new article (only they are compared).
    """
    return {
        "enabled": enabled is not False,
        "clustered": values.get("clustered_articles", 0),
        "cluster_rows": values.get("cluster_rows", 0),
        "merges": values.get("cluster_merges", 0),
        "signed": values.get("cluster_signed", 0),
        "short_texts": values.get("cluster_short_texts", 0),
        "past_members": values.get("cluster_past_members", 0),
        "past_candidates": values.get("cluster_past_candidates", 0),
    }


def _cluster_lines(summary: Mapping[str, Any]) -> list[str]:
    clusters = summary.get("clusters")
    if not clusters:
        return []
    if not clusters["enabled"]:
        return ["  clusters                off (--clusters off)"]
    return [
        f"  story clusters {clusters['cluster_rows']:>8}  "
        + _inline({k: clusters[k] for k in ("clustered", "merges", "short_texts")})
    ]


def _page_lines(summary: Mapping[str, Any]) -> list[str]:
    pages = summary.get("pages")
    if not pages:
        return []
    if pages["full_text"] is False:
        return ["  pages                   not fetched (--full-text off): text is the feed's"]
    text_from = pages["text_from"]
    if not pages["requested"] and not text_from["page"] and not text_from["feed"] and not pages["archived_unclaimed"]:
        return []
    errors = pages["page_errors"]
    lines = [
        f"  pages fetched  {pages['fetched']:>8}  "
        + _inline({k: pages[k] for k in ("not_modified", "robots_blocked", "failed", "refused", "robots_txt_fetched")}),
        f"  text from page {text_from['page']:>8}  (feed: {text_from['feed']}) {_inline(errors)}".rstrip(),
    ]
    if pages.get("from_archive"):
        lines.insert(1, f"  pages archived {pages['from_archive']:>8}  (read from web archives given as input)")
    if pages.get("archived_unclaimed"):
        lines.append(
            f"    {pages['archived_unclaimed']} archived page fetches are for entries this run does not hold (their feed "
            "was not given, or they are written already); --full-text off reads them as pages of their own"
        )
    if pages["refused"] == pages["requested"] and errors.get("reserved_name"):
        lines.append(
            "    no page was requested: the links are on special-use names (.example, .invalid, .test) that never "
            "resolve, so nothing was looked up"
        )
    return lines


def print_summary(summary: Mapping[str, Any], path: str, out: TextIO) -> None:
    counts = summary["counts"]
    timings = summary["timings"]
    entities = summary["stages"]["extract_entities"]
    lines = [
        f"newsbeam run {summary['run_id']}: {summary['state']} in {timings['elapsed_seconds']:.1f}s",
        f"  read           {counts['read']:>8}",
        f"  written        {counts['written']:>8}",
        f"  duplicates     {counts['duplicates']:>8}  {_inline(summary['duplicates'])}",
        f"  dead-lettered  {counts['dead_lettered']:>8}  {_inline(summary['dead_lettered_by_stage'])}",
        *(
            [f"  skipped        {counts['skipped']:>8}  {_inline(summary['skipped']['records'])}"]
            if counts.get("skipped")
            else []
        ),
        *(
            [f"  out of range   {counts['out_of_range']:>8}  ({_range_text(summary['date_range'])})"]
            if "out_of_range" in counts
            else []
        ),
        f"  repairs        {sum(summary['repairs'].values()):>8}  {_inline(summary['repairs'])}",
        f"  entities       {entities['mentions']:>8}  {_inline({k: v for k, v in entities.items() if k != 'mentions'})}",
        *_feed_lines(summary),
        *_page_lines(summary),
        *_cluster_lines(summary),
        *_skipped_lines(summary),
        *(f"  recovered: {note}" for note in summary.get("recovered", [])),
        f"  counts reconcile: {_reconciled_text(counts['reconciled'])}",
        f"  summary: {path}",
    ]
    out.write("\n".join(lines) + "\n")


def _range_text(date_range: Mapping[str, Any]) -> str:
    return f"published {date_range['since']} to {date_range['until']}, undated kept={date_range['undated_kept']}"


def _feed_lines(summary: Mapping[str, Any]) -> list[str]:
    feeds = summary["feeds"]
    fetched = feeds["fetched"] + feeds["not_modified"] + feeds["failed"]
    if not fetched and not summary["failing_feeds"]:
        return []
    details = {k: v for k, v in feeds.items() if k not in ("fetched", "failing")}
    lines = [f"  feeds fetched  {feeds['fetched']:>8}  {_inline(details)}"]
    failing = summary["failing_feeds"]
    lines.append(f"  feeds failing  {len(failing):>8}")
    for feed in failing[:20]:
        streak = f", {feed['consecutive_failures']} runs in a row" if feed["consecutive_failures"] > 1 else ""
        lines.append(f"    {feed['url']}: {feed['error_class']}: {feed['error_message']}{streak}")
    if len(failing) > 20:
        lines.append(f"    … and {len(failing) - 20} more (see feed_health/ and the run summary)")
    return lines


def _reconciled_text(reconciled: Optional[bool]) -> str:
    if reconciled is None:
        return "unknown (the runner reported no metrics)"
    return "yes" if reconciled else "NO"


def _skipped_lines(summary: Mapping[str, Any]) -> list[str]:
    skipped = summary.get("skipped", {})
    files = skipped.get("files", {})
    lines = []
    if any(files.values()):
        lines.append(f"  files skipped  {sum(files.values()):>8}  {_inline(files)}")
    if skipped.get("opml_references_refused"):
        lines.append(
            f"  refused paths  {skipped['opml_references_refused']:>8}  (feed list references: see dead_letter/)"
        )
    unreadable = summary.get("existing", {}).get("files_unreadable")
    if unreadable:
        lines.append(f"  damaged files  {unreadable:>8}  (under the output, left alone: see the warnings above)")
    if skipped.get("file_names_replaced"):
        lines.append(f"  file names     {skipped['file_names_replaced']:>8}  (not valid UTF-8: stored with U+FFFD)")
    return lines


def _inline(values: Mapping[str, int]) -> str:
    shown = [f"{k}={v}" for k, v in values.items() if v]
    return f"({', '.join(shown)})" if shown else ""


def nothing_read(summary: Mapping[str, Any]) -> bool:
    """Whether a run read no document and got no feed at all (every input missing, refused or failing)."""
    if summary["counts"]["reconciled"] is None:
        return False  # the runner kept no counts: unknown, not nothing
    feeds = summary["feeds"]
    return not (summary["documents"]["read"] or feeds["fetched"] or feeds["not_modified"])


#: Dead letters worth a line on stderr at the end of a run: inputs the user named that gave nothing.
_INPUT_STAGES = ("source",)
_REFUSALS = ("BlockedPath", "NotARegularFile")


def input_problems(output: str, run_id: str) -> list[str]:
    """One line per input of this run that could not be read (from its dead letters), for stderr."""
    pattern = join(output, "dead_letter", "*", f"part-{run_id}-*.parquet")
    try:
        files = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
    except Exception:  # noqa: BLE001 - no dead letters
        return []
    lines = []
    for path in sorted(files):
        with FileSystems.open(path) as handle:
            table = read_parquet(handle, columns=["stage", "error_type", "message"])
        for row in table.to_pylist():
            if row["stage"] in _INPUT_STAGES or row["error_type"] in _REFUSALS:
                lines.append(f"{row['error_type']}: {row['message']}")
    return sorted(set(lines))
