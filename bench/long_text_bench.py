"""Long articles with entities on: the whole ``newsbeam ingest`` against spaCy's own ``nlp.pipe``.

Why: with full article text, articles are long (600 words and more), and
everything newsbeam does around NER (decoding, repair, language, metadata,
dedup, entity linking, coders, Parquet) must stay small next to the model
itself. The target is (whole pipeline docs/s) / (spaCy alone docs/s) ≥ 0.90
on such articles (issue 13, item 6).

Sides, each one process started from here and timed end to end (interpreter
start, imports, model load, work, exit), run in rotated order, medians of
``--runs``:

* ``spacy``: a Python process that imports spaCy only, loads the model as
  newsbeam does (``EntitySettings.model``, the components of
  ``UNNEEDED_COMPONENTS`` excluded; without newsbeam's ruler patterns, which
  are newsbeam's own cost), and runs ``nlp.pipe`` over the same texts, cut
  at ``max_chars``, with newsbeam's batch size; it reads every ``doc.ents``.
* ``newsbeam``: ``newsbeam ingest <file> --entities on --runner DirectRunner``
  on one worker (``--direct_num_workers 1``), into a fresh output folder.
* ``newsbeam (entities off)``: the same without NER, to show the rest's cost.

Input: ``--count`` articles of about ``--words`` words each, in paragraphs,
with typographic quotes and dashes as news text has them. They are made from
the sentences of the wikigold NER corpus (``../shared/corpora/wikigold``,
real Wikipedia text full of names, places and organisations; never copied
into the repository) when it is there, else from a deterministic generator of
news-like sentences with names, places and organisations. Written as one
JSON Lines file (``--format jsonl``), or as an RSS feed whose items carry the
body as HTML in ``content:encoded`` (``--format rss``).

    python bench/long_text_bench.py [--count 400] [--words 600] [--runs 3] [--format jsonl|rss]
    python bench/long_text_bench.py --stages [--baseline TREE]  # each stage timed in one in-process ingest
    python bench/long_text_bench.py --profile cprofile.out   # one in-process ingest under cProfile

This module imports only the standard library at the top: the ``spacy`` side
runs this same file (``--spacy-side``) and must not pay for Beam's imports.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
CORPORA = Path(os.environ.get("NEWSBEAM_CORPORA") or ROOT.parent / "shared" / "corpora")
WIKIGOLD = CORPORA / "wikigold" / "wikigold.conll.txt"
#: Single-threaded numerics on every side, so that they compare on one core each.
_ONE_THREAD = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")}


# --------------------------------------------------------------------------
# Articles
# --------------------------------------------------------------------------

_NO_SPACE_BEFORE = {".", ",", ":", ";", "!", "?", ")", "]", "%", "'s", "’s", "n't", "'", "'re", "'ve", "'ll", "'d"}
_NO_SPACE_AFTER = {"(", "[", "$"}


def detokenise(tokens: Sequence[str]) -> str:
    """CoNLL tokens back to running text, with curly quotes and apostrophes as news sites print them."""
    out: list[str] = []
    quote_open = False
    glue_next = False
    for token in tokens:
        if token == '"':
            if quote_open:
                out.append("”")
            else:
                out.append((" " if out and not glue_next else "") + "“")
            quote_open = not quote_open
            glue_next = quote_open
            continue
        if token == "--":
            token = "—"
        token = token.replace("'", "’")
        if out and not glue_next and token.replace("’", "'") not in _NO_SPACE_BEFORE:
            out.append(" ")
        out.append(token)
        glue_next = token in _NO_SPACE_AFTER
    if quote_open:
        out.append("”")
    return "".join(out)


def wikigold_documents(path: Path) -> list[list[str]]:
    """The corpus as documents, each a list of sentences in running text."""
    documents: list[list[str]] = []
    sentence: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("-DOCSTART-"):
            if sentence:
                documents[-1].append(detokenise(sentence))
                sentence = []
            documents.append([])
            continue
        if not line.strip():
            if sentence and documents:
                documents[-1].append(detokenise(sentence))
            sentence = []
            continue
        sentence.append(line.rsplit(" ", 1)[0])
    if sentence and documents:
        documents[-1].append(detokenise(sentence))
    return [d for d in documents if d]


_FIRST = "Maria James Wei Olena Ahmed Sofia Daniel Priya Lukas Amara Tomás Yuki Kwame Elena Omar Grace".split()
_LAST = "Okafor Müller Chen Kovalenko Haddad Rossi García Sharma Novak Mensah Tanaka Brennan Ivanova Silva".split()
_PLACES = (
    "Nairobi Lisbon Kyiv Jakarta Toronto Marseille Osaka Lagos Bogotá Warsaw Manila Istanbul Denver Glasgow"
).split()
_COUNTRIES = "Kenya Portugal Ukraine Indonesia Canada France Japan Nigeria Colombia Poland Brazil Germany".split()
_ORGS = (
    "the World Health Organization",
    "Reuters",
    "the European Central Bank",
    "Siemens",
    "the United Nations",
    "Toyota",
    "the International Monetary Fund",
    "Amnesty International",
    "the Ministry of Finance",
    "Deutsche Bahn",
    "the African Union",
    "Petrobras",
)
_TEMPLATES = (
    "{person} said on {day} that {org} would review the plan before the end of the year.",
    "“We have not seen anything like this in {place},” {person} told reporters after the meeting.",
    "Officials in {place} confirmed that {org} had sent a team to {country} — the second in a month.",
    "The decision by {org} drew criticism from {person}, who called it “a step backwards”.",
    "{person}, a spokesperson for {org}, declined to comment on the talks in {place}.",
    "Trade between {country} and {country2} rose by {n} per cent last year, according to {org}.",
    "Residents of {place} said prices had doubled since {month}, and that wages had not followed.",
    "In a statement, {org} said it was “deeply concerned” about the situation in {country}.",
    "{person} arrived in {place} on {day} for talks with {person2} about the new agreement.",
    "The company’s shares fell {n} per cent in {place} after {org} announced the inquiry.",
)
_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_MONTHS = "January February March April May June July August September October November December".split()


def generated_documents(count: int, seed: int = 13) -> list[list[str]]:
    """News-like documents from templates with people, places and organisations: the fallback input."""
    rng = random.Random(seed)

    def person() -> str:
        return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"

    documents = []
    for _ in range(count):
        sentences = []
        for _ in range(rng.randint(8, 16)):
            template = rng.choice(_TEMPLATES)
            sentence = template.format(
                person=person(),
                person2=person(),
                place=rng.choice(_PLACES),
                country=rng.choice(_COUNTRIES),
                country2=rng.choice(_COUNTRIES),
                org=rng.choice(_ORGS),
                day=rng.choice(_DAYS),
                month=rng.choice(_MONTHS),
                n=rng.randint(2, 40),
            )
            sentences.append(sentence[0].upper() + sentence[1:])
        documents.append(sentences)
    return documents


def make_articles(count: int, words: int, source: Optional[Path] = WIKIGOLD, seed: int = 13) -> list[dict[str, Any]]:
    """``count`` article records of about ``words`` words each, deterministic for a given source and seed.

    Each article reads whole documents of the source one after the other
    (starting at a different one for each article), in paragraphs of two to
    five sentences, until it has ``words`` words; its title is the start of
    its first sentence. URLs are on a reserved name (``.example``), one per
    article, so that no two are duplicates.
    """
    documents = wikigold_documents(source) if source is not None and source.is_file() else []
    if not documents:
        documents = generated_documents(max(60, count // 4), seed)
    rng = random.Random(seed)
    articles = []
    for index in range(count):
        paragraphs: list[str] = []
        written = 0
        doc = rng.randrange(len(documents))
        first = documents[doc][0]
        while written < words:
            sentences = documents[doc]
            at = 0
            while at < len(sentences) and written < words:
                take = rng.randint(2, 5)
                paragraph = " ".join(sentences[at : at + take])
                paragraphs.append(paragraph)
                written += len(paragraph.split())
                at += take
            doc = (doc + 1 + rng.randrange(7)) % len(documents)
        title = " ".join(first.split()[:10]).rstrip(",;:")
        day = 20 + index % 3  # a few days of news, as one poll of real feeds holds
        articles.append(
            {
                "title": title,
                "url": f"https://news{index % 12}.example/world/2024/05/{day:02d}/story-{index:05d}",
                "published": f"2024-05-{day:02d}T{6 + index % 12:02d}:{index % 60:02d}:00Z",
                "author": f"{_FIRST[index % len(_FIRST)]} {_LAST[index % len(_LAST)]}",
                "text": "\n\n".join(paragraphs),
            }
        )
    return articles


def write_jsonl(articles: Sequence[dict[str, Any]], path: Path) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for article in articles:
            handle.write(json.dumps(article, ensure_ascii=False) + "\n")


def write_rss(articles: Sequence[dict[str, Any]], path: Path) -> None:
    """An RSS 2.0 feed whose items carry the whole article as HTML paragraphs in ``content:encoded``."""
    from datetime import datetime
    from email.utils import format_datetime

    items = []
    for article in articles:
        body = "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in article["text"].split("\n\n"))
        published = format_datetime(datetime.fromisoformat(article["published"].replace("Z", "+00:00")))
        items.append(
            "<item>"
            f"<title>{html.escape(article['title'], quote=False)}</title>"
            f"<link>{article['url']}</link><guid>{article['url']}</guid>"
            f"<pubDate>{published}</pubDate>"
            f"<dc:creator>{html.escape(article['author'], quote=False)}</dc:creator>"
            f"<content:encoded><![CDATA[{body}]]></content:encoded>"
            "</item>"
        )
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        "<title>Long articles</title><link>https://news.example/</link><description>bench</description>"
        + "".join(items)
        + "</channel></rss>\n",
        encoding="utf-8",
    )


# --------------------------------------------------------------------------
# The spaCy side (run in its own process: ``--spacy-side SPEC``)
# --------------------------------------------------------------------------


def spacy_side(spec_path: Path) -> None:
    """Load the model as newsbeam does and run ``nlp.pipe`` over the texts; print what was found."""
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    import spacy

    nlp = spacy.load(spec["model"], exclude=spec["exclude"])
    texts = json.loads(Path(spec["texts"]).read_text(encoding="utf-8"))
    limit = spec["max_chars"]
    found = 0
    docs = 0
    for doc in nlp.pipe((t[:limit] for t in texts), batch_size=spec["batch_size"]):
        found += len(doc.ents)
        docs += 1
    print(json.dumps({"docs": docs, "entities": found, "pipe_names": nlp.pipe_names}))


# --------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------


def newsbeam_command(code: Path, *arguments: str) -> tuple[list[str], dict[str, str]]:
    """``newsbeam ARGUMENTS`` run from the source tree ``code``, and its environment."""
    env = {**os.environ, **_ONE_THREAD, "PYTHONPATH": str(code)}
    return [sys.executable, "-m", "pipeline.cli", *arguments], env


def ingest_arguments(input_file: Path, output: Path, entities: bool) -> list[str]:
    arguments = [
        "ingest",
        str(input_file),
        *("--output", str(output), "--runner", "DirectRunner", "--direct_num_workers", "1"),
        *("--progress-seconds", "0", "--entities", "on" if entities else "off"),
    ]
    # Full text stays on, as a user runs it: the links are on a reserved name (.example), which
    # newsbeam refuses before any lookup, so nothing reaches out and the page step's cost is counted.
    return arguments


class Side(NamedTuple):
    name: str
    title: str
    code: Optional[Path]  # the source tree newsbeam runs from; None: the spaCy side
    entities: bool = True


def run_side(side: Side, work: Path, input_file: Path, spec: Path, run: int) -> tuple[float, float, dict[str, Any]]:
    """Wall and CPU seconds of one side, end to end, and what it reports (docs written, entities).

    CPU seconds (user + system, all threads of the process) are what a busy
    shared machine disturbs least; wall seconds are what the user waits.
    """
    output = work / f"out-{side.name}-{run}"
    if side.code is None:
        command = [sys.executable, str(Path(__file__).resolve()), "--spacy-side", str(spec)]
        env = {**os.environ, **_ONE_THREAD}
    else:
        shutil.rmtree(output, ignore_errors=True)
        command, env = newsbeam_command(side.code, *ingest_arguments(input_file, output, side.entities))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"{side.name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    if side.code is None:
        return elapsed, cpu, json.loads(done.stdout.strip().splitlines()[-1])
    summary = json.loads(next((output / "runs").glob("*.json")).read_text())
    shutil.rmtree(output, ignore_errors=True)
    return elapsed, cpu, {"docs": summary["counts"].get("written", 0), "counters": summary["counters"]}


def entity_settings() -> dict[str, Any]:
    """The model, batch size, excluded components and max chars newsbeam uses by default."""
    sys.path.insert(0, str(ROOT))
    from transforms.entities import ENTITY_DEFAULTS, UNNEEDED_COMPONENTS

    return {
        "model": ENTITY_DEFAULTS.model,
        "batch_size": ENTITY_DEFAULTS.batch_size,
        "max_chars": ENTITY_DEFAULTS.max_chars,
        "exclude": list(UNNEEDED_COMPONENTS),
    }


def code_version() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return "unknown"
    return head.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")


def prepare(work: Path, articles: Sequence[dict[str, Any]], fmt: str) -> tuple[Path, Path]:
    """The input file the pipeline reads and the spec (with the texts) the spaCy side reads."""
    input_file = work / ("articles.jsonl" if fmt == "jsonl" else "articles.rss")
    (write_jsonl if fmt == "jsonl" else write_rss)(articles, input_file)
    texts = work / "texts.json"
    texts.write_text(json.dumps([a["text"] for a in articles], ensure_ascii=False), encoding="utf-8")
    spec = work / "spec.json"
    spec.write_text(json.dumps({**entity_settings(), "texts": str(texts)}), encoding="utf-8")
    return input_file, spec


#: The functions the stage breakdown times: (module, attribute, what it is). Each is looked up by the
#: pipeline at call time, so wrapping the module attribute times every call the ingest makes.
STAGE_FUNCTIONS = (
    ("transforms.enrich", "repair_article", "repair_article: HTML, ftfy guard, language, normalisation"),
    ("transforms.enrich", "build_article", "build_article: byline, dateline, date, ids, hashes"),
    ("transforms.entities", "_Models", "model load: spaCy import, model, ruler, linker"),
    ("transforms.entities", "EntityRecognizer.mentions", "EntityRecognizer.mentions: ruler + ner (nlp.pipe)"),
    ("transforms.entities", "annotate", "annotate: trim, link, summarise"),
    ("transforms.sinks", "to_arrow_table", "to_arrow_table"),
    ("transforms.sinks", "write_table", "write_table (Parquet)"),
)


def stages_in_process(input_file: Path, arguments: Sequence[str]) -> None:
    """One ingest in this process, the stage functions and the garbage collector timed; prints JSON.

    Runs the code first on ``sys.path`` (``PYTHONPATH``), so the same
    measurement applies to a baseline tree.
    """
    import gc
    import importlib
    import io

    started = time.perf_counter()
    collecting = [0.0, 0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collecting[0] = time.perf_counter()
        else:
            collecting[1] += time.perf_counter() - collecting[0]

    gc.callbacks.append(on_gc)
    from pipeline.run import run_ingest

    imported = time.perf_counter() - started
    spent: dict[str, float] = {}

    def timed(function: Any, label: str) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            begun = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - begun

        return wrapper

    for module_name, attribute, label in STAGE_FUNCTIONS:
        owner: Any = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        if isinstance(getattr(owner, name), type):  # a class: time its construction
            cls = getattr(owner, name)
            cls.__init__ = timed(cls.__init__, label)
        else:
            setattr(owner, name, timed(getattr(owner, name), label))
    begun = time.perf_counter()
    status = run_ingest([str(input_file)], list(arguments), out=io.StringIO(), err=io.StringIO())
    ran = time.perf_counter() - begun
    print(json.dumps({"imports": imported, "run": ran, "status": status, "gc": collecting[1], "stages": spent}))


def stages(sides: Sequence[Side], input_file: Path, work: Path, count: int, runs: int) -> None:
    """The stage breakdown of each newsbeam tree (entities on), ``runs`` times alternately; medians."""
    found: dict[str, list[dict[str, Any]]] = {side.name: [] for side in sides}
    for run in range(runs):
        for side in list(sides[run % len(sides) :]) + list(sides[: run % len(sides)]):
            assert side.code is not None
            output = work / f"out-stages-{side.name}"
            shutil.rmtree(output, ignore_errors=True)
            arguments = ingest_arguments(input_file, output, True)[2:]
            command = [sys.executable, str(Path(__file__).resolve()), "--stages-in-process", str(input_file)]
            command += ["--", *arguments]
            env = {**os.environ, **_ONE_THREAD, "PYTHONPATH": str(side.code)}
            done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"stages of {side.name} failed:\n{done.stderr[-3000:]}")
            found[side.name].append(json.loads(done.stdout.strip().splitlines()[-1]))
            shutil.rmtree(output, ignore_errors=True)
    labels = [label for _, _, label in STAGE_FUNCTIONS]
    names = [side.name for side in sides]
    print(f"\nStage breakdown, one in-process ingest of {count} articles per tree, medians of {runs} (wall s)\n")
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))

    def row(title: str, pick: Any) -> None:
        cells = []
        for name in names:
            value = statistics.median(pick(result) for result in found[name])
            cells.append(f"{value:.2f} s ({value / count * 1000:.2f} ms/article)")
        print(f"| {title} | " + " | ".join(cells) + " |")

    row("imports (pipeline.run)", lambda r: r["imports"])
    row("run (build, execute, write)", lambda r: r["run"])
    for label in labels:
        row(label, lambda r, label=label: r["stages"].get(label, 0.0))
    row("garbage collection (all generations)", lambda r: r["gc"])
    row(
        "the run less model load and mentions",
        lambda r: r["run"] - r["stages"].get(labels[2], 0.0) - r["stages"].get(labels[3], 0.0),
    )


def profile(articles: Sequence[dict[str, Any]], fmt: str, out: Path, work: Path) -> None:
    """One ingest in this process under cProfile (the FnApiRunner runs bundles in this thread)."""
    import cProfile
    import io
    import pstats

    sys.path.insert(0, str(ROOT))
    input_file, _ = prepare(work, articles, fmt)
    from pipeline.run import run_ingest

    arguments = [
        *("--output", str(work / "out-profile"), "--runner", "DirectRunner", "--direct_num_workers", "1"),
        *("--progress-seconds", "0", "--entities", "on"),
    ]
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    status = run_ingest([str(input_file)], arguments, out=io.StringIO(), err=io.StringIO())
    profiler.disable()
    print(f"in-process ingest under cProfile: {time.perf_counter() - started:.1f}s, status {status}")
    profiler.dump_stats(str(out))
    stats = pstats.Stats(str(out))
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=400, help="articles")
    parser.add_argument("--words", type=int, default=600, help="words per article (about)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each side, rotated; medians are reported")
    parser.add_argument("--format", choices=("jsonl", "rss"), default="jsonl", help="the input file's format")
    parser.add_argument("--generated", action="store_true", help="use the built-in generator even with wikigold")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also run newsbeam from this source tree (e.g. `git archive` of an older commit), side by side",
    )
    parser.add_argument("--no-off", action="store_true", help="skip the entities-off side")
    parser.add_argument("--keep", type=Path, help="write inputs and outputs here (kept) instead of a temp folder")
    parser.add_argument("--profile", type=Path, help="only profile one in-process ingest; cProfile stats here")
    parser.add_argument(
        "--stages",
        action="store_true",
        help="instead of the end-to-end sides: time each stage's functions in one in-process ingest per tree",
    )
    parser.add_argument("--spacy-side", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--stages-in-process", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.spacy_side:
        spacy_side(args.spacy_side)
        return
    if args.stages_in_process:
        stages_in_process(args.stages_in_process, args.rest)
        return

    source = None if args.generated else WIKIGOLD
    articles = make_articles(args.count, args.words, source)
    origin = "wikigold sentences" if source is not None and source.is_file() else "the built-in generator"
    work = args.keep or Path(tempfile.mkdtemp(prefix="long_text_bench-"))
    work.mkdir(parents=True, exist_ok=True)
    sides = [
        Side("spacy", "spaCy `nlp.pipe` alone (model load included)", None),
        Side("newsbeam", "`newsbeam ingest --entities on`", ROOT),
    ]
    if args.baseline:
        sides.append(
            Side("baseline", f"`newsbeam ingest --entities on`, baseline ({args.baseline.name})", args.baseline)
        )
    if not args.no_off:
        sides.append(Side("newsbeam_off", "`newsbeam ingest --entities off`", ROOT, entities=False))
    walls: dict[str, list[float]] = {side.name: [] for side in sides}
    cpus: dict[str, list[float]] = {side.name: [] for side in sides}
    reports: dict[str, dict[str, Any]] = {}
    try:
        if args.profile:
            profile(articles, args.format, args.profile, work)
            return
        input_file, spec = prepare(work, articles, args.format)
        if args.stages:
            stages([s for s in sides if s.code is not None and s.entities], input_file, work, len(articles), args.runs)
            return
        for run in range(args.runs):
            shift = run % len(sides)
            for side in sides[shift:] + sides[:shift]:  # rotated, so noise hits every side alike
                wall, cpu, report = run_side(side, work, input_file, spec, run)
                walls[side.name].append(wall)
                cpus[side.name].append(cpu)
                reports.setdefault(side.name, report)
                if report["docs"] != len(articles):
                    raise SystemExit(f"{side.name} handled {report['docs']} of {len(articles)} articles: {report}")
            print(
                f"run {run + 1}/{args.runs}: "
                + ", ".join(f"{s.name} {walls[s.name][-1]:.2f}s ({cpus[s.name][-1]:.2f}s CPU)" for s in sides),
                file=sys.stderr,
            )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    report_figures(articles, args, origin, sides, walls, cpus, reports)


def report_figures(
    articles: Sequence[dict[str, Any]],
    args: argparse.Namespace,
    origin: str,
    sides: Sequence[Side],
    walls: dict[str, list[float]],
    cpus: dict[str, list[float]],
    reports: dict[str, dict[str, Any]],
) -> None:
    settings = entity_settings()
    count = len(articles)
    words = [len(a["text"].split()) for a in articles]
    chars = sum(len(a["text"]) for a in articles)
    median = {name: statistics.median(values) for name, values in walls.items()}
    fastest = {name: min(values) for name, values in walls.items()}
    cpu = {name: statistics.median(values) for name, values in cpus.items()}
    print(
        f"\nnewsbeam on long articles — {count} articles from {origin} ({args.format}), "
        f"words per article median {statistics.median(words):.0f} (min {min(words)}, max {max(words)}), "
        f"{chars / count:,.0f} characters each"
    )
    print(
        f"model {settings['model']} (pipes {reports['spacy']['pipe_names']}), batch size {settings['batch_size']}, "
        f"max chars {settings['max_chars']:,}; {args.runs} runs per side, rotated; one worker, numeric libraries "
        f"on one thread; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; "
        f"code {code_version()}\n"
    )
    print(
        "| side | wall s (median) | docs/s | ratio to spaCy | wall s (fastest run) | ratio (fastest runs) "
        "| CPU s (median) | ratio (CPU) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for side in sides:
        name = side.name
        print(
            f"| {side.title} | {median[name]:.2f} | {count / median[name]:.1f} | {median['spacy'] / median[name]:.2f} "
            f"| {fastest[name]:.2f} | {fastest['spacy'] / fastest[name]:.2f} "
            f"| {cpu[name]:.2f} | {cpu['spacy'] / cpu[name]:.2f} |"
        )
    for name in [s.name for s in sides if s.code is not None and s.entities]:
        per_run = [a / b for a, b in zip(walls["spacy"], walls[name], strict=True)]
        ratio = median["spacy"] / median[name]
        print(
            f"\n{name} / spaCy = {ratio:.2f} (target ≥ 0.90: {'met' if ratio >= 0.90 else 'NOT met'}); "
            f"per run: {', '.join(f'{r:.2f}' for r in per_run)}; outside the model: "
            f"{(median[name] - median['spacy']) / count * 1000:.1f} ms per article "
            f"({(cpu[name] - cpu['spacy']) / count * 1000:.1f} ms of CPU); "
            f"entities.mentions {reports[name]['counters'].get('entities.mentions', 0):,}"
        )
    print(f"spaCy doc.ents: {reports['spacy']['entities']:,} (every label; newsbeam keeps names, trimmed)")
    print(
        "End to end on every side: interpreter start, imports, model load, reading, work, writing, exit. "
        "Wall time is what the user waits; CPU time (user + system, all threads) is what a busy shared machine "
        "disturbs least."
    )


if __name__ == "__main__":
    main()
