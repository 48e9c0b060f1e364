"""Real pages in real headless Chromium, against the real daemon as a child process.

Selenium blocks, so everything here is synchronous: the daemon runs under
`subprocess.Popen` (restartable on the same port and database, to drop every
page's connection), the workshop is set up with the command line (in-process
through click's runner, so no interpreter start per command), and every wait
is a `WebDriverWait` on a DOM condition with a bounded timeout.

The pages expose their state for tests as data-* attributes (see
`pairwise_ws/web/`): `body[data-status]` (connecting, connected,
reconnecting, stopped), `body[data-view]`, `#pair[data-comparison-id]`,
`.choice-btn[data-vote-state]` (none, pending, saved), `#moment[data-consensus]`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import attrs
from click.testing import CliRunner
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from pairwise_ws.cli import cli
from tests.daemon import LISTENING, START_TIMEOUT_S, cli_command

T = TypeVar("T")

WAIT_S = 10.0  # a page reacting to something (a vote, a message)
RECONNECT_WAIT_S = 20.0  # a page finding a restarted daemon (backoff up to 10 s)
STOP_TIMEOUT_S = 8.0
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMEDRIVER_NAMES = ("chromedriver", "chromium-driver")
INSTALL_HINT = (
    "the page tests need headless Chromium and its driver: "
    "`apt-get install chromium chromium-driver` (Debian/Ubuntu; `make test` installs them)"
)
# Console messages that mean a page is broken (a blocked script or style, a crash).
PAGE_PROBLEMS = ("Content Security Policy", "Uncaught", "SyntaxError", "is not defined")


# --- the workshop ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@attrs.frozen
class Place:
    """Where workshops live: a database, and a config naming the daemon's port."""

    db: str
    config: str
    port: int


def new_place(folder: Path) -> Place:
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = folder / "pairwise.toml"
    config.write_text(f'[server]\nhost = "127.0.0.1"\nport = {port}\n', encoding="utf-8")
    return Place(db=str(folder / "workshop.db"), config=str(config), port=port)


@attrs.frozen
class Person:
    id: int
    name: str
    token: str
    join_url: str


@attrs.frozen
class Pair:
    id: int
    position: int
    a: int
    b: int


@attrs.frozen
class Workshop:
    db: str
    config: str
    port: int
    project_id: int
    facilitator_token: str
    features: dict[int, str]  # id -> title
    attendees: tuple[Person, ...]
    session_id: int
    comparisons: tuple[Pair, ...]  # in position order
    join_url: str | None = None  # the self-registration link, with its code

    @property
    def place(self) -> Place:
        return Place(self.db, self.config, self.port)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def session_path(self) -> str:
        return f"/projects/{self.project_id}/sessions/{self.session_id}"

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def facilitator_url(self) -> str:
        return self.url(
            f"{self.session_path}/facilitator?facilitator_token={self.facilitator_token}"
        )

    def title(self, feature_id: int) -> str:
        return self.features[feature_id]

    def pair(self, comparison_id: int) -> Pair:
        return next(c for c in self.comparisons if c.id == comparison_id)

    def cli(self, *args: str) -> dict[str, Any]:
        return cli_json(self.db, self.config, *args)

    def add_attendee(self, name: str) -> Person:
        added = self.cli("attendee", "add", str(self.project_id), name)
        return Person(added["id"], added["name"], added["token"], added["join_url"])


def cli_json(db: str, config: str, *args: str) -> dict[str, Any]:
    """`pairwise-ws --db DB --config CONFIG ARGS --json`: exactly one JSON object."""
    result = CliRunner().invoke(
        cli, ["--db", db, "--config", config, *args, "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert isinstance(payload, dict), result.stdout
    return payload


def make_workshop(
    place: Place,
    *,
    name: str = "Roadmap workshop",
    features: tuple[str, ...],
    attendees: tuple[str, ...],
    session_options: tuple[str, ...] = (),
) -> Workshop:
    """A project, its features and attendees and one session, with the command line."""
    db, config = place.db, place.config
    project = cli_json(db, config, "project", "create", name)
    pid = str(project["id"])
    titles = {}
    for title in features:
        added = cli_json(db, config, "feature", "add", pid, title)
        titles[int(added["id"])] = str(added["title"])
    people = []
    for person in attendees:
        added = cli_json(db, config, "attendee", "add", pid, person)
        people.append(Person(added["id"], added["name"], added["token"], added["join_url"]))
    session = cli_json(db, config, "session", "create", pid, *session_options)
    pairs = sorted(
        (
            Pair(c["id"], c["position"], c["feature_a_id"], c["feature_b_id"])
            for c in session["comparisons"]
        ),
        key=lambda pair: pair.position,
    )
    return Workshop(
        db=db,
        config=config,
        port=place.port,
        project_id=int(project["id"]),
        facilitator_token=str(project["facilitator_token"]),
        features=titles,
        attendees=tuple(people),
        session_id=int(session["id"]),
        comparisons=tuple(pairs),
        join_url=session["join_url"],
    )


# --- the daemon -----------------------------------------------------------------------------


class SyncDaemon:
    """`pairwise-ws serve` for a place, as a child process; can be killed and restarted."""

    def __init__(self, place: Place) -> None:
        self.place = place
        self.process: subprocess.Popen[bytes] | None = None
        self.log: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for name in ("PAIRWISE_WS_DB", "PAIRWISE_WS_CONFIG"):
            env.pop(name, None)
        process = subprocess.Popen(
            cli_command(self.place.db, "--config", self.place.config, "serve"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.process = process
        ready = threading.Event()
        self._reader = threading.Thread(target=self._read, args=(process, ready), daemon=True)
        self._reader.start()
        if not ready.wait(START_TIMEOUT_S) or process.poll() is not None:
            self.kill()
            raise AssertionError("the daemon did not start:\n" + "".join(self.log[-30:]))
        port = int(LISTENING.search("".join(self.log).encode())[1])  # type: ignore[index]
        assert port == self.place.port, f"the daemon listens on {port}, not {self.place.port}"

    def _read(self, process: subprocess.Popen[bytes], ready: threading.Event) -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            line = raw.decode("utf-8", "replace")
            self.log.append(line)
            if LISTENING.search(raw):
                ready.set()
        ready.set()  # ended: start() looks at poll()

    def kill(self) -> None:
        """SIGKILL: every connection drops with no close frame, like a crash or a lost Wi-Fi."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT_S)
        self._join()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)
        self._join()

    def _join(self) -> None:
        if self._reader is not None:
            self._reader.join(STOP_TIMEOUT_S)
            self._reader = None
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()


@contextmanager
def running(place: Place) -> Iterator[SyncDaemon]:
    daemon = SyncDaemon(place)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


@contextmanager
def serving(folder: Path, attempts: int = 3) -> Iterator[tuple[Place, SyncDaemon]]:
    """A new place and its daemon; another port if something took the free one meanwhile."""
    for attempt in range(attempts):
        place = new_place(folder / f"try{attempt}")
        daemon = SyncDaemon(place)
        try:
            daemon.start()
        except AssertionError:
            if attempt + 1 == attempts:
                raise
            continue
        try:
            yield place, daemon
        finally:
            daemon.stop()
        return


# --- the browser ------------------------------------------------------------------------------


def _which(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_paths() -> tuple[str, str]:
    """(browser, driver); AssertionError with how to install them if either is missing."""
    browser = _which(CHROMIUM_NAMES)
    driver = _which(CHROMEDRIVER_NAMES)
    missing = [name for name, path in (("chromium", browser), ("chromedriver", driver)) if not path]
    if browser is None or driver is None:
        raise AssertionError(f"{' and '.join(missing)} not found on PATH: {INSTALL_HINT}")
    return browser, driver


def new_driver(width: int = 1280, height: int = 900) -> webdriver.Chrome:
    browser, driver = chromium_paths()
    options = Options()
    options.binary_location = browser
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-extensions",
        "--no-first-run",
        "--disable-renderer-backgrounding",
        "--disable-background-timer-throttling",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        return webdriver.Chrome(service=Service(driver), options=options)
    except WebDriverException as exc:
        raise AssertionError(f"Chromium did not start ({exc.msg}); {INSTALL_HINT}") from None


IGNORED = (NoSuchElementException, StaleElementReferenceException)


class Browser:
    """One browser window and the waits the tests use."""

    def __init__(self, driver: webdriver.Chrome) -> None:
        self.driver = driver

    def open(self, url: str) -> None:
        self.driver.get(url)

    def reset(self, width: int = 1280, height: int = 900) -> None:
        """A blank page and this window size (each test's daemon has a new origin)."""
        self.driver.get("about:blank")
        self.driver.set_window_size(width, height)
        self.problems()  # drop the last test's console

    def el(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def els(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def data(self, css: str, name: str) -> str | None:
        return self.el(css).get_attribute(f"data-{name}")

    @property
    def status(self) -> str | None:
        return self.data("body", "status")

    @property
    def view(self) -> str | None:
        return self.data("body", "view")

    def wait(
        self, what: str, condition: Callable[[WebDriver], T | None], timeout: float = WAIT_S
    ) -> T:
        """Wait until `condition` is truthy; on timeout, fail saying what and where."""

        def ready(driver: WebDriver) -> T | Literal[False]:
            found = condition(driver)
            return False if found is None else found

        waiting: WebDriverWait[WebDriver] = WebDriverWait(
            self.driver, timeout, poll_frequency=0.05, ignored_exceptions=IGNORED
        )
        try:
            return waiting.until(ready)
        except TimeoutException:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what}\n{self.describe()}"
            ) from None

    def wait_data(self, css: str, name: str, value: str, timeout: float = WAIT_S) -> WebElement:
        def check(driver: WebDriver) -> WebElement | None:
            found = driver.find_element(By.CSS_SELECTOR, css)
            return found if found.get_attribute(f"data-{name}") == value else None

        return self.wait(f"{css}[data-{name}={value!r}]", check, timeout)

    def wait_status(self, status: str, timeout: float = WAIT_S) -> None:
        self.wait_data("body", "status", status, timeout)

    def wait_view(self, view: str, timeout: float = WAIT_S) -> None:
        self.wait_data("body", "view", view, timeout)

    def wait_text(self, css: str, text: str, timeout: float = WAIT_S) -> WebElement:
        def check(driver: WebDriver) -> WebElement | None:
            found = driver.find_element(By.CSS_SELECTOR, css)
            return found if found.is_displayed() and found.text == text else None

        return self.wait(f"{css} to show {text!r}", check, timeout)

    def wait_visible(self, css: str, timeout: float = WAIT_S) -> WebElement:
        def check(driver: WebDriver) -> WebElement | None:
            found = driver.find_element(By.CSS_SELECTOR, css)
            return found if found.is_displayed() else None

        return self.wait(f"{css} to be visible", check, timeout)

    def problems(self) -> list[str]:
        """Console messages since the last call that mean the page is broken."""
        entries: list[dict[str, Any]] = self.driver.get_log("browser")  # type: ignore[no-untyped-call]
        return [
            str(entry.get("message"))
            for entry in entries
            if any(problem in str(entry.get("message")) for problem in PAGE_PROBLEMS)
        ]

    def describe(self) -> str:
        try:
            body = self.driver.execute_script(
                "const b = document.body; return b ? JSON.stringify(b.dataset) + ' ' + "
                "b.innerText.slice(0, 600) : 'no body'"
            )
        except WebDriverException as exc:
            body = f"(page not readable: {exc.msg})"
        return f"at {self.driver.current_url}: {body}"


def active_element_id(browser: Browser) -> str:
    active = browser.driver.switch_to.active_element
    return active.get_attribute("id") or ""
