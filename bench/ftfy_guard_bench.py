"""What the fast guard in front of ftfy saves, on real feed text.

Why: ftfy is the costliest step per article, yet almost all news text is clean.
``needs_ftfy`` answers "could ftfy change this at all?" from ftfy's own tables;
only text that fails it goes through the full repair. This measures, on the
titles and bodies of ``../shared/corpora/news_feeds`` (after HTML→text, as the
pipeline sees them), how many fields the guard lets through to ftfy and the
cost per field of plain ``ftfy.fix_text`` against the guarded path, in one run,
alternating, medians of ``--runs``. That the two give the same text is proven
in ``tests/test_text.py``, not here.

    python bench/ftfy_guard_bench.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pipeline  # noqa: E402,F401  # first: it quiets Beam's import-time log noise

# isort: split
import ftfy  # noqa: E402
from apache_beam.utils.timestamp import Timestamp  # noqa: E402

from schemas.records import RawDocument  # noqa: E402
from transforms.parse import parse_document  # noqa: E402
from transforms.text import fix_with_ftfy, html_to_text, needs_ftfy  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpora" / "news_feeds"


def corpus_fields() -> list[str]:
    """Every non-empty title and body text in the corpus, as the repair step receives them."""
    fields: list[str] = []
    for path in sorted(CORPUS.iterdir()):
        document = RawDocument(str(path), "file", path.read_bytes(), Timestamp.now(), None, None)
        _, parsed = parse_document(document)
        for article in parsed.articles:
            body = html_to_text(article.body) if article.body_is_html else article.body
            fields.extend(text for text in (article.title, body) if text)
    return fields


def seconds(function: Callable[[str], object], fields: list[str]) -> float:
    started = time.perf_counter()
    for text in fields:
        function(text)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="alternating runs of each side; medians are reported")
    args = parser.parse_args()

    fields = corpus_fields()
    flagged = sum(needs_ftfy(text) for text in fields)
    plain, guarded, guard_only = [], [], []
    for _ in range(args.runs):
        plain.append(seconds(lambda text: ftfy.fix_text(text, uncurl_quotes=False), fields))
        guarded.append(seconds(lambda text: fix_with_ftfy(text, uncurl_quotes=False), fields))
        guard_only.append(seconds(needs_ftfy, fields))
    per_field = {
        name: statistics.median(times) * 1e6 / len(fields)
        for name, times in (("plain", plain), ("guarded", guarded), ("guard", guard_only))
    }

    print(f"ftfy guard benchmark — {len(fields)} title/body fields from {CORPUS.name}, {args.runs} runs, medians")
    print(f"fields the guard sends to ftfy: {flagged} ({100 * flagged / len(fields):.1f}%)\n")
    print("| path | µs/field | ratio to ftfy.fix_text |")
    print("|---|---:|---:|")
    print(f"| `ftfy.fix_text` on every field | {per_field['plain']:.1f} | 1.00 |")
    print(
        f"| guarded (`fix_with_ftfy`) | {per_field['guarded']:.1f} | {per_field['guarded'] / per_field['plain']:.2f} |"
    )
    print(
        f"| the guard alone (`needs_ftfy`) | {per_field['guard']:.1f} | {per_field['guard'] / per_field['plain']:.2f} |"
    )


if __name__ == "__main__":
    main()
