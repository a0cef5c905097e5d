"""Where documents come from: input paths, globs and directories, OPML lists.

Inputs are expanded and read through Beam's ``FileSystems``, so ``gs://``
works wherever a local path does. Files are read as bytes; gzip is recognised
by its magic number, not its name, and decompressed under a size limit so a
compression bomb is cut off instead of filling memory. OPML files are
expanded here, at the edge: the rest of the pipeline only sees documents.
"""

from __future__ import annotations

import errno
import gzip
import io
import logging
import os
import posixpath
import re
import stat
import time
import zlib
from collections import Counter
from typing import Any, Iterable, Iterator, Optional, Union
from urllib.parse import unquote, urlparse

import apache_beam as beam
import lxml.etree
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.utils.timestamp import Timestamp

from schemas import FeedRequest, RawDocument
from transforms.errors import (
    DEAD_LETTER,
    BlockedPath,
    BlockedURL,
    DocumentTooLarge,
    InputNotFound,
    NotARegularFile,
    SafeDoFn,
    UnreadableDocument,
    counter,
)

GZIP_MAGIC = b"\x1f\x8b"
#: Output tag of ``ReadDocuments`` for feed URLs, to be fetched by ``transforms.fetch``.
URLS = "urls"
_GLOB_CHARS = set("*?[")
_OPML_DEPTH = 4
#: Never read through a feed list's reference, whatever the list's folder.
_SPECIAL_ROOTS = ("/proc", "/sys", "/dev")
_LOG = logging.getLogger("newsbeam")
#: A path as a pipeline element: text, or a local name's bytes when they are not valid UTF-8.
PathLike = Union[str, bytes]


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


def is_local(path: PathLike) -> bool:
    return isinstance(path, bytes) or "://" not in path


def display_path(path: PathLike) -> str:
    """A path as it can be stored and shown: a file name that is not valid UTF-8 gets U+FFFD.

    POSIX file names are bytes; Python hands undecodable ones over with lone
    surrogates (``surrogateescape``), which neither Beam's string coders nor
    Parquet can store. The file is still opened by its real name.
    """
    raw = path if isinstance(path, bytes) else os.fsencode(path) if is_local(path) else path.encode("utf-8", "replace")
    return raw.decode("utf-8", "replace")


def portable_path(path: str) -> PathLike:
    """A matched local path as a pipeline element: the name's bytes when it is not valid UTF-8."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path)
    return path


def file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISREG, "regular file"),
        (stat.S_ISDIR, "directory"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return kind
    return "special file"


def within(path: PathLike, folder: PathLike) -> bool:
    """Whether ``path``, symlinks resolved, lies strictly inside ``folder`` (symlinks resolved too)."""
    target, root = os.path.realpath(path), os.path.realpath(folder)
    try:
        return target != root and os.path.commonpath([target, root]) == root  # type: ignore[list-item]
    except ValueError:  # different drives, or mixed bytes and str
        return False


def _special_root(path: PathLike) -> bool:
    resolved = os.fsdecode(os.path.realpath(path))
    return any(resolved == root or resolved.startswith(root + "/") for root in _SPECIAL_ROOTS)


def _read_local(path: PathLike, max_bytes: int, folder: Optional[PathLike]) -> bytes:
    """A local file's first ``max_bytes + 1`` bytes, if it is a regular file (and inside ``folder``, when given).

    The type is checked before opening (opening a device can have effects of
    its own) and again on the open descriptor; the open never blocks (a FIFO
    with no writer would otherwise hang the run). With ``folder`` the path is
    resolved first and opened by its resolved name without following a final
    symlink, so a link swapped in after the check is refused, not followed.
    """
    shown = display_path(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if folder is not None:
        if not within(path, folder) or _special_root(path):
            raise BlockedPath(f"refused: {shown} resolves outside the feed list's folder", source=shown)
        path = os.path.realpath(path)
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputNotFound(f"no such file: {shown}", source=shown) from None
    if not stat.S_ISREG(mode):
        raise NotARegularFile(f"not a regular file ({file_kind(mode)}): {shown}", source=shown)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise BlockedPath(f"refused: {shown} became a symbolic link", source=shown) from None
        raise
    with open(descriptor, "rb", closefd=True) as handle:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(f"not a regular file ({file_kind(mode)}): {shown}", source=shown)
        os.set_blocking(descriptor, True)
        return handle.read(max_bytes + 1)


def read_bytes(path: PathLike, max_bytes: int, folder: Optional[PathLike] = None) -> bytes:
    """A file's bytes, refusing files over ``max_bytes`` before reading them, and anything but regular files.

    ``folder``: the file must lie inside it (symlinks resolved); used for
    files named by input data (an OPML list's references), never for paths
    the user gave.
    """
    if is_local(path):
        data = _read_local(path, max_bytes, folder)
    else:
        assert isinstance(path, str)
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
    """A feed reference from an OPML file, as a path next to that file (no checks: see ``opml_reference``)."""
    parsed = urlparse(reference)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    if parsed.scheme and len(parsed.scheme) > 1:
        return reference
    if posixpath.isabs(reference):
        return reference
    return posixpath.join(posixpath.dirname(parent), reference)


def opml_reference(parent: str, reference: str, local_files: bool = True) -> str:
    """What one outline of a feed list may name: a feed URL, or a file inside the list's own folder.

    A feed list is data from outside: it may name feeds by URL and, when
    ``local_files`` is on, files beside it or below it by relative path. An
    absolute path, a ``..`` component, a ``file:`` or other non-http URL, a
    NUL byte, or any local reference while ``local_files`` is off, raises
    ``BlockedPath`` (the reference is refused before anything is opened).
    Symlinks and special files are checked when the file is read
    (``read_bytes(..., folder=)``).
    """
    reference = reference.strip()
    shown = reference[:300]
    scheme = urlparse(reference).scheme.lower() if "://" in reference or reference[:5].lower() == "file:" else ""
    if scheme in ("http", "https"):
        return reference
    if "\x00" in reference:
        raise BlockedPath(f"refused feed list reference with a NUL byte: {shown!r}", source=parent)
    if scheme:
        raise BlockedPath(
            f"refused {scheme}: reference {shown!r}: a feed list names feeds by http(s) URL, or files by a path "
            "relative to the list",
            source=parent,
        )
    if not local_files:
        raise BlockedPath(
            f"refused local file {shown!r}: this feed list may name feed URLs only (--opml-local-files off)",
            source=parent,
        )
    parts = re.split(r"[/\\]", reference)
    if reference.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", reference):
        raise BlockedPath(f"refused absolute path {shown!r}: files must be named relative to the list", source=parent)
    if ".." in parts:
        raise BlockedPath(f"refused {shown!r}: '..' would leave the feed list's folder", source=parent)
    relative = "/".join(part for part in parts if part not in ("", "."))
    if not relative:
        raise BlockedPath(f"refused empty file reference {shown!r}", source=parent)
    return posixpath.join(posixpath.dirname(parent), relative)


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


#: What a newsbeam output folder holds: a folder with ``runs/`` beside one of
#: its tables is one (older outputs have no marker file).
OUTPUT_MARKER = "_newsbeam_output.json"
_OUTPUT_TABLES = ("articles", "dead_letter", "feed_health")


def is_newsbeam_output(folder: str) -> bool:
    """Whether a local folder is a newsbeam output (which is never read back as input)."""
    if os.path.isfile(os.path.join(folder, OUTPUT_MARKER)):
        return True
    return os.path.isdir(os.path.join(folder, "runs")) and any(
        os.path.isdir(os.path.join(folder, table)) for table in _OUTPUT_TABLES
    )


def _same_folder(a: str, b: Optional[str]) -> bool:
    return b is not None and os.path.realpath(a) == os.path.realpath(b)


def walk_local(base: str, output: Optional[str] = None) -> tuple[list[str], Counter[str]]:
    """Regular files below a local folder, and what was skipped by which rule.

    Skipped, each counted under its rule: hidden entries (``.``/``_``, the
    Spark/Hive convention: not counted, as before), newsbeam's own output
    folders (``--output`` inside an input folder would otherwise be re-read
    every run), special files (FIFOs, sockets, devices: a FIFO blocks the
    read forever), symlinks that resolve outside ``base`` (a link dropped in a
    landing folder must not make newsbeam read the rest of the machine), and
    symlinked folders (never descended: no loops, no escapes).
    """
    found: list[str] = []
    skipped: Counter[str] = Counter()
    for folder, folders, files in os.walk(base, followlinks=False):
        keep = []
        for name in sorted(folders):
            full = os.path.join(folder, name)
            if name.startswith((".", "_")):
                continue
            if os.path.islink(full):
                skipped["symlinked_folder"] += 1
            elif is_newsbeam_output(full) or _same_folder(full, output):
                skipped["newsbeam_output"] += 1
            else:
                keep.append(name)
        folders[:] = keep
        for name in sorted(files):
            if name.startswith((".", "_")):
                continue
            full = os.path.join(folder, name)
            if os.path.islink(full) and not within(full, base):
                skipped["symlink_outside_input"] += 1
                continue
            try:
                mode = os.stat(full).st_mode
            except OSError:  # a dangling link, or gone since it was listed
                skipped["unreadable_entry"] += 1
                continue
            if stat.S_ISREG(mode):
                found.append(full)
            elif stat.S_ISDIR(mode):  # a link to a folder inside base
                skipped["symlinked_folder"] += 1
            else:
                skipped["special_file"] += 1
    return found, skipped


def _regular_only(paths: list[str]) -> tuple[list[str], Counter[str]]:
    """Local glob matches that are regular files (a glob may match a FIFO)."""
    kept: list[str] = []
    skipped: Counter[str] = Counter()
    for path in paths:
        if not is_local(path):
            kept.append(path)
            continue
        try:
            regular = stat.S_ISREG(os.stat(path).st_mode)
        except OSError:
            regular = False
        if regular:
            kept.append(path)
        else:
            skipped["special_file"] += 1
    return kept, skipped


class _MatchInput(SafeDoFn):
    """One INPUT to the files it names; feed URLs go on to be fetched.

    A file named explicitly is read whatever it is called (and refused later
    if it is not a regular file); directories and globs yield regular files
    only, the rest counted under ``files_skipped.<rule>``.
    """

    stage = "source"
    counts_read = True

    def __init__(self, run_id: str, output: Optional[str] = None):
        super().__init__(run_id)
        self.output = output

    def process_element(self, value: str) -> Iterable[Any]:
        if is_url(value):
            return [beam.pvalue.TaggedOutput(URLS, FeedRequest(value, None))]
        value = _local_or_filesystem(value)
        directory = value.endswith("/") or _is_dir(value)
        skipped: Counter[str] = Counter()
        if directory and is_local(value):
            if is_newsbeam_output(value) or _same_folder(value, self.output):
                raise UnreadableDocument(f"refused: {value} is a newsbeam output folder, not an input", source=value)
            paths, skipped = walk_local(value.rstrip("/") or "/", self.output)
        else:
            paths = [] if directory else _match(value)
            if not paths and not _GLOB_CHARS & set(value):
                # Not a file: an object-store prefix, read recursively,
                # skipping hidden and underscore entries and our own output below it.
                base = value.rstrip("/") + "/"
                output = self.output.rstrip("/") + "/" if self.output else None
                paths = [p for p in _match(base + "**") if not is_hidden(p[len(base) :])]
                outside = [p for p in paths if not (output and p.startswith(output))]
                if len(outside) < len(paths):
                    skipped["newsbeam_output"] = len(paths) - len(outside)
                paths = outside
            elif _GLOB_CHARS & set(value):
                paths, skipped = _regular_only(paths)
        for rule, count in skipped.items():
            counter(f"files_skipped.{rule}").inc(count)
            _LOG.info(
                "skipped %d %s entr%s under %s", count, rule.replace("_", " "), "y" if count == 1 else "ies", value
            )
        if not paths and not skipped:
            raise InputNotFound(f"input matched no files: {value}", source=value)
        return [portable_path(path) for path in paths]


class _ReadFile(SafeDoFn):
    """Reads a file; an OPML file is replaced by the documents it lists.

    An OPML list's references are data from outside: feed URLs go on to be
    fetched; local files are read only inside the list's own folder
    (``opml_reference`` and ``read_bytes(folder=)``), and a refused reference
    is a dead letter carrying the reference, never the target's content.
    """

    stage = "read"
    counts_read = True

    def __init__(self, run_id: str, max_bytes: int, opml_local_files: bool = True):
        super().__init__(run_id)
        self.max_bytes = max_bytes
        self.opml_local_files = opml_local_files
        self._documents = counter("documents_read")
        self._bytes = counter("bytes_read")
        self._opml = counter("opml_files")
        self._renamed = counter("file_names_replaced")
        self._refused = counter("opml_references_refused")

    def process(self, path: PathLike) -> Iterator[object]:  # type: ignore[override]
        yield from self._read(path, parent=None, depth=0, seen=set())

    def _read(
        self, path: PathLike, parent: Optional[str], depth: int, seen: set[str], reference: Optional[str] = None
    ) -> Iterator[object]:
        """Reads ``path``; ``parent`` and ``reference``: the feed list that named it, and how it did."""
        shown = display_path(path)
        if isinstance(path, bytes):  # only names that are not valid UTF-8 travel as bytes
            self._renamed.inc()
        try:
            folder = (posixpath.dirname(parent) or ".") if parent is not None else None
            data = read_bytes(path, self.max_bytes, folder=folder)
        except Exception as error:  # noqa: BLE001 - an unreadable file is a dead letter
            if isinstance(error, BlockedPath):
                self._refused.inc()
            yield self.dead_letter(error, shown, raw_text=reference or shown)
            return
        self._bytes.inc(len(data))
        if not looks_like_opml(data):
            self._documents.inc()
            yield RawDocument(shown, "file", data, Timestamp.of(time.time()), None, parent)
            return
        self._opml.inc()
        seen.add(shown)
        try:
            references = opml_feeds(data)
        except Exception as error:  # noqa: BLE001
            yield self.dead_letter(error, shown, raw_bytes=data)
            return
        if isinstance(path, bytes):  # an OPML list with an undecodable name: no local references
            references = [r for r in references if is_url(r)]
        for reference in references:
            try:
                child = opml_reference(shown, reference, self.opml_local_files)
            except BlockedPath as error:
                self._refused.inc()
                yield self.dead_letter(error, shown, raw_text=reference)
                continue
            if is_url(child):
                yield beam.pvalue.TaggedOutput(URLS, FeedRequest(child, shown))
            elif child in seen or depth >= _OPML_DEPTH:
                yield self.dead_letter(
                    UnreadableDocument(f"OPML nesting loop or deeper than {_OPML_DEPTH} levels: {child}"),
                    child,
                    raw_text=child,
                )
            else:
                yield from self._read(child, parent=shown, depth=depth + 1, seen=seen, reference=reference)

    def source_of(self, element: object) -> str:
        return display_path(element) if isinstance(element, (str, bytes)) else str(element)


class ReadDocuments(beam.PTransform):
    """INPUTs (files, directories, globs, OPML) to ``RawDocument``s, plus dead letters.

    Feed URLs, given directly or listed in a local OPML file, come out on the
    ``urls`` output as ``FeedRequest``s for ``FetchFeeds``.
    """

    def __init__(
        self,
        inputs: list[str],
        run_id: str,
        max_bytes: int,
        output: Optional[str] = None,
        opml_local_files: bool = True,
    ):
        super().__init__()
        self.inputs = list(inputs)
        self.run_id = run_id
        self.max_bytes = max_bytes
        self.output = output
        self.opml_local_files = opml_local_files

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.pvalue.DoOutputsTuple:
        matched = (
            pbegin
            | "Inputs" >> beam.Create(self.inputs)
            | "Match" >> beam.ParDo(_MatchInput(self.run_id, self.output)).with_outputs(DEAD_LETTER, URLS, main="paths")
        )
        read = (
            matched.paths
            | "DistinctPaths" >> beam.Distinct()
            | "Spread" >> beam.Reshuffle()
            | "Read"
            >> beam.ParDo(_ReadFile(self.run_id, self.max_bytes, self.opml_local_files)).with_outputs(
                DEAD_LETTER, URLS, main="documents"
            )
        )
        dead = (matched[DEAD_LETTER], read[DEAD_LETTER]) | "MergeDeadLetters" >> beam.Flatten()
        urls = (matched[URLS], read[URLS]) | "MergeUrls" >> beam.Flatten()
        return {"documents": read.documents, URLS: urls, DEAD_LETTER: dead}  # type: ignore[return-value]
