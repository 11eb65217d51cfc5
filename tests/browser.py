"""Headless Chromium driven through the Chrome DevTools Protocol: just enough to open a page, evaluate
JavaScript in it and see what it requested or tried to alert (tests only; one websocket, no extra package)."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--mute-audio",
         "--window-size=1400,1000",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]   # names resolve to nothing: the page can reach 127.0.0.1 only


def chromium_path() -> str | None:
    """Debian's `chromium` (or another Chromium on PATH), None when there is none."""
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


class CDPError(RuntimeError):
    """A DevTools command answered with an error, or a page did not get where a test waited for."""


class Page:
    """One tab. Every event it sends is kept in `events` (requests, dialogs, console messages)."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser, self.session = browser, session
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        return self.browser.send(method, params, session=self.session)

    def goto(self, url: str) -> None:
        """Navigate and forget what the previous page did."""
        self.events.clear()
        answer = self.send("Page.navigate", url=url)
        if answer.get("errorText"):
            raise CDPError(f"{url}: {answer['errorText']}")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        answer = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in answer:
            raise CDPError(f"{expression[:80]}: {answer['exceptionDetails'].get('text')}")
        return answer["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0) -> Any:
        """Poll an expression until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                text = self.evaluate("document.body ? document.body.innerText.slice(0, 500) : ''")
                raise CDPError(f"timed out after {timeout:g} s waiting for {expression[:120]!r}; page says {text!r}")
            self.browser.pump(0.1)

    def requested(self) -> list[str]:
        """URLs the page requested since it was opened."""
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]

    def dialogs(self) -> list[str]:
        """Messages of alert/confirm/prompt dialogs the page opened (each dismissed at once)."""
        return [e["params"]["message"] for e in self.events if e["method"] == "Page.javascriptDialogOpening"]


class Browser:
    """A headless Chromium process and its DevTools websocket (`--remote-debugging-port=0`: the port it
    picked is read from DevToolsActivePort in its profile directory)."""

    def __init__(self, executable: str, profile: Path) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        self.log = profile.parent / f"{profile.name}.log"   # a file, not a pipe: a full pipe would stall it
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([executable, *FLAGS, "--remote-debugging-port=0",
                                             f"--user-data-dir={profile}", "about:blank"],
                                            stdout=subprocess.DEVNULL, stderr=log)
        port, path = self._endpoint(profile / "DevToolsActivePort")
        from websockets.sync.client import connect

        self.ws = connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=10)
        self.ids = itertools.count(1)
        self.pages: dict[str, Page] = {}

    def _endpoint(self, file: Path, timeout: float = 30.0) -> tuple[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CDPError(f"chromium exited with {self.process.returncode}: "
                               f"{self.log.read_text(errors='replace')[-2000:]}")
            lines = file.read_text().split("\n") if file.exists() else []
            if len(lines) >= 2 and lines[1]:
                return lines[0], lines[1]
            time.sleep(0.05)
        raise CDPError(f"chromium wrote no {file.name} in {timeout:g} s")

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None,
             timeout: float = 30.0) -> dict[str, Any]:
        """Send one command and read messages until its answer comes (events on the way are dispatched)."""
        ident = next(self.ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError(f"no answer to {method} in {timeout:g} s")
            reply = self._receive(left)
            if reply is not None and reply.get("id") == ident:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def pump(self, seconds: float) -> None:
        """Dispatch the events that arrive within `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._receive(left)

    def _receive(self, timeout: float) -> dict[str, Any] | None:
        try:
            message = json.loads(self.ws.recv(timeout=timeout))
        except TimeoutError:
            return None
        page = self.pages.get(message.get("sessionId", ""))
        if page is not None and "method" in message:
            page.events.append(message)
            if message["method"] == "Page.javascriptDialogOpening":   # a blocked page answers nothing else
                self.ws.send(json.dumps({"id": next(self.ids), "sessionId": page.session,
                                         "method": "Page.handleJavaScriptDialog", "params": {"accept": False}}))
        return message

    def new_page(self) -> Page:
        """A fresh tab with the Page, Runtime and Network domains on."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = self.pages[session] = Page(self, session)
        for domain in ("Page", "Runtime", "Network"):
            page.send(f"{domain}.enable")
        return page

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:   # noqa: BLE001 (already gone: the process is reaped below either way)
            pass
        self.ws.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def chromium(profile: Path, executable: str | None = None) -> Iterator[Browser]:
    """A headless Chromium for the duration of the block."""
    exe = executable or chromium_path()
    if exe is None:
        raise CDPError("no chromium on PATH")
    browser = Browser(exe, profile)
    try:
        yield browser
    finally:
        browser.close()
