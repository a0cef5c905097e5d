"""Loopback only: the guard that refuses, and writes down, every name lookup or connection that could leave the machine.

With full text on by default, any feed link a test feeds the pipeline is a
page the pipeline will try to fetch, and a fixture on a name that resolves
(``example.org``, a real publisher) would reach out to someone else's server.
The tests must only ever talk to 127.0.0.1, so this guard sits under the
socket module, below every HTTP client, and lets through only what stays on
this machine:

* a lookup (``getaddrinfo``, ``gethostbyname*``, ``gethostbyaddr``,
  ``getnameinfo``) of a numeric loopback or unspecified address, of
  ``localhost``, or of a name ``/etc/hosts`` maps to loopback addresses only
  (the resolver answers those from the file, with no DNS query); a lookup the
  caller marks numeric-only (``AI_NUMERICHOST``, ``NI_NUMERICHOST``) cannot
  leave the machine and passes too. Every other name is refused *before* the
  resolver sees it, because asking DNS is itself traffic: it raises
  ``socket.gaierror``, as an unknown name would;
* a ``connect``/``connect_ex``/``sendto`` to a loopback (127.0.0.0/8, ::1,
  ``::ffff:127.x``) or unspecified address, and anything that is not IPv4 or
  IPv6 (Unix sockets, netlink); anything else is refused before a packet is
  sent: ``ConnectionRefusedError`` (``connect_ex`` returns ``ECONNREFUSED``).

A refusal alone would not fail a test: the code under test is built to
survive a failed fetch (it dead-letters it, or keeps the feed's text), and a
worker thread or a subprocess may swallow it. So each refusal is also
appended, as one JSON line, to a log file; ``tests/conftest.py`` reads the
log after each test phase and fails the test that caused new lines, naming
the host. The same guard runs in every child Python process through the
``sitecustomize.py`` beside this file (the conftest puts this directory first
on ``PYTHONPATH``), with the log named by ``NEWSBEAM_NETGUARD_LOG``.

What it cannot see: a process started with ``-E``/``-I`` (no ``PYTHONPATH``)
or with an environment that drops these variables, non-Python programs, and
C libraries that resolve and connect on their own (gRPC's core, which Beam
only points at 127.0.0.1).
"""

from __future__ import annotations

import _socket
import contextlib
import errno
import ipaddress
import json
import os
import socket
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

#: The environment variable naming the log file; a child process installs the guard only when it is set.
ENV_LOG = "NEWSBEAM_NETGUARD_LOG"

#: The directory holding this guard and its ``sitecustomize.py``: what goes first on a child's ``PYTHONPATH``.
DIRECTORY = Path(__file__).resolve().parent

#: The module-level lookup functions of ``socket`` the guard wraps.
LOOKUPS = ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo")

#: The ``socket.socket`` methods that send to an address the guard wraps.
SENDS = ("connect", "connect_ex", "sendto")

#: Frames of these files are left out of the "where" of a refusal: they are the plumbing, not the caller.
_PLUMBING = (os.sep + "socket.py", os.sep + "newsbeam_netguard.py")


def hosts_file_loopback_names(path: str = "/etc/hosts") -> frozenset[str]:
    """Lower-cased names the hosts file maps to loopback addresses only: the resolver answers them without DNS.

    A name listed with any other address as well is left out (its lookup
    could hand back that address). A missing or unreadable file gives none.
    """
    addresses: dict[str, set[str]] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return frozenset()
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        for name in fields[1:]:
            addresses.setdefault(name.lower(), set()).add(fields[0])
    return frozenset(name for name, found in addresses.items() if all(_stays_here(a) for a in found))


def _stays_here(address: str) -> bool:
    """Whether an IP address is this machine: loopback, or the unspecified address (a bind, or 'this host')."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def _numeric(host: str) -> Optional[list[str]]:
    """The addresses ``host`` stands for when the resolver reads it as a number (``127.1``, ``0x7f000001``), else None.

    Asked of the C resolver with ``AI_NUMERICHOST``, which never looks
    anything up, so the guard reads a host exactly as the real lookup would.
    """
    try:
        infos = _socket.getaddrinfo(host, None, 0, 0, 0, _socket.AI_NUMERICHOST)
    except (OSError, UnicodeError, ValueError):
        return None
    return sorted({str(info[4][0]) for info in infos})


def _text(host: Any) -> Any:
    if isinstance(host, (bytes, bytearray)):
        return bytes(host).decode("ascii", "replace")
    return host


class NetGuard:
    """Refusal rules for lookups and addresses, the patches that enforce them, and the log they write to.

    ``log_path`` is the file each refusal is appended to (one JSON line);
    ``loopback_names`` are the names besides ``localhost`` that may be looked
    up (``hosts_file_loopback_names()``). ``enabled`` is cleared to let a test
    that is marked for it through unguarded.
    """

    def __init__(self, log_path: str, loopback_names: frozenset[str] = frozenset()) -> None:
        self.log_path = log_path
        self.loopback_names = loopback_names | {"localhost"}
        self.enabled = True

    # -- the rules ---------------------------------------------------------

    def lookup_refusal(self, host: Any, flags: int = 0) -> Optional[str]:
        """Why looking ``host`` up could leave the machine, or None when it cannot."""
        host = _text(host)
        if host is None or host == "" or flags & socket.AI_NUMERICHOST:
            return None
        if not isinstance(host, str):
            return f"{host!r} is not a host name"
        numeric = _numeric(host)
        if numeric is not None:
            outside = [a for a in numeric if not _stays_here(a)]
            if not outside:
                return None
            return f"{host} is not a loopback address" if outside == [host] else f"{host} is {outside[0]}, not loopback"
        if host.lower() in self.loopback_names:
            return None
        return f"{host} is a name the resolver would ask DNS for (only loopback is allowed in tests)"

    def address_refusal(self, family: int, address: Any) -> Optional[str]:
        """Why sending to ``address`` (of socket family ``family``) could leave the machine, or None when it cannot."""
        if family not in (socket.AF_INET, socket.AF_INET6):
            return None
        host = _text(address[0] if isinstance(address, tuple) and address else address)
        if not isinstance(host, str):
            return f"{address!r} is not an address"
        numeric = _numeric(host)
        if numeric is None:  # a name: connect() resolves it itself
            return self.lookup_refusal(host)
        outside = [a for a in numeric if not _stays_here(a)]
        return f"{host} is not a loopback address" if outside else None

    def reverse_refusal(self, address: Any, numeric_only: bool = False) -> Optional[str]:
        """Why a reverse lookup (address to name) could leave the machine, or None when it cannot."""
        host = _text(address)
        if numeric_only:
            return None
        numeric = _numeric(host) if isinstance(host, str) else None
        if numeric is not None:
            return None if all(_stays_here(a) for a in numeric) else f"reverse lookup of {host} asks DNS"
        return self.lookup_refusal(host)

    # -- the record --------------------------------------------------------

    def record(self, what: str, target: str, reason: str) -> None:
        """Appends one refusal to the log: what was tried, where to, why refused, by which program and code."""
        frames = [f for f in traceback.extract_stack()[:-2] if not f.filename.endswith(_PLUMBING)]
        ours = [f for f in frames if _is_ours(f.filename)]  # the project's own frames say who asked
        frames = ours[-3:] + [f for f in frames[-1:] if f not in ours[-3:]]
        entry = {
            "pid": os.getpid(),
            "what": what,
            "target": target,
            "reason": reason,
            "program": " ".join(sys.argv)[:300],
            "where": [f"{f.filename}:{f.lineno} {f.name}" for f in frames],
        }
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            descriptor = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as error:  # the session that named the log is over: the refusal itself still stands
            sys.stderr.write(f"netguard: refused {what} {target} ({reason}); log {self.log_path}: {error}\n")
            return
        try:
            os.write(descriptor, line)  # one write in append mode: lines from many processes do not interleave
        finally:
            os.close(descriptor)

    # -- the patches -------------------------------------------------------

    def _lookup_wrappers(self, originals: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
        guard = self

        def refuse_lookup(host: Any, reason: str) -> None:
            guard.record("lookup", str(_text(host)), reason)
            raise socket.gaierror(socket.EAI_NONAME, f"netguard: {reason}")

        def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> Any:
            reason = guard.lookup_refusal(host, flags) if guard.enabled else None
            if reason:
                refuse_lookup(host, reason)
            return originals["getaddrinfo"](host, port, family, type, proto, flags)

        def gethostbyname(host: Any) -> Any:
            reason = guard.lookup_refusal(host) if guard.enabled else None
            if reason:
                refuse_lookup(host, reason)
            return originals["gethostbyname"](host)

        def gethostbyname_ex(host: Any) -> Any:
            reason = guard.lookup_refusal(host) if guard.enabled else None
            if reason:
                refuse_lookup(host, reason)
            return originals["gethostbyname_ex"](host)

        def gethostbyaddr(host: Any) -> Any:
            reason = guard.reverse_refusal(host) if guard.enabled else None
            if reason:
                guard.record("reverse lookup", str(_text(host)), reason)
                raise socket.herror(1, f"netguard: {reason}")
            return originals["gethostbyaddr"](host)

        def getnameinfo(sockaddr: Any, flags: int) -> Any:
            host = sockaddr[0] if isinstance(sockaddr, tuple) and sockaddr else sockaddr
            reason = guard.reverse_refusal(host, bool(flags & socket.NI_NUMERICHOST)) if guard.enabled else None
            if reason:
                guard.record("reverse lookup", str(_text(host)), reason)
                raise socket.gaierror(socket.EAI_NONAME, f"netguard: {reason}")
            return originals["getnameinfo"](sockaddr, flags)

        wrappers: dict[str, Callable[..., Any]] = {
            "getaddrinfo": getaddrinfo,
            "gethostbyname": gethostbyname,
            "gethostbyname_ex": gethostbyname_ex,
            "gethostbyaddr": gethostbyaddr,
            "getnameinfo": getnameinfo,
        }
        for name, wrapper in wrappers.items():
            wrapper.__doc__ = originals[name].__doc__
            wrapper.__wrapped__ = originals[name]  # type: ignore[attr-defined]
        return wrappers

    def _send_wrappers(self, originals: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
        guard = self

        def refusal(sock: socket.socket, address: Any, what: str) -> Optional[str]:
            if not guard.enabled:
                return None
            reason = guard.address_refusal(sock.family, address)
            if reason:
                guard.record(what, _describe(address), reason)
            return reason

        def connect(sock: socket.socket, address: Any) -> Any:
            reason = refusal(sock, address, "connect")
            if reason:
                raise ConnectionRefusedError(errno.ECONNREFUSED, f"netguard: {reason}")
            return originals["connect"](sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> Any:
            if refusal(sock, address, "connect"):
                return errno.ECONNREFUSED  # connect_ex reports errors as numbers, as a refused connection would
            return originals["connect_ex"](sock, address)

        def sendto(sock: socket.socket, data: Any, *rest: Any) -> Any:
            reason = refusal(sock, rest[-1], "sendto") if rest else None
            if reason:
                raise ConnectionRefusedError(errno.ECONNREFUSED, f"netguard: {reason}")
            return originals["sendto"](sock, data, *rest)

        return {"connect": connect, "connect_ex": connect_ex, "sendto": sendto}

    def install(self) -> Callable[[], None]:
        """Puts the guard under ``socket``; returns what takes it away (undo installs in reverse order)."""
        lookups = {name: getattr(socket, name) for name in LOOKUPS}
        sends = {name: getattr(socket.socket, name) for name in SENDS}
        own = {name for name in SENDS if name in vars(socket.socket)}  # the rest are inherited from _socket.socket
        for name, wrapper in self._lookup_wrappers(lookups).items():
            setattr(socket, name, wrapper)
        for name, wrapper in self._send_wrappers(sends).items():
            setattr(socket.socket, name, wrapper)

        def uninstall() -> None:
            for name, original in lookups.items():
                setattr(socket, name, original)
            for name, original in sends.items():
                if name in own:
                    setattr(socket.socket, name, original)
                else:
                    delattr(socket.socket, name)

        return uninstall

    @contextlib.contextmanager
    def active(self) -> Iterator[NetGuard]:
        """The guard installed for the block (over whatever guard is already there), then taken away."""
        uninstall = self.install()
        try:
            yield self
        finally:
            uninstall()


def _is_ours(filename: str) -> bool:
    """Whether a frame's file is the project's code or tests (not the venv, not the standard library)."""
    root = str(DIRECTORY.parent.parent) + os.sep
    return filename.startswith(root) and not filename.startswith(root + ".venv" + os.sep)


def _describe(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = _text(address[0])
        return f"[{host}]:{address[1]}" if isinstance(host, str) and ":" in host else f"{host}:{address[1]}"
    return str(_text(address))


def read_log(path: str, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The refusals logged at ``path`` from byte ``offset`` on (whole lines only), and the offset after them."""
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            data = log.read()
    except FileNotFoundError:
        return [], offset
    complete = data[: data.rfind(b"\n") + 1]  # a line still being written is read next time
    entries = []
    for line in complete.decode("utf-8", "replace").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            entries.append({"what": "?", "target": line, "reason": "unreadable log line"})
    return entries, offset + len(complete)


def describe(entries: list[dict[str, Any]]) -> str:
    """The refusals as lines a test failure shows: what, where to, why, from which process and code."""
    lines = []
    for entry in entries:
        where = " <- ".join(reversed(entry.get("where") or [])) or "?"
        lines.append(
            f"  {entry.get('what')} {entry.get('target')}: {entry.get('reason')}"
            f" (pid {entry.get('pid')}, {entry.get('program')!r}; at {where})"
        )
    return "\n".join(lines)


def install_from_environment() -> Optional[NetGuard]:
    """Installs the guard when ``NEWSBEAM_NETGUARD_LOG`` names a log (as in every child of a test run); else None."""
    log = os.environ.get(ENV_LOG)
    if not log:
        return None
    guard = NetGuard(log, hosts_file_loopback_names())
    guard.install()
    return guard
