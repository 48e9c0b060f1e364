"""Screenshots of the pages, for docs/screenshots/.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Builds a demo workshop with the command line (six features, four attendees),
finishes a complexity session through the facilitator's WebSocket (so the
dashboard has the combined value/complexity view), then plays part of a value
session: three attendees vote from small WebSocket clients and the fourth from
a real page in headless Chromium, which reaches a consensus on screen. Then it
saves the attendee page and the dashboard at phone (390x844) and laptop
(1366x900) sizes, the projector view at 1366x768 and the join page.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from selenium import webdriver
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Message,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import (  # noqa: E402  (after the path)
    Browser,
    Person,
    SyncDaemon,
    Workshop,
    cli_json,
    free_port,
    new_driver,
)

FEATURES = (
    ("Offline mode", "Use the app without a connection; changes sync when you are back."),
    ("Single sign-on", "Log in with the company account (SAML or OpenID Connect)."),
    ("In-app search", "Search across projects, tasks and comments."),
    ("Push notifications", "Alerts for mentions, deadlines and replies."),
    ("Dark theme", "A dark colour scheme that follows the system setting."),
    ("CSV export", "Download any list as a spreadsheet."),
)
ATTENDEES = ("Ada Lovelace", "Grace Hopper", "Linus Torvalds", "Margaret Hamilton")
# How the group sees each feature (higher wins); one attendee disagrees now and then.
VALUE = {"Offline mode": 6, "Single sign-on": 5, "In-app search": 4, "Push notifications": 3}
VALUE |= {"Dark theme": 2, "CSV export": 1}
COMPLEXITY = {"Offline mode": 6, "Single sign-on": 5, "In-app search": 4, "Push notifications": 3}
COMPLEXITY |= {"CSV export": 1, "Dark theme": 2}
TIMEOUT_S = 10.0

PHONE = (390, 844)
LAPTOP = (1366, 900)
PROJECTOR = (1366, 768)


# --- a small synchronous WebSocket client (wsproto over a socket) ---------------------------


class Client:
    """One WebSocket connection to the daemon, read only when asked to."""

    def __init__(self, port: int, target: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.inbox: list[dict[str, Any]] = []
        self._text = ""
        self._accepted = False
        self.closed = False
        self.sock.sendall(self.ws.send(Request(host=f"127.0.0.1:{port}", target=target)))
        deadline = time.monotonic() + TIMEOUT_S
        while not self._accepted:
            if time.monotonic() > deadline or self.closed:
                raise RuntimeError(f"no WebSocket at {target}")
            self._pump()

    def _pump(self, timeout: float = TIMEOUT_S) -> None:
        self.sock.settimeout(timeout)
        data = self.sock.recv(65536)
        self.ws.receive_data(data or None)
        for event in self.ws.events():
            if isinstance(event, AcceptConnection):
                self._accepted = True
            elif isinstance(event, RejectConnection):
                self.closed = True
            elif isinstance(event, TextMessage):
                self._text += event.data
                if event.message_finished:
                    self.inbox.append(json.loads(self._text))
                    self._text = ""
            elif isinstance(event, Ping):
                self.sock.sendall(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.closed = True
        if not data:
            self.closed = True

    def send(self, kind: str, data: dict[str, Any]) -> None:
        self.sock.sendall(self.ws.send(Message(data=json.dumps({"type": kind, "data": data}))))

    def wait_for(self, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            for index, message in enumerate(self.inbox):
                if match(message):
                    del self.inbox[: index + 1]
                    return message
            if self.closed or time.monotonic() > deadline:
                raise RuntimeError(f"expected message did not come; got {self.inbox[-3:]}")
            self._pump(max(0.05, deadline - time.monotonic()))

    def drain(self) -> None:
        """Read whatever has arrived (answers pings, keeps buffers small)."""
        self.sock.setblocking(False)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    self.closed = True
                    break
                self.ws.receive_data(data)
                for event in self.ws.events():
                    if isinstance(event, Ping):
                        self.sock.sendall(self.ws.send(event.response()))
        except BlockingIOError:
            pass
        finally:
            self.sock.setblocking(True)
        self.inbox.clear()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError, LocalProtocolError):
            self.sock.sendall(self.ws.send(CloseConnection(code=1000)))
        self.sock.close()


def session_target(workshop: Workshop, session_id: int, query: dict[str, str | int]) -> str:
    return f"/projects/{workshop.project_id}/sessions/{session_id}/ws?{urlencode(query)}"


def attendee_client(workshop: Workshop, session_id: int, person: Person) -> Client:
    query: dict[str, str | int] = {"attendee_id": person.id, "token": person.token}
    client = Client(workshop.port, session_target(workshop, session_id, query))
    client.wait_for(lambda m: m["type"] == "session_state")
    return client


def vote(client: Client, person: Person, comparison: dict[str, Any], choice: str) -> None:
    payload: dict[str, Any] = {"comparison_id": comparison["id"], "is_tie_vote": choice == "tie"}
    if choice != "tie":
        key = "feature_a_id" if choice == "a" else "feature_b_id"
        payload["preferred_feature_id"] = comparison[key]
    client.send("vote_submitted", {"vote": payload})
    client.wait_for(
        lambda m: (
            m["type"] == "vote_received"
            and m["data"]["comparison_id"] == comparison["id"]
            and m["data"]["attendee_id"] == person.id
        )
    )


def preferred(workshop: Workshop, comparison: dict[str, Any], scores: dict[str, int]) -> str:
    a = scores[workshop.title(comparison["feature_a_id"])]
    b = scores[workshop.title(comparison["feature_b_id"])]
    return "a" if a > b else "b"


# --- the workshop ----------------------------------------------------------------------------


def build(folder: Path) -> tuple[Workshop, list[dict[str, Any]], int]:
    """The project with a finished complexity session and a new value session."""
    port = free_port()
    db, config = str(folder / "demo.db"), folder / "demo.toml"
    config.write_text(f'[server]\nhost = "127.0.0.1"\nport = {port}\n', encoding="utf-8")
    project = cli_json(db, str(config), "project", "create", "Mobile app roadmap 2026")
    pid = str(project["id"])
    titles: dict[int, str] = {}
    for title, description in FEATURES:
        added = cli_json(
            db, str(config), "feature", "add", pid, title, "--description", description
        )
        titles[int(added["id"])] = title
    people = []
    for name in ATTENDEES:
        added = cli_json(db, str(config), "attendee", "add", pid, name)
        people.append(Person(added["id"], added["name"], added["token"], added["join_url"]))
    complexity = cli_json(db, str(config), "session", "create", pid, "--criterion", "complexity")
    workshop = Workshop(
        db=db,
        config=str(config),
        port=port,
        project_id=int(project["id"]),
        facilitator_token=str(project["facilitator_token"]),
        features=titles,
        attendees=tuple(people),
        session_id=int(complexity["id"]),
        comparisons=(),
    )
    return workshop, complexity["comparisons"], int(complexity["id"])


def message_is(kind: str, **data: Any) -> Callable[[dict[str, Any]], bool]:
    """A match for `Client.wait_for`: this type, with these values in `data`."""

    def match(message: dict[str, Any]) -> bool:
        return message["type"] == kind and all(message["data"].get(k) == v for k, v in data.items())

    return match


def finish_complexity(workshop: Workshop, comparisons: list[dict[str, Any]], sid: int) -> None:
    """The facilitator decides every pair (a fresh connection every 8: the rate limit)."""
    query: dict[str, str | int] = {"facilitator_token": workshop.facilitator_token}
    for start in range(0, len(comparisons), 8):
        client = Client(workshop.port, session_target(workshop, sid, query))
        client.wait_for(message_is("session_state"))
        for comparison in comparisons[start : start + 8]:
            winner = comparison[f"feature_{preferred(workshop, comparison, COMPLEXITY)}_id"]
            client.send(
                "facilitator_action",
                {"action": "decide", "comparison_id": comparison["id"], "winner_id": winner},
            )
            client.wait_for(message_is("consensus_reached", comparison_id=comparison["id"]))
        client.close()


# --- the browser ----------------------------------------------------------------------------


def phone(driver: webdriver.Chrome, scale: float = 1.0) -> None:
    """A phone's viewport, pixel density and touch screen."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": scale, "mobile": True},
    )
    driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True})


def screen(driver: webdriver.Chrome, size: tuple[int, int]) -> None:
    """A laptop's or a projector's viewport, with a mouse."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False},
    )
    driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": False})


def dark(driver: webdriver.Chrome, on: bool) -> None:
    """prefers-color-scheme: dark (or back to the default)."""
    features = [{"name": "prefers-color-scheme", "value": "dark" if on else ""}]
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": features})


def settle(browser: Browser) -> None:
    """Let transitions and the consensus animation finish before a screenshot."""
    browser.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "Promise.all(document.getAnimations().filter(a => a.effect && "
        "a.effect.getComputedTiming().iterations !== Infinity).map(a => a.finished))"
        ".then(() => requestAnimationFrame(() => requestAnimationFrame(done)), done);"
    )


def save(browser: Browser, out: Path, name: str) -> None:
    settle(browser)
    path = out / name
    browser.driver.save_screenshot(str(path))
    print(f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


class Shoot:
    """The demo, step by step, with the browsers it opened."""

    def __init__(self, workshop: Workshop, out: Path, scale: float) -> None:
        self.workshop = workshop
        self.out = out
        self.scale = scale  # device pixels per CSS pixel on the phone
        self.drivers: list[webdriver.Chrome] = []
        self.clients: list[Client] = []
        self.join_url = ""  # the value session's self-registration link

    def browser(self, size: tuple[int, int]) -> Browser:
        driver = new_driver(*size)
        self.drivers.append(driver)
        if size == PHONE:
            phone(driver, self.scale)
        else:
            screen(driver, size)
        return Browser(driver)

    def close(self) -> None:
        for driver in self.drivers:
            driver.quit()
        for client in self.clients:
            client.close()

    def page(self, sid: int, name: str, query: dict[str, str | int] | None = None) -> str:
        path = f"/projects/{self.workshop.project_id}/sessions/{sid}/{name}"
        return self.workshop.url(path + (f"?{urlencode(query)}" if query else ""))

    def value_session(self) -> tuple[int, list[dict[str, Any]]]:
        """A new value session; everybody settles its first five pairs."""
        w = self.workshop
        value = cli_json(
            w.db, w.config, "session", "create", str(w.project_id), "--rule", "majority"
        )
        sid = int(value["id"])
        self.join_url = str(value["join_url"])
        pairs = sorted(value["comparisons"], key=lambda c: c["position"])
        self.clients = [attendee_client(w, sid, person) for person in w.attendees]
        for index, pair in enumerate(pairs[:5]):
            for person, client in zip(w.attendees, self.clients, strict=True):
                choice = preferred(w, pair, VALUE)
                if person.name.startswith("Linus") and index == 2:
                    choice = "tie"  # not everyone agrees
                vote(client, person, pair, choice)
        for client in self.clients:
            client.drain()
        return sid, pairs

    def attendee(self, sid: int, pairs: list[dict[str, Any]]) -> None:
        """Ada on her phone: her vote completes a consensus; then the next pair."""
        w = self.workshop
        ada, others = w.attendees[0], w.attendees[1:]
        page = self.browser(PHONE)
        credentials = urlencode({"attendee_id": ada.id, "token": ada.token})
        page.open(w.url(f"/projects/{w.project_id}/attendee?session={sid}#{credentials}"))
        page.wait_status("connected")
        page.wait_view("vote")
        self.clients[0].close()  # Ada stays present through her page

        sixth, seventh = pairs[5], pairs[6]
        liked = preferred(w, sixth, VALUE)
        disliked = "b" if liked == "a" else "a"
        for person, client, choice in zip(
            others, self.clients[1:], (liked, liked, disliked), strict=True
        ):
            vote(client, person, sixth, choice)
        page.wait_data("#votes-count", "received", "3")
        page.el(f"#choice-{liked}").click()
        page.wait_data("#moment", "consensus", "reached")
        page.wait_data("#pair", "comparison-id", str(seventh["id"]))
        # Pair 7 under way: Grace, Margaret and Ada have voted; Linus hasn't yet.
        vote(self.clients[1], others[0], seventh, preferred(w, seventh, VALUE))
        vote(self.clients[3], others[2], seventh, "tie")
        page.wait_data("#votes-count", "received", "2")
        mine = f"#choice-{preferred(w, seventh, VALUE)}"
        page.el(mine).click()
        page.wait_data(mine, "vote-state", "saved")
        save(page, self.out, "attendee-phone.png")
        dark(page.driver, True)
        save(page, self.out, "attendee-phone-dark.png")
        dark(page.driver, False)
        screen(page.driver, LAPTOP)
        save(page, self.out, "attendee-laptop.png")

    def dashboard(self, sid: int) -> None:
        page = self.browser(LAPTOP)
        page.open(
            self.page(sid, "facilitator", {"facilitator_token": self.workshop.facilitator_token})
        )
        page.wait_status("connected")
        page.wait("the ranking", lambda d: page.els("#ranking .rank-row"))
        page.wait_visible("#combined")
        save(page, self.out, "dashboard-laptop.png")
        height = int(page.driver.execute_script("return document.documentElement.scrollHeight"))
        screen(page.driver, (LAPTOP[0], height))
        save(page, self.out, "dashboard-laptop-full.png")
        page.el("#rank-title").find_element("xpath", "ancestor::section[1]").screenshot(
            str(self.out / "dashboard-ranking.png")
        )
        phone(page.driver, self.scale)
        save(page, self.out, "dashboard-phone.png")

    def projector(self, sid: int) -> None:
        page = self.browser(PROJECTOR)
        w = self.workshop
        issued = cli_json(w.db, w.config, "project", "token", str(w.project_id), "--projector")
        page.open(self.page(sid, "projector", {"projector_token": issued["projector_token"]}))
        page.wait_status("connected")
        page.wait_visible("#join")  # self-registration is on
        page.wait(
            "the QR code",
            lambda d: d.execute_script(
                "const img = document.querySelector('#join-qr');"
                " return img.complete && img.naturalWidth > 0"
            ),
        )
        save(page, self.out, "projector.png")

    def join(self, sid: int) -> None:
        page = self.browser(PHONE)
        page.open(self.join_url)
        page.wait_view("form")
        save(page, self.out, "join-phone.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="phone pixel density (2 for sharper images)"
    )
    args = parser.parse_args()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pairwise-shots-") as folder:
        workshop, complexity, complexity_sid = build(Path(folder))
        daemon = SyncDaemon(workshop.place)
        daemon.start()
        shoot = Shoot(workshop, out, args.scale)
        try:
            finish_complexity(workshop, complexity, complexity_sid)
            sid, pairs = shoot.value_session()
            shoot.attendee(sid, pairs)
            shoot.dashboard(sid)
            shoot.projector(sid)
            shoot.join(sid)
        finally:
            shoot.close()
            daemon.stop()


if __name__ == "__main__":
    main()
