"""Scoring of main-content extraction, shared by ``bench/extract_bench.py`` and the corpus test.

The scoring is the one ``../shared/corpora/README.md`` gives for
``article_pages`` (trafilatura's own evaluation): per page, each ``with``
snippet found in the extracted text is a true positive and each one missing a
false negative; each ``without`` snippet found is a false positive and each
one absent a true negative; precision, recall and F1 over all pages. An empty
output counts every ``with`` as missed and every ``without`` as absent.
Matching is exact substring search; ``normalise=True`` collapses whitespace
in both, a sensitivity check only (it raises true and false positives alike).

Only the stdlib: the corpus is read at run time and nothing of it is stored.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]


def corpora_dir() -> Path:
    """``../shared/corpora`` beside the project, or ``$NEWSBEAM_CORPORA``."""
    return Path(os.environ.get("NEWSBEAM_CORPORA") or ROOT.parent / "shared" / "corpora")


class Page(NamedTuple):
    """One page of ``article_pages``: its URL, its HTML as bytes, and the snippets it is scored by."""

    url: str
    payload: bytes
    with_: tuple[str, ...]
    without: tuple[str, ...]


def article_pages(limit: Optional[int] = None, every: int = 1) -> Iterator[Page]:
    """The pages of ``article_pages`` in URL order (every ``every``-th, at most ``limit``); none if absent."""
    folder = corpora_dir() / "article_pages"
    evaldata_path = folder / "evaldata.json"
    if not evaldata_path.is_file():
        return
    evaldata = json.loads(evaldata_path.read_text(encoding="utf-8"))
    urls = sorted(evaldata)[::every]
    for url in urls[:limit] if limit else urls:
        item = evaldata[url]
        with gzip.open(folder / "html" / f"{item['file']}.gz") as handle:
            payload = handle.read()
        yield Page(url, payload, tuple(item.get("with") or ()), tuple(item.get("without") or ()))


class Counts(NamedTuple):
    tp: int
    fn: int
    fp: int
    tn: int


def _norm(text: str) -> str:
    return " ".join(text.split())


def score_page(text: Optional[str], with_: Sequence[str], without: Sequence[str], normalise: bool = False) -> Counts:
    """True/false positives and negatives of one page's extracted ``text``."""
    if not text:
        return Counts(0, len(with_), 0, len(without))
    hay = _norm(text) if normalise else text
    found_with = sum(1 for s in with_ if (_norm(s) if normalise else s) in hay)
    found_without = sum(1 for s in without if (_norm(s) if normalise else s) in hay)
    return Counts(found_with, len(with_) - found_with, found_without, len(without) - found_without)


class Scores(NamedTuple):
    precision: float
    recall: float
    f1: float
    tp: int
    fn: int
    fp: int
    tn: int


def prf(counts: Iterable[Counts]) -> Scores:
    """Precision, recall and F1 summed over pages."""
    tp = fn = fp = tn = 0
    for c in counts:
        tp, fn, fp, tn = tp + c.tp, fn + c.fn, fp + c.fp, tn + c.tn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, tp, fn, fp, tn)


def paragraph_stats(outputs: Sequence[Optional[str]]) -> dict[str, Optional[float]]:
    """Of outputs over 1,000 characters: the share with more than one line, and with a blank line between."""
    long = [o for o in outputs if o and len(o) > 1000]
    multi = sum(1 for o in long if sum(1 for line in o.split("\n") if line.strip()) > 1)
    blank = sum(1 for o in long if "\n\n" in o)
    return {
        "long_outputs": len(long),
        "multi_line_share": round(multi / len(long), 3) if long else None,
        "blank_line_share": round(blank / len(long), 3) if long else None,
    }
