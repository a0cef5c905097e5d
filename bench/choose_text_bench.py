"""Which text ``choose_text`` keeps on real pages: its own page (should be taken) and another's (should be refused).

Why: the page's text replaces the feed's only when it is the entry's
article (``transforms.pages.choose_text``). On the 990 real pages of
``../shared/corpora/article_pages`` each page is given its own title and
description as the entry's title and teaser (a feed usually carries the
page's og:description), then the *next* page's text with the same title and
teaser (a link that leads to another article). Prints the rule counts of
both. Reads the corpus at run time (``NEWSBEAM_CORPORA`` overrides the path).

    python bench/choose_text_bench.py
"""

from __future__ import annotations

import collections
import gzip
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPORA = Path(os.environ.get("NEWSBEAM_CORPORA") or ROOT.parent / "shared" / "corpora")

from transforms.extract import read_page  # noqa: E402
from transforms.pages import choose_text  # noqa: E402
from transforms.text import decode_bytes  # noqa: E402


def main() -> int:
    pages_dir = CORPORA / "article_pages" / "html"
    files = sorted(pages_dir.glob("*.gz"))
    if not files:
        print(f"corpus not found at {pages_dir}: nothing to measure")
        return 0
    pages = [read_page(decode_bytes(gzip.open(f).read()).text, None) for f in files]
    own: collections.Counter[str] = collections.Counter()
    other: collections.Counter[str] = collections.Counter()
    for index, page in enumerate(pages):
        meta = page.meta
        teaser = meta.description or ""
        choice = choose_text(
            teaser, meta.description, meta.title, page.body.text, meta.title, meta.accessible_for_free, meta.description
        )
        own[choice.rule] += 1
        wrong = pages[(index + 1) % len(pages)]
        other[choose_text(teaser, meta.description, meta.title, wrong.body.text).rule] += 1
    print(f"{len(pages)} pages")
    print("own page (should be 'page'):       ", dict(own.most_common()))
    print("another page (should be 'mismatch'):", dict(other.most_common()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
