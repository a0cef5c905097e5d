"""WARC input end to end: ``newsbeam ingest`` on web archives written by warcio, read back with pyarrow and DuckDB.

``tests/test_warc_io.py`` tests the reader's functions; this module runs the
real pipeline (DirectRunner, in process) on archives laid out as a news crawl
stores them, and checks what a user gets: each article once, at its
``WARC-Target-URI``, with its text decoded from whatever charset the server
declared, dated by the page and never by the crawl; everything else counted
under the rule that skipped it, so that ``read`` (every record of the file)
reconciles with ``written + duplicates + dead_lettered + skipped``.

The pages are written here (fictional outlets on ``.example`` names, nothing
is fetched). Each record is built beside what the run must make of it
(``Item``), and the expected counts are tallied from those, so a record added
to a fixture carries its own expectation.
"""

from __future__ import annotations

import io
import json
import random
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, Optional

import duckdb
import pytest
from support import read_articles_pyarrow, read_dead_letters_pyarrow, run_summary
from warc_make import DATE, Layout, Record, exchange, metadata, revisit, warc_bytes, warcinfo
from warcio.archiveiterator import ArchiveIterator

from pipeline.cli import main
from pipeline.run import run_stream

# slow tier: every test here runs whole ingests
pytestmark = pytest.mark.slow

MB = 1 << 20
#: What a record must become: an article, or the skip rule that counts it.
ARTICLE = "article"
HERALD = "https://www.ellery-herald.example"
ZEITUNG = "https://www.hafenau-zeitung.example"
JOURNAL = "https://www.belport-journal.example"
WARC_DATE = datetime.fromisoformat(DATE.replace("Z", "+00:00"))


# --------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Story:
    """A fictional article: where it is, what it says, when it says it was published."""

    url: str
    headline: str
    published: str  # as the page's JSON-LD gives it
    language: str
    author: str
    paragraphs: tuple[str, ...]

    @property
    def published_utc(self) -> datetime:
        return datetime.fromisoformat(self.published).astimezone(UTC)


BRIDGE = Story(
    f"{HERALD}/2024/05/13/harbour-bridge-reopens/",
    "Harbour bridge reopens to traffic after three-year restoration",
    "2024-05-13T07:45:00+02:00",
    "en",
    "Jonas Berglund",
    (
        "The Ellery Harbour Bridge reopened to traffic on Monday morning, three years after engineers closed it when "
        "inspectors found corrosion in two of its main cables. A line of cyclists, delivery vans and a single "
        "horse-drawn cart crossed the span within minutes of the barriers being lifted at seven o'clock.",
        "The restoration replaced more than four hundred tonnes of steel and every one of the bridge's twelve "
        "suspension cables. Workers also rebuilt the pedestrian walkway, which had been closed since the late "
        "nineties, and added a separate lane for bicycles on the eastern side.",
        "Mayor Alina Brask, who cut a ribbon at the northern approach, said the town had waited long enough. "
        "'People have been driving forty minutes around the bay to reach the hospital and the schools on the other "
        "shore,' she said. 'From today that trip takes six minutes again.'",
        "The project cost 212 million crowns, about a fifth more than the council budgeted in 2021. The overrun "
        "was blamed on the price of steel and on a winter storm that destroyed a temporary platform in the second "
        "year of works.",
        "Traffic engineers expect about eighteen thousand vehicles a day to use the bridge by the end of the "
        "summer. A toll for heavy lorries, proposed last year to help repay the loans, will be debated by the "
        "council in June.",
    ),
)

CAFES = Story(
    f"{HERALD}/2024/05/12/merchant-row-facades-restored/",
    "Café quarter’s façades restored as Merchant Row reopens",
    "2024-05-12T16:20:00+02:00",
    "en",
    "Sigrid Amundsen",
    (
        "Owners of the small cafés along Merchant Row reopened their terraces on Saturday after the council "
        "finished restoring the street’s nineteenth-century façades. The work, which began last autumn, stripped "
        "decades of grey paint from the brick fronts and uncovered painted signs for a chandler, a milliner and a "
        "naïve mural of a sailing ship.",
        "“We found the name of my great-grandfather’s bakery under three coats of paint,” said Henrik Sollen, who "
        "runs the Café Aurore at number fourteen. “Nobody in the family knew it had been there.”",
        "The council’s heritage officer, Dagny Holm, said the restoration followed photographs from the town "
        "archive rather than guesswork. Where no picture survived, the façades were left plain — a choice some "
        "owners have questioned. A résumé of the project, with photographs from before and after, is on display in "
        "the library until the end of the month.",
        "The street will be closed to cars on weekends from June to September. Traders hope the change will bring "
        "back the crowds that the market drew before the bypass opened. The first weekend drew about three "
        "thousand visitors, according to a count by the traders’ association, and several cafés ran out of "
        "pastries before noon.",
    ),
)

LANES = Story(
    f"{HERALD}/2024/05/09/coast-road-cycling-lanes/",
    "Council approves protected cycling lanes on the coast road",
    "2024-05-09T21:05:00+02:00",
    "en",
    "Maren Dahl",
    (
        "Councillors voted eleven to four on Thursday to build protected cycling lanes along the coast road between "
        "the ferry terminal and the northern beaches, ending a debate that has run for most of a decade.",
        "The lanes, separated from traffic by a low concrete kerb, will take the place of one row of parking on "
        "each side of the road. Shop owners on the stretch near the lighthouse had argued that losing the spaces "
        "would drive customers to the retail park outside town.",
        "Supporters pointed to figures from the town's transport office showing that the number of people cycling "
        "to work has doubled since 2019, even without safe lanes. Two cyclists were seriously injured on the coast "
        "road last year.",
        "Councillor Petra Vinge, who proposed the scheme, said construction would start in September and take "
        "about fourteen months. 'This is not a war on cars,' she told the chamber. 'It is a road that children can "
        "ride to school on.'",
        "The opposition group said it would ask for a review of the decision once the first section is complete, "
        "and called for a survey of the businesses affected.",
    ),
)

FERRY = Story(
    f"{ZEITUNG}/2024/05/10/neue-faehre-nach-moewenholm/",
    "Neue Fähre verbindet Hafenau wieder mit Möwenholm",
    "2024-05-10T06:30:00+02:00",
    "de",
    "Katrin Lübbers",
    (
        "Nach fast einem Jahr ohne regelmäßige Verbindung fährt wieder eine Fähre zwischen Hafenau und der Insel "
        "Möwenholm. Das neue Schiff legte am Freitagmorgen um halb sieben zum ersten Mal ab, an Bord waren "
        "Pendler, Schulkinder und ein Lieferwagen der Inselbäckerei.",
        "Die alte Fähre war im vergangenen Frühjahr bei einem Sturm schwer beschädigt worden und musste "
        "verschrottet werden. Seitdem waren die rund neunhundert Bewohner der Insel auf ein kleines Wassertaxi "
        "angewiesen, das bei starkem Wind oft nicht fahren durfte.",
        "„Wir haben monatelang jeden Einkauf planen müssen wie eine Expedition“, sagte die Bürgermeisterin der "
        "Insel, Heike Sörensen. „Heute fühlt es sich an, als hätte man uns eine Brücke gebaut.“",
        "Das Schiff bietet Platz für zweihundert Fahrgäste und zwölf Autos und wird mit Strom aus Batterien "
        "angetrieben, die im Hafen von Hafenau geladen werden. Die Überfahrt dauert zwanzig Minuten. Die "
        "Reederei will die Verbindung im Sommer auf stündliche Abfahrten ausweiten, wenn sich genügend Personal "
        "für eine zweite Schicht findet.",
        "Die Kosten für den Neubau von knapp elf Millionen Euro teilen sich das Land und die Gemeinde. Ein Teil "
        "soll über höhere Preise für Fahrkarten von Touristen wieder hereinkommen.",
    ),
)

MARKET = Story(
    f"{JOURNAL}/2024/05/11/le-marche-couvert-rouvre/",
    "Le marché couvert de Belport rouvre ses portes après deux ans de travaux",
    "2024-05-11T10:15:00+02:00",
    "fr",
    "Hélène Marchal",
    (
        "Le marché couvert de Belport a rouvert ses portes samedi matin, après deux années de travaux qui ont "
        "coûté près de neuf millions d'euros à la commune. Dès sept heures, une longue file d'habitants attendait "
        "devant les grilles de la rue des Tanneurs.",
        "La charpente métallique, construite en 1898, a été entièrement démontée, nettoyée puis remontée pièce "
        "par pièce. Les verrières, brisées lors de la tempête de l'hiver 2021, ont été remplacées à l'identique, "
        "et le sol en pavés a été reposé sur une nouvelle dalle isolée.",
        "« Nous avons retrouvé nos habitudes dès la première heure », raconte Mireille Fabre, fromagère installée "
        "sous la halle depuis vingt-deux ans. « Les clients sont venus nous dire bonjour avant même d'acheter quoi "
        "que ce soit. »",
        "Quarante-deux commerçants occupent désormais les étals, contre trente-cinq avant la fermeture. La mairie "
        "a réservé six emplacements à de jeunes producteurs de la région, avec un loyer réduit pendant les trois "
        "premières années. Le marché sera ouvert du mardi au dimanche, et une nocturne est prévue chaque premier "
        "vendredi du mois pendant l'été.",
    ),
)

STORIES = (BRIDGE, CAFES, LANES, FERRY, MARKET)

_SITES = {
    HERALD: ("The Ellery Herald", ("News", "Business", "Sport", "Culture", "Opinion")),
    ZEITUNG: ("Hafenauer Zeitung", ("Lokales", "Wirtschaft", "Sport", "Kultur", "Meinung")),
    JOURNAL: ("Le Journal de Belport", ("Actualités", "Économie", "Sport", "Culture", "Opinions")),
}


def _origin(url: str) -> str:
    return "/".join(url.split("/")[:3])


def _chrome(origin: str) -> tuple[str, str]:
    """A site's navigation bar and footer, as every page of it carries them."""
    name, sections = _SITES[origin]
    links = "".join(f'<li><a href="/{s.lower()}/">{s}</a></li>' for s in sections)
    nav = (
        f'<header><a class="logo" href="/">{name}</a><nav><ul><li><a href="/">Home</a></li>{links}</ul></nav></header>'
    )
    footer = (
        f"<footer><p>© 2024 {name}. All rights reserved.</p>"
        '<p><a href="/contact/">Contact</a> · <a href="/privacy/">Privacy</a> · <a href="/advertise/">Advertise</a></p>'
        "</footer>"
    )
    return nav, footer


def article_html(story: Story, meta_charset: Optional[str] = None) -> str:
    """A news article page: JSON-LD NewsArticle, og:type article, site chrome around an ``<article>``."""
    origin = _origin(story.url)
    nav, footer = _chrome(origin)
    site = _SITES[origin][0]
    ld = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": story.headline,
        "datePublished": story.published,
        "author": {"@type": "Person", "name": story.author},
        "publisher": {"@type": "Organization", "name": site},
        "mainEntityOfPage": story.url,
    }
    charset = f'<meta charset="{meta_charset}">' if meta_charset else ""
    body = "".join(f"<p>{p}</p>" for p in story.paragraphs)
    return (
        f'<!DOCTYPE html><html lang="{story.language}"><head>{charset}<title>{story.headline} | {site}</title>'
        f'<meta property="og:type" content="article"><meta property="og:title" content="{story.headline}">'
        f'<meta property="og:site_name" content="{site}">'
        f'<script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script></head>'
        f"<body>{nav}<main><article><h1>{story.headline}</h1>"
        f'<p class="byline">By {story.author}</p>{body}</article></main>{footer}</body></html>'
    )


TAG_URL = f"{HERALD}/tag/harbour/"
HOME_URL = f"{HERALD}/"
VIDEO_URL = f"{HERALD}/video/2024/05/14/storm-over-the-bay/"

_TOPICS = ("Ferry", "Harbour", "Pier", "Lighthouse", "Dock", "Marina", "Quay")
_EVENTS = ("timetable changes", "wins award", "reopens", "closes for repairs", "gets new owner", "floods again")


def _headlines(count: int) -> list[str]:
    return [f"{_TOPICS[i % len(_TOPICS)]} {_EVENTS[i % len(_EVENTS)]} ({i + 1})" for i in range(count)]


def tag_html() -> str:
    """A tag page: 36 headline links and nothing else of its own."""
    nav, footer = _chrome(HERALD)
    items = "".join(
        f'<li><a href="/2024/05/{1 + i % 28:02d}/story-{i}/">{headline}</a> <time>May {1 + i % 28}</time></li>'
        for i, headline in enumerate(_headlines(36))
    )
    ld = {"@context": "https://schema.org", "@type": "CollectionPage", "name": "Harbour"}
    return (
        "<!DOCTYPE html><html lang='en'><head><title>Harbour | The Ellery Herald</title>"
        '<meta property="og:type" content="website">'
        f'<script type="application/ld+json">{json.dumps(ld)}</script></head>'
        f"<body>{nav}<main><h1>Harbour</h1><ul class='stories'>{items}</ul></main>{footer}</body></html>"
    )


def home_html() -> str:
    """The home page at ``/``: sections of headlines with one-line teasers."""
    nav, footer = _chrome(HERALD)
    cards = "".join(
        f'<div class="card"><h3><a href="/2024/05/{1 + i % 28:02d}/home-{i}/">{headline}</a></h3>'
        f"<p>Read the full report from our harbour desk.</p></div>"
        for i, headline in enumerate(_headlines(32))
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><title>The Ellery Herald: news from Ellery and the bay</title>"
        '<meta property="og:type" content="website"></head>'
        f"<body>{nav}<main><section><h2>Latest</h2>{cards}</section></main>{footer}</body></html>"
    )


def video_html() -> str:
    """A video page: VideoObject, og:type video.other, a player and a one-sentence caption."""
    nav, footer = _chrome(HERALD)
    ld = {
        "@context": "https://schema.org",
        "@type": "VideoObject",
        "name": "Storm over the bay",
        "description": "Waves break over the harbour wall as the first autumn storm reaches Ellery.",
        "uploadDate": "2024-05-14T09:00:00+02:00",
        "thumbnailUrl": f"{HERALD}/media/storm.jpg",
        "contentUrl": f"{HERALD}/media/storm.mp4",
    }
    return (
        "<!DOCTYPE html><html lang='en'><head><title>Storm over the bay | The Ellery Herald</title>"
        '<meta property="og:type" content="video.other">'
        f'<script type="application/ld+json">{json.dumps(ld)}</script></head>'
        f'<body>{nav}<main><h1>Storm over the bay</h1><video src="/media/storm.mp4" controls></video>'
        "<p>Waves break over the harbour wall as the first storm of the season reaches Ellery.</p></main>"
        f"{footer}</body></html>"
    )


NOT_FOUND = b"<!DOCTYPE html><html><head><title>Page not found</title></head><body><p>Not here.</p></body></html>"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00" + random.Random(3).randbytes(6000) + b"\xff\xd9"


# --------------------------------------------------------------------------
# Archives
# --------------------------------------------------------------------------


class Item(NamedTuple):
    """A record to write, and what the run must make of it (``ARTICLE`` or a skip rule)."""

    record: Record
    outcome: str


def fetched(url: str, body: bytes, outcome: str, **options: Any) -> list[Item]:
    """A crawler's request and response for ``url`` (``options``: ``warc_make.response``'s)."""
    sent, got = exchange(url, body, **options)
    return [Item(sent, "warc.request"), Item(got, outcome)]


def mixed_items() -> list[Item]:
    """A CC-NEWS-like archive: articles in several charsets and transfer forms, pages that are not articles, the rest.

    The last record is a metadata record (the damage test cuts the file inside it).
    """
    return [
        Item(warcinfo(), "warc.warcinfo"),
        *fetched(BRIDGE.url, article_html(BRIDGE, "utf-8").encode(), ARTICLE),
        Item(metadata(BRIDGE.url), "warc.metadata"),
        # windows-1252, said only by the HTTP header: the page declares nothing.
        *fetched(
            CAFES.url, article_html(CAFES).encode("cp1252"), ARTICLE, content_type="text/html; charset=windows-1252"
        ),
        # gzip content encoding, chunked transfer: as it went over the wire.
        *fetched(LANES.url, article_html(LANES, "utf-8").encode(), ARTICLE, gzip=True, chunked=True),
        # Stored decoded, as Common Crawl does (X-Crawler-* headers, Content-Length of what is stored).
        *fetched(FERRY.url, article_html(FERRY).encode(), ARTICLE, gzip=True, chunked=True, common_crawl=True),
        # ISO-8859-1 said by the page's <meta>, the HTTP header naming no charset.
        *fetched(
            MARKET.url, article_html(MARKET, "iso-8859-1").encode("iso-8859-1"), ARTICLE, content_type="text/html"
        ),
        *fetched(TAG_URL, tag_html().encode(), "page.tag"),
        *fetched(HOME_URL, home_html().encode(), "page.home"),
        *fetched(VIDEO_URL, video_html().encode(), "page.video"),
        *fetched(f"{HERALD}/media/bridge.jpg", JPEG, "warc.non_html", content_type="image/jpeg"),
        *fetched(
            f"{HERALD}/news/bridge",
            b"",
            "warc.redirect",
            status=301,
            content_type=None,
            headers=(("Location", BRIDGE.url),),
        ),
        *fetched(f"{HERALD}/2024/05/01/gone/", NOT_FOUND, "warc.http_error", status=404),
        Item(revisit(BRIDGE.url, "2024-05-14T23:00:00Z"), "warc.revisit"),
        Item(metadata(LANES.url), "warc.metadata"),
    ]


def records(items: list[Item]) -> list[Record]:
    return [item.record for item in items]


def skipped_rules(items: list[Item]) -> dict[str, int]:
    """The run summary's ``skipped.records`` these items must give."""
    return dict(Counter(item.outcome for item in items if item.outcome != ARTICLE))


def article_urls(items: list[Item]) -> set[str]:
    return {item.record.url for item in items if item.outcome == ARTICLE}


def write(path: Path, items: list[Item], layout: Layout = "members") -> tuple[bytes, list[int]]:
    """Writes the archive; its bytes and each record's offset."""
    data, offsets = warc_bytes(records(items), layout)
    path.write_bytes(data)
    return data, offsets


# --------------------------------------------------------------------------
# Running and reading back
# --------------------------------------------------------------------------


def ingest(inputs: list[Path], output: Path, run_id: str, *extra: str) -> int:
    """``newsbeam ingest`` in process, with the steps that WARC input does not need turned off."""
    return main(
        [
            "ingest",
            *(str(path) for path in inputs),
            "--output",
            str(output),
            "--runner",
            "DirectRunner",
            "--run-id",
            run_id,
            "--entities",
            "off",
            "--full-text",
            "off",
            "--clusters",
            "off",
            "--progress-seconds",
            "0",
            *extra,
        ]
    )


def by_url(output: Path) -> dict[str, dict[str, Any]]:
    """Every article row (pyarrow), keyed by url; a url written twice fails here."""
    rows = read_articles_pyarrow(output)
    urls = [row["url"] for row in rows]
    assert len(urls) == len(set(urls)), Counter(urls).most_common(3)
    return {row["url"]: row for row in rows}


def duck(output: Path, sql: str) -> list[tuple[Any, ...]]:
    """``sql`` over the run's articles (the table is ``articles``), read by DuckDB."""
    con = duckdb.connect()
    try:
        pattern = str(output / "articles" / "**" / "*.parquet")
        con.execute(f"CREATE VIEW articles AS SELECT * FROM read_parquet('{pattern}', hive_partitioning = true)")
        return con.execute(sql).fetchall()
    finally:
        con.close()


def assert_reconciled(summary: dict[str, Any]) -> None:
    counts = summary["counts"]
    assert counts["reconciled"] is True, counts
    assert counts["read"] == counts["written"] + counts["duplicates"] + counts["dead_lettered"] + counts["skipped"]
    assert counts["skipped"] == sum(summary["skipped"]["records"].values())


@dataclass(frozen=True)
class Ingested:
    """The mixed archive, ingested once for the tests that only read the result."""

    path: Path
    items: list[Item]
    data: bytes
    offsets: list[int]
    output: Path
    code: int
    summary: dict[str, Any]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    folder = tmp_path_factory.mktemp("warc_mixed")
    items = mixed_items()
    path = folder / "CC-NEWS-20240514220000-00001.warc.gz"
    data, offsets = write(path, items)
    output = folder / "out"
    code = ingest([path], output, "mixed-1")
    return Ingested(path, items, data, offsets, output, code, run_summary(output, "mixed-1"))


# --------------------------------------------------------------------------
# 1. A mixed archive
# --------------------------------------------------------------------------


def test_every_article_is_written_once_at_its_target_uri(mixed: Ingested) -> None:
    assert mixed.code == 0
    rows = by_url(mixed.output)
    assert set(rows) == article_urls(mixed.items)
    for story in STORIES:
        row = rows[story.url]
        assert row["page_url"] == story.url
        assert row["page_status"] == 200
        assert row["text_source"] == "page"
        assert row["source_type"] == "warc"
        assert row["source"] == str(mixed.path)
        assert row["title"] == story.headline
        assert row["language"] == story.language, story.url
        # The text is the article's prose, without the site's navigation or footer.
        assert story.paragraphs[0][:60] in row["text"]
        assert story.paragraphs[-1][-40:] in row["text"]
        assert "All rights reserved" not in row["text"] and "Advertise" not in row["text"]
    counted = duck(mixed.output, "SELECT count(*), count(DISTINCT article_id), count(DISTINCT url) FROM articles")
    assert counted == [(len(STORIES), len(STORIES), len(STORIES))]


def test_published_at_is_the_pages_date_not_the_crawls(mixed: Ingested) -> None:
    rows = by_url(mixed.output)
    for story in STORIES:
        published = rows[story.url]["published_at"]
        assert published == story.published_utc, story.url
        assert published != WARC_DATE
        assert rows[story.url]["published_source"] == "page:jsonld"


def test_charsets_and_transfer_encodings_are_decoded(mixed: Ingested) -> None:
    """windows-1252 from the HTTP header alone (its curly quotes are not C1 controls), ISO-8859-1 from <meta>."""
    rows = by_url(mixed.output)
    cafes = rows[CAFES.url]["text"]
    assert "façades" in cafes and "Café Aurore" in cafes and "naïve" in cafes and "résumé" in cafes
    assert "“We found the name" in cafes and "left plain — a choice" in cafes
    assert rows[CAFES.url]["title"] == CAFES.headline
    assert (rows[CAFES.url]["encoding"]["declared"], rows[CAFES.url]["encoding"]["decode_path"]) == (
        "windows-1252",
        "declared",
    )
    assert rows[MARKET.url]["encoding"]["declared"] == "iso-8859-1"
    assert "coûté près de neuf millions" in rows[MARKET.url]["text"]
    assert "„Wir haben monatelang" in rows[FERRY.url]["text"]
    assert "protected cycling lanes along the coast road" in rows[LANES.url]["text"]
    for row in rows.values():
        assert not any("\x80" <= ch <= "\x9f" or ch == "\ufffd" for ch in row["text"]), row["url"]


def test_every_record_is_counted_under_its_rule(mixed: Ingested) -> None:
    summary = mixed.summary
    counts = summary["counts"]
    with open(mixed.path, "rb") as stream:
        in_file = sum(1 for _ in ArchiveIterator(stream))  # counted by another reader than newsbeam's
    assert counts["read"] == in_file == len(mixed.items)
    assert counts["written"] == len(STORIES)
    assert (counts["duplicates"], counts["dead_lettered"]) == (0, 0)
    assert summary["skipped"]["records"] == skipped_rules(mixed.items)
    assert_reconciled(summary)
    assert summary["documents"]["by_format"] == {"warc": 1}
    assert read_dead_letters_pyarrow(mixed.output) == []


# --------------------------------------------------------------------------
# 2. Damage
# --------------------------------------------------------------------------


def _flip(data: bytes, at: int, count: int = 6) -> bytes:
    damaged = bytearray(data)
    for i in range(at, at + count):
        damaged[i] ^= 0x5A
    return bytes(damaged)


def test_a_corrupt_member_and_a_cut_off_end_cost_those_records_alone(mixed: Ingested, tmp_path: Path) -> None:
    items = mixed.items
    index = next(i for i, item in enumerate(items) if item.record.url == LANES.url and item.outcome == ARTICLE)
    start, end = mixed.offsets[index], mixed.offsets[index + 1]
    damaged = _flip(mixed.data, start + (end - start) // 2)  # inside the deflate data: the member will not inflate
    last = mixed.offsets[-1]
    cut = last + (len(damaged) - last) // 2
    damaged = damaged[:cut]
    path = tmp_path / "damaged.warc.gz"
    path.write_bytes(damaged)
    output = tmp_path / "out"

    code = ingest([path], output, "damaged-1", "--max-dead-letter-ratio", "0.25")

    assert 2 / len(items) < 0.25 and code == 0  # dead letters under the ratio: the run succeeds
    summary = run_summary(output, "damaged-1")
    counts = summary["counts"]
    assert counts["read"] == len(items)
    assert counts["dead_lettered"] == 2 and summary["dead_lettered_by_stage"] == {"read": 2}
    expected = skipped_rules([item for i, item in enumerate(items) if i not in (index, len(items) - 1)])
    assert summary["skipped"]["records"] == expected
    assert counts["written"] == len(STORIES) - 1
    assert_reconciled(summary)
    assert set(by_url(output)) == article_urls(items) - {LANES.url}

    letters = sorted(read_dead_letters_pyarrow(output), key=lambda d: d["source"])
    assert [d["stage"] for d in letters] == ["read", "read"]
    wanted = {start: damaged[start:end], last: damaged[last:]}
    in_order = sorted(wanted.items(), key=lambda w: f"{path} at byte {w[0]}")  # as the letters are sorted
    for letter, (offset, raw) in zip(letters, in_order, strict=True):
        assert letter["source"] == f"{path} at byte {offset}"
        assert f"offset {offset}" in letter["message"]
        assert letter["raw_bytes"] == raw and letter["raw_text"] is None


# --------------------------------------------------------------------------
# 3. Ranges read by several workers
# --------------------------------------------------------------------------

_SYLLABLES = [
    a + b for a in ("b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "v", "w") for b in "aeiou"
]


def padded_stories(count: int, words: int, seed: int = 11) -> list[Story]:
    """Articles with long prose of varied made-up words (seeded), which gzip cannot squeeze much."""
    rnd = random.Random(seed)
    vocabulary = ["".join(rnd.choices(_SYLLABLES, k=rnd.randint(1, 4))) for _ in range(30_000)]
    stories = []
    for n in range(count):
        paragraphs = []
        left = words
        while left > 0:
            sentences = []
            for _ in range(rnd.randint(3, 6)):
                length = rnd.randint(8, 22)
                sentence = " ".join(rnd.choices(vocabulary, k=length))
                sentences.append(sentence[:1].upper() + sentence[1:] + ".")
                left -= length
            paragraphs.append(" ".join(sentences))
        stories.append(
            Story(
                f"{HERALD}/2024/05/{1 + n % 28:02d}/long-read-{n}/",
                f"Long read number {n}: the archive of the harbour office",
                f"2024-05-{1 + n % 28:02d}T12:00:00+00:00",
                "en",
                "Archive Desk",
                tuple(paragraphs),
            )
        )
    return stories


def test_a_file_read_in_ranges_gives_what_it_gives_read_whole(tmp_path: Path) -> None:
    stories = padded_stories(80, 14_000)
    items = [Item(warcinfo(), "warc.warcinfo")]
    for story in stories:
        items += fetched(story.url, article_html(story, "utf-8").encode(), ARTICLE)
        items.append(Item(metadata(story.url), "warc.metadata"))
    path = tmp_path / "big.warc.gz"
    data, offsets = write(path, items)
    assert len(data) > 3 * MB
    # Articles' members straddle range boundaries: the split run must read them across the cut.
    ends = offsets[1:] + [len(data)]
    straddling = [
        item.record.url
        for item, start, end in zip(items, offsets, ends, strict=True)
        if item.outcome == ARTICLE and start // MB != (end - 1) // MB
    ]
    assert len(straddling) >= 2

    split, whole = tmp_path / "split", tmp_path / "whole"
    assert ingest([path], split, "split-1", "--warc-split-mb", "1") == 0
    assert ingest([path], whole, "whole-1", "--warc-split-mb", "64") == 0

    summaries = run_summary(split, "split-1"), run_summary(whole, "whole-1")
    assert summaries[0]["counters"]["file_ranges"] == -(-len(data) // MB) > 1
    assert summaries[1]["counters"]["file_ranges"] == 1
    for summary in summaries:
        assert summary["counts"]["read"] == summary["counters"]["records_read"] == len(items)
        assert summary["counts"]["written"] == len(stories)
        assert summary["skipped"]["records"] == skipped_rules(items)
        assert summary["documents"]["by_format"] == {"warc": 1}
        assert_reconciled(summary)
    assert summaries[0]["counts"] == summaries[1]["counts"]
    rows = [by_url(split), by_url(whole)]
    assert set(rows[0]) == set(rows[1]) == article_urls(items)
    for url in rows[0]:
        assert rows[0][url]["article_id"] == rows[1][url]["article_id"]
        assert rows[0][url]["text"] == rows[1][url]["text"]


# --------------------------------------------------------------------------
# 4. What a run keeps
# --------------------------------------------------------------------------


def test_keep_non_articles_writes_the_other_pages_too(mixed: Ingested, tmp_path: Path) -> None:
    output = tmp_path / "out"
    assert ingest([mixed.path], output, "keep-1", "--keep-non-articles", "on") == 0
    summary = run_summary(output, "keep-1")
    pages = {item.record.url for item in mixed.items if item.outcome.startswith("page.")}
    assert pages == {TAG_URL, HOME_URL, VIDEO_URL}
    assert set(by_url(output)) == article_urls(mixed.items) | pages
    expected = {rule: n for rule, n in skipped_rules(mixed.items).items() if not rule.startswith("page.")}
    assert summary["skipped"]["records"] == expected
    assert summary["counts"]["written"] == len(STORIES) + 3
    assert_reconciled(summary)


def test_languages_skips_the_articles_in_other_languages(mixed: Ingested, tmp_path: Path) -> None:
    output = tmp_path / "out"
    assert ingest([mixed.path], output, "lang-1", "--languages", "en") == 0
    summary = run_summary(output, "lang-1")
    assert summary["skipped"]["records"] == {**skipped_rules(mixed.items), "language": 2}
    assert summary["counts"]["read"] == len(mixed.items)
    assert summary["counts"]["written"] == 3
    assert_reconciled(summary)
    assert set(by_url(output)) == {BRIDGE.url, CAFES.url, LANES.url}
    assert duck(output, "SELECT DISTINCT language FROM articles") == [("en",)]


def test_domains_skips_the_other_domains_records(mixed: Ingested, tmp_path: Path) -> None:
    output = tmp_path / "out"
    assert ingest([mixed.path], output, "domain-1", "--domains", "hafenau-zeitung.example") == 0
    summary = run_summary(output, "domain-1")
    # Every response on another domain is skipped before its page is read, whatever it would have been.
    elsewhere = [
        item for item in mixed.items if item.record.kind == "response" and not item.record.url.startswith(ZEITUNG)
    ]
    expected = Counter(skipped_rules(mixed.items))
    expected.subtract(Counter(item.outcome for item in elsewhere if item.outcome != ARTICLE))
    expected["domain"] = len(elsewhere)
    assert summary["skipped"]["records"] == {rule: n for rule, n in expected.items() if n}
    assert summary["counts"]["written"] == 1
    assert_reconciled(summary)
    assert set(by_url(output)) == {FERRY.url}


# --------------------------------------------------------------------------
# 5. Layouts, 6. Re-runs
# --------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["plain", "stream"])
def test_every_layout_gives_the_same_articles(mixed: Ingested, tmp_path: Path, layout: Layout) -> None:
    path = tmp_path / ("mixed.warc" if layout == "plain" else "mixed.warc.gz")
    write(path, mixed.items, layout)
    output = tmp_path / "out"
    assert ingest([path], output, f"{layout}-1") == 0
    summary = run_summary(output, f"{layout}-1")
    assert summary["counts"] == mixed.summary["counts"]
    assert summary["skipped"]["records"] == mixed.summary["skipped"]["records"]
    assert summary["counters"]["file_ranges"] == 1
    got, members = by_url(output), by_url(mixed.output)
    assert set(got) == set(members)
    for url, row in got.items():
        for column in ("article_id", "text", "title", "published_at", "language"):
            assert row[column] == members[url][column], (url, column)


def test_a_rerun_writes_nothing_new(mixed: Ingested, tmp_path: Path) -> None:
    output = tmp_path / "out"
    shutil.copytree(mixed.output, output)
    assert ingest([mixed.path], output, "mixed-2") == 0
    summary = run_summary(output, "mixed-2")
    counts = summary["counts"]
    assert counts["written"] == 0
    assert counts["duplicates"] == len(STORIES)
    assert counts["read"] == len(mixed.items)
    assert summary["skipped"]["records"] == skipped_rules(mixed.items)
    assert_reconciled(summary)
    assert duck(output, "SELECT count(*), count(DISTINCT article_id), min(run_id), max(run_id) FROM articles") == [
        (len(STORIES), len(STORIES), "mixed-1", "mixed-1")
    ]


# --------------------------------------------------------------------------
# 7. A stream watching a landing folder
# --------------------------------------------------------------------------


def test_a_warc_landing_in_a_watched_folder_is_read_in_ranges_and_counted_by_rule(tmp_path: Path) -> None:
    """``newsbeam stream --watch``: a crawl's file dropped in the landing folder, read as in batch, tallied per window."""
    landing = tmp_path / "landing"
    landing.mkdir()
    items = mixed_items()
    write(landing / "CC-NEWS-20240514220000-00002.warc.gz", items)
    output = tmp_path / "out"
    err = io.StringIO()
    args = ["--output", str(output), "--runner", "DirectRunner", "--entities", "off", "--full-text", "off"]
    args += ["--watch", str(landing), "--watch-interval", "1", "--window", "2", "--stop-after", "6"]
    code = run_stream([], [*args, "--run-id", "landed"], io.StringIO(), err)
    assert code == 0, err.getvalue()
    summary = run_summary(output, "landed")
    assert_reconciled(summary)
    assert summary["counts"]["read"] == len(items)
    assert summary["counts"]["written"] == len(article_urls(items))
    assert summary["skipped"]["records"] == skipped_rules(items)
    assert set(by_url(output)) == article_urls(items)
