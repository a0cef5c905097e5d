"""The command line's words: INPUTs told apart from pipeline flags and their values, validators' edges."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from support import SEEDS

from pipeline.cli import main, split_inputs
from pipeline.options import _count, _non_negative, _positive, _positive_float, _ratio


@pytest.mark.parametrize(
    ("words", "inputs", "flags"),
    [
        # flags before, between and after the INPUTs; a flag's separate value stays with it
        (
            ["--input", "gs://b/in/", "--output", "gs://b/out", "seeds/"],
            ["seeds/"],
            ["--input", "gs://b/in/", "--output", "gs://b/out"],
        ),
        (["a.xml", "--output", "out", "b.opml"], ["a.xml", "b.opml"], ["--output", "out"]),
        # Beam's own flags are known too
        (
            ["--runner", "DataflowRunner", "--project", "p", "feeds/"],
            ["feeds/"],
            ["--runner", "DataflowRunner", "--project", "p"],
        ),
        # a switch takes no value: the next word is an INPUT
        (["--uncurl-quotes", "a.xml"], ["a.xml"], ["--uncurl-quotes"]),
        # --date's value is optional: followed by a flag it has none
        (["--date", "--entities", "off", "x"], ["x"], ["--date", "--entities", "off"]),
        (["--date", "2026-11-28", "x"], ["x"], ["--date", "2026-11-28"]),
        # name=value, and an unknown flag passed on alone
        (["--max-file-mb=3", "--no-such-flag", "x"], ["x"], ["--max-file-mb=3", "--no-such-flag"]),
        # after "--" everything is an INPUT, even what looks like a flag
        (["--output", "o", "--", "--odd-name.xml"], ["--odd-name.xml"], ["--output", "o"]),
        ([], [], []),
    ],
)
def test_split_inputs(words: list[str], inputs: list[str], flags: list[str]) -> None:
    assert split_inputs(words) == (inputs, flags)


@pytest.mark.parametrize("validator", [_non_negative, _positive_float, _ratio])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_float_options_refuse_what_is_not_a_finite_number(validator: object, value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="finite"):
        validator(value)  # type: ignore[operator]


def test_whole_number_options_have_their_floor() -> None:
    assert _count("0") == 0 and _positive("1") == 1
    with pytest.raises(argparse.ArgumentTypeError):
        _count("-1")
    with pytest.raises(argparse.ArgumentTypeError):
        _positive("0")


@pytest.mark.slow
def test_flags_first_then_inputs_runs_end_to_end(tmp_path: Path) -> None:
    """The order a script writes them in: every flag (with separate values) before the INPUTs."""
    out = tmp_path / "out"
    code = main(
        ["ingest", "--output", str(out), "--runner", "DirectRunner", "--entities", "off", "--run-id", "flags-first"]
        + ["--input", str(SEEDS / "articles" / "wire_story.txt"), str(SEEDS / "feeds" / "atom_wire.atom")]
    )
    assert code == 0
    summary = json.loads((out / "runs" / "flags-first.json").read_text())
    assert summary["inputs"] == [str(SEEDS / "feeds" / "atom_wire.atom"), str(SEEDS / "articles" / "wire_story.txt")]
    assert summary["counts"]["written"] > 1
