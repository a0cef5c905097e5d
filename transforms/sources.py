"""Where documents come from: input paths, globs and directories, OPML lists; once, or watched.

Inputs are expanded and read through Beam's ``FileSystems``, so ``gs://``
works wherever a local path does. Files are read as bytes; gzip is recognised
by its magic number, not its name, and decompressed under a size limit so a
compression bomb is cut off instead of filling memory. OPML files are
expanded here, at the edge: the rest of the pipeline only sees documents.

A file is read whole up to ``--max-file-mb``. A larger one in a format that
reads as a stream of records (``Format.streamed``: JSON Lines) is not
refused but read as a stream, gzip decompressed as it goes, and each record
leaves as a ``RawRecord`` as soon as it is read: memory holds the records
in flight, never the file.

* Batch, ``ReadDocuments``: the inputs matched and read once.
* Streaming, ``WatchFiles``: landing folders matched on every watch tick,
  each new file's path emitted once it is complete, under the batch listing
  rules (``walk_local``); the paths are read by the same ``_ReadFile``.
"""

from __future__ import annotations

import codecs
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
from contextlib import contextmanager
from typing import Any, BinaryIO, Iterable, Iterator, NamedTuple, Optional, Sequence, Union
from urllib.parse import unquote, urlparse

import apache_beam as beam
import lxml.etree
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from apache_beam.utils.timestamp import Timestamp

from schemas import FeedRequest, FileRange, RawDocument, RawRecord
from transforms.errors import (
    DEAD_LETTER,
    SKIPPED,
    BlockedPath,
    BlockedURL,
    DocumentTooLarge,
    InputNotFound,
    NotARegularFile,
    SafeDoFn,
    UnreadableDocument,
    count_skipped,
    counter,
)
from transforms.formats.base import Failure, Format, Piece, Skipped
from transforms.formats.registry import FORMATS, detect_format
from transforms.text import binary_kind, decode_bytes, xml_wide_codec

GZIP_MAGIC = b"\x1f\x8b"
#: Largest input file (and decompressed gzip content) read whole, in MiB (``--max-file-mb``).
MAX_FILE_MB = 64
MB = 1024 * 1024
#: Output tag of ``ReadDocuments`` for feed URLs, to be fetched by ``transforms.fetch``.
URLS = "urls"
#: Output of the file reader: the ``FileRange``s of files read in parallel.
RANGES = "ranges"
#: Output of ``ReadDocuments``: the records of files read in byte ranges (``RawRecord``).
RECORDS = "records"
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


def _open_local(path: PathLike, folder: Optional[PathLike]) -> BinaryIO:
    """A local file opened for reading, if it is a regular file (and inside ``folder``, when given).

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
    handle = open(descriptor, "rb", closefd=True)
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(f"not a regular file ({file_kind(mode)}): {shown}", source=shown)
        os.set_blocking(descriptor, True)
    except BaseException:
        handle.close()
        raise
    return handle


def open_input(path: PathLike, folder: Optional[PathLike] = None) -> BinaryIO:
    """An input file opened as a binary stream of its bytes as stored (gzip not decompressed).

    Local paths only if they are regular files (``_open_local``: no devices,
    no FIFOs, and with ``folder``, nothing that resolves outside it); any
    other path through Beam's ``FileSystems`` (``gs://``, …).
    """
    if is_local(path):
        return _open_local(path, folder)
    assert isinstance(path, str)
    handle: BinaryIO = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    return handle


def whole_document(data: bytes, max_bytes: int) -> bytes:
    """A file's document from its first ``max_bytes + 1`` bytes: refused when over the limit, gunzipped under it."""
    if len(data) > max_bytes:
        raise DocumentTooLarge(f"file exceeds the limit of {max_bytes} bytes")
    if data.startswith(GZIP_MAGIC):
        try:
            data = gunzip_limited(data, max_bytes)
        except (zlib.error, EOFError, gzip.BadGzipFile) as error:
            raise UnreadableDocument(f"corrupt gzip data: {error}") from error
    return data


def read_bytes(path: PathLike, max_bytes: int, folder: Optional[PathLike] = None) -> bytes:
    """A file's bytes, refusing files over ``max_bytes`` before reading them, and anything but regular files.

    ``folder``: the file must lie inside it (symlinks resolved); used for
    files named by input data (an OPML list's references), never for paths
    the user gave.
    """
    with open_input(path, folder) as handle:
        data = handle.read(max_bytes + 1)
    return whole_document(data, max_bytes)


# --------------------------------------------------------------------------
# Files too large to hold: read as a stream of records
# --------------------------------------------------------------------------

#: How much of a file is read from its source at a time while it is streamed.
_READ_CHUNK = 1 << 20
#: How much of a file's (decompressed) start recognises its format.
_HEAD_BYTES = 1 << 16
#: Text in a wide encoding: its records cannot be split off as bytes.
_WIDE_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class _Stream(io.RawIOBase):
    """A readable raw stream that counts the bytes it hands out (``bytes_read``)."""

    def __init__(self) -> None:
        super().__init__()
        self.delivered = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._next(len(buffer))
        buffer[: len(data)] = data
        self.delivered += len(data)
        return len(data)

    def _next(self, size: int) -> bytes:
        raise NotImplementedError


class _Rejoined(_Stream):
    """The bytes already read off a file, then the rest of it: the file from its start, its bytes read once.

    The bytes already read are let go as soon as they have been handed on.
    """

    def __init__(self, first: bytes, rest: BinaryIO):
        super().__init__()
        self._first: Optional[memoryview] = memoryview(first)
        self._rest = rest

    def _next(self, size: int) -> bytes:
        if self._first is not None:
            chunk, self._first = bytes(self._first[:size]), self._first[size:]
            if not self._first:
                self._first = None
            if chunk:
                return chunk
        return self._rest.read(size)


class _Gunzip(_Stream):
    """gzip data decompressed as it is read, every member, as ``gunzip_limited`` reads it.

    Bytes after the last member that are not another member are ignored; a
    stream that ends inside a member is truncated, and corrupt data is
    unreadable, with the same errors as a file read whole.
    """

    def __init__(self, raw: BinaryIO):
        super().__init__()
        self._raw = raw
        self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._input = b""  # compressed bytes read but not yet decompressed
        self._finished = False

    def _next(self, size: int) -> bytes:
        while not self._finished:
            if self._decompressor.eof:
                self._next_member()
                continue
            if not self._input:
                self._input = self._raw.read(_READ_CHUNK)
                if not self._input:
                    raise UnreadableDocument("truncated gzip stream")
            try:
                out = self._decompressor.decompress(self._input, size)
            except zlib.error as error:
                raise UnreadableDocument(f"corrupt gzip data: {error}") from error
            eof = self._decompressor.eof
            self._input = self._decompressor.unused_data if eof else self._decompressor.unconsumed_tail
            if out:
                return out
        return b""

    def _next_member(self) -> None:
        while len(self._input) < len(GZIP_MAGIC):
            more = self._raw.read(_READ_CHUNK)
            if not more:
                break
            self._input += more
        if self._input.startswith(GZIP_MAGIC):
            self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        else:
            self._finished = True


class Streaming(NamedTuple):
    """A file read as a stream of records: its format, and its bytes from the start, decompressed as they are read."""

    format: Format
    stream: BinaryIO
    counted: _Stream

    def bytes_read(self) -> int:
        """The (decompressed) bytes read off the file so far."""
        return self.counted.delivered


def streamed_format(data: bytes, path: PathLike, formats: Sequence[Format] = FORMATS) -> Optional[Format]:
    """The format that reads a file as a stream of records, recognised from its first bytes as stored; else None.

    The head is decompressed when it is gzip, and decoded as the whole file
    would be; a binary head, or text in a wide encoding (UTF-16/32, with a
    BOM or markup that says so: its records cannot be split off as bytes),
    is never streamed.
    """
    if not any(fmt.streamed is not None for fmt in formats):
        return None
    head = data[:_HEAD_BYTES]
    if head.startswith(GZIP_MAGIC):
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, _HEAD_BYTES)
        except zlib.error:
            return None  # read whole, where the corrupt data is reported
    if binary_kind(head) or head.startswith(_WIDE_BOMS) or xml_wide_codec(head):
        return None
    cut = head.rfind(b"\n") + 1
    decoded = decode_bytes(head[:cut] if cut else head)  # whole lines: no character cut in two
    fmt = detect_format(decoded.text, display_path(path), formats)
    return fmt if fmt.streamed is not None else None


def ranged_format(head: bytes, formats: Sequence[Format] = FORMATS) -> Optional[Format]:
    """The format that reads a file in byte ranges, recognised by its signature in the file's first bytes; else None.

    The head is decompressed when it is gzip. A signature is bytes no text
    format starts with (a WARC's ``WARC/1.0`` line), so it is checked before
    anything is decoded: a WARC's first record may well be binary.
    """
    ranged = [fmt for fmt in formats if fmt.ranged is not None and fmt.magic]
    if not ranged:
        return None
    if head.startswith(GZIP_MAGIC):
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 64)
        except zlib.error:
            return None
    return next((fmt for fmt in ranged if head.startswith(fmt.magic)), None)


class RangedFile(NamedTuple):
    """A file read in byte ranges by several workers: its format, the planned ranges and its size."""

    format: Format
    ranges: list[tuple[int, int]]
    size: int


@contextmanager
def open_document(
    path: PathLike, max_bytes: int, folder: Optional[PathLike] = None, formats: Sequence[Format] = FORMATS
) -> Iterator[Union[bytes, Streaming, RangedFile]]:
    """A file to read: its bytes (as ``read_bytes`` reads them), or a ``Streaming`` when it is read record by record.

    A file that fits under ``max_bytes`` is read whole, as it always was.
    One over the limit (or its decompressed content over it) in a format
    that reads as a stream of records is streamed from its start instead of
    refused; a format that is only ever read as records
    (``whole_when_it_fits`` off) is streamed whatever its size. A file in a
    format read in ranges (a WARC) is a ``RangedFile``: only its head is
    read here. The path guards are ``open_input``'s either way.
    """
    with open_input(path, folder) as handle:
        data = handle.read(min(_HEAD_BYTES, max_bytes + 1))
        ranged = ranged_format(data, formats)
        if ranged is not None and ranged.ranged is not None:
            size = handle.seek(0, io.SEEK_END)
            yield RangedFile(ranged, ranged.ranged.plan(handle, size), size)
            return
        if len(data) < max_bytes + 1:
            data += handle.read(max_bytes + 1 - len(data))
        always = any(fmt.streamed is not None and not fmt.streamed.whole_when_it_fits for fmt in formats)
        fmt = streamed_format(data, path, formats) if always else None
        if fmt is None or fmt.streamed is None or fmt.streamed.whole_when_it_fits:
            try:
                whole = whole_document(data, max_bytes)
            except DocumentTooLarge:
                fmt = fmt or streamed_format(data, path, formats)
                if fmt is None:
                    raise
            else:
                del data
                yield whole
                return
        rejoined = _Rejoined(data, handle)
        compressed = data.startswith(GZIP_MAGIC)
        del data  # from here on held by ``rejoined`` only, and let go as it is read
        counted: _Stream = _Gunzip(io.BufferedReader(rejoined, _READ_CHUNK)) if compressed else rejoined
        yield Streaming(fmt, io.BufferedReader(counted, _READ_CHUNK), counted)


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
    (``opml_reference`` and ``open_input(folder=)``), and a refused reference
    is a dead letter carrying the reference, never the target's content. A
    file too large to hold in a format read as a stream of records
    (``open_document``) becomes its records, each a ``RawRecord``.
    """

    stage = "read"
    counts_read = True

    def __init__(self, run_id: str, max_bytes: int, opml_local_files: bool = True, formats: Sequence[Format] = FORMATS):
        super().__init__(run_id)
        self.max_bytes = max_bytes
        self.opml_local_files = opml_local_files
        self.formats = tuple(formats)
        self._documents = counter("documents_read")
        self._bytes = counter("bytes_read")
        self._opml = counter("opml_files")
        self._renamed = counter("file_names_replaced")
        self._refused = counter("opml_references_refused")
        self._ranges_planned = counter("file_ranges")

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
            with open_document(path, self.max_bytes, folder, self.formats) as opened:
                if isinstance(opened, Streaming):
                    yield from self._records(opened, shown, parent)
                    return
                if isinstance(opened, RangedFile):
                    yield from self._ranges(opened, path, shown, parent, folder)
                    return
                data = opened
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

    def _ranges(
        self, opened: RangedFile, path: PathLike, shown: str, parent: Optional[str], folder: Optional[PathLike]
    ) -> Iterator[object]:
        """A file read in ranges: one ``FileRange`` each, read (after a reshuffle) by ``_ReadRange``."""
        self._documents.inc()
        counter(f"documents.{opened.format.name}").inc()  # the file, read in its format, counted once
        self._ranges_planned.inc(len(opened.ranges))
        for start, end in opened.ranges:
            yield beam.pvalue.TaggedOutput(
                RANGES,
                FileRange(
                    shown,
                    os.fsdecode(path) if isinstance(path, bytes) else path,
                    opened.format.name,
                    start,
                    end,
                    opened.size,
                    parent,
                    os.fsdecode(folder) if isinstance(folder, bytes) else folder,
                ),
            )

    def _records(self, opened: Streaming, shown: str, parent: Optional[str]) -> Iterator[object]:
        """Each record of a file read as a stream, as soon as it is read; a record over the limit is a dead letter.

        A stream that breaks part-way (a truncated gzip member, an I/O error)
        is one dead letter saying how many records came before the break;
        those stay emitted. Dead letters carry the path: the file is too
        large to be their payload.
        """
        self._documents.inc()
        fmt, fetched_at, emitted = opened.format, Timestamp.of(time.time()), 0
        assert fmt.streamed is not None
        try:
            for piece in fmt.streamed.split(opened.stream, self.max_bytes):
                if isinstance(piece, Failure):
                    yield self.dead_letter(piece.error, shown, raw_text=shown)
                    continue
                if isinstance(piece, Skipped):
                    yield count_skipped(piece.rule)
                    continue
                yield RawRecord(shown, fmt.name, emitted, piece.position, piece.payload, fetched_at, parent)
                emitted += 1
        except Exception as error:  # noqa: BLE001 - the rest of the file is a dead letter; its records read stay
            if emitted:
                error = UnreadableDocument(
                    f"{type(error).__name__} after {emitted} records were read: {error}", source=shown
                )
            yield self.dead_letter(error, shown, raw_text=shown)
        finally:
            self._bytes.inc(opened.bytes_read())

    def source_of(self, element: object) -> str:
        return display_path(element) if isinstance(element, (str, bytes)) else str(element)


class _ReadRange(SafeDoFn):
    """Reads one byte range of a file read in parallel (``FileRange``): its records, as ``RawRecord``s.

    Records come out as they are read (a range of 64 MB is never held). A
    stretch of the file that holds no readable record (a corrupt or
    truncated gzip member) is a dead letter with its offset and raw bytes,
    and reading goes on after it; a range that breaks off (an I/O error) is
    one dead letter saying how many records came before the break.
    """

    stage = "read"
    counts_read = True

    def __init__(self, run_id: str, max_bytes: int, formats: Sequence[Format] = FORMATS):
        super().__init__(run_id)
        self.max_bytes = max_bytes
        self.formats = tuple(formats)
        self._bytes = counter("bytes_read")
        self._records = counter("records_read")

    def process(self, piece: FileRange) -> Iterator[object]:  # type: ignore[override]
        fmt = next((f for f in self.formats if f.name == piece.format and f.ranged is not None), None)
        if fmt is None or fmt.ranged is None:
            yield self.dead_letter(UnreadableDocument(f"no input format reads {piece.format!r} ranges"), piece.source)
            return
        fetched_at, emitted = Timestamp.of(time.time()), 0
        try:
            with open_input(portable_path(piece.path), piece.folder) as raw:
                for item in fmt.ranged.read(raw, piece.start, piece.end, piece.size, self.max_bytes):
                    if isinstance(item, Piece):
                        emitted += 1
                        self._records.inc()
                        yield RawRecord(
                            piece.source, fmt.name, emitted, item.position, item.payload, fetched_at, piece.parent
                        )
                    elif isinstance(item, Skipped):
                        self._records.inc()
                        yield count_skipped(item.rule)
                    else:
                        self._records.inc()
                        where = f"{piece.source} at byte {item.position}"
                        yield self.dead_letter(
                            item.error, where, raw_bytes=item.raw or None, raw_text=None if item.raw else where
                        )
        except Exception as error:  # noqa: BLE001 - the rest of the range is a dead letter; its records read stay
            if emitted:
                error = UnreadableDocument(
                    f"{type(error).__name__} after {emitted} records of bytes {piece.start}-{piece.end} were read: {error}",
                    source=piece.source,
                )
            yield self.dead_letter(error, piece.source, raw_text=f"{piece.source} bytes {piece.start}-{piece.end}")
        finally:
            self._bytes.inc(max(0, min(piece.end, piece.size) - piece.start))

    def source_of(self, element: object) -> str:
        return element.source if isinstance(element, FileRange) else str(element)


class ReadFileRanges(beam.PTransform):
    """``FileRange``s to ``RawRecord``s (main output ``records``), dead letters and skipped rules.

    Each range its own element, spread over the workers first, so one large
    file (a 1 GB WARC) is read by several at once; batch and a watched
    landing folder read ranges alike.
    """

    def __init__(self, run_id: str, max_bytes: int, formats: Sequence[Format] = FORMATS):
        super().__init__()
        self.run_id = run_id
        self.max_bytes = max_bytes
        self.formats = tuple(formats)

    def expand(self, ranges: beam.PCollection[FileRange]) -> beam.pvalue.DoOutputsTuple:
        return (
            ranges
            | "SpreadRanges" >> beam.Reshuffle()
            | "ReadRange"
            >> beam.ParDo(_ReadRange(self.run_id, self.max_bytes, self.formats)).with_outputs(
                DEAD_LETTER, SKIPPED, main="records"
            )
        )


class ReadDocuments(beam.PTransform):
    """INPUTs (files, directories, globs, OPML) to ``RawDocument``s (and ``RawRecord``s), plus dead letters.

    Feed URLs, given directly or listed in a local OPML file, come out on the
    ``urls`` output as ``FeedRequest``s for ``FetchFeeds``. A file over
    ``max_bytes`` in a format read as a stream of records comes out as its
    records, for ``ParseDocuments`` given the same ``formats``.
    """

    def __init__(
        self,
        inputs: list[str],
        run_id: str,
        max_bytes: int,
        output: Optional[str] = None,
        opml_local_files: bool = True,
        formats: Sequence[Format] = FORMATS,
    ):
        super().__init__()
        self.inputs = list(inputs)
        self.run_id = run_id
        self.max_bytes = max_bytes
        self.output = output
        self.opml_local_files = opml_local_files
        self.formats = tuple(formats)

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
            >> beam.ParDo(_ReadFile(self.run_id, self.max_bytes, self.opml_local_files, self.formats)).with_outputs(
                DEAD_LETTER, URLS, RANGES, SKIPPED, main="documents"
            )
        )
        ranged = read[RANGES] | "ReadRanges" >> ReadFileRanges(self.run_id, self.max_bytes, self.formats)
        dead = (matched[DEAD_LETTER], read[DEAD_LETTER], ranged[DEAD_LETTER]) | "MergeDeadLetters" >> beam.Flatten()
        urls = (matched[URLS], read[URLS]) | "MergeUrls" >> beam.Flatten()
        skipped = (read[SKIPPED], ranged[SKIPPED]) | "AllSkipped" >> beam.Flatten()
        # Records read in ranges stay apart from the documents: a Flatten is where the local batch
        # runner holds a whole PCollection, and a crawl's records are its pages (a 1 GB WARC.gz is
        # 4 GB of them). The caller parses and enriches them in the same fused stage that reads them.
        return {
            "documents": read.documents,
            RECORDS: ranged.records,
            URLS: urls,
            DEAD_LETTER: dead,
            SKIPPED: skipped,
        }  # type: ignore[return-value]


# --------------------------------------------------------------------------
# Streaming: watching a landing directory
# --------------------------------------------------------------------------

#: Seconds between two looks at a watched landing folder (``--watch-interval``).
WATCH_INTERVAL = 10.0


class FileSeen(NamedTuple):
    path: str
    size: int
    modified: float


def watch_matches(pattern: str) -> list[FileSeen]:
    """Files under a watched directory (recursive) or matching a glob.

    A local landing directory is listed with the batch rules
    (``walk_local``): hidden ``.``/``_`` entries, special files
    (a FIFO would block the read), symlinks leaving the directory and
    newsbeam output folders are skipped, each counted under
    ``files_skipped.<rule>``. A name that is not valid UTF-8 cannot be a
    state key: it is skipped and counted (``files_skipped.non_utf8_name``).
    """
    directory = pattern.endswith("/") or ("://" not in pattern and os.path.isdir(pattern))
    if directory and "://" not in pattern:
        return _local_landing(pattern.rstrip("/") or "/")
    base = pattern.rstrip("/") + "/"
    try:
        matched = FileSystems.match([base + "**" if directory else pattern])[0].metadata_list
    except Exception:  # noqa: BLE001 - nothing there yet is normal for a landing directory
        return []
    seen = []
    for metadata in matched:
        path = metadata.path
        if path.endswith("/") or ("://" not in path and os.path.isdir(path)):
            continue
        if directory and is_hidden(path[len(base) :]):
            continue
        seen.append(FileSeen(path, int(metadata.size_in_bytes), float(metadata.last_updated_in_seconds or 0.0)))
    return sorted(seen)


def _local_landing(folder: str) -> list[FileSeen]:
    if not os.path.isdir(folder):
        return []
    paths, skipped = walk_local(folder)
    seen = []
    for path in paths:
        if isinstance(portable_path(path), bytes):
            skipped["non_utf8_name"] += 1
            continue
        try:
            status = os.stat(path)
        except OSError:  # gone since it was listed
            continue
        seen.append(FileSeen(path, status.st_size, status.st_mtime))
    for rule, count in skipped.items():
        counter(f"files_skipped.{rule}").inc(count)
    return sorted(seen)


_LAST_SEEN = ReadModifyWriteStateSpec("last_seen", beam.coders.PickleCoder())
_LAST_SEEN_PARAM = beam.DoFn.StateParam(_LAST_SEEN)


class _NewStableFiles(beam.DoFn):
    """Emits a file's path once it is new (or changed) and unchanged since the previous match.

    Our own dedup, keyed by path, instead of ``MatchContinuously``'s (which
    stopped early in our probe): a file is read when two matches in a row
    see the same size and modification time — a file still being copied in
    is not read half-written — and read again only if it changes later.
    """

    def __init__(self) -> None:
        self._new = counter("stream.files_new")

    def process(self, element: tuple[str, FileSeen], last: Any = _LAST_SEEN_PARAM) -> Iterator[str]:
        path, seen = element
        previous = last.read()  # (size, modified, emitted)
        version = (seen.size, seen.modified)
        if previous is not None and previous[:2] == version:
            if not previous[2]:
                last.write((*version, True))
                self._new.inc()
                yield path
            return
        last.write((*version, False))


class WatchFiles(beam.PTransform):
    """Watch ticks to the paths of new, complete files under the watched patterns.

    The streaming twin of ``ReadDocuments``' matching: its paths go to the
    same ``_ReadFile``.
    """

    def __init__(self, patterns: Sequence[str]):
        super().__init__()
        self.patterns = list(patterns)

    def expand(self, ticks: beam.PCollection) -> beam.PCollection[str]:
        patterns = self.patterns
        return (
            ticks
            | "Match" >> beam.FlatMap(lambda _: [f for p in patterns for f in watch_matches(p)])
            | "KeyByPath" >> beam.Map(lambda f: (f.path, f)).with_output_types(tuple[str, FileSeen])
            | "NewStableFiles" >> beam.ParDo(_NewStableFiles()).with_output_types(str)
        )
