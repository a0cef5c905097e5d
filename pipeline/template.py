"""The Dataflow Flex Template entry: template parameters in, one detached ``newsbeam`` command out.

The Flex Template launcher runs ``deploy/dataflow/main.py`` with every template
parameter as ``--name=value`` (next to Beam's own: project, region, staging and
template locations, job name…) and waits for the program to exit. The CLI
already validates every option, so this module only turns the launch into the
command line a person would type:

* ``mode`` (``ingest``, the default, or ``stream``) picks the command;
* a ``store_true`` flag cannot be an empty template parameter, so the
  metadata declares it ``true``/``false`` and ``--uncurl_quotes=true`` becomes
  ``--uncurl_quotes``, ``--uncurl_quotes=false`` nothing;
* ``--runner DataflowRunner`` is added unless a runner is named, and
  ``--detach`` always: the launcher must get control back once the job is
  submitted, never wait for a batch to end (or for a stream, which never does).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Optional, Sequence

from pipeline import cli
from pipeline.options import NewsbeamOptions, StreamOptions

MODES = ("ingest", "stream")
DEFAULT_MODE = "ingest"
DEFAULT_RUNNER = "DataflowRunner"
DETACH = "--detach"
_TRUE, _FALSE = "true", "false"


class TemplateUsageError(ValueError):
    """A launch the entry cannot turn into a newsbeam command line (reported as a usage error, exit 2)."""


def option_actions() -> list[argparse.Action]:
    """Every newsbeam option, batch and stream, as argparse defines it: the one source of names, types and help."""
    parser = argparse.ArgumentParser(add_help=False)
    NewsbeamOptions._add_argparse_args(parser)
    StreamOptions._add_argparse_args(parser)
    return list(parser._actions)


def switches() -> dict[str, str]:
    """Every spelling of each ``store_true`` flag (``--uncurl-quotes``, ``--uncurl_quotes``) → its first spelling."""
    flags: dict[str, str] = {}
    for action in option_actions():
        if isinstance(action, argparse._StoreTrueAction):
            for spelling in action.option_strings:
                flags[spelling] = action.option_strings[0]
    return flags


def split_mode(args: Sequence[str]) -> tuple[str, list[str]]:
    """The ``mode`` parameter (``--mode=stream`` or ``--mode stream``) and every other argument, in order."""
    mode, rest = DEFAULT_MODE, []
    items = iter(args)
    for arg in items:
        if arg == "--mode":
            mode = next(items, "")
        elif arg.startswith("--mode="):
            mode = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    if mode not in MODES:
        raise TemplateUsageError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    return mode, rest


def _switch_value(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in (_TRUE, _FALSE):
        raise TemplateUsageError(f"{name} takes {_TRUE} or {_FALSE}, not {value!r}")
    return lowered == _TRUE


def translate_switches(args: Sequence[str], flags: dict[str, str]) -> list[str]:
    """``--flag=true`` → ``--flag``, ``--flag=false`` → nothing; a bare ``--flag`` stays.

    The separate form ``--flag true`` is read the same way: left alone, the
    ``true`` would become a positional INPUT.
    """
    out: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        name, sep, value = arg.partition("=")
        following = args[index + 1] if index + 1 < len(args) else None
        if sep and name in flags:
            out.extend([flags[name]] if _switch_value(name, value) else [])
        elif arg in flags and following is not None and following.strip().lower() in (_TRUE, _FALSE):
            out.extend([flags[arg]] if _switch_value(arg, following) else [])
            index += 1
        else:
            out.append(arg)
        index += 1
    return out


def names_runner(args: Sequence[str]) -> bool:
    return any(arg == "--runner" or arg.startswith("--runner=") for arg in args)


def launch_argv(args: Sequence[str]) -> list[str]:
    """The ``newsbeam`` command line (without the program name) for a template launch's arguments."""
    mode, rest = split_mode(args)
    rest = [arg for arg in translate_switches(rest, switches()) if arg != DETACH]
    if not names_runner(rest):
        rest.append(f"--runner={DEFAULT_RUNNER}")
    return [mode, *rest, DETACH]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the launch as a newsbeam command and returns its exit status (2: a parameter the entry refused)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        command = launch_argv(args)
    except TemplateUsageError as error:
        sys.stderr.write(f"newsbeam template: error: {error}\n")
        return cli.EXIT_USAGE
    sys.stderr.write(f"[newsbeam] template launch: newsbeam {shlex.join(command)}\n")
    return cli.main(command)
