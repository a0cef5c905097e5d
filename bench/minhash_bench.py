"""MinHash libraries side by side: signatures per second and how well they estimate Jaccard similarity.

Why: story clusters (issue 14) need a MinHash signature of every article's
text, and the library is to be chosen by measurement. Candidates: datasketch
(pure Python + NumPy; per document, and its ``MinHash.bulk``) and rensa
(Rust; ``RMinHash`` and ``CMinHash``). All get the same shingles (word
5-grams of the folded text, as newsbeam folds text for content hashes), the
same number of permutations and seed; shingling is timed on its own, since
it is newsbeam's share whatever the library.

* **Speed**: signatures per second over ``--count`` articles of about
  ``--words`` words (built from the wikigold corpus in ``../shared/corpora``
  when it is there, else generated; see ``bench/long_text_bench.py``),
  medians of ``--runs``, libraries rotated.
* **Accuracy**: for each article, an edited copy of the kinds wire copies
  have (headline and first paragraph changed, a paragraph added or cut, a
  correction appended, a dateline changed); the estimated Jaccard similarity
  of the two signatures against the exact Jaccard similarity of the two
  shingle sets: mean and largest absolute error, per library.

    .venv/bin/python bench/minhash_bench.py [--count 400] [--words 600] [--perms 128] [--runs 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from long_text_bench import make_articles  # noqa: E402

from transforms.identify import _fold  # noqa: E402

SEED = 7


def shingles(text: str, size: int = 5) -> list[str]:
    """Word ``size``-grams of the folded text (the whole text as one shingle when it is shorter)."""
    words = _fold(text).split()
    if len(words) <= size:
        return [" ".join(words)]
    return [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)]


def edited(text: str, rng: random.Random) -> str:
    """A copy of ``text`` edited as wire copies are: one or two of the usual edits."""
    paragraphs = text.split("\n\n")
    for edit in rng.sample(["headline", "add", "cut", "correction", "dateline"], rng.randint(1, 2)):
        if edit == "headline" and paragraphs:
            paragraphs[0] = "Updated: " + " ".join(reversed(paragraphs[0].split()[:12])) + " " + paragraphs[0]
        elif edit == "add":
            paragraphs.insert(
                rng.randrange(len(paragraphs) + 1),
                "Officials did not respond to a request for comment on Tuesday evening.",
            )
        elif edit == "cut" and len(paragraphs) > 2:
            del paragraphs[rng.randrange(1, len(paragraphs))]
        elif edit == "correction":
            paragraphs.append("Correction: an earlier version of this story misstated the date of the meeting.")
        elif edit == "dateline" and paragraphs:
            paragraphs[0] = "LONDON (Reuters) - " + paragraphs[0]
    return "\n\n".join(paragraphs)


def libraries(perms: int) -> dict[str, tuple[Callable[[Sequence[list[str]]], list[Any]], Callable[[Any, Any], float]]]:
    """Name → (signatures of many shingle lists, estimated Jaccard of two signatures)."""
    import datasketch
    import rensa

    def datasketch_each(docs: Sequence[list[str]]) -> list[Any]:
        out = []
        for doc in docs:
            sig = datasketch.MinHash(num_perm=perms, seed=SEED)
            sig.update_batch([s.encode() for s in doc])
            out.append(sig)
        return out

    def datasketch_bulk(docs: Sequence[list[str]]) -> list[Any]:
        return list(datasketch.MinHash.bulk([[s.encode() for s in doc] for doc in docs], num_perm=perms, seed=SEED))

    def rensa_with(cls: Any) -> Callable[[Sequence[list[str]]], list[Any]]:
        def run(docs: Sequence[list[str]]) -> list[Any]:
            out = []
            for doc in docs:
                sig = cls(num_perm=perms, seed=SEED)
                sig.update(doc)
                out.append(sig)
            return out

        return run

    def jaccard(a: Any, b: Any) -> float:
        return float(a.jaccard(b))

    return {
        f"datasketch {version('datasketch')} MinHash": (datasketch_each, jaccard),
        "datasketch MinHash.bulk": (datasketch_bulk, jaccard),
        f"rensa {version('rensa')} RMinHash": (rensa_with(rensa.RMinHash), jaccard),
        "rensa CMinHash": (rensa_with(rensa.CMinHash), jaccard),
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--words", type=int, default=600)
    parser.add_argument("--perms", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    texts = [a["text"] for a in make_articles(args.count, args.words)]
    rng = random.Random(SEED)
    copies = [edited(t, rng) for t in texts]
    shingling: list[float] = []
    for _ in range(args.runs):
        started = time.perf_counter()
        docs = [shingles(t) for t in texts]
        shingling.append(time.perf_counter() - started)
    copy_docs = [shingles(t) for t in copies]
    libs = libraries(args.perms)
    names = list(libs)
    times: dict[str, list[float]] = {name: [] for name in names}
    for run in range(args.runs):
        for name in names[run % len(names) :] + names[: run % len(names)]:
            started = time.perf_counter()
            libs[name][0](docs)
            times[name].append(time.perf_counter() - started)
    exact = [len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(docs, copy_docs, strict=True)]
    print(
        f"{args.count} articles of about {args.words} words, word 5-shingles (median "
        f"{statistics.median(len(d) for d in docs)} per article), {args.perms} permutations; medians of {args.runs} runs\n"
    )
    print(f"shingling alone (newsbeam's share): {args.count / statistics.median(shingling):,.0f} articles/s\n")
    print("| library | signatures/s | mean abs. error of Jaccard | largest error |\n|---|---:|---:|---:|")
    for name in names:
        make, jaccard = libs[name]
        first, second = make(docs), make(copy_docs)
        errors = [abs(jaccard(a, b) - e) for a, b, e in zip(first, second, exact, strict=True)]
        rate = args.count / statistics.median(times[name])
        print(f"| {name} | {rate:,.0f} | {statistics.mean(errors):.4f} | {max(errors):.4f} |")
    print(f"\nexact Jaccard of the edited copies: median {statistics.median(exact):.2f}, min {min(exact):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
