"""Story clusters: copies of one story across outlets and URLs, found by MinHash and banded LSH.

The same wire story runs in dozens of feeds with small edits (headline, a
paragraph added or cut, byline, dateline, a correction), and one outlet
republishes a story under several URLs. Each article's folded title and text
become word shingles and a MinHash signature (``rensa``, chosen by
measurement: ``bench/minhash_bench.py``); the signature's bands are keys, and
articles sharing a band key are candidates. A candidate pair is a match only
when the signatures' estimated Jaccard similarity is at least the threshold
(``--cluster-threshold``, chosen by measurement: ``bench/cluster_bench.py``),
and clusters are the connected components of the matches (union-find).

Short texts (under ``--cluster-min-words`` words of title and text: feed
teasers) are not compared by likeness at all: a shared headline and two
sentences is how different stories get merged. They join a cluster only
when their folded title and text are identical (the same teaser under two
URLs).

Identity across runs: ``cluster_id`` is the smallest ``article_id`` of the
cluster's members when it formed, and it never changes. A later run reads
the signatures of past articles back (``ReadPastMembers``; those published
within ``--cluster-lookback-days``) and the ``clusters/`` table, so a new
copy takes the id of the cluster it joins. When a new article joins two
existing clusters, its row takes the smaller id and the ``clusters/`` row
lists the other in ``merged_ids``; rows already written keep theirs
(Parquet files are never rewritten). A re-run adds no article, so it adds
no cluster row either.

Batch (``ClusterStories``) groups band keys with ``GroupByKey`` and joins
the components of all groups in one place (the matches are few; the
signatures never travel there). Streaming (``ClusterStoriesContinuously``)
keeps the index of recent signatures in keyed state.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections import defaultdict
from typing import Any, Iterable, Iterator, NamedTuple, Optional, Sequence

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
from apache_beam.coders import PickleCoder, VarIntCoder
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec
from apache_beam.utils.timestamp import Timestamp

from schemas import CLUSTER_RULE, Article, ClusterMember, StoryCluster
from transforms.errors import counter
from transforms.identify import fold_text
from transforms.sinks import plausible

_LOG = logging.getLogger("newsbeam")

#: Words per shingle: five words make a shingle rare enough that two different stories share few.
SHINGLE_WORDS = 5
#: Permutations per signature (estimates within about ±0.04 of the true Jaccard, bench/minhash_bench.py).
NUM_PERM = 128
SEED = 20141
#: Estimated Jaccard similarity at or above which two articles are one story (bench/cluster_bench.py).
THRESHOLD = 0.35
#: Fewer words of title and text than this: matched on identical content only, never by likeness.
MIN_WORDS = 50
#: Past articles published within this many days of the run are matched against (0: all).
LOOKBACK_DAYS = 30.0
#: Members of a component compared with a new article before it is taken as not of that component.
_COMPARE_CAP = 64
#: Groups of one band key a new article is compared with (the most recent): a key that thousands of
#: unrelated items share (a feed's footer, a template) stays linear, and real copies, which share many
#: keys, still meet under the keys their own text gives them (bench/cluster_bench.py, templated items).
_GROUP_CAP = 64
#: The ``clusters/`` table.
CLUSTERS = "clusters"
_PARTITION_DATE = re.compile(r"published_date=(\d{4}-\d{2}-\d{2})")


class ClusterSettings(NamedTuple):
    """How a run clusters stories; built from the options (``--clusters``, ``--cluster-threshold`` …)."""

    enabled: bool = True
    threshold: float = THRESHOLD
    min_words: int = MIN_WORDS
    lookback_days: float = LOOKBACK_DAYS


CLUSTER_DEFAULTS = ClusterSettings()


# --------------------------------------------------------------------------
# Signatures and band keys (pure)
# --------------------------------------------------------------------------


def cluster_words(title: Optional[str], text: str) -> list[str]:
    """The words two copies of a story share: title and text folded (case, accents, punctuation)."""
    return fold_text(f"{title or ''}\n{text or ''}").split()


def shingles(words: Sequence[str], size: int = SHINGLE_WORDS) -> list[str]:
    """Every run of ``size`` consecutive words (the whole text when it is shorter)."""
    if len(words) <= size:
        return [" ".join(words)] if words else []
    return [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)]


def signature(shingle_list: Sequence[str], num_perm: int = NUM_PERM, seed: int = SEED) -> bytes:
    """The MinHash signature of ``shingle_list`` as little-endian uint32s (the ``minhash`` column)."""
    import rensa  # imported on first use: a run with clusters off never loads it

    minhash = rensa.RMinHash(num_perm=num_perm, seed=seed)
    minhash.update(list(shingle_list))
    return np.asarray(minhash.digest(), dtype="<u4").tobytes()


def similarity(first: bytes, second: bytes) -> float:
    """Estimated Jaccard similarity of two signatures: the share of positions where they agree."""
    a = np.frombuffer(first, dtype="<u4")
    b = np.frombuffer(second, dtype="<u4")
    if a.size == 0 or a.size != b.size:
        return 0.0
    return float(np.count_nonzero(a == b)) / a.size


def _probability(similarity_: float, bands: int, rows: int) -> float:
    """Chance that two texts of this similarity share at least one band (the LSH S-curve)."""
    return 1.0 - (1.0 - similarity_**rows) ** bands


#: The least chance that a pair exactly at the threshold becomes a candidate.
RECALL_AT_THRESHOLD = 0.95


def lsh_bands(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """Bands and rows per band: the most rows per band (fewest false candidates) that still make a
    pair exactly at ``threshold`` a candidate with probability ``RECALL_AT_THRESHOLD`` or more.

    Recall first: a pair that never becomes a candidate is a missed match no
    later step can find, while a false candidate only costs one comparison
    of two signatures. (datasketch's optimum, which weighs the two areas
    under the S-curve equally, puts the curve's midpoint on the threshold,
    so about half the pairs just above it are never compared.)
    """
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if _probability(threshold, bands, rows) >= RECALL_AT_THRESHOLD:
            return bands, rows
    return num_perm, 1


def _key(kind: bytes, value: bytes) -> int:
    """A 63-bit key (an int: compact to shuffle, and sortable into the array past articles are filtered by)."""
    return int.from_bytes(hashlib.blake2b(kind + value, digest_size=8).digest(), "little") >> 1


def band_keys(minhash: bytes, bands: int, rows: int) -> list[int]:
    """One key per band: a hash of the band's number and values (equal keys: a candidate pair)."""
    width = rows * 4
    return [
        _key(band.to_bytes(2, "little") + b"b", minhash[band * width : (band + 1) * width])
        for band in range(bands)
        if (band + 1) * width <= len(minhash)
    ]


#: Fewer words of text (the title aside) than this: no cluster at all, not even of identical copies
#: (an identical headline over an empty or one-line text is how different stories look alike).
MIN_EXACT_WORDS = 10


def exact_hash(content_hash: Optional[str], word_count: Optional[int]) -> Optional[str]:
    """The content hash a short text is matched on, or None when its text is too short even for that."""
    return content_hash if content_hash and (word_count or 0) >= MIN_EXACT_WORDS else None


def exact_key(content_hash: str) -> int:
    """The only key of a short text: its folded title and text, so only identical copies meet."""
    return _key(b"=", content_hash.encode())


def sign_article(title: Optional[str], text: str, min_words: int) -> Optional[bytes]:
    """The article's signature, or None when its title and text are too short to compare by likeness."""
    words = cluster_words(title, text)
    if len(words) < min_words:
        return None
    return signature(shingles(words))


def event_moment(published_at: Optional[Timestamp], ingested_at: Timestamp) -> Timestamp:
    """When a member was seen: published, else (undated, or a date no news has) ingested, as its partition."""
    return published_at if published_at is not None and plausible(published_at) else ingested_at


# --------------------------------------------------------------------------
# Candidates within one band group, components across groups (pure)
# --------------------------------------------------------------------------


def _matches(member: ClusterMember, other: ClusterMember, threshold: float) -> bool:
    if member.minhash is None or other.minhash is None:
        return True  # members of an exact-content key: identical folded title and text
    return similarity(member.minhash, other.minhash) >= threshold


def components_in_group(members: Iterable[ClusterMember], threshold: float) -> list[list[ClusterMember]]:
    """The groups of matching articles among the members of one band key, each holding a new article.

    Past members start grouped by their stored cluster; each new member is
    compared with the members of the most recent ``_GROUP_CAP`` groups (up
    to ``_COMPARE_CAP`` members each, so a key shared by thousands of copies,
    or by thousands of unrelated items with one footer, stays linear) and
    merges the groups it matches. Past-only groups are dropped: nothing new joins
    them here. Returned without signatures: they are not needed further on.
    """
    groups: list[list[ClusterMember]] = []
    by_cluster: dict[str, list[ClusterMember]] = {}
    fresh: list[ClusterMember] = []
    for member in members:
        if member.is_new:
            fresh.append(member)
        else:
            by_cluster.setdefault(member.cluster_id or member.article_id, []).append(member)
    groups = list(by_cluster.values())
    has_new = [False] * len(groups)
    for member in sorted(fresh, key=lambda m: m.article_id):
        matched = [
            index
            for index in range(max(0, len(groups) - _GROUP_CAP), len(groups))
            if any(_matches(member, other, threshold) for other in groups[index][:_COMPARE_CAP])
        ]
        if not matched:
            groups.append([member])
            has_new.append(True)
            continue
        keep = matched[0]
        for index in reversed(matched[1:]):
            groups[keep].extend(groups[index])
            has_new[keep] = has_new[keep] or has_new[index]
            del groups[index]
            del has_new[index]
        groups[keep].append(member)
        has_new[keep] = True
    return [
        [m._replace(minhash=None) for m in group]
        for group, new in zip(groups, has_new, strict=True)
        if new and len(group) > 1
    ]


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, node: str) -> str:
        parent = self.parent.setdefault(node, node)
        while parent != self.parent[parent]:
            self.parent[parent] = self.parent[self.parent[parent]]
            parent = self.parent[parent]
        self.parent[node] = parent
        return parent

    def union(self, a: str, b: str) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self.parent[max(root_a, root_b)] = min(root_a, root_b)


def alias_map(rows: Iterable[StoryCluster]) -> dict[str, str]:
    """Each merged cluster id → the id of the cluster it became part of (chains followed to the end)."""
    into: dict[str, str] = {}
    for row in rows:
        for merged in row.merged_ids:
            if merged != row.cluster_id:
                into[merged] = row.cluster_id
    resolved: dict[str, str] = {}
    for start in into:
        seen = {start}
        current = into[start]
        while current in into and current not in seen:
            seen.add(current)
            current = into[current]
        resolved[start] = current
    return resolved


def latest_rows(rows: Iterable[StoryCluster]) -> dict[str, StoryCluster]:
    """The current state of each cluster: its row with the latest ``updated_at``."""
    latest: dict[str, StoryCluster] = {}
    for row in rows:
        held = latest.get(row.cluster_id)
        if held is None or (row.updated_at, row.run_id) > (held.updated_at, held.run_id):
            latest[row.cluster_id] = row
    return latest


class Assignment(NamedTuple):
    """A new article's cluster: what its row records."""

    cluster_id: str
    size: int


def resolve_clusters(
    groups: Iterable[Sequence[ClusterMember]],
    known: Iterable[StoryCluster],
    run_id: str,
    updated_at: Timestamp,
) -> tuple[dict[str, Assignment], list[StoryCluster]]:
    """Joins the band groups into clusters: each new member's cluster and size, and the table's new rows.

    A cluster's id is the smallest id of the earlier clusters it holds, else
    the smallest id of its new members, so an id never changes as members
    join; the others are listed in ``merged_ids``. Sizes count members of
    earlier runs from the ``clusters/`` table (a past member with no row
    there was a singleton).
    """
    table = latest_rows(known)
    aliases = alias_map(table.values())
    uf = _UnionFind()
    members: dict[str, ClusterMember] = {}
    for group in groups:
        first = group[0].article_id
        for member in group:
            members.setdefault(member.article_id, member)
            uf.union(first, member.article_id)
            if not member.is_new and member.cluster_id:
                # Past members of one (possibly merged) cluster are one component.
                uf.union(member.article_id, "cluster:" + aliases.get(member.cluster_id, member.cluster_id))
    components: dict[str, list[ClusterMember]] = defaultdict(list)
    for article_id, member in members.items():
        components[uf.find(article_id)].append(member)
    assignments: dict[str, Assignment] = {}
    rows: list[StoryCluster] = []
    for component in components.values():
        new = sorted(m.article_id for m in component if m.is_new)
        if not new:
            continue
        past = [m for m in component if not m.is_new]
        earlier = {aliases.get(m.cluster_id or m.article_id, m.cluster_id or m.article_id) for m in past}
        cluster_id = min(earlier) if earlier else new[0]
        size = len(new)
        first_seen = min(m.seen for m in component)
        last_seen = max(m.seen for m in component)
        sources = {m.source_domain for m in component if m.source_domain}
        counted: set[str] = set()
        for earlier_id in earlier:
            row = table.get(earlier_id)
            if row is not None:
                size += int(row.size)
                first_seen = min(first_seen, row.first_seen)
                last_seen = max(last_seen, row.last_seen)
                sources.update(row.sources)
        for member in past:
            # A past member whose cluster has no row was a singleton (or its row is lost): count it once.
            if aliases.get(member.cluster_id or "", member.cluster_id or member.article_id) not in table:
                counted.add(member.article_id)
        size += len(counted)
        if size < 2:
            continue
        title = table[cluster_id].title if cluster_id in table else None
        if title is None:
            named = [m for m in component if m.article_id == cluster_id and m.title]
            title = (
                named[0].title
                if named
                else next((m.title for m in sorted(component, key=lambda m: m.article_id) if m.title), None)
            )
        merged = sorted(earlier - {cluster_id})
        for article_id in new:
            assignments[article_id] = Assignment(cluster_id, size)
        rows.append(
            StoryCluster(
                cluster_id=cluster_id,
                size=size,
                first_seen=first_seen,
                last_seen=last_seen,
                sources=sorted(sources),
                title=title,
                merged_ids=merged,
                run_id=run_id,
                updated_at=updated_at,
                cluster_rule=np.int32(CLUSTER_RULE),
            )
        )
    return assignments, rows


def assign(article: Article, assignment: Optional[Assignment]) -> Article:
    """The article's row with its cluster (its own id and size 1 when it matched nothing)."""
    cluster_id, size = assignment if assignment is not None else (article.article_id, 1)
    return article._replace(cluster_id=cluster_id, cluster_size=np.int32(size))


def cluster_partition(row: StoryCluster) -> str:
    return "updated_date=" + row.updated_at.to_utc_datetime().strftime("%Y-%m-%d")


# --------------------------------------------------------------------------
# Past members and clusters, read back from the output
# --------------------------------------------------------------------------


def _timestamp(moment: dt.datetime) -> Timestamp:
    """A Beam timestamp of a timestamp read from Parquet (pyarrow's UTC is not ``datetime.timezone.utc``)."""
    return Timestamp.from_utc_datetime(moment.astimezone(dt.UTC))


def lookback_start(earliest: Optional[Timestamp], days: float) -> Optional[dt.date]:
    """The earliest published day matched against: ``days`` before the earliest new article (so a
    backfill of old news is matched against the news of its time); None: every past article."""
    if days <= 0 or earliest is None:
        return None
    return (earliest.to_utc_datetime() - dt.timedelta(days=days)).date()


def partition_is_recent(path: str, start: Optional[dt.date]) -> bool:
    """Whether a file's ``published_date=`` partition is within the lookback (files outside one: read)."""
    if start is None:
        return True
    found = _PARTITION_DATE.search(path)
    if not found:
        return True
    return dt.date.fromisoformat(found.group(1)) >= start


def members_in_file(
    parquet: pq.ParquetFile, min_words: int, start: Optional[dt.date]
) -> Iterator[tuple[ClusterMember, Optional[str]]]:
    """The past articles of one file as cluster members, each with its content hash.

    Rows signed under the current ``CLUSTER_RULE`` give their stored
    signature; rows of another rule, or written before clusters existed,
    are signed again from their title and text (read only then).
    """
    names = set(parquet.schema_arrow.names)
    if "article_id" not in names:
        return
    wanted = ["article_id", "ingested_at", "published_at", "source_domain", "title", "content_hash", "word_count"]
    wanted += [c for c in ("cluster_id", "minhash", "cluster_rule") if c in names]
    table = parquet.read(columns=[c for c in wanted if c in names])
    rows = table.to_pylist()
    stale = [i for i, row in enumerate(rows) if row.get("cluster_rule") != CLUSTER_RULE]
    texts: list[Any] = []
    if stale and "text" in names:
        texts = parquet.read(columns=["text"]).column("text").to_pylist()
    for index, row in enumerate(rows):
        ingested = row.get("ingested_at")
        published = row.get("published_at")
        moment = published or ingested
        if not row.get("article_id") or moment is None:
            continue
        if start is not None and moment.date() < start:
            continue
        minhash = row.get("minhash")
        if row.get("cluster_rule") != CLUSTER_RULE:
            minhash = sign_article(row.get("title"), texts[index] or "", min_words) if texts else None
        yield (
            ClusterMember(
                article_id=row["article_id"],
                cluster_id=row.get("cluster_id") or row["article_id"],
                minhash=minhash,
                seen=_timestamp(moment),
                source_domain=row.get("source_domain"),
                title=row.get("title"),
                is_new=False,
            ),
            exact_hash(row.get("content_hash"), row.get("word_count")),
        )


def member_keys(member: ClusterMember, content_hash: Optional[str], bands: int, rows: int) -> list[int]:
    """The keys a member is grouped under: its band keys, or its exact-content key when it has no signature."""
    if member.minhash is not None:
        return band_keys(member.minhash, bands, rows)
    return [exact_key(content_hash)] if content_hash else []


def shared_keys(keys: Sequence[int], wanted: np.ndarray) -> list[int]:
    """The ``keys`` that are in ``wanted`` (a sorted array): a past article travels only under a key some
    new article has, so a night's shuffle is of the few past articles that can match, not of all of them."""
    if not len(wanted):
        return []
    found = np.asarray(keys, dtype=np.int64)
    at = np.minimum(np.searchsorted(wanted, found), len(wanted) - 1)
    return [int(k) for k in found[wanted[at] == found]]


class KeySet(beam.CombineFn):
    """The distinct keys of the new articles, as a sorted array (8 bytes a key) for ``shared_keys``."""

    def create_accumulator(self) -> set[int]:
        return set()

    def add_input(self, accumulator: set[int], key: int) -> set[int]:
        accumulator.add(key)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[set[int]]) -> set[int]:
        merged: set[int] = set()
        for accumulator in accumulators:
            merged |= accumulator
        return merged

    def extract_output(self, accumulator: set[int]) -> np.ndarray:
        return np.array(sorted(accumulator), dtype=np.int64)


class _ReadMembers(beam.DoFn):
    """Past members of one articles file, keyed by their keys (batch) or with their content hash (stream).

    ``earliest`` is the earliest new article's moment (None: no new article,
    so nothing is read); a file that cannot be read is named, counted and
    skipped, as by ``ReadExistingIds``.
    """

    def __init__(self, settings: ClusterSettings, keyed: bool) -> None:
        self.settings = settings
        self.keyed = keyed
        self.bands, self.rows = lsh_bands(settings.threshold)
        self._members = counter("cluster_past_members")
        self._candidates = counter("cluster_past_candidates")
        self._unreadable = counter("cluster_past_files_unreadable")

    def process(
        self, readable: fileio.ReadableFile, earliest: Optional[Timestamp], wanted: Optional[np.ndarray] = None
    ) -> Iterator[Any]:
        if earliest is None:
            return
        start = lookback_start(earliest, self.settings.lookback_days)
        path = readable.metadata.path
        if not partition_is_recent(path, start):
            return
        try:
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
                found = list(members_in_file(pq.ParquetFile(handle), self.settings.min_words, start))
        except Exception as error:  # noqa: BLE001 - one damaged file must not stop clustering
            _LOG.warning("cannot read past articles file %s for clusters (%s: %s)", path, type(error).__name__, error)
            self._unreadable.inc()
            return
        self._members.inc(len(found))
        if not self.keyed:
            yield from found
            return
        for member, content_hash in found:
            keys = member_keys(member, content_hash, self.bands, self.rows)
            shared = keys if wanted is None else shared_keys(keys, wanted)
            if shared:
                self._candidates.inc()
            for key in shared:
                yield key, member


def read_cluster_rows(parquet: pq.ParquetFile) -> list[StoryCluster]:
    """The rows of one ``clusters/`` file (rows of another cluster rule are left out: their ids do not carry)."""
    table = parquet.read()
    out: list[StoryCluster] = []
    for row in table.to_pylist():
        if row.get("cluster_rule") != CLUSTER_RULE:
            continue
        out.append(
            StoryCluster(
                cluster_id=row["cluster_id"],
                size=int(row["size"]),
                first_seen=_timestamp(row["first_seen"]),
                last_seen=_timestamp(row["last_seen"]),
                sources=list(row.get("sources") or []),
                title=row.get("title"),
                merged_ids=list(row.get("merged_ids") or []),
                run_id=row["run_id"],
                updated_at=_timestamp(row["updated_at"]),
                cluster_rule=np.int32(row["cluster_rule"]),
            )
        )
    return out


class _ReadClusterRows(beam.DoFn):
    def __init__(self) -> None:
        self._unreadable = counter("cluster_table_files_unreadable")

    def process(self, readable: fileio.ReadableFile) -> Iterator[StoryCluster]:
        path = readable.metadata.path
        try:
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
                rows = read_cluster_rows(pq.ParquetFile(handle))
        except Exception as error:  # noqa: BLE001 - a damaged table file: its clusters start again
            _LOG.warning("cannot read clusters file %s (%s: %s)", path, type(error).__name__, error)
            self._unreadable.inc()
            return
        yield from rows


def _matched(pbegin: Any, pattern: str, label: str) -> beam.PCollection:
    return (
        pbegin
        | f"Match{label}" >> fileio.MatchFiles(pattern, empty_match_treatment=fileio.EmptyMatchTreatment.ALLOW)
        | f"Open{label}" >> fileio.ReadMatches()
    )


class ReadPastMembers(beam.PTransform):
    """Past articles published within the lookback of ``earliest`` (a side input, or a moment), as members.

    Keyed by their band keys (or exact-content key) for the batch grouping;
    with ``keyed=False``, each with its content hash, for the stream's state.
    """

    def __init__(
        self, articles_dir: str, settings: ClusterSettings, earliest: Any, keyed: bool = True, wanted: Any = None
    ):
        super().__init__()
        self.pattern = articles_dir.rstrip("/") + "/**/*.parquet"
        self.settings = settings
        self.earliest = earliest
        self.keyed = keyed
        self.wanted = wanted

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return _matched(pbegin, self.pattern, "PastArticles") | "PastMembers" >> beam.ParDo(
            _ReadMembers(self.settings, self.keyed), self.earliest, self.wanted
        )


class ReadClusterTable(beam.PTransform):
    """Every row of ``clusters/`` (small: one per cluster per run that added to it)."""

    def __init__(self, clusters_dir: str):
        super().__init__()
        self.pattern = clusters_dir.rstrip("/") + "/**/*.parquet"

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return _matched(pbegin, self.pattern, "ClusterTable") | "ClusterRows" >> beam.ParDo(_ReadClusterRows())


# --------------------------------------------------------------------------
# Batch
# --------------------------------------------------------------------------


def new_member(article: Article) -> ClusterMember:
    return ClusterMember(
        article_id=article.article_id,
        cluster_id=None,
        minhash=article.minhash,
        seen=event_moment(article.published_at, article.ingested_at),
        source_domain=article.source_domain,
        title=article.title,
        is_new=True,
    )


class _Sign(beam.DoFn):
    """Each new article with its signature, and its member under each of its keys."""

    KEYED = "keyed"

    def __init__(self, settings: ClusterSettings, bands: int, rows: int) -> None:
        self.settings = settings
        self.bands = bands
        self.rows = rows
        self._signed = counter("cluster_signed")
        self._short = counter("cluster_short_texts")

    def process(self, article: Article) -> Iterator[Any]:
        minhash = sign_article(article.title, article.text, self.settings.min_words)
        (self._signed if minhash is not None else self._short).inc()
        article = article._replace(minhash=minhash, cluster_rule=np.int32(CLUSTER_RULE))
        yield article
        member = new_member(article)
        for key in member_keys(
            member, exact_hash(article.content_hash, int(article.word_count)), self.bands, self.rows
        ):
            yield beam.pvalue.TaggedOutput(self.KEYED, (key, member))


class _GroupsOfKey(beam.DoFn):
    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._compared = counter("cluster_candidate_groups")

    def process(self, element: tuple[int, Iterable[ClusterMember]]) -> Iterator[list[ClusterMember]]:
        _, members = element
        members = list(members)
        if len(members) < 2 or not any(m.is_new for m in members):
            return
        self._compared.inc()
        yield from components_in_group(members, self.threshold)


class _Resolve(beam.DoFn):
    """All band groups in one place: union-find, ids, sizes and the table rows."""

    ROWS = "rows"

    def __init__(self, run_id: str, updated_at: Timestamp) -> None:
        self.run_id = run_id
        self.updated_at = updated_at
        self._clustered = counter("clustered_articles")
        self._clusters = counter("clusters_touched")
        self._merges = counter("cluster_merges")

    def process(
        self, element: tuple[Any, Iterable[list[ClusterMember]]], known: Iterable[StoryCluster]
    ) -> Iterator[Any]:
        _, groups = element
        assignments, rows = resolve_clusters(groups, known, self.run_id, self.updated_at)
        self._clustered.inc(len(assignments))
        self._clusters.inc(len(rows))
        self._merges.inc(sum(len(row.merged_ids) for row in rows))
        yield from assignments.items()
        for row in rows:
            yield beam.pvalue.TaggedOutput(self.ROWS, row)


def _first(groups: Iterable[list[ClusterMember]]) -> list[ClusterMember]:
    return next(iter(groups))


def _assign_joined(element: tuple[str, dict[str, list[Any]]]) -> Iterator[Article]:
    _, joined = element
    assignment = joined["assignment"][0] if joined["assignment"] else None
    for article in joined["article"]:
        yield assign(article, assignment)


class ClusterStories(beam.PTransform):
    """New articles with their story cluster, and the ``clusters/`` rows this run adds (output ``"clusters"``)."""

    def __init__(self, settings: ClusterSettings, output: str, run_id: str, ingested_at: Timestamp):
        super().__init__()
        self.settings = settings
        self.output = output.rstrip("/")
        self.run_id = run_id
        self.ingested_at = ingested_at

    def expand(self, articles: beam.PCollection[Article]) -> dict[str, beam.PCollection]:
        bands, rows = lsh_bands(self.settings.threshold)
        signed = articles | "Sign" >> beam.ParDo(_Sign(self.settings, bands, rows)).with_outputs(
            _Sign.KEYED, main="articles"
        )
        pipeline = articles.pipeline
        # The lookback counts back from the earliest new article, so a backfill of old news is matched
        # against the news of its time; no new article, nothing read.
        earliest = (
            articles
            | "Moments" >> beam.Map(lambda a: event_moment(a.published_at, a.ingested_at))
            | "Earliest" >> beam.CombineGlobally(min).without_defaults()
        )
        wanted = (
            signed[_Sign.KEYED]
            | "NewKeys" >> beam.Map(lambda keyed: keyed[0])
            | "KeySet" >> beam.CombineGlobally(KeySet()).without_defaults()
        )
        past = pipeline | "ReadPastMembers" >> ReadPastMembers(
            self.output + "/articles",
            self.settings,
            beam.pvalue.AsSingleton(earliest, default_value=None),
            wanted=beam.pvalue.AsSingleton(wanted, default_value=None),
        )
        known = pipeline | "ReadClusterTable" >> ReadClusterTable(self.output + "/" + CLUSTERS)
        groups = (
            (signed[_Sign.KEYED], past)
            | "AllMembers" >> beam.Flatten()
            | "GroupBandKeys" >> beam.GroupByKey()
            | "MatchInGroups" >> beam.ParDo(_GroupsOfKey(self.settings.threshold))
        )
        resolved = (
            groups
            # A matched pair shares several bands: its group comes once from each. One copy of each
            # goes on (combined before the shuffle), so the one place that joins them gets few.
            | "KeyByMembers" >> beam.Map(lambda group: (",".join(sorted(m.article_id for m in group)), group))
            | "DistinctGroups" >> beam.CombinePerKey(_first)
            | "OneKey" >> beam.Map(lambda keyed: (None, keyed[1]))
            | "GatherGroups" >> beam.GroupByKey()
            | "Resolve"
            >> beam.ParDo(_Resolve(self.run_id, self.ingested_at), beam.pvalue.AsIter(known)).with_outputs(
                _Resolve.ROWS, main="assignments"
            )
        )
        clustered = (
            {
                "article": signed.articles | "KeyArticles" >> beam.Map(lambda a: (a.article_id, a)),
                "assignment": resolved.assignments,
            }
            | "JoinClusters" >> beam.CoGroupByKey()
            | "AssignClusters" >> beam.FlatMap(_assign_joined)
        )
        return {"articles": clustered, CLUSTERS: resolved[_Resolve.ROWS]}


# --------------------------------------------------------------------------
# Streaming
# --------------------------------------------------------------------------

_MEMBERS = BagStateSpec("members", PickleCoder())
_ROWS = BagStateSpec("cluster_rows", PickleCoder())
_COUNT = ReadModifyWriteStateSpec("count", VarIntCoder())
_PRUNED = ReadModifyWriteStateSpec("pruned_at", VarIntCoder())
_MEMBERS_PARAM = beam.DoFn.StateParam(_MEMBERS)
_ROWS_PARAM = beam.DoFn.StateParam(_ROWS)
_COUNT_PARAM = beam.DoFn.StateParam(_COUNT)
_PRUNED_PARAM = beam.DoFn.StateParam(_PRUNED)
_TIMESTAMP = beam.DoFn.TimestampParam
#: How often (in poll time) a stream drops members older than the lookback from its state.
PRUNE_EVERY = 86400


class _Index:
    """The in-memory view of the stream's state: members by key, and each cluster's latest row."""

    def __init__(self, bands: int, rows: int) -> None:
        self.bands = bands
        self.rows = rows
        self.by_key: dict[int, list[ClusterMember]] = defaultdict(list)
        self.clusters: dict[str, StoryCluster] = {}
        #: Each merged cluster id → the cluster it was merged into (one step; chains are followed).
        self.merged_into: dict[str, str] = {}
        self.size = 0

    def add(self, member: ClusterMember, keys: Sequence[int]) -> None:
        for key in keys:
            self.by_key[key].append(member)
        self.size += 1

    def add_row(self, row: StoryCluster) -> None:
        held = self.clusters.get(row.cluster_id)
        if held is None or (row.updated_at, row.run_id) >= (held.updated_at, held.run_id):
            self.clusters[row.cluster_id] = row
        for merged in row.merged_ids:
            if merged != row.cluster_id:
                self.merged_into[merged] = row.cluster_id

    def rows_for(self, groups: Iterable[Sequence[ClusterMember]]) -> list[StoryCluster]:
        """The rows resolving these groups needs: their past members' clusters and every cluster they were
        merged into (so the cost per article does not grow with the number of clusters in the stream)."""
        wanted: set[str] = set()
        for group in groups:
            for member in group:
                current = member.cluster_id if not member.is_new else None
                while current is not None and current not in wanted:
                    wanted.add(current)
                    current = self.merged_into.get(current)
        return [self.clusters[c] for c in wanted if c in self.clusters]


class _ClusterInState(beam.DoFn):
    """One key holds the stream's index of recent signatures; each new article is matched as it arrives.

    One key, so the index is one: every article must be compared with every
    recent one, and the matches are resolved in arrival order (an id never
    changes). The index is rebuilt from state only when the state holds
    members this instance has not seen (another worker, a restart), so the
    steady cost per article is its own signing and lookups. Members older
    than the lookback are dropped once a day of poll time.
    """

    ROWS = "rows"

    def __init__(self, settings: ClusterSettings, run_id: str) -> None:
        self.settings = settings
        self.run_id = run_id
        self._signed = counter("cluster_signed")
        self._short = counter("cluster_short_texts")
        self._clustered = counter("clustered_articles")
        self._merges = counter("cluster_merges")
        self._index: Optional[_Index] = None

    def setup(self) -> None:
        self._index = None

    def _keys(self, member: ClusterMember, content_hash: Optional[str], index: _Index) -> list[int]:
        return member_keys(member, content_hash, index.bands, index.rows)

    def _rebuild(self, members: Any, rows: Any) -> _Index:
        bands, band_rows = lsh_bands(self.settings.threshold)
        index = _Index(bands, band_rows)
        for member, content_hash in members.read():
            index.add(member, self._keys(member, content_hash, index))
        for row in rows.read():
            index.add_row(row)
        return index

    def process(
        self,
        element: tuple[Any, Article],
        past: Iterable[tuple[ClusterMember, Optional[str]]],
        known: Iterable[StoryCluster],
        polled_at: Any = _TIMESTAMP,
        members: Any = _MEMBERS_PARAM,
        rows: Any = _ROWS_PARAM,
        count: Any = _COUNT_PARAM,
        pruned: Any = _PRUNED_PARAM,
    ) -> Iterator[Any]:
        _, article = element
        stored = count.read()
        if stored is None:
            # First article of the stream: the past (read once at start) becomes state.
            stored = 0
            for member, content_hash in past:
                members.add((member, content_hash))
                stored += 1
            for row in known:
                rows.add(row)
            count.write(stored)
            pruned.write(int(polled_at.micros // 1_000_000))
            self._index = None
        elif int(polled_at.micros // 1_000_000) - (pruned.read() or 0) >= PRUNE_EVERY:
            stored = self._prune(polled_at, members, rows, count, pruned)
            self._index = None
        if self._index is None or self._index.size != stored:
            self._index = self._rebuild(members, rows)
        index = self._index
        minhash = sign_article(article.title, article.text, self.settings.min_words)
        (self._signed if minhash is not None else self._short).inc()
        article = article._replace(minhash=minhash, cluster_rule=np.int32(CLUSTER_RULE))
        member = new_member(article)
        content_hash = exact_hash(article.content_hash, int(article.word_count))
        keys = self._keys(member, content_hash, index)
        groups = []
        for key in keys:
            candidates = index.by_key.get(key)
            if candidates:
                groups.extend(components_in_group([*candidates, member], self.settings.threshold))
        assignments, new_rows = resolve_clusters(groups, index.rows_for(groups), self.run_id, polled_at)
        assignment = assignments.get(article.article_id)
        clustered = assign(article, assignment)
        stored_member = member._replace(cluster_id=clustered.cluster_id, is_new=False)
        members.add((stored_member, content_hash))
        index.add(stored_member, keys)
        count.write(index.size)
        for row in new_rows:
            rows.add(row)
            index.add_row(row)
            self._merges.inc(len(row.merged_ids))
            yield beam.pvalue.TaggedOutput(self.ROWS, row)
        if assignment is not None:
            self._clustered.inc()
        yield clustered

    def _prune(self, polled_at: Timestamp, members: Any, rows: Any, count: Any, pruned: Any) -> int:
        now = int(polled_at.micros // 1_000_000)
        pruned.write(now)
        if self.settings.lookback_days <= 0:
            return int(count.read() or 0)
        cutoff = Timestamp(now - int(self.settings.lookback_days * 86400))
        kept = [(m, h) for m, h in members.read() if m.seen >= cutoff]
        latest = latest_rows(rows.read())
        members.clear()
        for item in kept:
            members.add(item)
        rows.clear()
        for row in latest.values():
            if row.last_seen >= cutoff or row.merged_ids:
                rows.add(row)
        count.write(len(kept))
        return len(kept)


class ClusterStoriesContinuously(beam.PTransform):
    """The streaming twin of ``ClusterStories``: the same columns and ``clusters/`` rows, from keyed state."""

    def __init__(self, settings: ClusterSettings, output: str, run_id: str, started: Timestamp):
        super().__init__()
        self.settings = settings
        self.output = output.rstrip("/")
        self.run_id = run_id
        self.started = started

    def expand(self, articles: beam.PCollection[Article]) -> dict[str, beam.PCollection]:
        pipeline = articles.pipeline
        # A stream is of current news: the lookback counts back from its start.
        past = pipeline | "ReadPastMembers" >> ReadPastMembers(
            self.output + "/articles", self.settings, self.started, keyed=False
        )
        known = pipeline | "ReadClusterTable" >> ReadClusterTable(self.output + "/" + CLUSTERS)
        clustered = (
            articles
            | "OneKey" >> beam.Map(lambda a: (0, a)).with_output_types(tuple[int, Article])
            | "MatchInState"
            >> beam.ParDo(
                _ClusterInState(self.settings, self.run_id), beam.pvalue.AsList(past), beam.pvalue.AsList(known)
            ).with_outputs(_ClusterInState.ROWS, main="articles")
        )
        return {"articles": clustered.articles, CLUSTERS: clustered[_ClusterInState.ROWS]}


def article_tallies(article: Article) -> list[tuple[str, int]]:
    """A written article's part in a stream window's cluster counts (the summary's ``clusters``)."""
    tallies = [("cluster_signed" if article.minhash is not None else "cluster_short_texts", 1)]
    if article.cluster_size is not None and article.cluster_size > 1:
        tallies.append(("clustered_articles", 1))
    return tallies


def row_tallies(row: StoryCluster) -> list[tuple[str, int]]:
    """A ``clusters/`` row's part in a stream window's counts."""
    return [("cluster_rows", 1), ("cluster_merges", len(row.merged_ids))]
