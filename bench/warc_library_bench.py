"""Which WARC library reads CC-NEWS files right and fast, and what the pipeline costs over a plain extractor loop.

Why: WARC input (issue 15) needs a reader that undoes what crawlers store
(chunked transfer, gzip/deflate/brotli content encoding, or Common Crawl's
decoded payload under renamed ``X-Crawler-*`` headers) on files of about
1 GB, and a pipeline that does not cost much more than the extraction it
runs. Both are questions of measurement on one file, with ratios taken in the
same run so that they survive a noisy shared machine.

What, on one ``.warc.gz`` made by ``bench/warc_corpus.py`` (its JSON sidecar
gives each response's decoded-body SHA-1, kind and how it was stored):

1. **Library choice.** Every record of the file, and for each response its
   HTTP headers (status, Content-Type) and its decoded body, read by
   (a) fastwarc's ``ArchiveIterator(auto_decode="all")`` (HTTP parsed by the
   iterator), (b) warcio's ``ArchiveIterator`` and ``content_stream()``,
   (c) newsbeam's own path: ``warc_io.read_range`` over every range
   ``plan_ranges`` gives, and ``warc.read_exchange`` (fastwarc on one record's
   bytes) for each ``Piece``. (a0) is fastwarc's iterator without decoding,
   shown as the speed of iteration alone (its encoded bodies are wrong by
   design). For each: records/s, compressed MB/s, and correctness against the
   sidecar: responses read right, bodies whose SHA-1 matches, and the wrong
   ones by how they were stored and by kind. (c) keeps only HTML pages with a
   2xx status: a non-HTML, redirect or error response is right when it is
   skipped under its rule (``warc.non_html``, ``warc.redirect``,
   ``warc.http_error``). A reader whose iteration ends early (an exception,
   or silently) is marked so, and its rates cover what it read.
2. **Extractor loop vs pipeline.** (d) a plain Python loop: every ``Piece``
   of ``read_range`` through ``warc.page_outcomes`` (fastwarc, decoding and
   the HTML extractor with page kinds, ``keep_non_articles=False``, as the
   pipeline calls them), counting articles; (e) the whole pipeline,
   ``newsbeam ingest FILE --output TMP --runner DirectRunner
   --direct_num_workers 1 --entities off --clusters off --full-text off`` in a
   subprocess, wall time around it and its counts from ``TMP/runs/*.json``.
   Both use one core (one DirectRunner worker), so their rates are per core.
   The ratio (e)/(d) is the issue's goal (>= 0.85 in throughput); it is given
   raw and with Beam's fixed start-up subtracted: an ingest of a WARC of one
   record (the file's first article, copied), timed the same way in every run.
   (e) also repairs text, reads metadata, identifies and writes Parquet: the
   ratio is what the whole pipeline costs against the extraction alone.

Each run does every measurement once, in the order above; medians over
``--runs`` are reported with each run's ratios beside them. Correctness is
checked once (it does not change between runs), outside the timed passes.
The machine is shared (2 cores): run one bench at a time and read the
figures as noisy.

How to run (the corpus goes outside the repository):

    .venv/bin/python bench/warc_corpus.py /tmp/w15lib/cc.warc.gz --records 2000
    .venv/bin/python bench/warc_library_bench.py /tmp/w15lib/cc.warc.gz [--runs 3] [--out results.json]

Flags: ``WARC`` the file (its sidecar ``WARC.json`` beside it); ``--runs``
runs of every measurement (default 3); ``--out`` also writes every figure as
JSON; ``--workdir`` where pipeline outputs and the one-record WARC go
(default: a new temporary folder, removed at the end); ``--skip-pipeline``
measures part 1 and the loop (d) only.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Optional, Sequence, Union

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pipeline  # noqa: E402,F401  # first: it quiets Beam's import-time log noise

# isort: split
from apache_beam.utils.timestamp import Timestamp  # noqa: E402
from fastwarc.warc import ArchiveIterator as FastwarcIterator  # noqa: E402
from fastwarc.warc import WarcRecordType  # noqa: E402
from warcio.archiveiterator import ArchiveIterator as WarcioIterator  # noqa: E402

from schemas import RawArticle, RawRecord  # noqa: E402
from transforms.formats.base import Broken, Failure, Piece, Skipped  # noqa: E402
from transforms.formats.warc import Exchange, WarcSettings, page_outcomes, read_exchange, read_warc_range  # noqa: E402
from transforms.formats.warc_io import plan_ranges  # noqa: E402
from transforms.sources import MAX_FILE_MB, MB  # noqa: E402

#: What each kind of response should come to through newsbeam's path (c): a body, or a skip under this rule.
SKIP_RULE_BY_KIND = {"non_html": "warc.non_html", "redirect": "warc.redirect", "error": "warc.http_error"}
#: The pipeline's own record limit (``--max-file-mb``'s default), which the loop passes to the range reader too.
LIMIT = MAX_FILE_MB * MB


# --------------------------------------------------------------------------
# The corpus and its truth
# --------------------------------------------------------------------------


class Truth(NamedTuple):
    """The sidecar's answers: each response by record id and by offset, and the file's totals."""

    by_id: dict[str, dict[str, Any]]
    by_offset: dict[int, dict[str, Any]]
    records: int
    #: Where each record starts in the file (only for a file of one gzip member a record; else empty).
    starts: list[int]
    size: int


def load_truth(path: Path) -> Truth:
    """The sidecar ``bench/warc_corpus.py`` wrote beside ``path``."""
    sidecar = json.loads(Path(f"{path}.json").read_text(encoding="utf-8"))
    responses = sidecar["responses"]
    in_file = sidecar.get("offsets_in") == "file"
    return Truth(
        by_id={r["record_id"]: r for r in responses},
        by_offset={r["offset"]: r for r in responses} if in_file else {},
        records=sidecar["records"]["total"],
        starts=[offset for _, offset in sidecar["record_offsets"]] if in_file else [],
        size=path.stat().st_size,
    )


def stored_as(response: dict[str, Any]) -> str:
    """How a response was stored, i.e. what a reader must undo: ``br on the wire``, ``gzip+chunked, CC-renamed`` …"""
    encoding = response.get("content_encoding") or "identity"
    transfer = "+chunked" if response.get("chunked") else ""
    where = "CC-renamed" if response.get("stored") == "decoded" else "on the wire"
    return f"{encoding}{transfer}, {where}"


def bytes_covered(truth: Truth, records: int) -> int:
    """Compressed bytes of the file's first ``records`` records (all of it when the reader read them all)."""
    if records >= truth.records:
        return truth.size
    if truth.starts:
        return truth.starts[records]
    return truth.size * records // max(truth.records, 1)


# --------------------------------------------------------------------------
# The readers: one Seen per record, in file order
# --------------------------------------------------------------------------


class Seen(NamedTuple):
    """One record as a reader saw it: a key to find it in the truth, and its decoded body, skip rule or error."""

    key: Union[str, int, None]  # WARC-Record-ID (a, b) or offset in the file (c); None for a record that is no response
    body: Optional[bytes] = None
    status: Optional[int] = None
    content_type: Optional[str] = None
    rule: Optional[str] = None  # newsbeam's path: the rule a record was skipped under
    error: Optional[str] = None


Reader = Callable[[Path], Iterator[Seen]]


def read_fastwarc(path: Path, decode: bool = True) -> Iterator[Seen]:
    """fastwarc's iterator reading the file natively, HTTP parsed by it, bodies decoded when ``decode``."""
    iterator = FastwarcIterator(str(path), parse_http=True, auto_decode="all" if decode else "none", fsspec_args=False)
    for record in iterator:
        if record.record_type != WarcRecordType.response:
            yield Seen(None)
            continue
        key = record.headers.get("WARC-Record-ID")
        try:
            http = record.http_headers
            status = http.status_code if http is not None else None
            content_type = http.get("Content-Type") if http is not None else None
            body = record.reader.read()
        except (OSError, ValueError) as error:
            yield Seen(key, error=f"{type(error).__name__}: {error}")
            continue
        yield Seen(key, body, status, content_type)


def read_fastwarc_raw(path: Path) -> Iterator[Seen]:
    """fastwarc's iterator without decoding: bodies as stored (the speed of iteration alone)."""
    return read_fastwarc(path, decode=False)


def read_warcio(path: Path) -> Iterator[Seen]:
    """warcio's iterator; ``content_stream()`` undoes chunked transfer and content encoding."""
    with open(path, "rb") as stream:
        for record in WarcioIterator(stream):
            if record.rec_type != "response":
                yield Seen(None)
                continue
            key = record.rec_headers.get_header("WARC-Record-ID")
            try:
                http = record.http_headers
                status = int(http.get_statuscode()) if http is not None else None
                content_type = http.get_header("Content-Type") if http is not None else None
                body = record.content_stream().read()
            except Exception as error:  # noqa: BLE001 - a library failing on one record is what is measured
                yield Seen(key, error=f"{type(error).__name__}: {error}")
                continue
            yield Seen(key, body, status, content_type)


def read_newsbeam(path: Path) -> Iterator[Seen]:
    """newsbeam's path: every planned range through ``read_warc_range``, each Piece through ``read_exchange``."""
    settings = WarcSettings()
    size = path.stat().st_size
    with open(path, "rb") as raw:
        for start, end in plan_ranges(raw, size, settings.range_bytes):
            for read in read_warc_range(raw, start, end, size, LIMIT):
                if isinstance(read, Skipped):
                    yield Seen(None, rule=read.rule)
                elif isinstance(read, Broken):
                    yield Seen(read.position, error=f"{type(read.error).__name__}: {read.error}")
                else:
                    yield _exchange_seen(read)


def _exchange_seen(piece: Piece) -> Seen:
    try:
        got = read_exchange(piece.payload)
    except Exception as error:  # noqa: BLE001 - an unreadable record is a result here, not a crash
        return Seen(piece.position, error=f"{type(error).__name__}: {error}")
    if isinstance(got, Exchange):
        return Seen(piece.position, got.body, got.status, got.content_type)
    return Seen(piece.position, rule=got.rule)


READERS: dict[str, tuple[str, Reader]] = {
    "a0": ("fastwarc, no decoding (iteration alone)", read_fastwarc_raw),
    "a": ('fastwarc ArchiveIterator, auto_decode="all"', read_fastwarc),
    "b": ("warcio ArchiveIterator + content_stream()", read_warcio),
    "c": ("newsbeam: read_range + read_exchange", read_newsbeam),
}
#: The reader the others' speed is compared with: the one newsbeam uses.
REFERENCE = "c"


# --------------------------------------------------------------------------
# Timing and checking a reader
# --------------------------------------------------------------------------


class Pass(NamedTuple):
    """One timed pass of a reader over the file."""

    seconds: float
    records: int
    responses: int
    body_bytes: int
    #: How iteration ended before the file's last record: the exception, or "silently"; None when it read them all.
    stopped: Optional[str]


def timed_pass(reader: Reader, path: Path, truth: Truth) -> Pass:
    """Every record through ``reader``, headers and bodies read, nothing else done; the time it took."""
    records = responses = body_bytes = 0
    stopped: Optional[str] = None
    started = time.perf_counter()
    try:
        for seen in reader(path):
            records += 1
            if seen.key is not None:
                responses += 1
                body_bytes += len(seen.body or b"")
    except Exception as error:  # noqa: BLE001 - a reader that ends the file early is a result
        stopped = f"{type(error).__name__}: {error}"
    seconds = time.perf_counter() - started
    if stopped is None and records < truth.records:
        stopped = "silently"
    return Pass(seconds, records, responses, body_bytes, stopped)


class Check(NamedTuple):
    """A reader's answers against the sidecar."""

    responses: int  # in the sidecar
    right: int  # the expected body (SHA-1), or for newsbeam's path the expected skip
    bodies_matched: int
    bodies_expected: int
    wrong_by_storage: dict[str, int]
    wrong_by_kind: dict[str, int]
    errors: dict[str, int]  # error messages (first 80 characters) and how often
    stopped: Optional[str]
    records: int
    #: The last response read before iteration ended early (its kind and how it was stored); None when it did not.
    last_reached: Optional[str]


def _response_of(seen: Seen, truth: Truth) -> Optional[dict[str, Any]]:
    if isinstance(seen.key, str):
        return truth.by_id.get(seen.key)
    if isinstance(seen.key, int):
        return truth.by_offset.get(seen.key)
    return None


def expected_body(response: dict[str, Any], keeps_pages_only: bool) -> bool:
    """Whether a reader must give this response's body (newsbeam's path gives pages only, and skips the rest)."""
    return not keeps_pages_only or response["kind"] not in SKIP_RULE_BY_KIND


def judge(seen: Seen, response: dict[str, Any], keeps_pages_only: bool) -> bool:
    """Whether ``seen`` is what the sidecar says a reader must give for ``response``."""
    if seen.error is not None:
        return False
    if expected_body(response, keeps_pages_only):
        return seen.body is not None and hashlib.sha1(seen.body).hexdigest() == response["body_sha1"]
    return seen.rule == SKIP_RULE_BY_KIND[response["kind"]]


def check_reader(reader: Reader, path: Path, truth: Truth, keeps_pages_only: bool) -> Check:
    """Every response ``reader`` gives compared with the sidecar; a response never reached counts as wrong."""
    right = matched = records = 0
    wrong_storage: Counter[str] = Counter()
    wrong_kind: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    reached: set[str] = set()
    stopped: Optional[str] = None
    last: Optional[dict[str, Any]] = None
    try:
        for seen in reader(path):
            records += 1
            response = _response_of(seen, truth)
            if response is None:
                continue
            reached.add(response["record_id"])
            last = response
            if seen.error is not None:
                errors[seen.error[:80]] += 1
            if judge(seen, response, keeps_pages_only):
                right += 1
                matched += expected_body(response, keeps_pages_only)
            else:
                wrong_storage[stored_as(response)] += 1
                wrong_kind[response["kind"]] += 1
    except Exception as error:  # noqa: BLE001 - a reader that ends the file early is a result
        stopped = f"{type(error).__name__}: {error}"
    if stopped is None and records < truth.records:
        stopped = "silently"
    missed = [r for rid, r in truth.by_id.items() if rid not in reached]
    for response in missed:
        wrong_storage["not reached"] += 1
        wrong_kind[response["kind"]] += 1
    expected = sum(expected_body(r, keeps_pages_only) for r in truth.by_id.values())
    return Check(
        len(truth.by_id),
        right,
        matched,
        expected,
        dict(wrong_storage.most_common()),
        dict(wrong_kind.most_common()),
        dict(errors.most_common()),
        stopped,
        records,
        f"{last['kind']}, {stored_as(last)}" if stopped and last else None,
    )


# --------------------------------------------------------------------------
# The extractor loop (d) and the pipeline (e)
# --------------------------------------------------------------------------


class Timed(NamedTuple):
    """One run of the loop or the pipeline: wall and CPU seconds, records read, articles, and what else it counted."""

    seconds: float
    cpu_seconds: float
    records: int
    articles: int
    counts: dict[str, int]


def pieces(path: Path) -> Iterator[Union[Piece, Skipped, Broken]]:
    """Every record of the file as the pipeline's range reader gives it (bookkeeping records skipped unread)."""
    size = path.stat().st_size
    with open(path, "rb") as raw:
        for start, end in plan_ranges(raw, size, WarcSettings().range_bytes):
            yield from read_warc_range(raw, start, end, size, LIMIT)


def record_of(path: Path, ordinal: int, piece: Piece, fetched_at: Timestamp) -> RawRecord:
    """The RawRecord the pipeline makes of a Piece (``ReadFileRanges``)."""
    return RawRecord(str(path), "warc", ordinal, piece.position, piece.payload, fetched_at, None)


def extractor_loop(path: Path, truth: Truth) -> Timed:
    """(d): every record through ``page_outcomes`` in a plain loop, as the pipeline's parse step calls it.

    Articles are also counted by the sidecar's kind of their response
    (``article_from.<kind>``): what the page-kind rules let through.
    """
    settings = WarcSettings()
    counts: Counter[str] = Counter()
    records = articles = 0
    fetched_at = Timestamp.of(time.time())
    started, cpu = time.perf_counter(), time.process_time()
    for read in pieces(path):
        records += 1
        if isinstance(read, Skipped):
            counts[f"skipped.{read.rule}"] += 1
            continue
        if isinstance(read, Broken):
            counts["failed"] += 1
            continue
        try:
            for outcome in page_outcomes(settings, record_of(path, records, read, fetched_at)):
                if isinstance(outcome, RawArticle):
                    articles += 1
                    counts[f"article_from.{truth.by_offset.get(read.position, {}).get('kind', 'unknown')}"] += 1
                elif isinstance(outcome, Skipped):
                    counts[f"skipped.{outcome.rule}"] += 1
                elif isinstance(outcome, Failure):
                    counts["failed"] += 1
        except Exception:  # noqa: BLE001 - the pipeline dead-letters the record and goes on; so does the loop
            counts["failed"] += 1
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return Timed(seconds, cpu_seconds, records, articles, dict(sorted(counts.items())))


def one_record_warc(path: Path, out: Path) -> Path:
    """A WARC of one record, the file's first article response (one gzip member): an ingest of it is Beam's start-up."""
    settings = WarcSettings()
    fetched_at = Timestamp.of(time.time())
    for ordinal, read in enumerate(pieces(path), 1):
        if not isinstance(read, Piece):
            continue
        outcomes = list(page_outcomes(settings, record_of(path, ordinal, read, fetched_at)))
        if any(isinstance(o, RawArticle) for o in outcomes):
            out.write_bytes(gzip.compress(read.payload, compresslevel=6, mtime=0))
            return out
    raise SystemExit(f"{path}: no article in the file to make a one-record WARC of")


def ingest_command(warc: Path, output: Path) -> list[str]:
    """The CLI call (e) times: the DirectRunner named, one worker, the costly optional steps off."""
    newsbeam = Path(sys.executable).parent / "newsbeam"
    return [
        str(newsbeam if newsbeam.exists() else shutil.which("newsbeam") or "newsbeam"),
        *("ingest", str(warc), "--output", str(output)),
        *("--runner", "DirectRunner", "--direct_num_workers", "1"),
        *("--entities", "off", "--clusters", "off", "--full-text", "off"),
    ]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def summary_counts(summary: dict[str, Any]) -> dict[str, int]:
    """The counts of a run summary (``runs/*.json``) this bench reports."""
    counts = summary.get("counts", {})
    counters = summary.get("counters", {})
    return {
        "read": int(counts.get("read", 0)),
        "written": int(counts.get("written", 0)),
        "parsed": int(summary.get("stages", {}).get("parse", {}).get("articles", counts.get("written", 0))),
        "dead_lettered": int(counts.get("dead_lettered", 0)),
        "skipped": int(counters.get("skipped", 0)),
        **{k: int(v) for k, v in sorted(counters.items()) if k.startswith("skipped.page.")},
    }


def run_ingest(warc: Path, output: Path) -> Timed:
    """(e): ``newsbeam ingest`` in a subprocess into a fresh ``output``; wall time, its CPU time, its summary's counts."""
    shutil.rmtree(output, ignore_errors=True)
    command = ingest_command(warc, output)
    cpu = children_cpu()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    seconds, cpu_seconds = time.perf_counter() - started, children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    summaries = sorted((output / "runs").glob("*.json"))
    if len(summaries) != 1:
        raise SystemExit(f"{output}/runs holds {len(summaries)} run summaries, expected one")
    counts = summary_counts(json.loads(summaries[0].read_text(encoding="utf-8")))
    shutil.rmtree(output, ignore_errors=True)
    return Timed(seconds, cpu_seconds, counts["read"], counts["parsed"], counts)


# --------------------------------------------------------------------------
# Runs, medians, report
# --------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("nan")


def one_run(path: Path, truth: Truth, workdir: Path, startup_warc: Optional[Path]) -> dict[str, Any]:
    """Every measurement once: the four readers, the loop, and (unless skipped) the pipeline and its start-up."""
    run: dict[str, Any] = {"load_average": os.getloadavg()[0], "readers": {}}
    for name, (_, reader) in READERS.items():
        run["readers"][name] = timed_pass(reader, path, truth)._asdict()
    run["loop"] = extractor_loop(path, truth)._asdict()
    if startup_warc is not None:
        run["pipeline"] = run_ingest(path, workdir / "out")._asdict()
        run["startup"] = run_ingest(startup_warc, workdir / "out-one")._asdict()
    return run


def reader_figures(runs: list[dict[str, Any]], truth: Truth) -> dict[str, dict[str, Any]]:
    """Per reader: median seconds, records/s, MB/s, and each run's speed against newsbeam's path."""
    figures: dict[str, dict[str, Any]] = {}
    for name in READERS:
        passes = [Pass(**run["readers"][name]) for run in runs]
        per_run = [rate(p.records, p.seconds) for p in passes]
        reference = [rate(r["readers"][REFERENCE]["records"], r["readers"][REFERENCE]["seconds"]) for r in runs]
        figures[name] = {
            "seconds": median([p.seconds for p in passes]),
            "records": passes[0].records,
            "records_per_s": median(per_run),
            "mb_per_s": median([bytes_covered(truth, p.records) / MB / p.seconds for p in passes]),
            "decoded_mb": passes[0].body_bytes / MB,
            "ratio_to_reference": [a / b for a, b in zip(per_run, reference, strict=True)],
            "stopped": passes[0].stopped,
        }
    return figures


def pipeline_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """(d) and (e): rates per core, and (e)/(d) per run, raw and with the one-record ingest's time taken off."""
    loops = [Timed(**run["loop"]) for run in runs]
    figures: dict[str, Any] = {
        "loop": {
            "seconds": median([t.seconds for t in loops]),
            "cpu_seconds": median([t.cpu_seconds for t in loops]),
            "records": loops[0].records,
            "articles": loops[0].articles,
            "records_per_s": median([rate(t.records, t.seconds) for t in loops]),
            "articles_per_s": median([rate(t.articles, t.seconds) for t in loops]),
            "counts": loops[0].counts,
        }
    }
    if "pipeline" not in runs[0]:
        return figures
    ingests = [Timed(**run["pipeline"]) for run in runs]
    startups = [Timed(**run["startup"]) for run in runs]
    net = [e.seconds - s.seconds for e, s in zip(ingests, startups, strict=True)]
    raw_ratio = [rate(e.records, e.seconds) / rate(d.records, d.seconds) for e, d in zip(ingests, loops, strict=True)]
    net_ratio = [rate(e.records, n) / rate(d.records, d.seconds) for e, n, d in zip(ingests, net, loops, strict=True)]
    # CPU time is less disturbed by other work on the machine than wall time: the same ratios by CPU seconds.
    cpu_ratio = [d.cpu_seconds / e.cpu_seconds for e, d in zip(ingests, loops, strict=True)]
    net_cpu = [e.cpu_seconds - s.cpu_seconds for e, s in zip(ingests, startups, strict=True)]
    net_cpu_ratio = [d.cpu_seconds / n for n, d in zip(net_cpu, loops, strict=True)]
    figures["pipeline"] = {
        "seconds": median([t.seconds for t in ingests]),
        "cpu_seconds": median([t.cpu_seconds for t in ingests]),
        "records": ingests[0].records,
        "articles": ingests[0].articles,
        "records_per_s": median([rate(t.records, t.seconds) for t in ingests]),
        "articles_per_s": median([rate(t.articles, t.seconds) for t in ingests]),
        "ratio_to_loop": raw_ratio,
        "cpu_ratio_to_loop": cpu_ratio,
        "counts": ingests[0].counts,
    }
    figures["pipeline_net"] = {
        "seconds": median(net),
        "records_per_s": median([rate(e.records, n) for e, n in zip(ingests, net, strict=True)]),
        "articles_per_s": median([rate(e.articles, n) for e, n in zip(ingests, net, strict=True)]),
        "ratio_to_loop": net_ratio,
        "cpu_seconds": median(net_cpu),
        "cpu_ratio_to_loop": net_cpu_ratio,
    }
    figures["startup"] = {
        "seconds": median([t.seconds for t in startups]),
        "cpu_seconds": median([t.cpu_seconds for t in startups]),
        "records": startups[0].records,
        "articles": startups[0].articles,
    }
    return figures


def _ratios(values: Sequence[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def _counted(counter: dict[str, int]) -> str:
    return "; ".join(f"{k} {v}" for k, v in counter.items()) or "none"


def _stop_note(figures: dict[str, Any], check: dict[str, Any], records: int) -> str:
    if not figures["stopped"]:
        return ""
    after = f"; last response read: {check['last_reached']}" if check["last_reached"] else ""
    return f"iteration ended after {figures['records']} of {records} records ({figures['stopped']}{after})"


def report(results: dict[str, Any]) -> str:
    """The markdown tables: readers' speed, readers' correctness, loop vs pipeline."""
    corpus, readers, checks, extract = results["corpus"], results["readers"], results["checks"], results["extract"]
    loads = " / ".join(f"{run['load_average']:.1f}" for run in results["per_run"])
    lines = [
        f"## WARC readers: {corpus['file']} ({corpus['mb']:.1f} MB compressed, {corpus['records']} records, "
        f"{corpus['responses']} responses), {results['runs']} runs, medians",
        "",
        f"Shared 2-core machine, other work running (1-minute load average at each run's start: {loads}): noisy.",
        "",
        f"| reader | s | records/s | MB/s compressed | records/s vs ({REFERENCE}), per run | note |",
        "|---|---|---|---|---|---|",
    ]
    for name, (label, _) in READERS.items():
        f = readers[name]
        lines.append(
            f"| ({name}) {label} | {f['seconds']:.3f} | {f['records_per_s']:.0f} | {f['mb_per_s']:.1f} "
            f"| {'(over what it read) ' if f['stopped'] else ''}{_ratios(f['ratio_to_reference'])} "
            f"| {_stop_note(f, checks[name], corpus['records'])} |"
        )
    lines += [
        "",
        "## Correctness against the sidecar (decoded-body SHA-1; (c) keeps HTML pages and skips the rest by rule)",
        "",
        "| reader | responses right | bodies matched | wrong, by how stored | wrong, by kind | errors |",
        "|---|---|---|---|---|---|",
    ]
    for name, (label, _) in READERS.items():
        c = checks[name]
        lines.append(
            f"| ({name}) {label} | {c['right']}/{c['responses']} | {c['bodies_matched']}/{c['bodies_expected']} "
            f"| {_counted(c['wrong_by_storage'])} | {_counted(c['wrong_by_kind'])} | {_counted(c['errors'])} |"
        )
    loop = extract["loop"]
    lines += [
        "",
        "## Extractor loop vs pipeline (one core each: rates per core)",
        "",
        "Each column is its own median over the runs; the ratios are taken within each run (then their median).",
        "",
        "| what | s | CPU s | records | articles | records/s/core | articles/s/core "
        "| throughput ratio to (d): median (per run) | by CPU time: median (per run) |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| (d) loop: read_range + page_outcomes | {loop['seconds']:.2f} | {loop['cpu_seconds']:.2f} | {loop['records']} "
        f"| {loop['articles']} | {loop['records_per_s']:.1f} | {loop['articles_per_s']:.2f} | 1.00 | 1.00 |",
    ]
    if "pipeline" not in extract:
        return "\n".join([*lines, "", f"Loop counts: {_counted(loop['counts'])}"])
    e, net, start = extract["pipeline"], extract["pipeline_net"], extract["startup"]
    agree = "agree" if loop["articles"] == e["articles"] and loop["records"] == e["records"] else "DIFFER"
    lines += [
        f"| (e) newsbeam ingest, DirectRunner | {e['seconds']:.2f} | {e['cpu_seconds']:.2f} | {e['records']} "
        f"| {e['articles']} | {e['records_per_s']:.1f} | {e['articles_per_s']:.2f} "
        f"| {median(e['ratio_to_loop']):.2f} ({_ratios(e['ratio_to_loop'])}) "
        f"| {median(e['cpu_ratio_to_loop']):.2f} ({_ratios(e['cpu_ratio_to_loop'])}) |",
        f"| (e) minus start-up | {net['seconds']:.2f} | {net['cpu_seconds']:.2f} | {e['records']} | {e['articles']} "
        f"| {net['records_per_s']:.1f} | {net['articles_per_s']:.2f} "
        f"| {median(net['ratio_to_loop']):.2f} ({_ratios(net['ratio_to_loop'])}) "
        f"| {median(net['cpu_ratio_to_loop']):.2f} ({_ratios(net['cpu_ratio_to_loop'])}) |",
        f"| start-up: ingest of a 1-record WARC | {start['seconds']:.2f} | {start['cpu_seconds']:.2f} "
        f"| {start['records']} | {start['articles']} | | | | |",
        "",
        f"Records and articles of (d) and (e) {agree} (pipeline: {e['counts']['written']} written, "
        f"{e['counts']['dead_lettered']} dead-lettered).",
        f"Loop counts: {_counted(loop['counts'])}",
        f"Pipeline counts: {_counted(e['counts'])}",
    ]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "warc", type=Path, help="a .warc.gz made by bench/warc_corpus.py (its sidecar WARC.json beside it)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs of every measurement; medians are reported")
    parser.add_argument("--out", type=Path, default=None, help="also write every figure to this JSON file")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="pipeline outputs go here (default: a temporary folder)"
    )
    parser.add_argument(
        "--skip-pipeline", action="store_true", help="readers and the loop (d) only, no newsbeam ingest"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    truth = load_truth(args.warc)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="warc_library_bench."))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        startup = None if args.skip_pipeline else one_record_warc(args.warc, workdir / "one-record.warc.gz")
        checks = {}
        for name, (_, reader) in READERS.items():
            checks[name] = check_reader(reader, args.warc, truth, keeps_pages_only=name == "c")._asdict()
        runs = []
        for number in range(1, args.runs + 1):
            started = time.perf_counter()
            runs.append(one_run(args.warc, truth, workdir, startup))
            print(f"run {number}/{args.runs}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    results = {
        "corpus": {
            "file": args.warc.name,
            "mb": truth.size / MB,
            "records": truth.records,
            "responses": len(truth.by_id),
        },
        "runs": args.runs,
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "readers": reader_figures(runs, truth),
        "checks": checks,
        "extract": pipeline_figures(runs),
        "per_run": runs,
    }
    print(report(results))
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
