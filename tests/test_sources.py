"""Unit tests for the pure source helpers: gzip under a limit, reading bytes, OPML, paths."""

from __future__ import annotations

import gzip
import time
import zlib
from pathlib import Path

import pytest

from transforms.errors import DocumentTooLarge, IngestError, UnreadableDocument
from transforms.sources import (
    GZIP_MAGIC,
    gunzip_limited,
    is_hidden,
    is_url,
    looks_like_opml,
    opml_feeds,
    read_bytes,
    resolve_relative,
)

MB = 1024 * 1024


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """50 MB of zeros, gzip-compressed to about 50 KB."""
    data = gzip.compress(b"\0" * (50 * MB), compresslevel=9)
    assert len(data) < 100_000
    return data


# ==========================================================================
# gunzip_limited
# ==========================================================================


def test_gunzip_single_member() -> None:
    payload = "Grüße — “news” 🎉".encode() * 100
    assert gunzip_limited(gzip.compress(payload), 10_000) == payload


def test_gunzip_multi_member() -> None:
    data = gzip.compress(b"first member\n") + gzip.compress(b"second member\n") + gzip.compress(b"third")
    assert gunzip_limited(data, 1000) == b"first member\nsecond member\nthird"


def test_gunzip_multi_member_counts_all_members_against_the_limit() -> None:
    data = gzip.compress(b"abc") + gzip.compress(b"def")
    assert gunzip_limited(data, 6) == b"abcdef"  # exactly at the limit
    with pytest.raises(DocumentTooLarge):
        gunzip_limited(data, 5)


def test_gunzip_empty_payload() -> None:
    assert gunzip_limited(gzip.compress(b""), 0) == b""
    assert gunzip_limited(gzip.compress(b"x" * 10), 10) == b"x" * 10


def test_gunzip_bomb_is_cut_off(bomb: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(DocumentTooLarge) as info:
        gunzip_limited(bomb, 1 * MB)
    assert time.perf_counter() - started < 2.0  # stops at the limit, does not inflate 50 MB first
    assert isinstance(info.value, IngestError)
    assert str(1 * MB) in str(info.value)


def test_gunzip_bomb_in_second_member_is_cut_off(bomb: bytes) -> None:
    with pytest.raises(DocumentTooLarge):
        gunzip_limited(gzip.compress(b"harmless") + bomb, 1 * MB)


def test_gunzip_under_generous_limit_inflates_fully() -> None:
    payload = b"\0" * (2 * MB)
    assert len(gunzip_limited(gzip.compress(payload), 2 * MB)) == 2 * MB


@pytest.mark.parametrize("cut", [10, 20, -4, -10])
def test_gunzip_truncated_is_unreadable(cut: int) -> None:
    data = gzip.compress(b"hello world, " * 200)
    with pytest.raises(UnreadableDocument):
        gunzip_limited(data[:cut], 100_000)


def test_gunzip_truncated_second_member_is_unreadable() -> None:
    data = gzip.compress(b"abc") + gzip.compress(b"def" * 100)[:15]
    with pytest.raises(UnreadableDocument):
        gunzip_limited(data, 1000)


def test_gunzip_trailing_garbage_after_member_is_ignored() -> None:
    assert gunzip_limited(gzip.compress(b"abc") + b"\0\0\0\0", 100) == b"abc"


def test_gunzip_corrupt_header_raises_zlib_error() -> None:
    with pytest.raises(zlib.error):
        gunzip_limited(GZIP_MAGIC + b"garbage that is not deflate", 100)


# ==========================================================================
# read_bytes
# ==========================================================================


def test_read_bytes_plain(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(b"<rss>plain</rss>")
    assert read_bytes(str(path), 1000) == b"<rss>plain</rss>"


def test_read_bytes_gzip_recognised_by_magic_not_name(tmp_path: Path) -> None:
    payload = b"<rss><title>gzipped</title></rss>"
    disguised = tmp_path / "feed.xml"  # gzip without a .gz name
    disguised.write_bytes(gzip.compress(payload))
    assert read_bytes(str(disguised), 1000) == payload
    misnamed = tmp_path / "feed.xml.gz"  # a .gz name on plain bytes
    misnamed.write_bytes(payload)
    assert read_bytes(str(misnamed), 1000) == payload


def test_read_bytes_multi_member_gzip(tmp_path: Path) -> None:
    path = tmp_path / "multi"
    path.write_bytes(gzip.compress(b"one ") + gzip.compress(b"two"))
    assert read_bytes(str(path), 1000) == b"one two"


def test_read_bytes_refuses_large_file(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(b"x" * 1001)
    with pytest.raises(DocumentTooLarge):
        read_bytes(str(path), 1000)
    path.write_bytes(b"x" * 1000)
    assert len(read_bytes(str(path), 1000)) == 1000


def test_read_bytes_bomb_is_too_large(tmp_path: Path, bomb: bytes) -> None:
    path = tmp_path / "bomb.xml"
    path.write_bytes(bomb)
    with pytest.raises(DocumentTooLarge):
        read_bytes(str(path), 1 * MB)


def test_read_bytes_corrupt_gzip_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.xml"
    path.write_bytes(GZIP_MAGIC + b"\x08\x00 not really deflate data at all")
    with pytest.raises(UnreadableDocument):
        read_bytes(str(path), 1000)
    path.write_bytes(gzip.compress(b"hello " * 100)[:-6])
    with pytest.raises(UnreadableDocument):
        read_bytes(str(path), 10_000)


def test_read_bytes_missing_file(tmp_path: Path) -> None:
    with pytest.raises(Exception):  # noqa: B017 - FileSystems raises its own error type
        read_bytes(str(tmp_path / "missing.xml"), 1000)


# ==========================================================================
# opml_feeds
# ==========================================================================

NESTED_OPML = b"""<?xml version="1.0" encoding="utf-8"?>
<opml version="2.0">
  <head><title>Subscriptions</title></head>
  <body>
    <outline text="News">
      <outline text="World">
        <outline type="rss" text="A" xmlUrl=" http://a.example/1.xml "/>
        <outline text="Deeper"><outline type="rss" xmlUrl="deep/feed.xml"/></outline>
      </outline>
      <outline type="rss" text="B" xmlUrl="b.xml"/>
    </outline>
    <outline xmlurl="c.xml"/>
    <outline url="d.xml"/>
    <outline text="a folder without a url"/>
    <outline xmlUrl="   "/>
  </body>
</opml>"""


def test_opml_nested_outlines_in_document_order() -> None:
    assert opml_feeds(NESTED_OPML) == ["http://a.example/1.xml", "deep/feed.xml", "b.xml", "c.xml", "d.xml"]


def test_opml_with_bom_and_opml_1() -> None:
    data = b'\xef\xbb\xbf<opml version="1.0"><body><outline xmlUrl="x.xml"/></body></opml>'
    assert looks_like_opml(data)
    assert opml_feeds(data) == ["x.xml"]


def test_opml_seed_file() -> None:
    seed = Path(__file__).resolve().parent.parent / "seeds" / "feeds" / "subscriptions.opml"
    assert opml_feeds(seed.read_bytes()) == [
        "rss091_digest.xml",
        "_opml/regional.xml",
        "http://10.20.30.40/world.xml",
    ]


@pytest.mark.parametrize("data", [b"<rss><channel/></rss>", b"not xml at all", b"", b"<html><body/></html>"])
def test_opml_rejects_non_opml(data: bytes) -> None:
    with pytest.raises(UnreadableDocument):
        opml_feeds(data)


def test_opml_xxe_does_not_read_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER", encoding="utf-8")
    for target in ("file:///etc/passwd", secret.as_uri()):
        data = f"""<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY x SYSTEM "{target}">]>
<opml version="2.0"><head><title>&x;</title></head>
<body><outline text="&x;" xmlUrl="http://a.example/&x;"/><outline xmlUrl="b.xml"/></body></opml>""".encode()
        # Refused whole: the error names the reason and carries nothing read from the file.
        with pytest.raises(UnreadableDocument, match="entities") as refused:
            opml_feeds(data)
        assert "root:" not in str(refused.value)
        assert "TOP-SECRET-MARKER" not in str(refused.value)


def test_opml_external_dtd_is_not_loaded(tmp_path: Path) -> None:
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY leak "LEAKED-FROM-DTD">', encoding="utf-8")
    data = f"""<?xml version="1.0"?>
<!DOCTYPE opml SYSTEM "{dtd.as_uri()}">
<opml version="2.0"><body><outline xmlUrl="http://a.example/&leak;"/><outline xmlUrl="b.xml"/></body></opml>""".encode()
    urls = opml_feeds(data)
    assert "LEAKED-FROM-DTD" not in " ".join(urls)
    assert "b.xml" in urls


def _laughs(levels: int) -> tuple[str, str]:
    """A DTD of nested entities (each ten of the one before) and a reference to level ``levels``."""
    entities = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    return f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY lol0 "lol">{entities}]>', f"&lol{levels};"


def test_opml_billion_laughs_does_not_expand() -> None:
    prolog, bomb = _laughs(9)  # 10^9 "lol"s if expanded
    data = (
        f'{prolog}<opml version="2.0"><body><outline xmlUrl="first.xml"/>'
        f'<outline text="{bomb}" xmlUrl="http://x.example/{bomb}"/><outline xmlUrl="last.xml"/></body></opml>'
    ).encode()
    started = time.perf_counter()
    try:
        urls = opml_feeds(data)
    except UnreadableDocument:
        urls = []
    assert time.perf_counter() - started < 2.0
    assert all(len(url) < 1000 for url in urls)
    assert sum(len(url) for url in urls) < 10_000


def test_opml_billion_laughs_is_refused_or_complete() -> None:
    prolog, bomb = _laughs(9)
    data = (
        f'{prolog}<opml version="2.0"><body><outline xmlUrl="first.xml"/>'
        f'<outline text="{bomb}" xmlUrl="http://x.example/{bomb}"/><outline xmlUrl="last.xml"/></body></opml>'
    ).encode()
    try:
        urls = opml_feeds(data)
    except UnreadableDocument:
        return
    assert "last.xml" in urls


def test_opml_internal_entities_are_not_expanded() -> None:
    prolog, bomb = _laughs(3)  # 1,000 "lol"s: under libxml2's amplification limit
    data = f'{prolog}<opml version="2.0"><body><outline xmlUrl="x/{bomb}"/></body></opml>'.encode()
    try:
        urls = opml_feeds(data)
    except UnreadableDocument:
        return
    assert all("lollol" not in url for url in urls)


def test_looks_like_opml() -> None:
    assert looks_like_opml(NESTED_OPML)
    assert looks_like_opml(b"  \n<OPML version='1.0'></OPML>")
    assert not looks_like_opml(b"<rss version='2.0'><channel/></rss>")
    assert not looks_like_opml(b"x" * 2000 + b"<opml>")  # only the head is looked at


# ==========================================================================
# resolve_relative, is_hidden, is_url
# ==========================================================================


@pytest.mark.parametrize(
    ("parent", "reference", "resolved"),
    [
        ("/data/lists/subs.opml", "feeds/a.xml", "/data/lists/feeds/a.xml"),
        ("/data/lists/subs.opml", "a.xml", "/data/lists/a.xml"),
        ("/data/lists/subs.opml", "../up.xml", "/data/lists/../up.xml"),
        ("/data/lists/subs.opml", "/abs/a.xml", "/abs/a.xml"),
        ("/data/lists/subs.opml", "http://x.example/y.xml", "http://x.example/y.xml"),
        ("/data/lists/subs.opml", "https://x.example/y.xml", "https://x.example/y.xml"),
        ("/data/lists/subs.opml", "file:///tmp/a%20b.xml", "/tmp/a b.xml"),
        ("gs://bucket/dir/subs.opml", "a.xml", "gs://bucket/dir/a.xml"),
        ("gs://bucket/dir/subs.opml", "gs://other/b.xml", "gs://other/b.xml"),
        ("subs.opml", "a.xml", "a.xml"),
        ("seeds/feeds/subscriptions.opml", "_opml/regional.xml", "seeds/feeds/_opml/regional.xml"),
    ],
)
def test_resolve_relative(parent: str, reference: str, resolved: str) -> None:
    assert resolve_relative(parent, reference) == resolved


@pytest.mark.parametrize(
    ("relative", "hidden"),
    [
        ("a/b.xml", False),
        ("b.xml", False),
        ("a_b/c.xml", False),
        ("a/b_.xml", False),
        ("a/b.c.xml", False),
        (".hidden", True),
        ("a/.hidden.xml", True),
        ("a/_SUCCESS", True),
        ("_staging/x.xml", True),
        ("a/.crc/b.xml", True),
        ("_expected/000.json", True),
        ("a//b.xml", False),
        ("", False),
    ],
)
def test_is_hidden(relative: str, hidden: bool) -> None:
    assert is_hidden(relative) is hidden


def test_is_url() -> None:
    assert is_url("http://web.example/feed")
    assert is_url("https://web.example/feed")
    assert not is_url("/local/path.xml")
    assert not is_url("gs://bucket/x.xml")
    assert not is_url("file:///tmp/x.xml")
