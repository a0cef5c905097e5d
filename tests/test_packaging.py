"""newsbeam as a package for ``--setup_file pyproject.toml``: the sdist Beam's stager builds, installed elsewhere.

Without the custom container (deploy/dataflow/), Dataflow workers get newsbeam from
``--setup_file``: Beam's stager builds an sdist with ``python -m build --no-isolation
--sdist`` (no package index, so the build backend must already be installed) and
each worker pip-installs it. These tests take the same path offline: the stager's
own build, the archive's contents, a ``pip install --target`` of it imported from
an empty folder with the checkout off sys.path, and a DataflowRunner dry run with
``--setup_file``.
``make install`` puts that backend (setuptools>=68, wheel, build; pinned) in the venv.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
from apache_beam.runners.portability.stager import Stager
from test_flex_template import LAUNCHER_ARGS, NetworkGuard, launch

from pipeline import cli

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PROJECT["tool"]["setuptools"]
SDIST_NAME = f"{PROJECT['project']['name']}-{PROJECT['project']['version']}"


#: The top-level packages newsbeam ships; every package under them ships too.
TOP_PACKAGES = ("pipeline", "transforms", "schemas")


def packages_on_disk() -> list[str]:
    """Every package of the checkout under the top-level ones (a folder with an ``__init__.py``), dotted."""
    return sorted(
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in TOP_PACKAGES
        for init in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    )


def expected_members() -> set[str]:
    """Every module of every package on disk, and the declared package data, as paths inside the sdist."""
    members = set()
    for package in packages_on_disk():
        members |= {str(p.relative_to(ROOT)) for p in (ROOT / package.replace(".", "/")).glob("*.py")}
    for package, patterns in SETUPTOOLS["package-data"].items():
        for pattern in patterns:
            members |= {str(p.relative_to(ROOT)) for p in (ROOT / package).glob(pattern)}
    return members


def test_every_package_on_disk_is_found_by_the_build() -> None:
    """pyproject's ``packages.find`` takes every subpackage (a listed ``packages`` would miss new ones)."""
    from setuptools import find_packages

    found = set(find_packages(str(ROOT), include=SETUPTOOLS["packages"]["find"]["include"]))
    assert set(packages_on_disk()) <= found, set(packages_on_disk()) - found
    assert "transforms.fetch" in found


def sdist_members(archive: Path) -> set[str]:
    with tarfile.open(archive) as tar:
        return {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}


@pytest.fixture(scope="module")
def beam_sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist exactly as Beam's stager builds it for ``--setup_file pyproject.toml``."""
    return Path(Stager._build_setup_package(str(ROOT / "pyproject.toml"), str(tmp_path_factory.mktemp("stage"))))


def test_package_data_and_modules_are_declared() -> None:
    """What the sdist checks below expect: every package, and the entity table the NER step loads."""
    members = expected_members()
    assert {"pipeline/cli.py", "pipeline/template.py", "transforms/parse.py", "schemas/__init__.py"} <= members
    assert "transforms/data/entities.json" in members


@pytest.mark.slow
def test_stager_builds_the_sdist(beam_sdist: Path) -> None:
    assert beam_sdist.name == f"{SDIST_NAME}.tar.gz" and beam_sdist.is_file()


@pytest.mark.slow
def test_sdist_holds_the_packages_and_their_data(beam_sdist: Path) -> None:
    members = sdist_members(beam_sdist)
    assert expected_members() <= members, expected_members() - members
    assert "pyproject.toml" in members and "PKG-INFO" in members


@pytest.mark.slow
def test_sdist_installs_and_imports_away_from_the_checkout(beam_sdist: Path, tmp_path: Path) -> None:
    """pip-installed from the sdist into a folder, imported from an empty folder with only that on PYTHONPATH."""
    target, empty = tmp_path / "site", tmp_path / "cwd"
    empty.mkdir()
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index"]
    install += ["--disable-pip-version-check", "--quiet", "--target", str(target), str(beam_sdist)]
    done = subprocess.run(install, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    probe = (
        "import importlib, json, sys, transforms.entities;"
        "transforms.entities.EntityRecognizer.from_file();"
        f"modules = [importlib.import_module(m) for m in {packages_on_disk()!r}];"
        "print(json.dumps({'path': sys.path, 'files': [m.__file__ for m in modules]"
        " + [str(transforms.entities.DATA_FILE)]}))"
    )
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=empty, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    seen: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    assert str(ROOT) not in seen["path"] and "" not in [p for p in seen["path"] if Path(p or ".") == ROOT]
    assert any("site-packages" in p for p in seen["path"])  # the venv's dependencies are there
    for file in seen["files"]:
        assert Path(file).is_relative_to(target), file
        assert Path(file).exists()


@pytest.mark.slow
def test_dataflow_dry_run_with_setup_file() -> None:
    """The batch job built for Dataflow with ``--setup_file`` instead of a worker image, offline."""
    args = [a for a in LAUNCHER_ARGS if not a.startswith("--template_location")]
    argv = ["ingest", "gs://my-bucket/in/", "--output=gs://my-bucket/lake", "--runner=DataflowRunner", "--detach"]
    guard = NetworkGuard()
    with guard.active():
        run = launch(cli.main, argv + args + [f"--setup_file={ROOT / 'pyproject.toml'}"])
    if run.code != 0 and "Failed to build package" in run.stderr:
        raise RuntimeError(run.stderr.strip().splitlines()[-1])
    assert run.code == 0, run.stderr
    assert guard.attempts == []
    environments = run.results[0].job.proto_pipeline.components.environments.values()
    staged = [d.role_payload for e in environments for d in e.dependencies]
    assert any(b"workflow.tar.gz" in payload for payload in staged), staged
