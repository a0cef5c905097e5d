"""Peak memory of reading a JSON Lines file larger than ``--max-file-mb``, record by record, at growing sizes.

Why: a file used to be read whole up to ``--max-file-mb`` (64 MiB) and
refused above it, so a large JSON Lines dump could not be ingested at all.
Now a JSON Lines file over the limit is read as a stream (``transforms.sources.
open_document``): each record leaves the read step as a ``RawRecord`` as soon
as it is read (a file under the limit is still read whole, as before).
Memory should stay flat as the file grows, bounded by the
limit (the first ``--max-file-mb`` read before the file is known to be too
large) plus the records in flight.

Each measurement runs in a fresh subprocess (its own ``ru_maxrss``):

- ``read+parse``: ``_ReadFile`` and ``_ParseDocument`` driven as plain
  generators over the file (no runner): every record read, split off,
  decoded and parsed into a ``RawArticle``, then dropped; also the
  tracemalloc peak of the Python heap while doing so (imports excluded).
- ``pipeline``: the same two steps as Beam transforms (``ReadDocuments`` →
  ``ParseDocuments`` → a counter) on the in-process DirectRunner: the read
  and parse are fused, so records stream through without a shuffle.
- ``whole``: for contrast, the old way, a limit raised above the file's size:
  ``read_bytes`` and ``parse_document`` of the whole file.

    python bench/stream_memory_bench.py [--sizes-mb 32,128,512] [--max-file-mb 1] [--only read+parse,whole]

Measured on the 2-core machine (shared with other work), ``--max-file-mb 1``,
records of about 250 bytes:

- ``read+parse`` (tracemalloc on: its times are no throughput figure):
  32 MB, 136,298 records: max RSS 168.2 MB (165.2 MB after the imports),
  tracemalloc peak 3.0 MB; 128 MB, 543,842 records: 168.5 MB, 3.0 MB.
- ``pipeline``: 32 MB 172.9 MB (6.8 s); 128 MB 173.0 MB (22.7 s); 1 GB,
  4,334,085 records: 172.9 MB (219 s, about 20,000 records a second).
  Flat from 32 MB to 1 GB.
- ``whole``, the old way for contrast: 32 MB 229.5 MB, 128 MB 421.6 MB,
  growing with the file (its bytes, its decoded text, the parser's state).

With the default limit (64 MiB) the bound is higher by that much: a file is
read up to the limit before it is known to be too large, and those bytes
are the start of the stream (let go as they are handed on).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
MB = 1024 * 1024

_READ_PARSE = """
import json, resource, sys, time, tracemalloc
sys.path.insert(0, {root!r})
import pipeline  # noqa: F401  (quiets Beam's import-time logging)
from apache_beam.pvalue import TaggedOutput
from transforms.parse import _ParseDocument
from transforms.sources import _ReadFile
read, parse = _ReadFile("bench", {max_bytes}), _ParseDocument("bench")
imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
tracemalloc.start()
started = time.monotonic()
records = articles = dead = 0
for element in read.process({path!r}):
    if isinstance(element, TaggedOutput):
        dead += 1
        continue
    records += 1
    for outcome in parse.process(element):
        if isinstance(outcome, TaggedOutput):
            dead += 1
        else:
            articles += 1
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({{"records": records, "articles": articles, "dead_letters": dead,
                  "seconds": round(time.monotonic() - started, 1), "tracemalloc_peak_mb": round(peak / {mb}, 1),
                  "rss_after_imports_mb": round(imported, 1),
                  "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}}))
"""

_PIPELINE = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from pipeline.runners import make_runner
from transforms.errors import counter
from transforms.parse import ParseDocuments
from transforms.sources import ReadDocuments
started = time.monotonic()
with beam.Pipeline(runner=make_runner("DirectRunner"), options=PipelineOptions([])) as p:
    read = p | "ReadDocuments" >> ReadDocuments([{path!r}], "bench", {max_bytes})
    parsed = read["documents"] | "ParseDocuments" >> ParseDocuments("bench")
    parsed["articles"] | "Count" >> beam.Map(lambda a: counter("bench.articles").inc())
result = p.result
articles = sum(c.committed for c in result.metrics().query()["counters"] if c.key.metric.name == "articles_parsed")
print(json.dumps({{"articles": articles, "seconds": round(time.monotonic() - started, 1),
                  "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}}))
"""

_WHOLE = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
import pipeline  # noqa: F401
from apache_beam.utils.timestamp import Timestamp
from schemas import RawDocument
from transforms.parse import iter_document
from transforms.formats.base import Failure
from transforms.sources import read_bytes
started = time.monotonic()
import os
data = read_bytes({path!r}, os.path.getsize({path!r}))  # a limit just large enough: the file read whole
document = RawDocument({path!r}, "file", data, Timestamp.of(time.time()), None, None)
del data
articles = 0
for outcome in iter_document(document)[1]:
    articles += not isinstance(outcome, Failure)
print(json.dumps({{"articles": articles, "seconds": round(time.monotonic() - started, 1),
                  "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}}))
"""

_KINDS = {"read+parse": _READ_PARSE, "pipeline": _PIPELINE, "whole": _WHOLE}


def make_input(directory: Path, size_mb: int) -> tuple[Path, int]:
    """A JSON Lines dump of about ``size_mb`` MiB: distinct records of about 250 bytes."""
    path = directory / f"dump-{size_mb}mb.jsonl"
    body = "The council met on Tuesday to discuss the harbour budget and the new ferry timetable. " * 2
    records = 0
    with open(path, "w", encoding="utf-8") as handle:
        while handle.tell() < size_mb * MB:
            handle.write(
                json.dumps({"title": f"Story {records:08d}", "text": body, "url": f"https://x.example/{records}"})
            )
            handle.write("\n")
            records += 1
    return path, records


def run_child(kind: str, path: Path, max_bytes: int) -> dict[str, Any]:
    code = _KINDS[kind].format(root=str(ROOT), path=str(path), max_bytes=max_bytes, mb=MB)
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-5:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes-mb", default="32,128", help="file sizes to measure, in MiB, comma-separated")
    parser.add_argument("--max-file-mb", type=int, default=1, help="the --max-file-mb the reader is given")
    parser.add_argument("--only", default="read+parse,pipeline,whole", help=f"comma-separated: {', '.join(_KINDS)}")
    args = parser.parse_args()
    kinds = [kind for kind in args.only.split(",") if kind]
    unknown = set(kinds) - set(_KINDS)
    if unknown:
        parser.error(f"unknown measurement(s): {sorted(unknown)}")
    os.chdir(ROOT)
    workdir = Path(tempfile.mkdtemp(prefix="stream-memory-bench-"))
    report: dict[str, Any] = {"max_file_mb": args.max_file_mb, "sizes": {}}
    try:
        for size in (int(s) for s in args.sizes_mb.split(",")):
            started = time.monotonic()
            path, records = make_input(workdir, size)
            entry: dict[str, Any] = {"records": records, "generated_seconds": round(time.monotonic() - started, 1)}
            for kind in kinds:
                entry[kind] = run_child(kind, path, args.max_file_mb * MB)
            report["sizes"][f"{size} MB"] = entry
            path.unlink()
            print(json.dumps({f"{size} MB": entry}), file=sys.stderr)
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
