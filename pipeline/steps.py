"""The enrichment steps that run on new articles only: the registry batch and stream both apply.

These are the costly steps (entities now; full article text and story
clusters next), so they run after dedup: a nightly re-run or a stream poll
spends nothing on articles it will not write. Each step is a PTransform of
``Article``s with two outputs, ``"articles"`` and the dead letters
(``transforms.errors.DEAD_LETTER``), living in its own module under
``transforms/``; this module only lists them, in order, with when each is on.

Adding a step is one module and one line in ``AFTER_DEDUP`` (see the
README's "Extending"). The label is the step's name in the job graph and
Dataflow's ``--update`` maps running steps by it: never rename one that has
shipped, and add new steps with new labels.
"""

from __future__ import annotations

from typing import Callable, Mapping, NamedTuple, Optional, Sequence

import apache_beam as beam

from pipeline.settings import Settings
from transforms.entities import ExtractEntities
from transforms.errors import DEAD_LETTER
from transforms.fetch import EXCHANGES
from transforms.pages import FetchPages


class Step(NamedTuple):
    """One enrichment step: its label, whether a run's settings turn it on, and how to make it."""

    label: str
    enabled: Callable[[Settings], bool]
    make: Callable[[Settings], beam.PTransform]
    #: Other collections of the run the step takes (by name, from ``add_steps``' ``extra``): it is then
    #: applied to a dict of them and ``articles``.
    inputs: tuple[str, ...] = ()


#: Applied in this order to every new article, batch and stream alike.
AFTER_DEDUP: tuple[Step, ...] = (
    # Full text first: entities (and every later step) then see the whole article, not the teaser.
    # With the pages read back from newsbeam's own archives: they stand in for fetches.
    Step("FetchPages", lambda s: s.pages.enabled, FetchPages.from_settings, inputs=("archive",)),
    Step(
        "ExtractEntities", lambda s: s.entities.enabled, lambda s: ExtractEntities.from_settings(s.run_id, s.entities)
    ),
)


def add_steps(
    articles: beam.PCollection,
    settings: Settings,
    steps: Sequence[Step] = AFTER_DEDUP,
    exchanges: Optional[list[beam.PCollection]] = None,
    extra: Optional[Mapping[str, beam.PCollection]] = None,
) -> tuple[beam.PCollection, list[beam.PCollection]]:
    """Chains the steps that are on: the articles out of the last one, and every step's dead letters.

    A step that fetches (full text) also outputs its responses (``EXCHANGES``):
    they are added to ``exchanges`` when given, for the run's web archive.
    ``extra``: the run's other collections a step may take (``Step.inputs``;
    a batch run gives ``archive``, a stream none).
    """
    dead_letters: list[beam.PCollection] = []
    for step in steps:
        if not step.enabled(settings):
            continue
        wanted = {name: extra[name] for name in step.inputs if extra and name in extra}
        inputs = {"articles": articles, **wanted} if wanted else articles
        outputs = inputs | step.label >> step.make(settings)
        articles = outputs["articles"]
        dead_letters.append(outputs[DEAD_LETTER])
        if exchanges is not None and isinstance(outputs, dict) and EXCHANGES in outputs:
            exchanges.append(outputs[EXCHANGES])
    return articles, dead_letters
