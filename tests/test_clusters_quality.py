"""Story clusters on written fixtures: every copy meets its original, different stories never meet.

The fixtures (``tests/fixtures/clusters``, see its ``manifest.json``) are six
stories, each with the copies other outlets run (headline changed, a
paragraph added or cut, byline and dateline changed, a correction appended,
copy-edited wording, headline and lead rewritten with a paragraph cut, about
half the paragraphs), four independent reports of the same events (shared
names, numbers and quoted sentences), identical texts under two URLs, and
short items that share a headline but not a story. Everything runs through
the functions the pipeline runs, at the defaults (``THRESHOLD``,
``MIN_WORDS``): ``bench/cluster_bench.py`` is where those were chosen.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple, Optional

import pytest
from apache_beam.utils.timestamp import Timestamp

from schemas import ClusterMember
from transforms.clusters import (
    MIN_WORDS,
    THRESHOLD,
    band_keys,
    components_in_group,
    exact_hash,
    lsh_bands,
    member_keys,
    resolve_clusters,
    sign_article,
    similarity,
)
from transforms.identify import content_hash, fold_text
from transforms.metadata import word_count

FIXTURES = Path(__file__).parent / "fixtures" / "clusters"
EDITS = ("headline", "para_added", "para_cut", "dateline", "correction", "copyedit", "combined", "shortened")


class Item(NamedTuple):
    id: str
    title: str
    text: str
    url: str
    domain: str
    story: str
    event: str
    kind: str


def _load() -> list[Item]:
    manifest = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))
    return [
        Item(
            i["id"],
            i["title"],
            (FIXTURES / i["text_file"]).read_text(encoding="utf-8"),
            i["url"],
            i["source_domain"],
            i["story"],
            i["event"],
            i["kind"],
        )
        for i in manifest["items"]
    ]


ITEMS = MappingProxyType({item.id: item for item in _load()})


def _signature(item: Item) -> Optional[bytes]:
    return sign_article(item.title, item.text, MIN_WORDS)


def _member(item: Item) -> ClusterMember:
    return ClusterMember(item.id, None, _signature(item), Timestamp.of(0), item.domain, item.title, True)


def _keys(item: Item) -> set[int]:
    """The item's keys as the batch step makes them (band keys, or the exact-content key of a short text)."""
    bands, rows = lsh_bands(THRESHOLD)
    short = exact_hash(content_hash(item.title, item.text), word_count(item.text))
    return set(member_keys(_member(item), short, bands, rows))


def _clusters(items: list[Item]) -> dict[str, str]:
    """Each item's cluster id as the batch step finds it: keys grouped, components, ids."""
    keyed: dict[int, list[ClusterMember]] = defaultdict(list)
    for item in items:
        for key in _keys(item):
            keyed[key].append(_member(item))
    groups = [g for members in keyed.values() if len(members) > 1 for g in components_in_group(members, THRESHOLD)]
    assignments, _ = resolve_clusters(groups, [], "test", Timestamp.of(0))
    return {item.id: assignments[item.id].cluster_id if item.id in assignments else item.id for item in items}


COPIES = tuple(item for item in ITEMS.values() if item.kind in EDITS)
SAME_EVENT = tuple(
    (a, b) for a, b in itertools.combinations(ITEMS.values(), 2) if a.event == b.event and a.story != b.story
)
SAME_HEADLINE = tuple(
    (a, b)
    for a, b in itertools.combinations(ITEMS.values(), 2)
    if a.story != b.story and fold_text(a.title) == fold_text(b.title)
)
IDENTICAL = tuple(item for item in ITEMS.values() if item.kind == "identical_url")


def test_the_fixtures_hold_every_kind_of_case() -> None:
    bases = [i for i in ITEMS.values() if i.kind == "base" and any(c.story == i.story for c in COPIES)]
    assert len(bases) >= 6
    for base in bases:
        words = len(base.text.split())
        assert 250 <= words <= 700, (base.id, words)
    kinds_per_story = defaultdict(set)
    for copy in COPIES:
        kinds_per_story[copy.story].add(copy.kind)
    assert sum(kinds == set(EDITS) for kinds in kinds_per_story.values()) >= 6
    assert len({frozenset((a.story, b.story)) for a, b in SAME_EVENT}) >= 4
    assert len(SAME_HEADLINE) >= 4
    # Identical copies of a long text (band keys) and of a short one (its exact-content key only).
    assert any(_signature(i) is None for i in IDENTICAL) and any(_signature(i) is not None for i in IDENTICAL)
    assert len({i.url for i in ITEMS.values()}) == len(ITEMS)


@pytest.mark.parametrize("copy", COPIES, ids=lambda item: item.id)
def test_every_copy_matches_its_original_at_the_default_threshold(copy: Item) -> None:
    original = ITEMS[copy.story]
    copy_signature, original_signature = _signature(copy), _signature(original)
    assert copy_signature is not None and original_signature is not None
    assert similarity(copy_signature, original_signature) >= THRESHOLD
    bands, rows = lsh_bands(THRESHOLD)
    assert set(band_keys(copy_signature, bands, rows)) & set(band_keys(original_signature, bands, rows))


@pytest.mark.parametrize("pair", SAME_EVENT, ids=lambda pair: f"{pair[0].id}|{pair[1].id}")
def test_different_stories_of_one_event_never_match(pair: tuple[Item, Item]) -> None:
    first, second = (_signature(item) for item in pair)
    assert first is not None and second is not None
    assert similarity(first, second) < THRESHOLD


def test_stories_sharing_a_headline_never_meet() -> None:
    found = _clusters(list(ITEMS.values()))
    for a, b in SAME_HEADLINE:
        assert found[a.id] != found[b.id], (a.id, b.id)
        signatures = (_signature(a), _signature(b))
        if None not in signatures:
            assert similarity(*signatures) < THRESHOLD  # type: ignore[arg-type]


@pytest.mark.parametrize("copy", IDENTICAL, ids=lambda item: item.id)
def test_identical_texts_under_two_urls_share_a_key(copy: Item) -> None:
    original = ITEMS[copy.story]
    assert copy.url != original.url and copy.text == original.text
    assert _keys(copy) & _keys(original)


def test_clustering_every_fixture_finds_exactly_the_stories() -> None:
    items = list(ITEMS.values())
    found = _clusters(items)
    clusters = defaultdict(set)
    for item in items:
        clusters[found[item.id]].add(item.story)
    assert all(len(stories) == 1 for stories in clusters.values()), [s for s in clusters.values() if len(s) > 1]
    stories = defaultdict(set)
    for item in items:
        stories[item.story].add(found[item.id])
    assert all(len(ids) == 1 for ids in stories.values()), {s: ids for s, ids in stories.items() if len(ids) > 1}
    for story, ids in stories.items():
        assert ids == {min(i.id for i in items if i.story == story)}  # the smallest id names the cluster
