"""A real headless Chromium for the page checks, driven through ChromeDriver's W3C WebDriver API
(plain HTTP and JSON: no client library). Debian's packages `chromium` and `chromium-driver`
provide both; where either is missing, `browser()` skips the test."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Flags for a closed network: no background connections, no first-run work, no sandbox (root).
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    def __init__(self, url: str, session: str) -> None:
        self.url, self.session = url, session

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}/session/{self.session}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["value"]

    def open(self, url: str) -> None:
        self.call("POST", "/url", {"url": url})

    def run(self, script: str) -> Any:
        """The value of a script's `return` in the page."""
        return self.call("POST", "/execute/sync", {"script": script, "args": []})

    def wait_for(self, script: str, seconds: float = 30.0) -> Any:
        deadline = time.monotonic() + seconds
        while True:
            value = self.run(script)
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.25)

    def console(self) -> list[dict[str, Any]]:
        """The page's console messages since the last call (level, message)."""
        return self.call("POST", "/se/log", {"type": "browser"})

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("GET", "/screenshot")))


@contextlib.contextmanager
def browser(tmp_path: Path) -> Iterator[Browser]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("no headless browser here (Debian: apt-get install chromium chromium-driver)")
    port = _free_port()
    process = subprocess.Popen(
        [driver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/status", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        capabilities = {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [*FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }
        request = urllib.request.Request(
            f"{url}/session",
            data=json.dumps({"capabilities": {"alwaysMatch": capabilities}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            session = json.loads(response.read())["value"]["sessionId"]
        page = Browser(url, session)
        try:
            yield page
        finally:
            with contextlib.suppress(OSError):
                page.call("DELETE", "")
    finally:
        process.terminate()
        process.wait(timeout=10)
