"""The records that flow through newsbeam, defined once.

Each record is a ``typing.NamedTuple``: Beam infers its row schema from the
annotations (the compact ``RowCoder`` is registered for each at the bottom of
this module; without that Beam would pickle them between stages), and :mod:`schemas.arrow` derives the
Parquet schema from that same Beam schema. There is no second definition to
keep in sync.

Nullability is part of the contract: ``Optional[...]`` fields are nullable,
every other field is required. Timestamps are Beam ``Timestamp`` values, which
map to ``timestamp[us, UTC]`` in Arrow.
"""

from typing import NamedTuple, Optional, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.utils.timestamp import Timestamp

#: Bumped whenever a column is added, removed or changes meaning.
#: 1: the core article columns. 2: named entities (entities, people,
#: organizations, locations, countries). 3: ``id_rule``; then, as issue 13
#: specified it within version 3, the full text from the linked page
#: (``text_source``, ``summary``, ``page_url``, ``page_status``,
#: ``page_error``) and the page's metadata (``image_url``, ``site_name``,
#: ``description``, ``canonical_url``, ``published_source``): nullable columns
#: added at the end, so a version-3 file written before them reads with them
#: as null (DuckDB ``union_by_name``, ``read_parquet(schema=)``), as do files
#: of versions 1 and 2. 4: story clusters (``cluster_id``, ``cluster_size``,
#: ``minhash``, ``cluster_rule``), nullable, at the end: rows of versions 1–3
#: read with them as null.
SCHEMA_VERSION = 4
#: The rule that makes an article's ``minhash`` (``transforms.clusters``):
#: which words are shingled, how many, the MinHash library's algorithm version,
#: permutations and seed. Signatures of two rules are never compared: a run
#: re-signs a past article of another rule from its title and text.
#: 1: word 5-shingles of the folded title and text, rensa 0.5.0 ``RMinHash``
#: (algorithm version 2), 128 permutations, seed 20141.
CLUSTER_RULE = 1
#: The rule that makes ``article_id`` (``transforms.identify``), recorded in
#: every article row as ``id_rule``. Bumped whenever the ids it gives change:
#: 1: the first canonical URL. 2: tracker list as data
#: (``transforms/data/tracking_params.json``), query parameters sorted,
#: escapes normalised. A run reads older rows' URLs and recomputes their ids
#: under this rule, so a re-run into an older output adds no duplicates.
ID_RULE = 2
#: The version of the feed tables (``feed_health/``, ``feed_state/``), kept
#: apart so that adding a health column does not bump every article row.
#: 1: validators, failure streaks. 2: ``feed_state`` keeps the publisher's
#: refresh hint (``next_fetch_after``, ``refresh_hint``); version 1 files
#: still read (the two columns as null).
FEED_SCHEMA_VERSION = 2


class Repair(NamedTuple):
    """One kind of text repair and how often it was applied to an article."""

    kind: str
    count: np.int32  # type: ignore[assignment]  # shadows tuple.count; the column name users expect


class EncodingInfo(NamedTuple):
    """How an article's bytes became text, and what had to be mended.

    ``decode_path`` says which rule chose the codec: ``bom``, ``declared``,
    ``utf-8``, ``declared-overridden`` (a Latin-1 family declaration on bytes
    that are valid multi-byte UTF-8), ``detected`` or ``cp1252-fallback``.
    """

    codec: str
    decode_path: str
    declared: Optional[str]
    repairs: Sequence[Repair]


class Entity(NamedTuple):
    """One named-entity mention: where it is in ``text`` and what it names.

    ``start``/``end`` are character offsets into the article's ``text``
    (``text[start:end] == entity.text``). ``label`` is the model's label
    (PERSON, ORG, GPE, LOC, NORP, FAC, …), or the label of the longer name the
    mention was linked to. ``canonical`` is the name the mention stands for in
    this article: "Biden" → "Joe Biden", "PLA" → "People's Liberation Army".
    """

    text: str
    label: str
    start: np.int32
    end: np.int32
    canonical: str


class RawDocument(NamedTuple):
    """Bytes as read from a source, before anything is parsed out of them."""

    source: str
    source_type: str
    payload: bytes
    fetched_at: Timestamp
    content_type: Optional[str]
    parent: Optional[str]


class RawRecord(NamedTuple):
    """One record of a file too large to hold, split off as the file is read and parsed on its own.

    A file over ``--max-file-mb`` in a format that reads as a stream of
    records (JSON Lines) never travels whole: its reader emits each record as
    it is read, and ``format`` names the input format that parses it.
    ``ordinal`` counts the file's records emitted before this one (the first,
    0, counts the file as read in its format; records of a file read in
    ranges count from 1: the file was counted when its ranges were planned);
    ``position`` is where the record starts, in the format's own terms (a
    line number; a WARC record's offset in the file as stored).
    """

    source: str
    format: str
    ordinal: int
    position: int
    payload: bytes
    fetched_at: Timestamp
    parent: Optional[str]


class FileRange(NamedTuple):
    """A byte range of a file that is read in parallel (a WARC of one gzip member a record), with what opens it.

    ``path`` is the file as the reader opens it (``source`` is how it is
    shown); ``folder``, when set, is the feed list's folder the file must lie
    in. ``start``/``end``: the range; ``size``: the file's, when planned.
    """

    source: str
    path: str
    format: str
    start: int
    end: int
    size: int
    parent: Optional[str]
    folder: Optional[str]


class HttpExchange(NamedTuple):
    """One HTTP request and its response as they went over the wire, for the run's web archive (``--warc-out``).

    ``body`` is the payload as received: content encoding kept (gzip stays
    gzip), transfer encoding undone (``chunked`` is framing, not content);
    ``response_headers`` in the server's order, repeated fields repeated.
    ``role``: what newsbeam fetched it as (``feed``, ``page``). A page's
    responses also say which feed entry's link the fetch started from
    (``link``) and where each stands in its redirects (``hop``, 0 first):
    read back, they stand in for fetching that link again (``ArchivedPage``).
    """

    url: str
    fetched_at: Timestamp
    ip: Optional[str]
    method: str
    request_headers: list[tuple[str, str]]
    http_version: str
    status: int
    reason: str
    response_headers: list[tuple[str, str]]
    body: bytes
    role: str
    link: str = ""
    hop: int = 0


class ArchivedPage(NamedTuple):
    """A page fetch read back from newsbeam's own web archive (``--warc-out``), keyed by the entry link it was for.

    Why: re-reading an archive must give the fetching run's articles without
    the network, through the same merge of page into entry as a live fetch
    (``transforms.pages``): so each archived page response travels to the
    entry whose link it was fetched for, instead of being an article of its
    own. ``kind`` ``response``: one response of that fetch (``hop`` 0 is the
    link's own, then each redirect's target). ``kind`` ``entry``: no response,
    only the mark that an entry with this link was read from an archived feed
    (its page is then taken from the archive or not at all, never fetched).
    """

    kind: str
    link: str
    hop: int = 0
    url: Optional[str] = None
    status: Optional[int] = None
    content_type: Optional[str] = None
    body: bytes = b""
    fetched_at: Optional[Timestamp] = None


class RawArticle(NamedTuple):
    """One article's fields as found in its document, not yet cleaned.

    ``body`` is HTML when ``body_is_html`` is true, otherwise plain text.
    ``language`` is empty until text repair identifies it.
    ``raw`` is a JSON rendering of what the article was parsed from, kept so a
    failure downstream can still dead-letter the original payload.
    """

    source_type: str
    source: str
    feed_url: Optional[str]
    feed_link: Optional[str]
    url: Optional[str]
    guid: Optional[str]
    title: Optional[str]
    subtitle: Optional[str]
    body: str
    body_is_html: bool
    authors: Sequence[str]
    published_raw: Optional[str]
    categories: Sequence[str]
    encoding: EncodingInfo
    language: Optional[str]
    raw: str
    #: ``feed`` for a feed entry, ``file`` for an article file or record (``Article.text_source``).
    text_source: str = "file"
    #: The feed's teaser (its summary/description) when the entry has one; HTML when ``body_is_html``.
    summary: Optional[str] = None
    #: What the page itself says, for an HTML page read as a file (``transforms.extract``).
    image_url: Optional[str] = None
    site_name: Optional[str] = None
    description: Optional[str] = None
    canonical_url: Optional[str] = None
    published_source: Optional[str] = None
    #: For a page read from a web archive: the URL it was fetched from and its HTTP status (``Article.page_url``).
    page_url: Optional[str] = None
    page_status: Optional[int] = None


class Article(NamedTuple):
    """A clean, identified article: one row of ``articles/``."""

    article_id: str
    schema_version: np.int32
    run_id: str
    ingested_at: Timestamp
    source_type: str
    source: str
    source_domain: Optional[str]
    url: Optional[str]
    guid: Optional[str]
    title: Optional[str]
    subtitle: Optional[str]
    dateline: Optional[str]
    authors: Sequence[str]
    published_at: Optional[Timestamp]
    published_raw: Optional[str]
    published_offset_minutes: Optional[np.int32]
    text: str
    language: Optional[str]
    word_count: np.int32
    categories: Sequence[str]
    encoding: EncodingInfo
    content_hash: str
    entities: Sequence[Entity]
    people: Sequence[str]
    organizations: Sequence[str]
    locations: Sequence[str]
    countries: Sequence[str]
    #: The ``ID_RULE`` that made ``article_id`` (rows without the column, schema 2 and older: rule 1).
    id_rule: np.int32 = np.int32(ID_RULE)  # type: ignore[assignment]
    # Added within schema 3 (issue 13): the article's text from its page, and what the page says about itself.
    #: Where ``text`` came from: ``feed`` (the entry's own content), ``page`` (extracted from the
    #: linked page, ``page_url``) or ``file`` (an article file or record given as input).
    text_source: Optional[str] = None
    #: The feed's teaser (the entry's summary/description), repaired like all text; null without one.
    summary: Optional[str] = None
    #: The page's final URL after redirects (``url`` stays the feed's link, and ``article_id`` its id).
    page_url: Optional[str] = None
    #: The last HTTP status of the page fetch; null when no request was made or no response came.
    page_status: Optional[np.int32] = None
    #: Why the page's text is not ``text`` (``transforms.pages.PAGE_ERRORS``: ``robots``, ``http_404``,
    #: ``paywall``, ``consent``, ``timeout``, …); null when the page gave the text or none was fetched.
    page_error: Optional[str] = None
    image_url: Optional[str] = None
    site_name: Optional[str] = None
    #: The page's own description (og:description / meta description).
    description: Optional[str] = None
    #: The page's ``rel=canonical`` (else og:url), absolute.
    canonical_url: Optional[str] = None
    #: Where ``published_raw`` came from: ``feed``, ``file``, or the page's source of it
    #: (``jsonld``, ``meta:article:published_time``, ``time``, ``url``, ``htmldate``, …).
    published_source: Optional[str] = None
    # Schema 4 (issue 14): the story this article is a copy of, across outlets and runs.
    #: The story cluster: the smallest ``article_id`` among the members when the cluster formed; it never
    #: changes as later runs add members (when a new article joins two clusters, the later rows carry the
    #: smaller id and ``clusters/`` lists the other in ``merged_ids``). A singleton's is its own id.
    cluster_id: Optional[str] = None
    #: Members of the cluster when this row was written (``clusters/`` has the current size).
    cluster_size: Optional[np.int32] = None
    #: The MinHash signature of the title and text (little-endian uint32s), kept so later runs match
    #: against it; null for texts too short to cluster by likeness (they cluster by identical content only).
    minhash: Optional[bytes] = None
    #: The ``CLUSTER_RULE`` that made ``minhash`` and ``cluster_id``.
    cluster_rule: Optional[np.int32] = None


class ClusterMember(NamedTuple):
    """One article as clustering sees it: what it is keyed by, compared on, and counted in a cluster.

    ``cluster_id`` is null for this run's articles (they have none yet) and the
    stored id for past ones; ``seen`` is when the article was published (its
    ingest time when undated).
    """

    article_id: str
    cluster_id: Optional[str]
    minhash: Optional[bytes]
    seen: Timestamp
    source_domain: Optional[str]
    title: Optional[str]
    is_new: bool


class StoryCluster(NamedTuple):
    """One row of ``clusters/``: a story's state after a run that added to it (the latest row per id wins)."""

    cluster_id: str
    size: int
    first_seen: Timestamp
    last_seen: Timestamp
    #: Source domains of the members (sorted).
    sources: Sequence[str]
    #: A representative title: the title of the article whose id is the cluster's.
    title: Optional[str]
    #: Ids of earlier clusters a new article joined to this one; their rows keep their ids.
    merged_ids: Sequence[str]
    run_id: str
    updated_at: Timestamp
    cluster_rule: np.int32


class DeadLetter(NamedTuple):
    """A record that could not be turned into an article, and why.

    Exactly one of ``raw_bytes`` and ``raw_text`` carries the payload as it was
    when the failing stage received it, so nothing read is ever lost.
    """

    stage: str
    error_type: str
    message: str
    source: str
    raw_bytes: Optional[bytes]
    raw_text: Optional[str]
    run_id: str
    time: Timestamp


class FeedRequest(NamedTuple):
    """A feed URL to fetch, and the OPML list (file or URL) that named it, if any."""

    url: str
    parent: Optional[str]


class FeedFetch(NamedTuple):
    """How one feed's HTTP fetch went: the fetch stage's half of a feed-health row.

    ``status`` is the last HTTP status seen (null when no response arrived);
    ``error_class``/``error_message`` are null for a usable response, a 304
    included. ``etag``/``last_modified`` are the validators the server sent,
    kept for the next run's conditional request.
    """

    url: str
    final_url: Optional[str]
    parent: Optional[str]
    kind: str
    status: Optional[np.int32]
    error_class: Optional[str]
    error_message: Optional[str]
    bytes: np.int64
    not_modified: bool
    attempts: np.int32
    redirects: np.int32
    elapsed_ms: np.int64
    content_type: Optional[str]
    etag: Optional[str]
    last_modified: Optional[str]
    fetched_at: Timestamp
    #: The earliest next fetch the publisher asked for (see ``FeedState``), null without a hint.
    next_fetch_after: Optional[Timestamp] = None
    refresh_hint: Optional[str] = None


class FeedOutcome(NamedTuple):
    """What parsing made of one fetched document: entries found, or why none."""

    source: str
    entries: np.int32
    error_class: Optional[str]
    error_message: Optional[str]


class FeedHealth(NamedTuple):
    """One row per fetched feed per run in ``feed_health/``: the fetch, then what became of its entries.

    ``entries_seen = new_articles + duplicates + dead_lettered`` for every feed
    whose entries were all accounted for; ``consecutive_failures`` counts this
    run and the runs before it without a usable response.
    """

    run_id: str
    url: str
    final_url: Optional[str]
    parent: Optional[str]
    kind: str
    status: Optional[np.int32]
    error_class: Optional[str]
    error_message: Optional[str]
    bytes: np.int64
    entries_seen: np.int32
    new_articles: np.int32
    duplicates: np.int32
    dead_lettered: np.int32
    not_modified: bool
    attempts: np.int32
    redirects: np.int32
    elapsed_ms: np.int64
    consecutive_failures: np.int32
    content_type: Optional[str]
    fetched_at: Timestamp


class FeedState(NamedTuple):
    """What newsbeam remembers about a feed between runs (``feed_state/``).

    The validators make the next fetch conditional; the failure streak feeds
    ``consecutive_failures``; ``kind`` = "opml" turns conditional requests off
    for lists, whose 304 would hide the feeds they name.
    """

    url: str
    kind: str
    etag: Optional[str]
    last_modified: Optional[str]
    last_status: Optional[np.int32]
    consecutive_failures: np.int32
    last_attempt_at: Timestamp
    last_success_at: Optional[Timestamp]
    run_id: str
    #: The earliest time the publisher wants the feed fetched again (Cache-Control max-age, Expires,
    #: RSS ``<ttl>``, ``sy:updatePeriod``/``sy:updateFrequency``, ``Retry-After`` of a 429/503), at most
    #: a day after the fetch; null when the last fetch gave no hint. A stream does not poll the feed
    #: before it; batch runs record it.
    next_fetch_after: Optional[Timestamp] = None
    #: Which hint set ``next_fetch_after``, as the publisher wrote it (``Cache-Control: max-age=3600``).
    refresh_hint: Optional[str] = None


for _record in (
    Repair,
    EncodingInfo,
    Entity,
    RawDocument,
    RawRecord,
    RawArticle,
    Article,
    ClusterMember,
    StoryCluster,
    DeadLetter,
    FeedRequest,
    FeedFetch,
    FeedOutcome,
    FeedHealth,
    FeedState,
):
    beam.coders.registry.register_coder(_record, beam.coders.RowCoder)
