"""Story clusters: do copies of one story meet, do different stories stay apart, and what does it cost.

Why: ``transforms/clusters.py`` takes two settings on trust unless they are
measured, ``THRESHOLD`` (estimated Jaccard similarity of two articles' word
5-shingles at or above which they are one story) and ``MIN_WORDS`` (shorter
texts are matched on identical content only). This bench measures both, on
texts whose answer is known and on real corpora judged by hand, and what
clustering costs. It writes nothing into the repository (``--json FILE``
writes the figures where asked).

Sections (``--only``; all by default):

* ``fixtures``: ``tests/fixtures/clusters`` (written for newsbeam: six
  stories, each with copies as other outlets run them: headline changed, a
  paragraph added, a paragraph cut, byline/dateline changed, a correction
  appended, copy-edited wording, headline + lead rewritten + a paragraph cut,
  about half the paragraphs; four independent reports of the same events
  sharing names, numbers and quoted sentences; identical texts under two
  URLs; short items sharing a headline). Prints estimated and true Jaccard
  (exact set Jaccard of the shingles) per kind of pair and the gap between
  copies and different stories; pairwise precision/recall/F1 of the real
  ``member_keys`` → ``components_in_group`` → ``resolve_clusters`` at
  thresholds 0.3–0.8; what the short-text floor changes; then the same
  fixtures through ``newsbeam ingest`` (a JSON Lines file) at the default
  settings, in one run and in two runs (the originals, then the copies) to
  check that copies join clusters of an earlier run.
* ``corpus``: ``../shared/corpora`` (``NEWSBEAM_CORPORA`` overrides; skipped
  with the reason when absent). ``news_feeds`` through ``newsbeam ingest
  --full-text off`` and the 990 ``article_pages`` through ``newsbeam
  ingest`` of a JSON Lines file of ``{url, html}`` records (the HTML goes
  through the extractor every HTML path shares). Every merged pair is
  printed with a verdict from ``bench/cluster_verdicts.json`` (URL pairs
  judged by reading both texts; no corpus text is kept), and the precision of
  merges; near-misses (pairs just under the threshold) and the short texts a
  lower floor would merge, with their verdicts; and, on the real feed
  titles, how often one headline over another story's teaser reaches the
  threshold for each floor.
* ``cost``: signatures per second on one core (fold, shingle, sign) on real
  page texts and on synthetic articles; band-key grouping +
  ``components_in_group`` + ``resolve_clusters`` on ``--synthetic`` (20,000)
  synthetic articles, and on templated short items sharing a footer (hot
  band keys).
* ``share``: clustering's share of a whole ``newsbeam ingest``: the same
  long articles (``article_pages`` texts) with ``--clusters on`` and
  ``off`` (fresh output directories, order alternated, ``--full-text off``,
  entities as default), the on/off ratio taken within each run, medians of
  ``--runs``.

    .venv/bin/python bench/cluster_bench.py [--runs 3] [--only fixtures,corpus,cost,share]
        [--threshold T] [--min-words N] [--articles 300] [--synthetic 20000] [--json FILE]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Optional, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apache_beam.utils.timestamp import Timestamp  # noqa: E402

from schemas import ClusterMember  # noqa: E402
from transforms.clusters import (  # noqa: E402
    MIN_WORDS,
    NUM_PERM,
    THRESHOLD,
    alias_map,
    cluster_words,
    components_in_group,
    exact_hash,
    latest_rows,
    lsh_bands,
    member_keys,
    read_cluster_rows,
    resolve_clusters,
    shingles,
    sign_article,
    signature,
    similarity,
)
from transforms.identify import content_hash, fold_text  # noqa: E402
from transforms.metadata import word_count  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "clusters"
VERDICTS = ROOT / "bench" / "cluster_verdicts.json"
SWEEP = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
FLOORS = (0, 10, 20, 30, 40, 50, 60)
#: Pairs this far under the threshold are near-misses, printed with their verdicts.
NEAR_MISS = 0.15
SAME_STORY = "same story"


def corpora_dir() -> Path:
    """``../shared/corpora`` beside the project, or ``$NEWSBEAM_CORPORA``."""
    return Path(os.environ.get("NEWSBEAM_CORPORA") or ROOT.parent / "shared" / "corpora")


# --------------------------------------------------------------------------
# Fixtures and clustering through the pure functions
# --------------------------------------------------------------------------


class Item(NamedTuple):
    """One article of the fixtures (or of a corpus), with its gold story where known."""

    id: str
    title: str
    text: str
    url: str
    domain: str
    published: Optional[str]
    story: Optional[str]
    event: Optional[str]
    kind: Optional[str]


def load_fixtures(folder: Path = FIXTURES) -> list[Item]:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return [
        Item(
            i["id"],
            i["title"],
            (folder / i["text_file"]).read_text(encoding="utf-8"),
            i["url"],
            i["source_domain"],
            i["published"],
            i["story"],
            i["event"],
            i["kind"],
        )
        for i in manifest["items"]
    ]


def pair_class(a: Item, b: Item) -> str:
    """What a pair of fixtures is: a copy of the kind of edit against its original, two copies, or two stories."""
    if a.story == b.story:
        if a.kind == "base":
            return str(b.kind)
        if b.kind == "base":
            return str(a.kind)
        return "copy vs copy"
    if a.event == b.event:
        return "same event, other story"
    if fold_text(a.title) == fold_text(b.title):
        return "same headline, other story"
    return "unrelated"


MUST_NOT = ("same event, other story", "same headline, other story", "unrelated")


def short_key(item: Item) -> Optional[str]:
    """What a text too short to sign is matched on, as the pipeline keys it (``exact_hash``)."""
    return exact_hash(content_hash(item.title, item.text), word_count(item.text))


def cluster_items(items: Sequence[Item], threshold: float, min_words: int) -> dict[str, str]:
    """Each item's cluster id, through the functions the pipeline runs (keys, groups, components, ids)."""
    bands, rows = lsh_bands(threshold)
    keyed: dict[int, list[ClusterMember]] = defaultdict(list)
    seen = Timestamp.of(0)
    for item in items:
        member = ClusterMember(
            item.id, None, sign_article(item.title, item.text, min_words), seen, item.domain, item.title, True
        )
        for key in member_keys(member, short_key(item), bands, rows):
            keyed[key].append(member)
    groups = [g for members in keyed.values() if len(members) > 1 for g in components_in_group(members, threshold)]
    assignments, _ = resolve_clusters(groups, [], "bench", seen)
    return {item.id: assignments[item.id].cluster_id if item.id in assignments else item.id for item in items}


class Scores(NamedTuple):
    precision: float
    recall: float
    f1: float
    true_pairs: int
    false_pairs: int
    missed_pairs: int


def pairwise(gold: dict[str, str], found: dict[str, str]) -> Scores:
    """Pairwise precision and recall: of the pairs put together, how many are one story, and the reverse."""
    ids = sorted(gold)
    tp = fp = fn = 0
    for a, b in itertools.combinations(ids, 2):
        same_gold = gold[a] == gold[b]
        same_found = found[a] == found[b]
        tp += same_gold and same_found
        fp += same_found and not same_gold
        fn += same_gold and not same_found
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, tp, fp, fn)


def standard_error(jaccard: float) -> float:
    """How far a 128-permutation estimate strays from the true Jaccard (one standard deviation)."""
    return math.sqrt(max(jaccard * (1 - jaccard), 1e-9) / NUM_PERM)


def quantiles(values: Sequence[float]) -> str:
    ordered = sorted(values)
    return f"{ordered[0]:.3f} {statistics.median(ordered):.3f} {ordered[-1]:.3f}"


def _kinds(kinds: Sequence[str]) -> str:
    return ", ".join(f"{k} x{n}" for k, n in Counter(kinds).items()) or "-"


def fixture_section(items: Sequence[Item], threshold: float, min_words: int) -> dict[str, Any]:
    """Similarities per kind of pair, the gap, the threshold sweep and the floor, on the fixtures."""
    print(f"\n== fixtures: {len(items)} items, {len({i.story for i in items})} stories ({FIXTURES.relative_to(ROOT)})")
    words = {i.id: cluster_words(i.title, i.text) for i in items}
    sets = {i.id: set(shingles(words[i.id])) for i in items}
    sigs = {i.id: signature(sorted(sets[i.id])) for i in items}
    by_class: dict[str, list[tuple[float, float, Item, Item]]] = defaultdict(list)
    for a, b in itertools.combinations(items, 2):
        true = len(sets[a.id] & sets[b.id]) / len(sets[a.id] | sets[b.id])
        by_class[pair_class(a, b)].append((true, similarity(sigs[a.id], sigs[b.id]), a, b))
    print(f"\n{'pair':30} {'pairs':>6}   {'true Jaccard min/med/max':>25}   {'estimated min/med/max':>22}")
    order = sorted(
        by_class, key=lambda k: (k in MUST_NOT, k == "copy vs copy", -statistics.median(p[1] for p in by_class[k]))
    )
    for kind in order:
        pairs = by_class[kind]
        print(
            f"{kind:30} {len(pairs):6}   {quantiles([p[0] for p in pairs]):>25}   {quantiles([p[1] for p in pairs]):>22}"
        )
    signed = {i.id for i in items if len(words[i.id]) >= min_words}
    must = [
        p
        for k, ps in by_class.items()
        if k not in MUST_NOT and k != "copy vs copy"
        for p in ps
        if p[2].id in signed and p[3].id in signed
    ]
    must_not = [p for k in MUST_NOT for p in by_class.get(k, []) if p[2].id in signed and p[3].id in signed]
    low = min(must, key=lambda p: p[1])
    high = max(must_not, key=lambda p: p[1])
    middle = (low[1] + high[1]) / 2
    print(
        f"\nsigned texts (>= {min_words} words): lowest copy vs its original {low[1]:.3f} (true {low[0]:.3f}, "
        f"{low[3].id}); highest pair of different stories {high[1]:.3f} (true {high[0]:.3f}, {high[2].id} / {high[3].id})"
    )
    print(
        f"gap {high[1]:.3f}..{low[1]:.3f}, middle {middle:.3f}; threshold {threshold:.2f} is "
        f"{(threshold - high[0]) / standard_error(high[0]):.1f} standard errors above the highest different pair's "
        f"true Jaccard and {(low[0] - threshold) / standard_error(low[0]):.1f} below the lowest copy's"
    )
    gold = {i.id: str(i.story) for i in items}
    print(
        f"\npairwise clustering of all {len(items)} items (min words {min_words}; real components_in_group + resolve_clusters)"
    )
    print(
        "(copies apart: copies not in their original's cluster; under the threshold: copy-original pairs whose own\n"
        " similarity is under it, which join only through other copies here, and would not if they were the only copy)"
    )
    print(
        f"{'threshold':>9} {'bands x rows':>12} {'precision':>9} {'recall':>7} {'F1':>6} {'false':>6} {'missed':>7}  "
        "copies apart (kind) | under the threshold (kind)"
    )
    sweep = []
    for value in sorted(set(SWEEP) | {threshold}):
        found = cluster_items(items, value, min_words)
        scores = pairwise(gold, found)
        missed = sorted(
            str(i.kind)
            for i in items
            if i.kind not in ("base", "teaser") and i.story is not None and found[i.id] != found[str(i.story)]
        )
        under = sorted(str(p[3].kind if p[2].kind == "base" else p[2].kind) for p in must if p[1] < value)
        bands, rows = lsh_bands(value)
        mark = "  <- default" if value == threshold else ""
        print(
            f"{value:9.2f} {f'{bands} x {rows}':>12} {scores.precision:9.3f} {scores.recall:7.3f} {scores.f1:6.3f} "
            f"{scores.false_pairs:6} {scores.missed_pairs:7}  {_kinds(missed)} | {_kinds(under)}{mark}"
        )
        sweep.append({"threshold": value, **scores._asdict(), "copies_apart": missed, "copy_pairs_under": under})
    print(f"\nshort-text floor at threshold {threshold:.2f} (fixtures: teasers of 4–58 words, some sharing a headline)")
    print(f"{'min words':>9} {'signed':>6} {'precision':>9} {'recall':>7} {'false pairs':>11}")
    floors = []
    for floor in FLOORS:
        scores = pairwise(gold, cluster_items(items, threshold, floor))
        count = sum(len(words[i.id]) >= floor for i in items)
        mark = "  <- default" if floor == min_words else ""
        print(f"{floor:9} {count:6} {scores.precision:9.3f} {scores.recall:7.3f} {scores.false_pairs:11}{mark}")
        floors.append({"min_words": floor, **scores._asdict()})
    return {
        "classes": {
            k: {
                "pairs": len(v),
                "true": [min(p[0] for p in v), max(p[0] for p in v)],
                "estimated": [min(p[1] for p in v), max(p[1] for p in v)],
            }
            for k, v in by_class.items()
        },
        "gap": [high[1], low[1]],
        "sweep": sweep,
        "floors": floors,
    }


# --------------------------------------------------------------------------
# The real pipeline: newsbeam ingest, and its output read back
# --------------------------------------------------------------------------


def ingest(inputs: Sequence[str], output: Path, flags: Sequence[str]) -> tuple[float, dict[str, Any]]:
    """One ``newsbeam ingest`` in a fresh interpreter, as users run it: wall seconds and the run summary."""
    command = [sys.executable, "-m", "pipeline.cli", "ingest", *inputs, "--output", str(output), *flags]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"newsbeam ingest failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    summaries = sorted((output / "runs").glob("*.json"), key=lambda p: p.stat().st_mtime)
    return wall, json.loads(summaries[-1].read_text(encoding="utf-8"))


def read_output(output: Path) -> list[dict[str, Any]]:
    """The articles of an output directory, cluster ids resolved through the ``clusters/`` table's merges."""
    import pyarrow.parquet as pq

    columns = [
        "article_id",
        "url",
        "source_domain",
        "title",
        "text",
        "content_hash",
        "cluster_id",
        "cluster_size",
        "minhash",
    ]
    rows: list[dict[str, Any]] = []
    for path in sorted((output / "articles").rglob("*.parquet")):
        rows.extend(pq.read_table(path, columns=columns).to_pylist())
    table = [
        row
        for path in sorted((output / "clusters").rglob("*.parquet"))
        for row in read_cluster_rows(pq.ParquetFile(path))
    ]
    aliases = alias_map(latest_rows(table).values())
    for row in rows:
        row["cluster"] = aliases.get(row["cluster_id"], row["cluster_id"])
    return rows


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def fixture_record(item: Item) -> dict[str, Any]:
    return {"title": item.title, "text": item.text, "url": item.url, "published": item.published}


def pipeline_check(items: Sequence[Item], threshold: float, min_words: int, work: Path) -> dict[str, Any]:
    """The fixtures through ``newsbeam ingest``: one run, then the originals and the copies in two runs."""
    flags = [
        "--full-text",
        "off",
        "--entities",
        "off",
        "--cluster-threshold",
        str(threshold),
        "--cluster-min-words",
        str(min_words),
    ]
    gold = {i.url: str(i.story) for i in items}
    pure = cluster_items(items, threshold, min_words)
    pure_by_url = {i.url: pure[i.id] for i in items}
    results: dict[str, Any] = {}
    print(f"\nnewsbeam ingest of the fixtures (JSON Lines; {' '.join(flags)})")
    whole = work / "fixtures.jsonl"
    write_jsonl(whole, (fixture_record(i) for i in items))
    first = [i for i in items if i.kind in ("base", "teaser")]
    later = [i for i in items if i.kind not in ("base", "teaser")]
    write_jsonl(work / "first.jsonl", (fixture_record(i) for i in first))
    write_jsonl(work / "later.jsonl", (fixture_record(i) for i in later))
    runs = {
        "one run": [[str(whole)]],
        # The second run reads the first back (its signatures and clusters/ table), at the default lookback.
        "two runs": [[str(work / "first.jsonl")], [str(work / "later.jsonl")]],
    }
    for name, inputs in runs.items():
        output = work / name.replace(" ", "_")
        for batch in inputs:
            ingest(batch, output, flags)
        rows = read_output(output)
        found = {row["url"]: row["cluster"] for row in rows}
        scores = pairwise(gold, found)
        same = _partition(found) == _partition(pure_by_url)
        print(
            f"  {name:9} ({len(inputs)} ingest{'s' if len(inputs) > 1 else ''}): {len(rows)} articles, "
            f"{len(set(found.values()))} clusters; pairwise precision {scores.precision:.3f} recall {scores.recall:.3f} "
            f"F1 {scores.f1:.3f}; same clusters as the pure functions: {'yes' if same else 'NO'}"
        )
        results[name] = {**scores._asdict(), "same_as_pure": same}
    return results


def _partition(assignment: dict[str, str]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = defaultdict(set)
    for key, cluster in assignment.items():
        groups[cluster].add(key)
    return {frozenset(g) for g in groups.values()}


# --------------------------------------------------------------------------
# Real corpora: every merge, near-misses and short texts, judged by hand
# --------------------------------------------------------------------------


def load_verdicts(path: Path = VERDICTS) -> dict[frozenset[str], tuple[bool, str]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {frozenset(v["urls"]): (bool(v["same_story"]), v["reason"]) for v in data["verdicts"]}


def verdict_text(verdicts: dict[frozenset[str], tuple[bool, str]], a: str, b: str) -> str:
    found = verdicts.get(frozenset((a, b)))
    if found is None:
        return "UNJUDGED"
    return ("copy: " if found[0] else "DIFFERENT: ") + found[1]


def tally(verdicts: dict[frozenset[str], tuple[bool, str]], pairs: Iterable[tuple[str, str]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for a, b in pairs:
        found = verdicts.get(frozenset((a, b)))
        counts["unjudged" if found is None else "copy" if found[0] else "different"] += 1
    return counts


def all_pairs_above(matrix: np.ndarray, floor: float) -> list[tuple[int, int, float]]:
    """Every pair of signatures (rows of ``matrix``) whose estimated Jaccard is at least ``floor``."""
    pairs = []
    for i in range(len(matrix) - 1):
        agree = (matrix[i + 1 :] == matrix[i]).mean(axis=1)
        for j in np.nonzero(agree >= floor)[0]:
            pairs.append((i, i + 1 + int(j), float(agree[j])))
    return pairs


def _short(text: Optional[str], width: int = 64) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def judge_corpus(
    name: str,
    rows: list[dict[str, Any]],
    threshold: float,
    min_words: int,
    verdicts: dict[frozenset[str], tuple[bool, str]],
) -> dict[str, Any]:
    """Prints every merge of one corpus with its verdict, the near-misses, and what lower floors would merge."""
    clusters: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        clusters[row["cluster"]].append(row)
    merged = [members for members in clusters.values() if len(members) > 1]
    signed = [row for row in rows if row["minhash"] is not None]
    print(
        f"\n-- {name}: {len(rows)} articles, {len(signed)} signed (>= {min_words} words), {len(merged)} clusters of 2 or more"
    )
    merge_pairs = []
    for members in sorted(merged, key=len, reverse=True):
        print(f"  cluster {members[0]['cluster']} ({len(members)} articles)")
        for row in members:
            print(f"    {row['source_domain'] or '-':24} {_short(row['title'])!s:66} {row['url']}")
        for a, b in itertools.combinations(members, 2):
            how = (
                "identical"
                if a["content_hash"] == b["content_hash"]
                else f"{similarity(a['minhash'], b['minhash']):.3f}"
                if a["minhash"] is not None and b["minhash"] is not None
                else "via others"
            )
            print(f"      {how:>9}  {verdict_text(verdicts, a['url'], b['url'])}")
            merge_pairs.append((a["url"], b["url"]))
    merges = tally(verdicts, merge_pairs)
    judged = merges["copy"] + merges["different"]
    precision = merges["copy"] / judged if judged else None
    print(
        f"  merged pairs: {len(merge_pairs)}; judged copies {merges['copy']}, different {merges['different']}, "
        f"unjudged {merges['unjudged']}; precision of merges "
        + (f"{precision:.3f} ({merges['copy']}/{judged})" if precision is not None else "n/a (no merge)")
    )
    matrix = np.stack([np.frombuffer(r["minhash"], dtype="<u4") for r in signed]) if signed else np.zeros((0, NUM_PERM))
    near = [
        (signed[i], signed[j], s)
        for i, j, s in all_pairs_above(matrix, threshold - NEAR_MISS)
        if s < threshold and signed[i]["cluster"] != signed[j]["cluster"]
    ]
    print(f"  near-misses (estimated {threshold - NEAR_MISS:.2f} to {threshold:.2f}, not clustered): {len(near)}")
    for a, b, s in sorted(near, key=lambda t: -t[2]):
        print(
            f"    {s:.3f}  {_short(a['title'], 40)} | {_short(b['title'], 40)}  {verdict_text(verdicts, a['url'], b['url'])}"
        )
    near_tally = tally(verdicts, ((a["url"], b["url"]) for a, b, _ in near))
    floors = floor_check(rows, threshold, verdicts)
    return {
        "articles": len(rows),
        "signed": len(signed),
        "clusters": len(merged),
        "merged_pairs": len(merge_pairs),
        "merges": dict(merges),
        "precision_of_merges": precision,
        "near_misses": dict(near_tally),
        "floors": floors,
    }


def floor_check(
    rows: list[dict[str, Any]], threshold: float, verdicts: dict[frozenset[str], tuple[bool, str]]
) -> list[dict[str, Any]]:
    """The pairs of texts under the floor that would reach the threshold if signed, by the floor that would allow it."""
    short = [r for r in rows if r["minhash"] is None]
    if len(short) < 2:
        return []
    counts = [len(cluster_words(r["title"], r["text"] or "")) for r in short]
    matrix = np.stack([np.frombuffer(sign_article(r["title"], r["text"] or "", 0) or b"", dtype="<u4") for r in short])
    found = [
        (i, j, s)
        for i, j, s in all_pairs_above(matrix, threshold - NEAR_MISS)
        if short[i]["content_hash"] != short[j]["content_hash"]
    ]
    pairs = [(i, j, s) for i, j, s in found if s >= threshold]
    print(
        f"  short texts (under the floor) if they were signed: {len(pairs)} pairs would reach {threshold:.2f}, "
        f"{len(found) - len(pairs)} more from {threshold - NEAR_MISS:.2f}"
    )
    for i, j, s in sorted(found, key=lambda t: -t[2]):
        print(
            f"    {s:.3f} {'merge' if s >= threshold else 'near':5} {counts[i]:3}/{counts[j]:<3} words  "
            f"{_short(short[i]['title'], 36)} | {_short(short[j]['title'], 36)}  "
            f"{verdict_text(verdicts, short[i]['url'], short[j]['url'])}"
        )
    out = []
    for floor in FLOORS:
        kept = [(short[i]["url"], short[j]["url"]) for i, j, _ in pairs if min(counts[i], counts[j]) >= floor]
        out.append({"min_words": floor, **tally(verdicts, kept)})
    print(
        "    pairs a floor of N words would add (copies / different / unjudged): "
        + "; ".join(f"{f['min_words']}: {f.get('copy', 0)}/{f.get('different', 0)}/{f.get('unjudged', 0)}" for f in out)
    )
    return out


def headline_check(rows: list[dict[str, Any]], threshold: float, seed: int = 7) -> list[dict[str, Any]]:
    """One real headline over another item's real teaser: how often that alone reaches the threshold, per floor.

    This is the false merge a floor guards against (two stories under one
    headline: "Live updates", "Morning briefing", a recurring column); real
    title and teaser lengths make it realistic.
    """
    rng = random.Random(seed)
    results = []
    for index, row in enumerate(rows):
        other = rows[(index + 1 + rng.randrange(len(rows) - 1)) % len(rows)]
        a = cluster_words(row["title"], row["text"] or "")
        b = cluster_words(row["title"], other["text"] or "")
        if fold_text(row["text"] or "") == fold_text(other["text"] or ""):
            continue
        results.append((min(len(a), len(b)), similarity(signature(shingles(a)), signature(shingles(b)))))
    out = []
    print(
        f"  one headline over another item's teaser ({len(results)} pairs of real titles and teasers) reaching {threshold:.2f}:"
    )
    for floor in FLOORS:
        kept = [s for n, s in results if n >= floor]
        hits = sum(s >= threshold for s in kept)
        out.append({"min_words": floor, "pairs": len(kept), "reaching": hits, "highest": max(kept, default=0.0)})
    print(
        "    "
        + "; ".join(f"floor {o['min_words']}: {o['reaching']}/{o['pairs']} (max {o['highest']:.2f})" for o in out)
    )
    return out


def page_records(limit: Optional[int] = None) -> list[tuple[str, str]]:
    """(URL, HTML) of the ``article_pages`` corpus, decoded by newsbeam's own decoder; none if absent."""
    from transforms.text import decode_bytes

    folder = corpora_dir() / "article_pages"
    evaldata = folder / "evaldata.json"
    if not evaldata.is_file():
        return []
    entries = json.loads(evaldata.read_text(encoding="utf-8"))
    out = []
    for key in sorted(entries)[:limit]:
        with gzip.open(folder / "html" / f"{entries[key]['file']}.gz") as handle:
            out.append((page_url(key), decode_bytes(handle.read()).text))
    return out


def page_url(key: str) -> str:
    """The page's URL; a key of the evaluation set that is no URL (``hard::FILE``) on a reserved name."""
    if key.startswith(("http://", "https://")):
        return key
    return "https://article-pages.invalid/" + key.replace("::", "/")


def corpus_section(threshold: float, min_words: int, work: Path) -> dict[str, Any]:
    corpora = corpora_dir()
    feeds = corpora / "news_feeds"
    pages = page_records()
    if not feeds.is_dir() and not pages:
        print(f"\n== corpus: skipped: no corpora at {corpora} (set NEWSBEAM_CORPORA)")
        return {"skipped": f"no corpora at {corpora}"}
    verdicts = load_verdicts()
    flags = [
        "--full-text",
        "off",
        "--entities",
        "off",
        "--cluster-threshold",
        str(threshold),
        "--cluster-min-words",
        str(min_words),
    ]
    print(f"\n== corpus: {corpora} (newsbeam ingest {' '.join(flags)}; verdicts: {VERDICTS.relative_to(ROOT)})")
    results: dict[str, Any] = {}
    if feeds.is_dir():
        ingest([str(feeds)], work / "feeds", flags)
        rows = read_output(work / "feeds")
        results["news_feeds"] = judge_corpus("news_feeds", rows, threshold, min_words, verdicts)
        results["news_feeds"]["headline_check"] = headline_check(rows, threshold)
    else:
        print(f"\n-- news_feeds: skipped: {feeds} absent")
    if pages:
        records = work / "pages.jsonl"
        write_jsonl(records, ({"url": url, "html": html} for url, html in pages))
        ingest([str(records)], work / "pages", flags)
        results["article_pages"] = judge_corpus(
            "article_pages", read_output(work / "pages"), threshold, min_words, verdicts
        )
    else:
        print(f"\n-- article_pages: skipped: {corpora / 'article_pages'} absent")
    return results


# --------------------------------------------------------------------------
# Cost
# --------------------------------------------------------------------------

_SYLLABLES = "ka ri to ne mu sa lo vi de pa gu ten mor lin ast ber quo hal fen dro sil cam".split()


def synthetic_articles(count: int, seed: int = 11) -> list[Item]:
    """News-sized articles of Zipf-distributed pseudo-words: unrelated ones share only common phrases.

    One in five is an edited copy of an earlier one (a paragraph cut or added,
    a new headline), and every article ends with its site's footer (twelve
    sites), as extracted pages often keep one: that is what makes band keys
    shared by unrelated articles.
    """
    rng = np.random.default_rng(seed)
    vocab = np.array(
        ["".join(rng.choice(_SYLLABLES, size=rng.integers(1, 4))) + str(i % 7 or "") for i in range(30000)]
    )
    weights = 1.0 / np.arange(1, len(vocab) + 1) ** 1.07
    weights /= weights.sum()
    footers = [" ".join(rng.choice(vocab[:3000], size=25)) for _ in range(12)]

    def paragraph() -> str:
        return " ".join(rng.choice(vocab, size=int(rng.integers(25, 70)), p=weights))

    items: list[Item] = []
    bodies: list[list[str]] = []
    for index in range(count):
        site = index % 12
        if index > 100 and rng.random() < 0.2:
            source = int(rng.integers(0, index))
            paragraphs = list(bodies[source])
            if rng.random() < 0.5 and len(paragraphs) > 3:
                del paragraphs[int(rng.integers(1, len(paragraphs)))]
            else:
                paragraphs.insert(int(rng.integers(0, len(paragraphs) + 1)), paragraph())
            title = items[source].title if rng.random() < 0.5 else " ".join(rng.choice(vocab, size=9, p=weights))
        else:
            paragraphs = [paragraph() for _ in range(int(rng.integers(4, 12)))]
            title = " ".join(rng.choice(vocab, size=9, p=weights))
        bodies.append(paragraphs)
        text = "\n\n".join([*paragraphs, footers[site]])
        items.append(
            Item(
                f"s{index:06d}",
                title,
                text,
                f"https://site{site}.example/{index}",
                f"site{site}.example",
                None,
                None,
                None,
                None,
            )
        )
    return items


def templated_items(count: int, seed: int = 5) -> list[Item]:
    """Short unrelated items (about 60 words) that share a 25-word footer: the hot band keys of templated feeds."""
    rng = random.Random(seed)
    words = [f"w{n}" for n in range(50000)]
    footer = "this report was produced automatically from exchange data and is provided for information only it is not investment advice please read our terms"
    return [
        Item(
            f"t{i:06d}",
            f"Results {i}",
            " ".join(rng.choices(words, k=35)) + ". " + footer,
            f"https://t.example/{i}",
            "t.example",
            None,
            None,
            None,
            None,
        )
        for i in range(count)
    ]


def time_signing(items: Sequence[Item], runs: int, min_words: int) -> dict[str, float]:
    """Signatures per second on one core: folding and shingling, and the whole of ``sign_article``."""
    total_words = sum(len(cluster_words(i.title, i.text)) for i in items)
    shingling, signing = [], []
    for item in items[:20]:  # warm-up: the MinHash library is imported on first use
        sign_article(item.title, item.text, min_words)
    for _ in range(runs):
        started = time.perf_counter()
        for item in items:
            shingles(cluster_words(item.title, item.text))
        shingling.append(time.perf_counter() - started)
        started = time.perf_counter()
        for item in items:
            sign_article(item.title, item.text, min_words)
        signing.append(time.perf_counter() - started)
    whole = statistics.median(signing)
    return {
        "articles": len(items),
        "mean_words": total_words / len(items),
        "signatures_per_s": len(items) / whole,
        "words_per_s": total_words / whole,
        "shingling_share": statistics.median(shingling) / whole,
    }


def time_grouping(items: Sequence[Item], threshold: float, min_words: int, runs: int) -> dict[str, Any]:
    """Band keys, grouping by key (what ``GroupByKey`` does), ``components_in_group`` and ``resolve_clusters``."""
    bands, rows = lsh_bands(threshold)
    seen = Timestamp.of(0)
    members = [
        (
            ClusterMember(i.id, None, sign_article(i.title, i.text, min_words), seen, i.domain, i.title, True),
            short_key(i),
        )
        for i in items
    ]
    times, clustered, largest, groups_count = [], 0, 0, 0
    for _ in range(runs):
        started = time.perf_counter()
        keyed: dict[int, list[ClusterMember]] = defaultdict(list)
        for member, digest in members:
            for key in member_keys(member, digest, bands, rows):
                keyed[key].append(member)
        candidates = [m for m in keyed.values() if len(m) > 1]
        groups = [g for m in candidates for g in components_in_group(m, threshold)]
        assignments, _ = resolve_clusters(groups, [], "bench", seen)
        times.append(time.perf_counter() - started)
        clustered = len(assignments)
        largest = max((len(m) for m in candidates), default=0)
        groups_count = len(candidates)
    elapsed = statistics.median(times)
    return {
        "articles": len(items),
        "seconds": elapsed,
        "articles_per_s": len(items) / elapsed,
        "candidate_keys": groups_count,
        "largest_key": largest,
        "clustered": clustered,
    }


def pipeline_share(texts: Sequence[Item], runs: int, threshold: float, min_words: int, work: Path) -> dict[str, Any]:
    """The same long articles through ``newsbeam ingest`` with clusters on and off, alternately: medians.

    Each run pairs one ``on`` with one ``off`` (the order alternates), and the
    ratio of the pair is taken within the run, so a slow moment of a shared
    machine falls on both sides of it.
    """
    records = work / "long.jsonl"
    write_jsonl(records, ({"title": i.title, "text": i.text, "url": i.url} for i in texts))
    flags = ["--full-text", "off", "--cluster-threshold", str(threshold), "--cluster-min-words", str(min_words)]
    walls: dict[str, list[float]] = {"on": [], "off": []}
    elapsed: dict[str, list[float]] = {"on": [], "off": []}
    for run in range(runs):
        for setting in ("on", "off") if run % 2 == 0 else ("off", "on"):
            output = work / f"share_{setting}_{run}"
            wall, summary = ingest([str(records)], output, [*flags, "--clusters", setting])
            walls[setting].append(wall)
            elapsed[setting].append(float(summary["timings"]["elapsed_seconds"]))
            shutil.rmtree(output)
    ratios = [on / off for on, off in zip(elapsed["on"], elapsed["off"], strict=True)]
    wall_ratios = [on / off for on, off in zip(walls["on"], walls["off"], strict=True)]
    return {
        "articles": len(texts),
        "pipeline_s": {k: statistics.median(v) for k, v in elapsed.items()},
        "wall_s": {k: statistics.median(v) for k, v in walls.items()},
        "ratio_pipeline": statistics.median(ratios),
        "ratio_wall": statistics.median(wall_ratios),
        "runs": {"pipeline_s": elapsed, "wall_s": walls},
    }


def page_items(limit: Optional[int], least_words: int) -> list[Item]:
    """Real long articles: the ``article_pages`` texts as newsbeam extracts them (none if the corpus is absent)."""
    from transforms.extract import read_page, without_title

    items = []
    for url, html in page_records():
        page = read_page(html, url)
        title = page.meta.title or ""
        text = without_title(page.body.text, title)
        if len(cluster_words(title, text)) >= least_words:
            items.append(Item(url, title, text, url, url.split("/")[2] if "://" in url else "", None, None, None, None))
        if limit and len(items) >= limit:
            break
    return items


def cost_section(
    threshold: float, min_words: int, runs: int, synthetic: int, articles: int, work: Path
) -> dict[str, Any]:
    print(f"\n== cost (one core; medians of {runs} runs)")
    results: dict[str, Any] = {}
    pages = page_items(articles, 200)
    fixtures = [i for i in load_fixtures() if i.kind != "teaser"]
    for name, items in (("article_pages texts", pages), ("fixtures (long items)", fixtures)):
        if not items:
            print(f"  signing, {name}: skipped (corpus absent)")
            continue
        s = time_signing(items, runs, min_words)
        results[f"signing {name}"] = s
        print(
            f"  signing, {name}: {s['articles']} articles of {s['mean_words']:.0f} words on average: "
            f"{s['signatures_per_s']:,.0f} signatures/s ({s['words_per_s']:,.0f} words/s); "
            f"folding + shingling {s['shingling_share']:.0%} of it"
        )
    generated = synthetic_articles(synthetic)
    s = time_signing(generated, 1, min_words)
    results["signing synthetic"] = s
    print(
        f"  signing, {len(generated)} synthetic articles of {s['mean_words']:.0f} words: {s['signatures_per_s']:,.0f} signatures/s"
    )
    g = time_grouping(generated, threshold, min_words, runs)
    results["grouping synthetic"] = g
    print(
        f"  band keys + grouping + components + resolve, {g['articles']} synthetic articles: {g['seconds']:.2f} s "
        f"({g['articles_per_s']:,.0f} articles/s); {g['candidate_keys']} keys shared, largest {g['largest_key']}; "
        f"{g['clustered']} articles clustered"
    )
    for count in (250, 500, 1000, 2000):
        t = time_grouping(templated_items(count), threshold, min_words, 1)
        results[f"grouping templated {count}"] = t
        print(
            f"  templated short items sharing a footer, {count}: {t['seconds']:.2f} s; largest key {t['largest_key']}; "
            f"{t['clustered']} clustered (all are different items)"
        )
    return results


def share_section(threshold: float, min_words: int, runs: int, articles: int, work: Path) -> dict[str, Any]:
    """Clustering's share of a whole ``newsbeam ingest`` of real long articles."""
    print(f"\n== clustering's share of a whole run (medians of {runs} runs)")
    results: dict[str, Any] = {}
    pages = page_items(articles, 200)
    if pages:
        share = pipeline_share(pages, runs, threshold, min_words, work)
        results["pipeline"] = share
        on, off = share["pipeline_s"], share["wall_s"]
        print(
            f"  newsbeam ingest of {len(pages)} article_pages texts (--full-text off, entities on), clusters on vs off: "
            f"pipeline {on['on']:.1f} / {on['off']:.1f} s (median ratio {share['ratio_pipeline']:.3f}), "
            f"wall {off['on']:.1f} / {off['off']:.1f} s (median ratio {share['ratio_wall']:.3f}); "
            f"clustering's share of the pipeline time: {1 - 1 / share['ratio_pipeline']:.1%}"
        )
    else:
        print("  newsbeam ingest on/off: skipped (article_pages corpus absent)")
    return results


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed repetitions (medians)")
    parser.add_argument("--only", default="fixtures,corpus,cost,share", help="sections, comma-separated")
    parser.add_argument(
        "--threshold", type=float, default=THRESHOLD, help=f"clustering threshold (default {THRESHOLD})"
    )
    parser.add_argument("--min-words", type=int, default=MIN_WORDS, help=f"short-text floor (default {MIN_WORDS})")
    parser.add_argument("--articles", type=int, default=300, help="long articles for the pipeline on/off runs")
    parser.add_argument("--synthetic", type=int, default=20000, help="synthetic articles for the grouping cost")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    sections = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = sections - {"fixtures", "corpus", "cost", "share"}
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    results: dict[str, Any] = {"threshold": args.threshold, "min_words": args.min_words}
    with tempfile.TemporaryDirectory(prefix="cluster_bench_") as tmp:
        work = Path(tmp)
        if "fixtures" in sections:
            items = load_fixtures()
            results["fixtures"] = fixture_section(items, args.threshold, args.min_words)
            results["fixtures"]["pipeline"] = pipeline_check(items, args.threshold, args.min_words, work)
        if "corpus" in sections:
            results["corpus"] = corpus_section(args.threshold, args.min_words, work)
        if "cost" in sections:
            results["cost"] = cost_section(
                args.threshold, args.min_words, args.runs, args.synthetic, args.articles, work
            )
        if "share" in sections:
            results["share"] = share_section(args.threshold, args.min_words, args.runs, args.articles, work)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
