"""Adding an enrichment step is one module and one registry line (README "Extending").

The step here stands for such a module: a PTransform of articles with an
``articles`` and a dead-letter output. Registered in a steps list next to
the built-in ones, it runs in a real batch ingest after dedup, its dead
letters are collected and counted like every other stage's, and a re-run
gives it nothing to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import apache_beam as beam
import pytest
from apache_beam.utils.timestamp import Timestamp

from pipeline.build import build_ingest
from pipeline.settings import IngestConfig, Settings
from pipeline.steps import AFTER_DEDUP, Step, add_steps
from schemas import Article
from tests.support import counters, new_pipeline, read_articles_pyarrow, read_dead_letters_pyarrow
from transforms.entities import EntitySettings
from transforms.errors import DEAD_LETTER, SafeDoFn, counter
from transforms.pages import PageSettings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
ARTICLES = ROOT / "seeds" / "articles"


class _Tag(SafeDoFn):
    stage = "tag"

    def __init__(self, run_id: str):
        super().__init__(run_id)
        self._seen = counter("tag.seen")

    def process_element(self, article: Article) -> Iterable[Article]:
        self._seen.inc()
        if "museum" in (article.title or "").lower():
            raise ValueError("museums are not taken by this step")
        yield article._replace(categories=[*article.categories, "tagged"])


class TagArticles(beam.PTransform):
    """A stand-in for a new enrichment module: tags each article, refuses some."""

    def __init__(self, run_id: str):
        super().__init__()
        self.run_id = run_id

    def expand(self, articles: beam.PCollection) -> dict[str, beam.PCollection]:
        tagged = articles | "Tag" >> beam.ParDo(_Tag(self.run_id)).with_outputs(DEAD_LETTER, main="articles")
        return {"articles": tagged.articles, DEAD_LETTER: tagged[DEAD_LETTER]}


#: The one line a newcomer adds (here to a copy of the registry, so other tests see the real one).
STEPS = (*AFTER_DEDUP, Step("TagArticles", lambda s: True, lambda s: TagArticles(s.run_id)))


def settings(output: Path, run_id: str) -> Settings:
    return Settings(
        inputs=(str(ARTICLES),),
        output=str(output),
        run_id=run_id,
        ingested_at=Timestamp.of(1_700_000_000),
        entities=EntitySettings(enabled=False),
        pages=PageSettings(enabled=False),
    )


def ingest(output: Path, run_id: str) -> Any:
    pipeline = new_pipeline()
    build_ingest(pipeline, IngestConfig(settings(output, run_id)), steps=STEPS)
    result = pipeline.run()
    result.wait_until_finish()
    return counters(result)


def test_a_registered_step_runs_after_dedup_with_its_dead_letters_counted(tmp_path: Path) -> None:
    output = tmp_path / "out"
    first = ingest(output, "run-1")
    rows = read_articles_pyarrow(output)
    dead = [d for d in read_dead_letters_pyarrow(output) if d["stage"] == "tag"]
    assert rows and all("tagged" in row["categories"] for row in rows)
    assert dead and all("museums are not taken" in d["message"] for d in dead)
    assert first["tag.seen"] == len(rows) + len(dead)
    assert first["dead_letter.tag"] == len(dead)
    assert first["read"] == first["written"] + first["duplicates"] + first["dead_lettered"]
    # A re-run reads the same files, and the step sees only the articles it
    # refused (never written, so new again): it runs after dedup.
    second = ingest(output, "run-2")
    assert second["read"] == first["read"] and second["written"] == 0
    assert second["tag.seen"] == second["dead_letter.tag"] == len(dead)


def test_steps_that_are_off_are_not_in_the_graph() -> None:
    pipeline = beam.Pipeline(runner="DirectRunner")
    articles = pipeline | beam.Create([])
    base = settings(Path("/nonexistent"), "run")
    _, dead = add_steps(articles, base, STEPS)
    labels = {t.full_label for t in pipeline.transforms_stack[0].parts}
    assert "TagArticles" in labels and "ExtractEntities" not in labels and "FetchPages" not in labels
    assert len(dead) == 1
    on = base._replace(entities=EntitySettings(enabled=True))
    entities_only = [step for step in STEPS if step.label == "ExtractEntities"]
    _, dead = add_steps(pipeline | "More" >> beam.Create([]), on, entities_only)
    assert "ExtractEntities" in {t.full_label for t in pipeline.transforms_stack[0].parts} and len(dead) == 1
