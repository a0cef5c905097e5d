"""The output folder as a shared resource: one writer at a time, no run id twice, nothing half-published.

Two runs writing into one output at once would each read the ids already
there, find none of the other's, and publish every article twice (a nightly
timer overlapping a manual backfill does exactly this). Publishing cannot
deduplicate cheaply — the files are written before the move — so a run takes
a lock on the output for its whole life instead:

* ``DIR/_newsbeam.lock`` is created exclusively (``O_CREAT | O_EXCL``, atomic
  on local and network file systems) and holds who took it: run id, host,
  pid, the pid's start time, the command. The holder touches it every
  ``heartbeat`` seconds.
* A lock whose holder is dead is taken over: on the same host, the pid is
  gone (or was reused by another process, told apart by its start time); on
  another host, the heartbeat stopped for ``stale_after`` seconds. The take-
  over renames the old lock aside (atomic) before creating a new one, so two
  runs recovering at once cannot both win.
* ``gs://`` and other object stores have no exclusive create through Beam's
  ``FileSystems``: there the lock is checked then written (a race of a few
  milliseconds remains; documented), and a detached job (``--detach``, Flex
  Templates) holds no lock at all — schedule those so they do not overlap
  (the Composer DAG runs one at a time).

Once the lock is held, ``recover`` cleans what dead runs left behind (see
``transforms.sinks.withdraw``), and ``run_id_problem`` refuses a run id that
already has data in the output.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any, Optional, TextIO

from apache_beam.io.filesystems import FileSystems

from transforms.archive import remove_warc_staging, staging_folder
from transforms.sinks import (
    ARTICLES,
    DEAD_LETTERS,
    RUN_MARKER,
    STAGING,
    count_files,
    join,
    recover_staging,
    staged_runs,
    write_run_marker,
)
from transforms.sources import OUTPUT_MARKER

LOCK = "_newsbeam.lock"
_TABLES = (ARTICLES, DEAD_LETTERS, "feed_health")


class OutputLocked(Exception):
    """Another live run holds the output's lock."""


def _local(path: str) -> bool:
    return "://" not in path


def process_start(pid: int) -> Optional[str]:
    """A process's start time (clock ticks since boot, from /proc), telling a reused pid apart; None off Linux."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return fields[19]
    except (OSError, IndexError):
        return None


def pid_alive(pid: int, start: Optional[str]) -> bool:
    """Whether ``pid`` runs on this host and is the process that wrote ``start`` (when known)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        pass
    current = process_start(pid)
    return start is None or current is None or current == start


def _read_json(path: str) -> Optional[dict[str, Any]]:
    try:
        with FileSystems.open(path) as handle:
            value = json.loads(handle.read().decode("utf-8"))
        return value if isinstance(value, dict) else None
    except Exception:  # noqa: BLE001 - absent, half-written or not ours: treated as unknown
        return None


def _age_seconds(path: str) -> Optional[float]:
    """Seconds since ``path`` was last written (its heartbeat), or None when it is gone."""
    try:
        if _local(path):
            return time.time() - os.stat(path).st_mtime
        metadata = FileSystems.match([path])[0].metadata_list
        return time.time() - metadata[0].last_updated_in_seconds if metadata else None
    except Exception:  # noqa: BLE001
        return None


def describe_holder(holder: Optional[dict[str, Any]]) -> str:
    if not holder:
        return "an unknown run (unreadable lock file)"
    return (
        f"run {holder.get('run_id', '?')} (pid {holder.get('pid', '?')} on {holder.get('host', '?')}, "
        f"started {holder.get('started_at', '?')})"
    )


class OutputLock:
    """An exclusive, self-healing lock on an output folder, held for a whole run (a context manager)."""

    def __init__(
        self, output: str, run_id: str, command: str = "", heartbeat: float = 30.0, stale_after: float = 300.0
    ):
        self.output = output
        self.path = join(output, LOCK)
        self.run_id = run_id
        self.command = command[:500]
        self.heartbeat = heartbeat
        self.stale_after = stale_after
        self.recovered: Optional[str] = None
        self._held = False
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def _record(self) -> bytes:
        pid = os.getpid()
        return json.dumps(
            {
                "run_id": self.run_id,
                "host": socket.gethostname(),
                "pid": pid,
                "pid_start": process_start(pid),
                "command": self.command,
                "started_at": datetime.now(UTC).isoformat(),
            }
        ).encode()

    def _create(self) -> bool:
        """Creates the lock file if there is none; whether it did."""
        if _local(self.path):
            os.makedirs(self.output, exist_ok=True)
            try:
                descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with open(descriptor, "wb") as handle:
                handle.write(self._record())
            return True
        if FileSystems.exists(self.path):
            return False
        with FileSystems.create(self.path) as handle:
            handle.write(self._record())
        return True

    def stale(self, holder: Optional[dict[str, Any]]) -> bool:
        """Whether the lock's holder is dead: its process is gone (this host) or its heartbeat stopped."""
        if holder and holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int):
            return not pid_alive(holder["pid"], holder.get("pid_start"))
        age = _age_seconds(self.path)
        return age is not None and age > self.stale_after

    def _take_over(self, holder: Optional[dict[str, Any]]) -> bool:
        """Moves a dead holder's lock aside (atomically: only one contender can) and creates ours."""
        aside = f"{self.path}.stale-{secrets.token_hex(4)}"
        try:
            FileSystems.rename([self.path], [aside])
        except Exception:  # noqa: BLE001 - another run moved it first
            return False
        try:
            FileSystems.delete([aside])
        except Exception:  # noqa: BLE001
            pass
        if self._create():
            self.recovered = f"took over the lock left by {describe_holder(holder)}, which is no longer running"
            return True
        return False

    def acquire(self, wait: float = 0.0) -> OutputLock:
        deadline = time.monotonic() + wait
        while True:
            if self._create():
                break
            holder = _read_json(self.path)
            if holder is None and (_age_seconds(self.path) or 0) < 5:
                time.sleep(0.2)  # being written by its creator right now
                continue
            if self.stale(holder) and self._take_over(holder):
                break
            if time.monotonic() >= deadline:
                raise OutputLocked(
                    f"{self.output} is being written by {describe_holder(holder)}; two runs into one output would "
                    f"write every article twice. Wait for it (--wait-for-lock SECONDS), or, if it is not running, "
                    f"remove {self.path}"
                )
            time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
        self._held = True
        self._mark_output()
        if self.heartbeat > 0:
            self._thread = threading.Thread(target=self._beat, name="newsbeam-lock-heartbeat", daemon=True)
            self._thread.start()
        return self

    def _mark_output(self) -> None:
        """Marks the folder as newsbeam output, so an input folder containing it never reads it back."""
        marker = join(self.output, OUTPUT_MARKER)
        if not FileSystems.exists(marker):
            with FileSystems.create(marker) as handle:
                handle.write(json.dumps({"what": "newsbeam output folder: not an input"}).encode())

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            try:
                if _local(self.path):
                    os.utime(self.path)
                else:
                    with FileSystems.create(self.path) as handle:
                        handle.write(self._record())
            except OSError:
                pass

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if not self._held:
            return
        self._held = False
        holder = _read_json(self.path)
        if holder is not None and holder.get("run_id") == self.run_id:
            try:
                FileSystems.delete([self.path])
            except Exception:  # noqa: BLE001 - gone already
                pass

    def __enter__(self) -> OutputLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def run_id_problem(output: str, run_id: str) -> Optional[str]:
    """Why ``run_id`` cannot be used in ``output`` (it already has a summary or published files), or None.

    Reusing a run id would overwrite that run's summary and, file names
    carrying the run id, replace its files: an earlier run's data lost.
    """
    if FileSystems.exists(join(output, "runs", f"{run_id}.json")) or FileSystems.exists(join(output, "runs", run_id)):
        return f"run id {run_id!r} was already used in {output} (runs/{run_id}.json): choose another --run-id"
    patterns = [join(output, table, "*", f"part-{run_id}-*") for table in _TABLES]
    patterns.append(join(output, "feed_state", f"state-*-{run_id}.parquet"))
    for result in FileSystems.match(patterns):
        if result.metadata_list:
            return (
                f"run id {run_id!r} already has published files in {output} "
                f"({result.metadata_list[0].path}): choose another --run-id"
            )
    return None


class OutputClaim:
    """What a run holds on its output while it runs: the lock, and its marker in the staging folder.

    Taking it also cleans up after dead runs (``recover_staging``) and
    refuses a run id already used there; both only once the lock is held, so
    no live run can be cleaned up or raced.
    """

    def __init__(self, lock: Optional[OutputLock], notes: list[str]):
        self.lock = lock
        self.notes = notes

    def __enter__(self) -> OutputClaim:
        return self

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()

    def __exit__(self, *_: object) -> None:
        self.release()


class ClaimRefused(Exception):
    """The output cannot be used by this run: ``locked`` by another, or the run id is ``taken``."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def _alive(record: Optional[dict[str, Any]]) -> bool:
    if not record or record.get("host") != socket.gethostname() or not isinstance(record.get("pid"), int):
        return False
    return pid_alive(record["pid"], record.get("pid_start"))


def claim_output(
    output: str, run_id: str, *, wait: float, detach: bool, command: str, warc_out: Optional[str] = None
) -> OutputClaim:
    """Locks ``output`` for this run (unless detached), recovers dead runs' leftovers, checks the run id.

    ``warc_out``: the run's web archive folder (``--warc-out``), kept in its
    marker so that a later run can also clear what a dead one staged there.
    """
    lock = None
    if not detach:
        try:
            lock = OutputLock(output, run_id, command).acquire(wait)
        except OutputLocked as error:
            raise ClaimRefused(str(error), "locked") from None
    notes = [lock.recovered] if lock is not None and lock.recovered else []
    try:
        for staged in staged_runs(output):
            if staged == run_id:
                continue
            marker = _read_marker(output, staged)
            if marker and (marker.get("detached") or _alive(marker)):
                continue  # a detached job, or a live run from before locks: leave its staging alone
            done = recover_staging(output, staged)
            archived = marker.get("warc_out") if marker else None
            if isinstance(archived, str) and archived:
                notes.extend(_recover_warc_staging(archived, staged, done["action"]))
            if done["action"] == "completed_publishing":
                notes.append(
                    f"run {staged} died while publishing; its {done['completed_moves']} remaining file(s) were "
                    "moved into place (all of its files had been written)"
                )
            else:
                notes.append(
                    f"run {staged} stopped before publishing (nothing of it was visible); its staging "
                    f"({done['files']} file(s)) was removed"
                )
        problem = run_id_problem(output, run_id)
        if problem:
            raise ClaimRefused(problem, "taken")
        write_run_marker(
            output,
            run_id,
            {
                "run_id": run_id,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "pid_start": process_start(os.getpid()),
                "detached": detach,
                "started_at": datetime.now(UTC).isoformat(),
                **({"warc_out": warc_out} if warc_out else {}),
            },
        )
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return OutputClaim(lock, notes)


def _recover_warc_staging(warc_out: str, run_id: str, action: str) -> list[str]:
    """A dead run's staged web archive files: gone with its Parquet (publishing moved any it had got to)."""
    folder = staging_folder(warc_out, run_id)
    if not FileSystems.exists(folder):
        return []
    files = count_files(folder)
    remove_warc_staging(None, warc_out, run_id)
    if action == "completed_publishing" or not files:
        return []  # its publish journal held its archive files too: they were moved with the Parquet
    return [
        f"run {run_id} stopped before publishing; its {files} staged web archive file(s) in {warc_out} were removed"
    ]


def _read_marker(output: str, run_id: str) -> Optional[dict[str, Any]]:
    path = join(output, STAGING, run_id, RUN_MARKER)
    try:
        with FileSystems.open(path) as handle:
            value = json.loads(handle.read().decode("utf-8"))
    except Exception:  # noqa: BLE001 - no marker: staged by a dead run or an older version
        return None
    return value if isinstance(value, dict) else None


def remove_staging(output: str, run_id: str, err: TextIO) -> None:
    """Removes a stream's temporary folders once ``fileio`` has moved every file out of them.

    A file still there was never published: it is kept, and reported, never
    deleted with the folders.
    """
    staging = join(output, STAGING, run_id)
    try:
        left = [m.path for m in FileSystems.match([join(staging, "**")])[0].metadata_list]
    except Exception:  # noqa: BLE001 - no staging folder: nothing to do
        left = []
    left = [path for path in left if ("://" in path or os.path.isfile(path)) and not path.endswith("/" + RUN_MARKER)]
    if left:
        err.write(f"newsbeam: warning: {len(left)} file(s) left unpublished in {staging}\n")
        return
    try:
        if FileSystems.exists(staging):
            FileSystems.delete([staging])
        if "://" not in staging:
            os.rmdir(os.path.dirname(staging.rstrip("/")))  # only when no other run is staging
    except OSError:
        pass
