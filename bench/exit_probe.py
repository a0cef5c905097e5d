"""How often a finished HTTP ingest exits with something else than its status (issue 11, item 17).

Runs N ``newsbeam ingest`` processes, three at a time (the load under which
the abort showed), each fetching the real feeds of ../shared (or feeds
written here when it is absent) plus a 404 from a server on 127.0.0.1, and
counts exit statuses. Before the fix (``pq.read_table``'s dataset scanner
torn down at exit): 4 aborts (exit 134, "terminate called without an active
exception") in 36 runs and 5 in 30; after: 0 in 40 and 0 in 40.

    .venv/bin/python bench/exit_probe.py --runs 40
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from feedserver import FeedServer, Response, entry, rss  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpora" / "news_feeds"


def feeds() -> list[bytes]:
    real = sorted(CORPUS.glob("*.xml"))
    if real:
        return [path.read_bytes() for path in real]
    return [rss([entry(n, f"feed{f}") for n in range(40)]) for f in range(24)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--parallel", type=int, default=3)
    args = parser.parse_args()
    statuses: Counter[int] = Counter()
    with FeedServer() as server:
        urls = [server.route(f"/f{i}.xml", Response(body=body)) for i, body in enumerate(feeds())]
        urls.append(server.route("/gone.xml", Response(status=404, body=b"gone")))

        def one(_: int) -> subprocess.CompletedProcess:
            output = tempfile.mkdtemp()
            try:
                command = [sys.executable, "-m", "pipeline.cli", "ingest", *urls, "--output", output]
                command += ["--runner", "DirectRunner", "--allow-private-hosts", "--per-host-delay", "0"]
                # --full-text off: the entries link to real sites, which must never be contacted.
                command += ["--progress-seconds", "0", "--full-text", "off"]
                return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
            finally:
                shutil.rmtree(output, ignore_errors=True)

        with ThreadPoolExecutor(args.parallel) as pool:
            for run in pool.map(one, range(args.runs)):
                statuses[run.returncode] += 1
                if run.returncode != 0:
                    print(f"exit {run.returncode}: {run.stderr.strip().splitlines()[-1:]}", flush=True)
    print(f"{args.runs} runs: " + ", ".join(f"exit {code}: {n}" for code, n in sorted(statuses.items())))


if __name__ == "__main__":
    main()
