"""The network guard of the test set-up: what it lets through, what it refuses, and that a refusal fails the test.

Every refusal checked here happens before a packet is sent: the guard sits
under ``socket`` and answers for the resolver and the kernel. The addresses
tried are TEST-NET-1 (192.0.2.0/24, RFC 5737) and names under ``.example``
and ``.invalid``, so even a guard that failed open would not reach anyone.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Optional

import pytest
from netguard.newsbeam_netguard import (
    DIRECTORY,
    ENV_LOG,
    NetGuard,
    describe,
    hosts_file_loopback_names,
    read_log,
)

pytest_plugins = ["pytester"]

TESTS = Path(__file__).resolve().parent
TEST_NET = "192.0.2.1"  # RFC 5737 documentation address: routed nowhere


def guard(tmp_path: Path, names: frozenset[str] = frozenset({"hosts-alias"})) -> NetGuard:
    return NetGuard(str(tmp_path / "refusals.jsonl"), names)


# --------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [None, "", "localhost", "LOCALHOST", "127.0.0.1", "127.3.4.5", "::1", "::ffff:127.0.0.1", "0.0.0.0", "::", "127.1"],
)
def test_lookups_that_stay_on_this_machine_pass(tmp_path: Path, host: Optional[str]) -> None:
    assert guard(tmp_path).lookup_refusal(host) is None


def test_names_the_hosts_file_maps_to_loopback_pass(tmp_path: Path) -> None:
    assert guard(tmp_path).lookup_refusal("Hosts-Alias") is None
    assert guard(tmp_path, frozenset()).lookup_refusal("hosts-alias") is not None


@pytest.mark.parametrize(
    "host",
    [
        "news.example.org",  # resolves on the public DNS
        "news.example",  # never resolves, but asking is itself a DNS query
        "x.invalid",
        "localhost.",  # not in /etc/hosts as written: the resolver asks DNS
        "foo.localhost",
        TEST_NET,
        "8.8.8.8",
        "2001:db8::1",
        "::ffff:192.0.2.1",
        "10.20.30.40",
        b"news.example.org",
    ],
)
def test_lookups_that_could_leave_the_machine_are_refused(tmp_path: Path, host: Any) -> None:
    reason = guard(tmp_path).lookup_refusal(host)
    assert reason is not None and os.fsdecode(host) in reason


def test_a_numeric_only_lookup_passes_whatever_the_host(tmp_path: Path) -> None:
    """``AI_NUMERICHOST`` tells the resolver never to look anything up: the connect is what gets checked."""
    assert guard(tmp_path).lookup_refusal(TEST_NET, socket.AI_NUMERICHOST) is None


@pytest.mark.parametrize(
    ("family", "address"),
    [
        (socket.AF_INET, ("127.0.0.1", 8080)),
        (socket.AF_INET, ("127.9.9.9", 80)),
        (socket.AF_INET, ("localhost", 80)),
        (socket.AF_INET6, ("::1", 80, 0, 0)),
        (socket.AF_INET6, ("::ffff:127.0.0.1", 80, 0, 0)),
        (socket.AF_UNIX, "/tmp/some.sock"),
        (socket.AF_UNIX, b"\0abstract"),
    ],
)
def test_addresses_on_this_machine_pass(tmp_path: Path, family: int, address: Any) -> None:
    assert guard(tmp_path).address_refusal(family, address) is None


@pytest.mark.parametrize(
    ("family", "address"),
    [
        (socket.AF_INET, (TEST_NET, 9)),
        (socket.AF_INET, ("10.20.30.40", 80)),
        (socket.AF_INET, ("news.example.org", 443)),  # connect() would resolve the name itself
        (socket.AF_INET6, ("2001:db8::1", 80, 0, 0)),
        (socket.AF_INET6, ("::ffff:192.0.2.1", 80, 0, 0)),
    ],
)
def test_addresses_beyond_this_machine_are_refused(tmp_path: Path, family: int, address: Any) -> None:
    assert guard(tmp_path).address_refusal(family, address) is not None


def test_reverse_lookups_of_loopback_pass_and_of_other_addresses_are_refused(tmp_path: Path) -> None:
    netguard = guard(tmp_path)
    assert netguard.reverse_refusal("127.0.0.1") is None
    assert netguard.reverse_refusal(TEST_NET) is not None
    assert netguard.reverse_refusal(TEST_NET, numeric_only=True) is None


def test_hosts_file_names_are_those_mapped_to_loopback_only(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text(
        "127.0.0.1 localhost Runsc\n"
        "::1 localhost ip6-localhost  # comment\n"
        "127.0.1.1 box\n"
        "192.0.2.7 box  # the same name elsewhere too: its lookup could answer that\n"
        "192.0.2.8 printer\n"
        "# 127.0.0.1 commented-out\n",
        encoding="utf-8",
    )
    assert hosts_file_loopback_names(str(hosts)) == {"localhost", "runsc", "ip6-localhost"}
    assert hosts_file_loopback_names(str(tmp_path / "missing")) == frozenset()


# --------------------------------------------------------------------------
# The guard installed, in this process
# --------------------------------------------------------------------------


def test_the_session_guard_is_installed_here_and_named_for_children() -> None:
    assert os.environ["PYTHONPATH"].split(os.pathsep)[0] == str(DIRECTORY)
    assert Path(os.environ[ENV_LOG]).parent.name.startswith("newsbeam-netguard-")
    assert socket.socket.connect is not socket.SocketType.connect  # wrapped over the C method
    assert socket.getaddrinfo("localhost", 80)  # and loopback still works


def test_a_connection_beyond_loopback_is_refused_and_logged_in_process(tmp_path: Path) -> None:
    netguard = guard(tmp_path)
    before = (socket.getaddrinfo, socket.socket.connect)
    with netguard.active():
        with socket.socket() as sock, pytest.raises(ConnectionRefusedError, match="netguard"):
            sock.connect((TEST_NET, 9))
        with pytest.raises(socket.gaierror, match="netguard"):
            socket.create_connection(("news.example.org", 443), timeout=0.2)
        with socket.socket() as sock:
            assert sock.connect_ex((TEST_NET, 9)) != 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            with pytest.raises(ConnectionRefusedError):
                udp.sendto(b"query", (TEST_NET, 53))
    assert (socket.getaddrinfo, socket.socket.connect) == before  # the session's guard is back
    entries, _ = read_log(netguard.log_path)
    assert [(e["what"], e["target"]) for e in entries] == [
        ("connect", f"{TEST_NET}:9"),
        ("lookup", "news.example.org"),
        ("connect", f"{TEST_NET}:9"),
        ("sendto", f"{TEST_NET}:53"),
    ]
    assert all(e["pid"] == os.getpid() for e in entries)
    assert any("test_netguard.py" in frame for frame in entries[0]["where"])  # the caller is named
    assert f"connect {TEST_NET}:9" in describe(entries)


def test_loopback_connections_pass_under_the_guard(tmp_path: Path) -> None:
    netguard = guard(tmp_path)
    with socket.create_server(("127.0.0.1", 0)) as server, netguard.active():
        port = server.getsockname()[1]
        with socket.create_connection(("localhost", port), timeout=5):
            pass
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    assert read_log(netguard.log_path) == ([], 0)


def test_read_log_returns_whole_lines_and_where_it_stopped(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_bytes(b'{"what": "lookup", "target": "a.example"}\n{"what": "conn')
    entries, offset = read_log(str(log))
    assert [e["target"] for e in entries] == ["a.example"] and offset == log.read_bytes().index(b"\n") + 1
    with log.open("ab") as more:
        more.write(b'ect", "target": "192.0.2.1:9"}\n')
    assert [e["target"] for e in read_log(str(log), offset)[0]] == ["192.0.2.1:9"]


# --------------------------------------------------------------------------
# In a child process, through sitecustomize
# --------------------------------------------------------------------------

CHILD = f"""
import socket
try:
    socket.socket().connect(({TEST_NET!r}, 9))
except ConnectionRefusedError as error:
    print("connect refused:", error)
try:
    socket.getaddrinfo("news.invalid", 80)
except socket.gaierror as error:
    print("lookup refused:", error)
"""


def run_child(code: str, log: Path, pythonpath: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, ENV_LOG: str(log), "PYTHONPATH": os.pathsep.join(pythonpath)}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_a_child_python_process_is_guarded_and_logs_to_the_named_file(tmp_path: Path) -> None:
    log = tmp_path / "child.jsonl"
    done = run_child(CHILD, log, [str(DIRECTORY)])
    assert done.returncode == 0, done.stderr
    assert "connect refused: [Errno 111] netguard" in done.stdout
    assert "lookup refused: [Errno -2] netguard" in done.stdout
    entries, _ = read_log(str(log))
    assert [(e["what"], e["target"]) for e in entries] == [("connect", f"{TEST_NET}:9"), ("lookup", "news.invalid")]
    assert all(e["pid"] != os.getpid() and e["program"] == "-c" for e in entries)


@pytest.mark.slow
def test_a_child_without_the_log_variable_is_left_alone(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != ENV_LOG}
    code = "import socket; print(socket.getaddrinfo.__module__)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "socket", done.stderr


@pytest.mark.slow
def test_the_sitecustomize_it_hides_still_runs(tmp_path: Path) -> None:
    """Only the first ``sitecustomize`` on the path is imported: the guard's runs the next one itself."""
    other = tmp_path / "venv-site"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import os\nos.environ['OTHER_SITECUSTOMIZE'] = 'ran'\n", encoding="utf-8")
    code = CHILD + "import os; print('other:', os.environ.get('OTHER_SITECUSTOMIZE'))\n"
    log = tmp_path / "child.jsonl"
    done = run_child(code, log, [str(DIRECTORY), str(other)])
    assert done.returncode == 0, done.stderr
    assert "other: ran" in done.stdout and "connect refused" in done.stdout
    assert len(read_log(str(log))[0]) == 2  # one guard, not one per copy on the path


# --------------------------------------------------------------------------
# The whole set-up: a refusal fails the test that caused it
# --------------------------------------------------------------------------

INNER_TESTS = f"""
import socket
import subprocess
import sys

import pytest


def test_a_swallowed_lookup_still_fails_the_test():
    try:
        socket.getaddrinfo("news.example.org", 443)
    except OSError:
        pass  # as a fetch layer that dead-letters the failure would


def test_loopback_is_fine():
    assert socket.getaddrinfo("localhost", 80)


@pytest.fixture
def leaky():
    yield
    try:
        socket.socket().connect(({TEST_NET!r}, 7))
    except OSError:
        pass


def test_a_refusal_in_teardown_is_blamed_on_the_test(leaky):
    pass


@pytest.mark.slow
def test_a_refusal_in_a_subprocess_fails_the_test():
    code = "import socket\\ntry:\\n    socket.socket().connect(({TEST_NET!r}, 9))\\nexcept OSError:\\n    pass\\n"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
"""


@pytest.mark.slow
def test_a_session_fails_each_test_that_reached_beyond_loopback(pytester: pytest.Pytester) -> None:
    shutil.copy(TESTS / "conftest.py", pytester.path / "conftest.py")
    shutil.copytree(DIRECTORY, pytester.path / "netguard", ignore=shutil.ignore_patterns("__pycache__"))
    pytester.makeini("[pytest]\nmarkers =\n    slow: slow tier\naddopts = -p no:cacheprovider\n")
    pytester.makepyfile(test_inner=textwrap.dedent(INNER_TESTS))
    result = pytester.runpytest_subprocess("-q", "-rA")
    outcomes = result.parseoutcomes()
    assert (outcomes.get("passed"), outcomes.get("failed"), outcomes.get("errors")) == (2, 2, 1), result.stdout.str()
    output = result.stdout.str()
    assert "FAILED test_inner.py::test_a_swallowed_lookup_still_fails_the_test" in output
    assert "FAILED test_inner.py::test_a_refusal_in_a_subprocess_fails_the_test" in output
    assert "ERROR test_inner.py::test_a_refusal_in_teardown_is_blamed_on_the_test" in output  # its call passed
    assert (
        "lookup news.example.org" in output and f"connect {TEST_NET}:9" in output and f"connect {TEST_NET}:7" in output
    )
    assert "Refused outside any test" not in output  # each refusal was laid at the door of its test
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.slow
def test_a_refusal_outside_any_test_fails_the_session(pytester: pytest.Pytester) -> None:
    """A lookup at import (collection) belongs to no test: the summary names it and the run fails all the same."""
    shutil.copy(TESTS / "conftest.py", pytester.path / "conftest.py")
    shutil.copytree(DIRECTORY, pytester.path / "netguard", ignore=shutil.ignore_patterns("__pycache__"))
    pytester.makeini("[pytest]\nmarkers =\n    slow: slow tier\naddopts = -p no:cacheprovider\n")
    pytester.makepyfile(
        test_inner=(
            "import socket\n"
            "try:\n"
            "    socket.getaddrinfo('at-import.invalid', 80)\n"
            "except OSError:\n"
            "    pass\n"
            "\n"
            "def test_passes():\n"
            "    pass\n"
        )
    )
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    output = result.stdout.str()
    assert "Refused outside any test" in output and "lookup at-import.invalid" in output
