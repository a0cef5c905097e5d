"""Entity quality on wikigold: the model's spans, after trimming, and after in-article linking.

Why: ``transforms/entities.py`` does two things on top of the spaCy model:
``clean_mentions`` trims each span to what a reader would underline (no
leading "the", quotes, possessive "'s") and ``EntityLinker.link`` links
mentions inside one article, which can change a mention's label (the model's
ORG "Chase" becomes a PERSON when "Michael Chase" is in the same article) or
drop a mention (a hyphenated pair of people). Both are heuristics; this script
checks against human annotation that they help, or at least do not hurt:
linking must not lower the scores.

Gold: wikigold (``../shared/corpora/wikigold``, read in place, never copied),
English Wikipedia articles in CoNLL format with PER/ORG/LOC/MISC tags.
Each document's text is rebuilt from its tokens: tokens joined by one space,
sentences by a newline, every token's character offsets recorded. Gold spans
come from the IOB tags (IOB1, where a B- tag only separates two adjacent
entities of one type, and IOB2 are both read). MISC is not scored.

Systems, all from one model pass in this run:

* (a) raw — the model's ents as they come (``EntityRecognizer.mentions``);
* (b) clean — (a) through ``clean_mentions`` (with the linker's possessive names, as ``annotate`` calls it);
* (c) clean + link — (b) through ``EntityLinker.link``.

spaCy labels are mapped PERSON→PER, ORG→ORG, GPE/LOC/FAC→LOC; every other
label (NORP, PRODUCT, EVENT, …) is left out of scoring. A prediction counts as
correct only when its (start, end, type) equals a gold span exactly. A
predicted PER/ORG/LOC on a span gold calls MISC is a false positive. Micro
"overall" pools PER, ORG and LOC.

    python bench/ner_eval.py [--limit N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pipeline  # noqa: E402,F401  # first: it quiets Beam's import-time log noise

# isort: split
from transforms.entities import (  # noqa: E402
    DEFAULT_MODEL,
    EntityLinker,
    EntityRecognizer,
    Mention,
    clean_mentions,
)

WIKIGOLD_DIR = ROOT.parent / "shared" / "corpora" / "wikigold"
TYPES = ("PER", "ORG", "LOC")
LABEL_MAP = {"PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC"}
SYSTEMS = ("raw", "clean", "clean+link")
SYSTEM_NAMES = {
    "raw": "(a) raw model spans",
    "clean": "(b) clean_mentions",
    "clean+link": "(c) clean_mentions + EntityLinker.link",
}

Span = tuple[int, int, str]  # start, end, type


def code_version() -> str:
    """Which transforms/entities.py was measured: its hash, and the commit it sits on."""
    import hashlib
    import subprocess

    digest = hashlib.sha256((ROOT / "transforms" / "entities.py").read_bytes()).hexdigest()[:12]
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%h", "--", "transforms/entities.py"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "diff", "--quiet", "HEAD", "--", "transforms/entities.py"], check=False
        ).returncode
    except (OSError, subprocess.CalledProcessError):
        return f"transforms/entities.py sha256 {digest}"
    return f"transforms/entities.py sha256 {digest} (last commit {head}{', with uncommitted changes' if dirty else ''})"


# --------------------------------------------------------------------------
# Gold
# --------------------------------------------------------------------------


@dataclass
class Document:
    text: str
    gold: set[Span]  # PER/ORG/LOC only
    misc: set[tuple[int, int]]  # spans gold calls MISC, for the error breakdown
    sentences: int


@dataclass
class Corpus:
    files: list[Path]
    documents: list[Document] = field(default_factory=list)
    tags: Counter[str] = field(default_factory=Counter)  # B-/I- prefixes seen


def conll_files() -> list[Path]:
    """The CoNLL file(s) of the wikigold directory."""
    files = sorted(p for p in WIKIGOLD_DIR.iterdir() if p.is_file() and "conll" in p.name.lower())
    if not files:
        raise SystemExit(f"no CoNLL file found in {WIKIGOLD_DIR}")
    return files


def read_documents(path: Path) -> Iterable[list[list[tuple[str, str]]]]:
    """Documents as lists of sentences of (token, tag); -DOCSTART- lines separate documents."""
    document: list[list[tuple[str, str]]] = []
    sentence: list[tuple[str, str]] = []
    with path.open(encoding="utf-8") as handle:
        for raw in handle:
            line = raw.rstrip("\n").strip()
            if line.startswith("-DOCSTART-"):
                if sentence:
                    document.append(sentence)
                    sentence = []
                if document:
                    yield document
                    document = []
                continue
            if not line:
                if sentence:
                    document.append(sentence)
                    sentence = []
                continue
            token, tag = line.rsplit(" ", 1) if " " in line else (line, "O")
            sentence.append((token, tag))
    if sentence:
        document.append(sentence)
    if document:
        yield document


def gold_spans(tags: list[str]) -> list[tuple[int, int, str]]:
    """``(first token, last token + 1, type)`` of each entity in one sentence, IOB1 or IOB2.

    An entity starts at a B- tag, or at an I- tag whose type differs from the
    previous token's (IOB1, and a lenient reading of a malformed IOB2).
    """
    spans: list[tuple[int, int, str]] = []
    current: list = []  # [start, type] of the open entity
    for index, tag in enumerate([*tags, "O"]):
        prefix, _, kind = tag.partition("-")
        starts = prefix == "B" or (prefix == "I" and (not current or current[1] != kind))
        if current and (prefix not in ("I", "B") or starts):
            spans.append((current[0], index, current[1]))
            current = []
        if starts:
            current = [index, kind]
    return spans


def build_document(sentences: list[list[tuple[str, str]]]) -> Document:
    parts: list[str] = []
    gold: set[Span] = set()
    misc: set[tuple[int, int]] = set()
    position = 0
    for number, sentence in enumerate(sentences):
        if number:
            parts.append("\n")
            position += 1
        offsets = []
        for index, (token, _) in enumerate(sentence):
            if index:
                parts.append(" ")
                position += 1
            offsets.append((position, position + len(token)))
            parts.append(token)
            position += len(token)
        for first, last, kind in gold_spans([tag for _, tag in sentence]):
            start, end = offsets[first][0], offsets[last - 1][1]
            if kind == "MISC":
                misc.add((start, end))
            elif kind in TYPES:
                gold.add((start, end, kind))
    return Document("".join(parts), gold, misc, len(sentences))


def load_corpus(limit: int | None) -> Corpus:
    corpus = Corpus(conll_files())
    for path in corpus.files:
        for sentences in read_documents(path):
            for sentence in sentences:
                corpus.tags.update(tag.split("-", 1)[0] for _, tag in sentence if "-" in tag)
            corpus.documents.append(build_document(sentences))
    if limit is not None:
        corpus.documents = corpus.documents[:limit]
    for document in corpus.documents:
        for start, end, _ in document.gold:
            assert document.text[start:end] == document.text[start:end].strip(), "gold span with edge space"
    return corpus


# --------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------


def predicted(items: Iterable[Mention] | Iterable) -> set[Span]:
    """The PER/ORG/LOC spans of mentions or entities (anything with start, end, label)."""
    return {(int(m.start), int(m.end), LABEL_MAP[m.label]) for m in items if m.label in LABEL_MAP}


@dataclass
class Score:
    tp: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)

    def add(self, gold: set[Span], guess: set[Span]) -> None:
        for _, _, kind in guess & gold:
            self.tp[kind] += 1
        for _, _, kind in guess - gold:
            self.fp[kind] += 1
        for _, _, kind in gold - guess:
            self.fn[kind] += 1

    def prf(self, kind: str | None = None) -> tuple[float, float, float]:
        kinds = TYPES if kind is None else (kind,)
        tp = sum(self.tp[k] for k in kinds)
        fp = sum(self.fp[k] for k in kinds)
        fn = sum(self.fn[k] for k in kinds)
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return p, r, f


def verdict(name: str, better: Score, worse: Score) -> str:
    """One line: how system ``name`` compares to ``better``/``worse`` on every P/R/F1 figure."""
    lowered = []
    for kind in (*TYPES, None):
        for metric, new, old in zip("PRF", better.prf(kind), worse.prf(kind), strict=True):
            if new < old - 1e-12:
                lowered.append(f"{kind or 'overall'} {metric} {100 * old:.2f}→{100 * new:.2f}")
    delta = 100 * (better.prf()[2] - worse.prf()[2])
    if lowered:
        return f"LOWERS {len(lowered)} figure(s) vs {name} (overall F1 {delta:+.2f} pp): " + "; ".join(lowered)
    return f"lowers no score vs {name} (overall F1 {delta:+.2f} pp)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="score only the first N documents")
    parser.add_argument("--batch-size", type=int, default=64, help="nlp.pipe batch size")
    parser.add_argument("--examples", type=int, default=12, help="linking changes to list, worst first")
    args = parser.parse_args()

    version = code_version()
    started = time.perf_counter()
    corpus = load_corpus(args.limit)
    documents = corpus.documents
    texts = [d.text for d in documents]
    read_s = time.perf_counter() - started

    clock = time.perf_counter()
    recognizer = EntityRecognizer.from_file()
    linker = EntityLinker.from_file()
    load_s = time.perf_counter() - clock

    clock = time.perf_counter()
    raw = recognizer.mentions(texts, args.batch_size)
    recognise_s = time.perf_counter() - clock

    clock = time.perf_counter()
    # As annotate() does it: names whose "'s" is part of the name (McDonald's) are kept whole.
    cleaned = [
        clean_mentions(text, mentions, linker.possessive_names) for text, mentions in zip(texts, raw, strict=True)
    ]
    clean_s = time.perf_counter() - clock

    clock = time.perf_counter()
    linked = [linker.link(mentions) for mentions in cleaned]
    link_s = time.perf_counter() - clock

    scores = {name: Score() for name in SYSTEMS}
    off = Counter()  # spans whose text is not text[start:end]
    misc_hits = Counter()  # false positives sitting exactly on a gold MISC span
    link_changes: list[tuple[int, str, str, str, str]] = []  # doc, text, old label, new label, effect
    link_effect = Counter()
    for index, document in enumerate(documents):
        outputs = {"raw": raw[index], "clean": cleaned[index], "clean+link": linked[index]}
        for name, items in outputs.items():
            guess = predicted(items)
            scores[name].add(document.gold, guess)
            off[name] += sum(1 for m in items if document.text[int(m.start) : int(m.end)] != m.text)
            misc_hits[name] += sum(1 for s, e, _ in guess - document.gold if (s, e) in document.misc)
        # What linking did to each cleaned mention: relabelled, dropped, or nothing.
        after = {(int(e.start), int(e.end)): e for e in linked[index]}
        for mention in cleaned[index]:
            entity = after.get((mention.start, mention.end))
            old = LABEL_MAP.get(mention.label)
            was_right = old is not None and (mention.start, mention.end, old) in document.gold
            if entity is None:
                effect = "dropped, was correct" if was_right else "dropped, was not correct"
                link_effect[effect] += 1
                link_changes.append((index, mention.text, mention.label, "—", effect))
                continue
            if entity.label == mention.label:
                continue
            new = LABEL_MAP.get(entity.label)
            now_right = new is not None and (mention.start, mention.end, new) in document.gold
            effect = {
                (True, False): "relabelled: correct → wrong",
                (False, True): "relabelled: wrong → correct",
                (False, False): "relabelled: wrong → wrong",
                (True, True): "relabelled: correct → correct",
            }[(was_right, now_right)]
            link_effect[effect] += 1
            link_changes.append((index, mention.text, mention.label, entity.label, effect))

    gold_counts = Counter(kind for d in documents for _, _, kind in d.gold)
    misc_count = sum(len(d.misc) for d in documents)
    scheme = "IOB2" if corpus.tags["B"] and corpus.tags["I"] else "IOB1" if corpus.tags["I"] else "none"
    print(f"\nnewsbeam NER evaluation — wikigold, model {DEFAULT_MODEL} (ner + ruler), exact-span match\n")
    print(f"code: {version}")
    print(f"corpus: {', '.join(str(p.relative_to(ROOT.parent)) for p in corpus.files)}")
    print(
        f"documents: {len(documents)}{' (--limit)' if args.limit is not None else ''}, "
        f"sentences: {sum(d.sentences for d in documents)}, characters: {sum(len(t) for t in texts):,}, "
        f"file tag prefixes: I-={corpus.tags['I']:,} B-={corpus.tags['B']:,} (read as {scheme})"
    )
    print(
        f"gold entities scored: {sum(gold_counts.values())} "
        f"(PER {gold_counts['PER']}, ORG {gold_counts['ORG']}, LOC {gold_counts['LOC']}); "
        f"MISC not scored: {misc_count}\n"
    )
    print(
        "| system | PER P | PER R | PER F1 | ORG P | ORG R | ORG F1 | LOC P | LOC R | LOC F1 | overall P | overall R | overall F1 | predicted |"
    )
    print("|---|" + "---:|" * 13)
    for name in SYSTEMS:
        score = scores[name]
        cells = []
        for kind in (*TYPES, None):
            cells.extend(f"{100 * v:.1f}" for v in score.prf(kind))
        total = sum(score.tp.values()) + sum(score.fp.values())
        print(f"| {SYSTEM_NAMES[name]} | {' | '.join(cells)} | {total} |")
    print("\nCounts (true positives / false positives / false negatives):\n")
    print("| system | PER | ORG | LOC | overall | FP on a gold MISC span | spans with text ≠ text[start:end] |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in SYSTEMS:
        score = scores[name]
        cells = [f"{score.tp[k]}/{score.fp[k]}/{score.fn[k]}" for k in TYPES]
        cells.append(f"{sum(score.tp.values())}/{sum(score.fp.values())}/{sum(score.fn.values())}")
        print(f"| {SYSTEM_NAMES[name]} | {' | '.join(cells)} | {misc_hits[name]} | {off[name]} |")

    print(f"\nLinking (c) vs clean (b): {verdict('(b)', scores['clean+link'], scores['clean'])}")
    print(f"Linking (c) vs raw (a):   {verdict('(a)', scores['clean+link'], scores['raw'])}")
    print(f"Cleaning (b) vs raw (a):  {verdict('(a)', scores['clean'], scores['raw'])}")

    print("\nWhat linking changed (cleaned mentions relabelled or dropped by EntityLinker.link):\n")
    if link_effect:
        print("| effect | mentions |")
        print("|---|---:|")
        for effect, count in sorted(link_effect.items()):
            print(f"| {effect} | {count} |")
        order = {"relabelled: correct → wrong": 0, "dropped, was correct": 1}
        shown = sorted(link_changes, key=lambda c: order.get(c[4], 2))[: args.examples]
        if shown:
            print(f"\nExamples (first {len(shown)}, harmful first):\n")
            print("| doc | mention | model label | after linking | effect |")
            print("|---:|---|---|---|---|")
            for doc, text, old, new, effect in shown:
                print(f"| {doc} | {text} | {old} | {new} | {effect} |")
    else:
        print("none")

    total_s = time.perf_counter() - started
    print(
        f"\ntime: {total_s:.1f}s total — read corpus {read_s:.2f}s, model + linker load {load_s:.2f}s, "
        f"recognise {recognise_s:.2f}s ({len(documents) / recognise_s:.1f} docs/s), "
        f"clean {clean_s:.3f}s, link {link_s:.3f}s"
    )


if __name__ == "__main__":
    main()
