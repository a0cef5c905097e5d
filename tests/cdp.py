"""Headless Chromium driven over the DevTools protocol: a page as a person's browser shows it.

Selenium cannot be installed next to newsbeam's pins, and a WebDriver adds
nothing a test here needs: the DevTools protocol (CDP) over one WebSocket
gives the console, uncaught exceptions, the log, every network request,
the viewport, JavaScript evaluation and screenshots. Chromium is started
with ``--remote-debugging-port=0`` in a fresh ``--user-data-dir``; the port
it picked (on 127.0.0.1) is read from the ``DevToolsActivePort`` file it
writes there, so parallel browsers never race for a port.

Usage::

    with Browser() as browser:
        page = browser.open_page(width=390, height=844, mobile=True)
        page.goto(Path("report.html").as_uri())
        page.evaluate("document.title")
        png = page.screenshot()
        page.problems  # console errors, exceptions, log errors, non-file requests
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from websockets.sync.client import ClientConnection, connect

#: Where Debian's package puts it; CHROMIUM overrides.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
#: Everything that would make Chromium reach the network by itself (updates, sync, metrics, safe browsing).
QUIET_FLAGS = (
    "--headless=new",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--metrics-recording-only",
    "--safebrowsing-disable-auto-update",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider",
    "--hide-scrollbars",
    "--mute-audio",
    "--disable-gpu",
    "--remote-allow-origins=*",
)


def chromium_path() -> Optional[str]:
    """The Chromium binary to drive, or None when there is none (the test then skips and says so)."""
    override = os.environ.get("CHROMIUM")
    if override:
        return override if shutil.which(override) or os.path.isfile(override) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class Page:
    """One tab, attached through a flat CDP session; collects what a person would call a problem."""

    def __init__(self, browser: Browser, session: str):
        self.browser = browser
        self.session = session
        self.console: list[dict[str, Any]] = []
        self.exceptions: list[dict[str, Any]] = []
        self.log: list[dict[str, Any]] = []
        self.requests: list[str] = []
        self.loaded = False

    def send(self, method: str, params: Optional[dict[str, Any]] = None, timeout: float = 30.0) -> dict[str, Any]:
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled":
            self.console.append(params)
        elif method == "Runtime.exceptionThrown":
            self.exceptions.append(params)
        elif method == "Log.entryAdded":
            self.log.append(params.get("entry", {}))
        elif method == "Network.requestWillBeSent":
            self.requests.append(params.get("request", {}).get("url", ""))
        elif method == "Page.loadEventFired":
            self.loaded = True

    def goto(self, url: str, timeout: float = 30.0) -> None:
        self.loaded = False
        self.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while not self.loaded:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not finish loading in {timeout:.0f} s")
            self.browser.pump(0.2)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serialisable values only)."""
        reply = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in reply:
            raise RuntimeError(f"evaluating {expression[:80]!r}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self, full_page: bool = False) -> bytes:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params.update(
                captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
            )
        return base64.b64decode(self.send("Page.captureScreenshot", params, timeout=60)["data"])

    @property
    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions, log errors, and any request that left the file."""
        found = [
            f"console.{c.get('type')}: {[a.get('value', a.get('description')) for a in c.get('args', [])]}"
            for c in self.console
            if c.get("type") in ("error", "warning", "assert")
        ]
        found += [f"exception: {e.get('exceptionDetails', {}).get('text')}" for e in self.exceptions]
        found += [
            f"log {e.get('level')}: {e.get('text')} {e.get('url', '')}"
            for e in self.log
            if e.get("level") in ("error", "warning")
        ]
        found += [f"request: {url}" for url in self.requests if not url.startswith(("file:", "data:", "about:"))]
        return found


class Browser:
    """A headless Chromium process and its browser-level CDP connection (a context manager)."""

    def __init__(self, binary: Optional[str] = None):
        found = binary or chromium_path()
        if found is None:
            raise FileNotFoundError("no chromium on PATH")
        self.binary = found
        self.profile = tempfile.mkdtemp(prefix="newsbeam-chromium-")
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.connection: Optional[ClientConnection] = None
        self.pages: dict[str, Page] = {}
        self._next_id = 0
        self._replies: dict[int, dict[str, Any]] = {}

    def __enter__(self) -> Browser:
        args = [self.binary, *QUIET_FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-address=127.0.0.1"]
        args += ["--remote-debugging-port=0", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run its sandbox as root (containers, CI)
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"chromium exited ({self.process.returncode}): {error[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError("chromium wrote no DevToolsActivePort in 30 s")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self.connection = connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=30)
        return self

    def __exit__(self, *_: object) -> None:
        if self.connection is not None:
            try:
                self.send("Browser.close", timeout=5)
            except Exception:  # noqa: BLE001 - closing anyway below
                pass
            self.connection.close()
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            if self.process.stderr:
                self.process.stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def pump(self, timeout: float) -> None:
        """Reads one message (a reply or an event) if one comes within ``timeout`` seconds."""
        assert self.connection is not None
        try:
            raw = self.connection.recv(timeout=timeout)
        except TimeoutError:
            return
        message = json.loads(raw)
        if "id" in message:
            self._replies[message["id"]] = message
        elif message.get("sessionId") in self.pages:
            self.pages[message["sessionId"]].on_event(message["method"], message.get("params", {}))

    def send(
        self, method: str, params: Optional[dict[str, Any]] = None, session: Optional[str] = None, timeout: float = 30.0
    ) -> dict[str, Any]:
        assert self.connection is not None
        self._next_id += 1
        number = self._next_id
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.connection.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while number not in self._replies:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no reply to {method} in {timeout:.0f} s")
            self.pump(0.5)
        reply = self._replies.pop(number)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def open_page(self, width: int, height: int, mobile: bool = False, scale: float = 1.0) -> Page:
        """A new tab at a device size, with the console, log, network and page events on."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        self.pages[session] = page
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.send(f"{domain}.enable")
        page.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile},
        )
        return page
