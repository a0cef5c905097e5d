"""``newsbeam report DIR``: what an output folder holds, read back with DuckDB.

``collect`` (``collect.py``) reads a folder newsbeam wrote (batch or
stream, any schema version, possibly empty) and returns a ``Report``
(``shape.py``): plain data, no formatting. Three renderers turn it into
the terminal text (``text.render_text``), JSON for dashboards
(``text.render_json``) and one self-contained HTML page
(``page.render_html``); ``run_report`` is the command.

Range (``--since``/``--until``, both inclusive, UTC days): articles by their
publication day, their ingest day when they have none or an implausible
one (the day their ``published_date=`` partition names); dead letters by the
day they failed; feed fetches by the day they were made; story clusters by
their member articles in the range.

JSON (``render_json``; ``REPORT_VERSION`` is bumped when a key changes
meaning or goes away; keys are only ever added): dates are ``YYYY-MM-DD``,
times ``YYYY-MM-DDTHH:MM:SSZ`` (UTC), absent values ``null``, lists always
present (possibly empty).

* ``report_version``, ``output``, ``generated_at``, ``range`` {``since``, ``until``}
* ``totals`` {``articles``, ``sources``, ``days``, ``first_day``, ``last_day``,
  ``dead_letters``, ``feeds``, ``failing_feeds``, ``clusters``,
  ``articles_in_clusters``, ``page_failures``, ``repairs``}
* ``coverage`` {``articles``, ``with_entities``, ``with_text_source``, ``with_clusters``}:
  how many articles in range were written by versions that record each
* ``schema_versions`` [{``version``, ``articles``}]
* ``articles_per_day`` [{``day``, ``source``, ``articles``}]
* ``sources`` [{``name``, ``articles``, ``first_day``, ``last_day``}] (all, most articles first)
* ``languages``, ``text_sources`` [{``name``, ``articles``}]
* ``entities`` {``people``, ``organizations``, ``locations``, ``countries``}: [{``name``, ``articles``}] (top N)
* ``clusters`` [{``cluster_id``, ``title``, ``size``, ``in_range``, ``first_seen``, ``last_seen``,
  ``sources``, ``members`` [{``article_id``, ``title``, ``source``, ``url``, ``published_at``}]}]
  (top N by members in range; at most ``MEMBER_LIMIT`` members each)
* ``repairs`` [{``kind``, ``repairs``, ``articles``}]
* ``dead_letters`` [{``stage``, ``error_type``, ``count``, ``last_seen``, ``example``}]
* ``feeds`` {``feeds``, ``fetches``, ``responses``, ``not_modified``, ``not_modified_share``,
  ``median_ms``, ``failing``, ``per_feed`` [{``url``, ``kind``, ``fetches``, ``failures``,
  ``responses``, ``not_modified``, ``not_modified_share``, ``median_ms``, ``p90_ms``,
  ``status``, ``error_class``, ``error_message``, ``streak``, ``last_fetch``, ``last_ok``,
  ``failing``}]} (failing feeds first, longest streak first)
* ``pages`` {``from_page``, ``failed``, ``by_kind`` [{``name``, ``articles``}],
  ``by_host`` [{``kind``, ``host``, ``articles``}] (top N)}
* ``runs`` [{``run_id``, ``mode``, ``state``, ``started_at``, ``finished_at``, ``written``,
  ``dead_lettered``}] (latest N, whatever the range)
* ``skipped_files`` [{``path``, ``reason``}], ``notes`` [str]
"""

from __future__ import annotations

from typing import Optional, TextIO

import duckdb

from pipeline.report.collect import DayRange, collect, day_range
from pipeline.report.page import render_html
from pipeline.report.shape import DEFAULT_TOP, REPORT_VERSION, Report, ReportError
from pipeline.report.text import render_json, render_text

__all__ = [
    "DEFAULT_TOP",
    "REPORT_VERSION",
    "DayRange",
    "Report",
    "ReportError",
    "collect",
    "day_range",
    "render_html",
    "render_json",
    "render_text",
    "run_report",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _write(path: str, text: str) -> None:
    """Writes a report file; a path that cannot be written is the user's to fix (ReportError, one line)."""
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        raise ReportError(f"cannot write {path}: {error.strerror or error}") from None


def run_report(
    output: str,
    *,
    since: Optional[str] = None,
    until: Optional[str] = None,
    html: Optional[str] = None,
    json_to: Optional[str] = None,
    top: int = DEFAULT_TOP,
    out: TextIO,
    err: TextIO,
) -> int:
    """``newsbeam report``: collect, then print and write what was asked; one line and exit 2 on a usage problem."""
    try:
        report = collect(output, day_range(since, until), top)
        if html is not None:
            _write(html, render_html(report))
        if json_to not in (None, "-"):
            _write(json_to, render_json(report))
    except ReportError as error:
        err.write(f"newsbeam: error: {error}\n")
        return EXIT_USAGE
    except duckdb.Error as error:
        err.write(f"newsbeam: error: cannot read {output}: {str(error).splitlines()[0]}\n")
        return EXIT_FAILED
    out.write(render_json(report) if json_to == "-" else render_text(report))
    for path, what in ((html, "HTML report"), (json_to if json_to != "-" else None, "JSON report")):
        if path is not None:
            err.write(f"newsbeam: {what} written to {path}\n")
    return EXIT_OK
