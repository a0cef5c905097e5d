"""The single-machine schedule in deploy/schedule: systemd units and the crontab line."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cli import _parser

SCHEDULE = Path(__file__).resolve().parent.parent / "deploy" / "schedule"
NEWSBEAM = str(Path(sys.executable).parent / "newsbeam")
needs_systemd = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


def _installed_copy(tmp_path: Path, service_text: str) -> list[Path]:
    """The units as they would be installed, with ExecStart pointing at this checkout's newsbeam."""
    service = tmp_path / "newsbeam-ingest.service"
    service.write_text(
        service_text.replace("/opt/newsbeam/.venv/bin/newsbeam", NEWSBEAM).replace("/opt/newsbeam", str(tmp_path))
    )
    timer = tmp_path / "newsbeam-ingest.timer"
    timer.write_text((SCHEDULE / "newsbeam-ingest.timer").read_text())
    return [service, timer]


def _verify(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", *map(str, paths)], capture_output=True, text=True, timeout=60, check=False
    )


@needs_systemd
def test_systemd_units_verify(tmp_path: Path) -> None:
    result = _verify(_installed_copy(tmp_path, (SCHEDULE / "newsbeam-ingest.service").read_text()))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_systemd
def test_systemd_verify_catches_broken_units(tmp_path: Path) -> None:
    """The check above can fail: a bad setting is reported, a missing program fails verification."""
    unit = (SCHEDULE / "newsbeam-ingest.service").read_text()
    bad_setting = _verify(_installed_copy(tmp_path, unit.replace("Type=oneshot", "Type=sometimes")))
    assert "Failed to parse service type" in bad_setting.stderr
    missing = _installed_copy(tmp_path, unit)
    missing[0].write_text(missing[0].read_text().replace(NEWSBEAM, "/nonexistent/bin/newsbeam"))
    assert _verify(missing).returncode != 0


@needs_systemd
def test_installed_units_raise_no_warning(tmp_path: Path) -> None:
    result = _verify(_installed_copy(tmp_path, (SCHEDULE / "newsbeam-ingest.service").read_text()))
    assert result.stderr.strip() == "", result.stderr


@needs_systemd
def test_timer_calendar_is_nightly() -> None:
    timer = (SCHEDULE / "newsbeam-ingest.timer").read_text()
    calendar = next(line.split("=", 1)[1] for line in timer.splitlines() if line.startswith("OnCalendar="))
    result = subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "02:15:00 UTC" in result.stdout


def _ingest_argv(command: str) -> list[str]:
    words = shlex.split(command)
    start = next(i for i, word in enumerate(words) if word.endswith("bin/newsbeam"))
    end = next((i for i, word in enumerate(words) if word in (">>", ">", "$NEWSBEAM_FLAGS")), len(words))
    return words[start + 1 : end]


@pytest.mark.parametrize("source", ["newsbeam-ingest.service", "newsbeam.crontab"])
def test_scheduled_command_line_parses_as_a_nightly_ingest(source: str) -> None:
    """The command the schedule runs is a valid `newsbeam ingest` with --date and an explicit runner."""
    text = (SCHEDULE / source).read_text()
    line = next(line for line in text.splitlines() if not line.startswith("#") and "newsbeam ingest" in line)
    argv = _ingest_argv(line.split("ExecStart=", 1)[-1])
    args, rest = _parser().parse_known_args(argv)
    assert args.command == "ingest" and args.inputs
    assert "--date" in rest and "--output" in rest
    assert rest[rest.index("--runner") + 1] == "DirectRunner"
