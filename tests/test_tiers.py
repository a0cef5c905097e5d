"""The two test tiers: the ``slow`` marker, its strictness, and the guard in ``conftest.py``.

The guard's tests run pytest on a few generated test files in a scratch folder
with this suite's own ``conftest.py`` and pytest settings (the ``markers`` and
``addopts`` of ``pyproject.toml``), and check what pytest reports. The
pipelines the guard refuses are never run, so these tests are fast; the one
that shows a marked test may still run its pipeline is itself marked slow.
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import pytest
from support import ROOT

pytest_plugins = ["pytester"]

SETTINGS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
REFUSED = "but is not marked slow: add @pytest.mark.slow to the test"


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A scratch test folder under this suite's conftest and marker settings."""
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text(encoding="utf-8"))
    pytester.makepyprojecttoml(
        "[tool.pytest.ini_options]\n"
        f"addopts = {json.dumps(SETTINGS['addopts'])}\n"
        f"markers = {json.dumps(SETTINGS['markers'])}\n"
    )
    return pytester


def test_the_slow_marker_is_registered_and_markers_are_strict(pytestconfig: pytest.Config) -> None:
    """As this very session read pyproject.toml: a misspelt marker (``@pytest.mark.slwo``) fails collection."""
    assert any(line.startswith("slow:") for line in pytestconfig.getini("markers"))
    assert pytestconfig.getini("strict_markers") is True


def test_an_unmarked_test_that_runs_a_pipeline_fails_with_the_marker_to_add(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_unmarked=(
            "import apache_beam as beam\n"
            "from apache_beam.testing.test_pipeline import TestPipeline\n\n\n"
            "def test_run() -> None:\n"
            "    pipeline = beam.Pipeline()\n"
            "    pipeline | beam.Create([1])\n"
            "    pipeline.run()\n\n\n"
            "def test_context_manager() -> None:\n"
            "    with beam.Pipeline() as pipeline:\n"
            "        pipeline | beam.Create([1])\n\n\n"
            "def test_test_pipeline() -> None:\n"
            "    with TestPipeline() as pipeline:\n"
            "        pipeline | beam.Create([1])\n"
        )
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=3)
    for name in ("test_run", "test_context_manager", "test_test_pipeline"):
        result.stdout.fnmatch_lines([f"*test_unmarked.py::{name} runs a Beam pipeline (Pipeline.run) {REFUSED}*"])


def test_building_a_pipeline_without_running_it_is_fast_and_allowed(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_build=(
            "import apache_beam as beam\n\n\n"
            "def test_builds_one() -> None:\n"
            "    pipeline = beam.Pipeline()\n"
            "    pipeline | 'One' >> beam.Create([1])\n"
            "    assert 'One' in pipeline.applied_labels\n"
        )
    )
    suite.runpytest().assert_outcomes(passed=1)


def test_a_fixture_that_runs_a_pipeline_fails_the_unmarked_test_that_needs_it(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_fixture=(
            "import apache_beam as beam\n"
            "import pytest\n\n\n"
            "@pytest.fixture(scope='module')\n"
            "def ran() -> None:\n"
            "    with beam.Pipeline() as pipeline:\n"
            "        pipeline | beam.Create([1])\n\n\n"
            "def test_reads_what_it_wrote(ran: None) -> None:\n"
            "    pass\n"
        )
    )
    result = suite.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*test_fixture.py::test_reads_what_it_wrote runs a Beam pipeline*{REFUSED}*"])


def test_a_refusal_swallowed_by_the_code_under_test_still_fails_the_test(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_swallowed=(
            "import apache_beam as beam\n\n\n"
            "def test_swallows() -> None:\n"
            "    try:\n"
            "        beam.Pipeline().run()\n"
            "    except BaseException:\n"
            "        pass\n"
        )
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*test_swallowed.py::test_swallows runs a Beam pipeline*{REFUSED}*"])


def test_an_unmarked_test_that_starts_python_in_a_subprocess_fails(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_subprocess=(
            "import subprocess\n"
            "import sys\n\n\n"
            "def test_starts_python() -> None:\n"
            "    subprocess.run([sys.executable, '-c', 'pass'], check=True)\n\n\n"
            "def test_starts_the_cli() -> None:\n"
            "    subprocess.run(['newsbeam', '--help'], check=True)\n\n\n"
            "def test_starts_another_program() -> None:\n"
            "    assert subprocess.run(['true']).returncode == 0\n"
        )
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=2, passed=1)
    name = Path(sys.executable).name
    result.stdout.fnmatch_lines([f"*test_subprocess.py::test_starts_python starts {name} in a subprocess {REFUSED}*"])
    result.stdout.fnmatch_lines(
        [f"*test_subprocess.py::test_starts_the_cli starts newsbeam in a subprocess {REFUSED}*"]
    )


def test_the_guard_is_lifted_after_each_unmarked_test(suite: pytest.Pytester) -> None:
    """The wrapper is not left behind: a marked test after a refused one sees Beam's own ``Pipeline.run``."""
    suite.makepyfile(
        test_order=(
            "import apache_beam as beam\n"
            "import pytest\n\n"
            "UNGUARDED = beam.Pipeline.run\n\n\n"
            "def test_refused() -> None:\n"
            "    beam.Pipeline().run()\n\n\n"
            "@pytest.mark.slow\n"
            "def test_marked_after_it() -> None:\n"
            "    assert beam.Pipeline.run is UNGUARDED\n"
        )
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines([f"*test_order.py::test_refused runs a Beam pipeline*{REFUSED}*"])


def test_the_fast_tier_leaves_out_what_is_marked_slow(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_marked="import pytest\n\n\n@pytest.mark.slow\ndef test_slow() -> None:\n    pass\n\n\n"
        "def test_fast() -> None:\n    pass\n",
        test_module_marked="import pytest\n\npytestmark = pytest.mark.slow\n\n\ndef test_slow_too() -> None:\n    pass\n",
    )
    result = suite.runpytest("-m", "not slow")
    result.assert_outcomes(passed=1, deselected=2)


@pytest.mark.slow
def test_a_test_marked_slow_runs_its_pipeline(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_pipelines=(
            "import apache_beam as beam\n"
            "import pytest\n"
            "from apache_beam.options.pipeline_options import PipelineOptions\n"
            "from apache_beam.testing.test_pipeline import TestPipeline\n"
            "from apache_beam.testing.util import assert_that, equal_to\n\n"
            "from pipeline.runners import make_runner\n\n\n"
            "@pytest.mark.slow\n"
            "def test_doubles() -> None:\n"
            "    with TestPipeline(runner=make_runner('DirectRunner'), options=PipelineOptions([])) as pipeline:\n"
            "        assert_that(pipeline | beam.Create([1, 2]) | beam.Map(lambda x: 2 * x), equal_to([2, 4]))\n"
        )
    )
    suite.runpytest().assert_outcomes(passed=1)
