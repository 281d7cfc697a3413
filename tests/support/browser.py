"""Headless Chromium for page tests: plain runs (--dump-dom, --screenshot) and a page driven
over the DevTools protocol on a pipe (fds 3 and 4, no port, no extra package) at a chosen
width and colour scheme, to measure the layout and take full-page screenshots."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
# Resolves once every image on the page has loaded or failed (the charts are <img>s).
IMAGES_DONE = (
    "Promise.all([...document.images].map(i => i.complete ? 1 : "
    "new Promise(r => { i.onload = i.onerror = r; })))"
)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """One plain headless Chromium run with its own profile."""
    profile = tmp_path / f"profile-{time.monotonic_ns()}"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
    )


class Page:
    """One tab of a headless Chromium driven over --remote-debugging-pipe."""

    def __init__(self, profile: Path, timeout: float = 60.0) -> None:
        to_browser, self._writer = os.pipe()
        self._reader, from_browser = os.pipe()

        def wire() -> None:  # in the child: the protocol expects its pipe on fds 3 and 4
            os.dup2(to_browser, 100)
            os.dup2(from_browser, 101)
            os.dup2(100, 3)
            os.dup2(101, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={profile}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=wire,
        )
        os.close(to_browser)
        os.close(from_browser)
        self.timeout, self._next, self._buffer, self.events = timeout, 0, b"", []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.call("Page.enable", session=True)

    def _send(self, message: dict) -> None:
        os.write(self._writer, json.dumps(message).encode() + b"\0")

    def _receive(self) -> dict:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._reader, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed its pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: bool = False, **params) -> dict:
        """Send one command (to the tab when `session`) and return its result."""
        self._next += 1
        message = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        self._send(message)
        while True:
            reply = self._receive()
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, event: str) -> None:
        """Until the tab reports `event` (one already received counts)."""
        while True:
            for i, seen in enumerate(self.events):
                if seen.get("method") == event:
                    del self.events[: i + 1]
                    return
            self.events.append(self._receive())

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call(
            "Runtime.evaluate",
            session=True,
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str, width: int, scheme: str, height: int = 900) -> None:
        """Load `url` in a `width` px viewport with prefers-color-scheme `scheme`, then let
        every image load."""
        self.size(width, height)
        features = [{"name": "prefers-color-scheme", "value": scheme}]
        self.call("Emulation.setEmulatedMedia", session=True, features=features)
        self.events.clear()
        self.call("Page.navigate", session=True, url=url)
        self.wait_for("Page.loadEventFired")
        self.size(width, self.evaluate("document.scrollingElement.scrollHeight"))
        self.evaluate(IMAGES_DONE)

    def size(self, width: int, height: int) -> None:
        """The viewport's size in CSS pixels (a desktop, not a phone's zoomed viewport)."""
        self.call(
            "Emulation.setDeviceMetricsOverride",
            session=True,
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def screenshot(self, path: Path) -> bytes:
        """The whole page as a PNG, written to `path`."""
        self.size(
            self.evaluate("innerWidth"), self.evaluate("document.scrollingElement.scrollHeight")
        )
        data = base64.b64decode(self.call("Page.captureScreenshot", session=True)["data"])
        path.write_bytes(data)
        return data

    def close(self) -> None:
        """End the browser."""
        with contextlib.suppress(OSError):  # already gone
            self._send({"id": 0, "method": "Browser.close", "params": {}})
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._writer)
        os.close(self._reader)
