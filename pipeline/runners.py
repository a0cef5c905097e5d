"""Runner choice: always explicit, never a network download.

Beam 2.77's ``DirectRunner`` first tries to download and start a Prism binary,
which fails slowly on a machine without internet. A batch pipeline asked to
run on the DirectRunner is therefore handed straight to the in-process
FnApiRunner (what the DirectRunner falls back to anyway); streaming and
``TestStream`` go to the BundleBasedDirectRunner. ``DaskRunner`` gets our
corrected subclass (see :mod:`pipeline.dask_runner`). Any other runner name
is passed through to Beam untouched.
"""

from __future__ import annotations

from typing import Optional, Union

from apache_beam.runners.runner import PipelineRunner

LOCAL_NAMES = {"directrunner", "direct", "switchingdirectrunner"}
#: Beam's DaskRunner loses data on our graph; these names get :class:`pipeline.dask_runner.NewsbeamDaskRunner`.
DASK_NAMES = {"daskrunner", "dask"}


def runner_problem(name: str, streaming: bool) -> Optional[str]:
    """Why this runner cannot run this kind of pipeline, or None."""
    if streaming and name.lower() in DASK_NAMES:
        return (
            f"{name} runs batch pipelines only (no windows, state or timers): use DataflowRunner "
            "or the local runner for streams"
        )
    return None


def make_runner(name: str | None, streaming: bool = False) -> Union[str, PipelineRunner]:
    name = name or "DirectRunner"
    problem = runner_problem(name, streaming)
    if problem:
        raise ValueError(problem)
    if name.lower() in LOCAL_NAMES:
        if streaming:
            from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner

            return BundleBasedDirectRunner()
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        return FnApiRunner()
    if name.lower() in DASK_NAMES:
        from pipeline.dask_runner import NewsbeamDaskRunner

        return NewsbeamDaskRunner()
    return name
