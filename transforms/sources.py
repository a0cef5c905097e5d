"""Where documents come from: input paths, globs and directories, OPML lists.

Inputs are expanded and read through Beam's ``FileSystems``, so ``gs://``
works wherever a local path does. Files are read as bytes; gzip is recognised
by its magic number, not its name, and decompressed under a size limit so a
compression bomb is cut off instead of filling memory. OPML files are
expanded here, at the edge: the rest of the pipeline only sees documents.
"""

from __future__ import annotations

import gzip
import io
import os
import posixpath
import time
import zlib
from typing import Any, Iterable, Iterator, Optional
from urllib.parse import unquote, urlparse

import apache_beam as beam
import lxml.etree
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.utils.timestamp import Timestamp

from schemas import FeedRequest, RawDocument
from transforms.errors import (
    DEAD_LETTER,
    BlockedURL,
    DocumentTooLarge,
    InputNotFound,
    SafeDoFn,
    UnreadableDocument,
    counter,
)

GZIP_MAGIC = b"\x1f\x8b"
#: Output tag of ``ReadDocuments`` for feed URLs, to be fetched by ``transforms.fetch``.
URLS = "urls"
_GLOB_CHARS = set("*?[")
_OPML_DEPTH = 4


def is_url(value: str) -> bool:
    return urlparse(value).scheme in ("http", "https")


def is_hidden(relative: str) -> bool:
    """Whether a path below an input directory is hidden by the ``.``/``_`` convention.

    Like Spark and Hive, directory inputs skip entries whose name starts with
    ``.`` or ``_`` (``_SUCCESS``, ``.crc``, ``_staging``, ``seeds/_expected``);
    a file named explicitly is always read.
    """
    return any(part.startswith((".", "_")) for part in relative.split("/") if part)


def gunzip_limited(data: bytes, limit: int) -> bytes:
    """Decompress gzip ``data`` (all members) without ever holding more than ``limit`` bytes."""
    out = io.BytesIO()
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    remaining = data
    while remaining:
        chunk = decompressor.decompress(remaining, limit + 1 - out.tell())
        out.write(chunk)
        if out.tell() > limit:
            raise DocumentTooLarge(f"decompressed size exceeds the limit of {limit} bytes")
        if decompressor.unconsumed_tail:
            remaining = decompressor.unconsumed_tail
            continue
        if decompressor.eof:
            remaining = decompressor.unused_data
            if remaining.startswith(GZIP_MAGIC):
                decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
                continue
            break
        break
    if not decompressor.eof:
        raise UnreadableDocument("truncated gzip stream")
    return out.getvalue()


def read_bytes(path: str, max_bytes: int) -> bytes:
    """A file's bytes, refusing files over ``max_bytes`` before reading them."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DocumentTooLarge(f"file exceeds the limit of {max_bytes} bytes")
    if data.startswith(GZIP_MAGIC):
        try:
            data = gunzip_limited(data, max_bytes)
        except (zlib.error, EOFError, gzip.BadGzipFile) as error:
            raise UnreadableDocument(f"corrupt gzip data: {error}") from error
    return data


def looks_like_opml(data: bytes) -> bool:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return b"<opml" in head


def _safe_parser() -> lxml.etree.XMLParser:
    # A new parser per document: lxml parsers must not be shared between threads.
    return lxml.etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=True)


def opml_feeds(data: bytes) -> list[str]:
    """The ``xmlUrl`` of every feed outline in an OPML document, nested ones included.

    The parser neither loads external DTDs nor touches the network. libxml2
    still expands internal entities inside attribute values (only its
    amplification limit stops a "billion laughs", leaving a silently truncated
    outline list), and OPML has no use for entity declarations, so a document
    that declares any is refused whole rather than half-read.
    """
    try:
        root = lxml.etree.fromstring(data, parser=_safe_parser())
    except lxml.etree.XMLSyntaxError as error:
        raise UnreadableDocument(f"invalid OPML: {error}") from error
    if root is None or not str(root.tag).lower().endswith("opml"):
        raise UnreadableDocument("not an OPML document")
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise UnreadableDocument("OPML declares XML entities (refused: entity expansion is unsafe)")
    urls = []
    for outline in root.iter("outline"):
        url = outline.get("xmlUrl") or outline.get("xmlurl") or outline.get("url")
        if url and url.strip():
            urls.append(url.strip())
    return urls


def resolve_relative(parent: str, reference: str) -> str:
    """A feed reference from an OPML file, as a path next to that file."""
    parsed = urlparse(reference)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    if parsed.scheme and len(parsed.scheme) > 1:
        return reference
    if posixpath.isabs(reference):
        return reference
    return posixpath.join(posixpath.dirname(parent), reference)


#: Beam filesystems' schemes: passed to FileSystems, which names the extra to
#: install (apache-beam[gcp], [aws], …) when one is missing.
_BEAM_SCHEMES = {"gs", "s3", "hdfs", "azfs"}


def _local_or_filesystem(value: str) -> str:
    """A ``file:`` URL as its path; any other scheme must be one of Beam's filesystems (gs://, s3://).

    ftp:, gopher: and the like are refused by name rather than failing later
    with a filesystem lookup error.
    """
    scheme = urlparse(value).scheme.lower()
    if scheme == "file":
        return unquote(urlparse(value).path)
    if len(scheme) > 1 and scheme not in _BEAM_SCHEMES:  # "C:" is a drive letter, not a scheme
        try:
            FileSystems.get_filesystem(value)
        except ValueError as error:
            raise BlockedURL(
                f"refused URL scheme {scheme!r}: feeds are fetched over http and https only, files are read "
                "from local paths or Beam filesystems (gs://)",
                source=value,
            ) from error
    return value


def _match(pattern: str) -> list[str]:
    result = FileSystems.match([pattern])[0]
    return sorted(m.path for m in result.metadata_list if not m.path.endswith("/") and not _is_dir(m.path))


def _is_dir(path: str) -> bool:
    return "://" not in path and os.path.isdir(path)


class _MatchInput(SafeDoFn):
    stage = "source"
    counts_read = True

    def process_element(self, value: str) -> Iterable[Any]:
        if is_url(value):
            return [beam.pvalue.TaggedOutput(URLS, FeedRequest(value, None))]
        value = _local_or_filesystem(value)
        directory = value.endswith("/") or _is_dir(value)
        paths = [] if directory else _match(value)
        if not paths and not _GLOB_CHARS & set(value):
            # Not a file: a directory (or an object-store prefix), read recursively,
            # skipping hidden and underscore entries below it.
            base = value.rstrip("/") + "/"
            paths = [p for p in _match(base + "**") if not is_hidden(p[len(base) :])]
        if not paths:
            raise InputNotFound(f"input matched no files: {value}", source=value)
        return paths


class _ReadFile(SafeDoFn):
    """Reads a file; an OPML file is replaced by the documents it lists."""

    stage = "read"
    counts_read = True

    def __init__(self, run_id: str, max_bytes: int):
        super().__init__(run_id)
        self.max_bytes = max_bytes
        self._documents = counter("documents_read")
        self._bytes = counter("bytes_read")
        self._opml = counter("opml_files")

    def process(self, path: str) -> Iterator[object]:  # type: ignore[override]
        yield from self._read(path, parent=None, depth=0, seen=set())

    def _read(self, path: str, parent: Optional[str], depth: int, seen: set[str]) -> Iterator[object]:
        try:
            data = read_bytes(path, self.max_bytes)
        except Exception as error:  # noqa: BLE001 - an unreadable file is a dead letter
            yield self.dead_letter(error, path, raw_text=path)
            return
        self._bytes.inc(len(data))
        if not looks_like_opml(data):
            self._documents.inc()
            yield RawDocument(path, "file", data, Timestamp.of(time.time()), None, parent)
            return
        self._opml.inc()
        seen.add(path)
        try:
            references = opml_feeds(data)
        except Exception as error:  # noqa: BLE001
            yield self.dead_letter(error, path, raw_bytes=data)
            return
        for reference in references:
            child = resolve_relative(path, reference)
            if is_url(child):
                yield beam.pvalue.TaggedOutput(URLS, FeedRequest(child, path))
            elif child in seen or depth >= _OPML_DEPTH:
                yield self.dead_letter(
                    UnreadableDocument(f"OPML nesting loop or deeper than {_OPML_DEPTH} levels: {child}"),
                    child,
                    raw_text=child,
                )
            else:
                yield from self._read(child, parent=path, depth=depth + 1, seen=seen)

    def source_of(self, element: object) -> str:
        return str(element)


class ReadDocuments(beam.PTransform):
    """INPUTs (files, directories, globs, OPML) to ``RawDocument``s, plus dead letters.

    Feed URLs, given directly or listed in a local OPML file, come out on the
    ``urls`` output as ``FeedRequest``s for ``FetchFeeds``.
    """

    def __init__(self, inputs: list[str], run_id: str, max_bytes: int):
        super().__init__()
        self.inputs = list(inputs)
        self.run_id = run_id
        self.max_bytes = max_bytes

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.pvalue.DoOutputsTuple:
        matched = (
            pbegin
            | "Inputs" >> beam.Create(self.inputs)
            | "Match" >> beam.ParDo(_MatchInput(self.run_id)).with_outputs(DEAD_LETTER, URLS, main="paths")
        )
        read = (
            matched.paths
            | "DistinctPaths" >> beam.Distinct()
            | "Spread" >> beam.Reshuffle()
            | "Read"
            >> beam.ParDo(_ReadFile(self.run_id, self.max_bytes)).with_outputs(DEAD_LETTER, URLS, main="documents")
        )
        dead = (matched[DEAD_LETTER], read[DEAD_LETTER]) | "MergeDeadLetters" >> beam.Flatten()
        urls = (matched[URLS], read[URLS]) | "MergeUrls" >> beam.Flatten()
        return {"documents": read.documents, URLS: urls, DEAD_LETTER: dead}  # type: ignore[return-value]
