"""The pages in a real browser: voting, consensus, the dashboard, reconnecting,
self-registration and the keyboard.

Headless Chromium through selenium, against `pairwise-ws serve` as a child
process. These tests fail (never skip) when Chromium is missing: `make test`
installs it. Every wait is bounded and waits for something in the DOM.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from tests.browser import (
    RECONNECT_WAIT_S,
    Browser,
    Place,
    SyncDaemon,
    Workshop,
    active_element_id,
    make_workshop,
    new_driver,
    serving,
)

FEATURES = ("Offline mode", "Dark theme", "Single sign-on")
PHONE = (390, 844)


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def drivers() -> Iterator[list[webdriver.Chrome]]:
    """Browsers shared by the module's tests (starting Chromium is the slow part)."""
    started: list[webdriver.Chrome] = []
    yield started
    for driver in started:
        driver.quit()


@pytest.fixture
def browsers(drivers: list[webdriver.Chrome]) -> Iterator[Callable[[], Browser]]:
    """`browsers()` -> the test's next browser, blank; checks every page's console after."""
    handed: list[Browser] = []

    def next_browser() -> Browser:
        if len(drivers) == len(handed):
            drivers.append(new_driver())
        browser = Browser(drivers[len(handed)])
        browser.reset(*PHONE)
        handed.append(browser)
        return browser

    yield next_browser
    problems = [problem for browser in handed for problem in browser.problems()]
    for browser in handed:
        browser.driver.get("about:blank")  # closes the page's WebSocket
    assert problems == [], "the pages logged errors"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Place]:
    """One daemon for the module: each test has its own project in its database."""
    with serving(tmp_path_factory.mktemp("pages")) as (place, _):
        yield place


def new_workshop(place: Place, name: str) -> Workshop:
    """Three features (three pairs), two attendees, unanimous with at least 2 votes."""
    return make_workshop(place, name=name, features=FEATURES, attendees=("Ada", "Grace"))


@pytest.fixture
def workshop(shared: Place, request: pytest.FixtureRequest) -> Workshop:
    return new_workshop(shared, request.node.name)


# --- helpers -------------------------------------------------------------------------------------


def open_attendee(browser: Browser, url: str) -> None:
    browser.open(url)
    browser.wait_status("connected")
    browser.wait_view("vote")


def current_pair(browser: Browser) -> int:
    value = browser.data("#pair", "comparison-id")
    assert value is not None
    return int(value)


def wait_vote(browser: Browser, choice: str, state: str = "saved") -> None:
    browser.wait_data(f"#choice-{choice}", "vote-state", state)


def focus_ring(browser: Browser) -> str:
    shadow: str = browser.driver.execute_script(
        "return getComputedStyle(document.activeElement).boxShadow"
    )
    return shadow


# --- a. two attendees reach consensus ------------------------------------------------------------


def test_two_attendees_vote_and_both_see_the_consensus(
    workshop: Workshop, browsers: Callable[[], Browser]
) -> None:
    ada, grace = browsers(), browsers()
    # The join_url printed by `attendee add` is the attendee page (the token in its fragment).
    # Names are untrusted: this one must show as text, never become markup.
    latecomer = workshop.add_attendee("<img src=x onerror=alert(1)> Linus")
    assert "#attendee_id=" in latecomer.join_url
    open_attendee(ada, workshop.attendees[0].join_url)
    open_attendee(grace, workshop.attendees[1].join_url)

    first = workshop.comparisons[0]
    for page in (ada, grace):
        assert current_pair(page) == first.id
        # The contract: the buttons' visible text is the titles, and `Tie`.
        assert page.el("#choice-a").text == workshop.title(first.a)
        assert page.el("#choice-b").text == workshop.title(first.b)
        assert page.el("#choice-tie").text == "Tie"
        # The credentials left the address bar; the page remembers them.
        assert "token" not in page.driver.current_url
        # Both are present (and Linus, who never connected, is listed offline).
        page.wait_data(
            f'#presence [data-attendee-id="{workshop.attendees[0].id}"]', "online", "true"
        )
        page.wait_data(
            f'#presence [data-attendee-id="{workshop.attendees[1].id}"]', "online", "true"
        )
        page.wait_data(f'#presence [data-attendee-id="{latecomer.id}"]', "online", "false")
        listed = page.el(f'#presence [data-attendee-id="{latecomer.id}"] .person-name')
        assert listed.text == latecomer.name
        assert page.els("#presence img") == []
        page.wait_text("#votes-count", "0 of 2 voted")

    ada.el("#choice-a").click()
    wait_vote(ada, "a")
    grace.wait_text("#votes-count", "1 of 2 voted")
    assert grace.data("#choice-a", "vote-state") == "none"  # Ada's vote isn't Grace's

    grace.el("#choice-a").click()
    winner = workshop.title(first.a)
    for page in (ada, grace):
        moment = page.wait_data("#moment", "consensus", "reached")
        assert moment.get_attribute("data-comparison-id") == str(first.id)
        assert moment.get_attribute("data-winner") == winner
        page.wait_text("#moment .moment-title", winner)
        page.wait_data("#progress", "completed", "1")
        assert page.el("#progress .progress-text").text == "1 of 3 decided"
        # The screen reader hears it, and the page moved on to the next pair.
        page.wait(
            "the consensus announced",
            lambda d: "Consensus" in d.find_element("css selector", "#live").text,
        )
        page.wait_data("#pair", "comparison-id", str(workshop.comparisons[1].id))


# --- b. the facilitator decides and resets -------------------------------------------------------


def test_facilitator_decides_and_resets_and_the_attendee_page_follows(
    workshop: Workshop, browsers: Callable[[], Browser]
) -> None:
    facilitator, ada = browsers(), browsers()
    facilitator.driver.set_window_size(1366, 900)
    open_attendee(ada, workshop.attendees[0].join_url)
    first, second = workshop.comparisons[0], workshop.comparisons[1]
    ada.el("#choice-a").click()  # one vote of the two needed: stays open
    wait_vote(ada, "a")

    facilitator.open(workshop.facilitator_url())
    facilitator.wait_status("connected")
    assert "facilitator_token" not in facilitator.driver.current_url
    card = f'#comparisons [data-comparison-id="{first.id}"]'
    facilitator.wait_data(card, "status", "open")
    facilitator.wait_data(card, "current", "true")
    chip = f'{card} .vote-chip[data-attendee-id="{workshop.attendees[0].id}"]'
    facilitator.wait_data(chip, "choice", "a")
    assert facilitator.el(f"{chip} .vote-chip-choice").text == f"→ {workshop.title(first.a)}"
    facilitator.wait_data(
        f'#people [data-attendee-id="{workshop.attendees[0].id}"]', "online", "true"
    )

    # Decide B: the attendee sees the consensus (B wins) and moves to the next pair.
    facilitator.el(f'{card} [data-action="decide-b"]').click()
    facilitator.wait_data(card, "status", "decided")
    facilitator.wait_data(card, "outcome", str(first.b))
    moment = ada.wait_data("#moment", "consensus", "reached")
    assert moment.get_attribute("data-winner") == workshop.title(first.b)
    ada.wait_data("#pair", "comparison-id", str(second.id))
    ada.wait_data("#progress", "completed", "1")
    # The ranking follows (fetched from /results with the token).
    facilitator.wait_data("#ranking .rank-row:first-child", "feature-id", str(first.b))

    # Reset: the votes go, the pair reopens, and it is the current one again.
    facilitator.el(f'{card} [data-action="reset_comparison"]').click()
    facilitator.wait_data(card, "status", "open")
    facilitator.wait(f"{card} without votes", lambda d: not facilitator.els(f"{card} .vote-chip"))
    ada.wait_data("#moment", "consensus", "lost")
    ada.wait_data("#pair", "comparison-id", str(first.id))
    ada.wait_data("#progress", "completed", "0")
    for choice in ("a", "b", "tie"):
        wait_vote(ada, choice, "none")
    assert ada.data("#vote-status", "state") == "none"

    # A tie decided by the facilitator shows as `Tie`.
    facilitator.el(f'{card} [data-action="decide-tie"]').click()
    facilitator.wait_data(card, "outcome", "tie")
    ada.wait_data("#moment", "winner", "Tie")


# --- c. the connection drops and comes back ------------------------------------------------------


def test_the_page_reconnects_by_itself_and_keeps_the_vote(
    tmp_path: Path, browsers: Callable[[], Browser]
) -> None:
    # A daemon of its own, to kill and start again (same port, same database).
    with serving(tmp_path) as (place, daemon):
        reconnect(new_workshop(place, "reconnect"), daemon, browsers())


def reconnect(workshop: Workshop, daemon: SyncDaemon, ada: Browser) -> None:
    open_attendee(ada, workshop.attendees[0].join_url)
    first = workshop.comparisons[0]
    ada.el("#choice-a").click()
    wait_vote(ada, "a")

    daemon.kill()  # no close frame: like a crash, phone sleep or lost Wi-Fi
    ada.wait_status("reconnecting")
    ada.wait_visible("#reconnect")
    # A vote while offline waits, marked pending, and is sent once back.
    ada.el("#choice-b").click()
    wait_vote(ada, "b", "pending")

    daemon.start()  # same port, same database
    ada.wait_status("connected", timeout=RECONNECT_WAIT_S)
    assert current_pair(ada) == first.id  # the attendee's place is kept
    wait_vote(ada, "b", "saved")  # the pending vote was re-sent and acknowledged
    assert ada.data("#choice-a", "vote-state") == "none"
    assert not ada.el("#reconnect").is_displayed()

    # The server really has it: a fresh page shows B as this attendee's vote.
    ada.driver.refresh()
    open_attendee(ada, workshop.url(f"/projects/{workshop.project_id}/attendee"))
    wait_vote(ada, "b")


# --- d. self-registration ------------------------------------------------------------------------


def test_self_registration_then_vote_and_reload_as_the_same_attendee(
    workshop: Workshop, browsers: Callable[[], Browser]
) -> None:
    zoe, other = browsers(), browsers()
    assert workshop.join_url is not None
    join = workshop.join_url
    # A link without the right code says so, and offers no form.
    zoe.open(workshop.url(f"{workshop.session_path}/join?code=wrong"))
    zoe.wait_view("invalid")
    assert "not valid" in zoe.el("#message-title").text
    zoe.open(join)
    zoe.wait_view("form")
    zoe.el("#name").send_keys("Zoë Ångström", Keys.ENTER)

    zoe.wait_status("connected")
    zoe.wait_view("vote")
    assert zoe.driver.current_url.split("#")[0].endswith(
        f"/projects/{workshop.project_id}/attendee?session={workshop.session_id}"
    )
    assert "token" not in zoe.driver.current_url
    attendee_id = zoe.data("body", "attendee-id")
    assert attendee_id is not None
    assert attendee_id not in {str(person.id) for person in workshop.attendees}
    zoe.wait_text("#you-name", "Voting as Zoë Ångström")
    zoe.el("#choice-b").click()
    wait_vote(zoe, "b")

    zoe.driver.refresh()
    zoe.wait_status("connected")
    assert zoe.data("body", "attendee-id") == attendee_id
    wait_vote(zoe, "b")
    # The join page sends a browser that already joined straight to its page.
    zoe.open(join)
    zoe.wait_status("connected")
    assert zoe.data("body", "attendee-id") == attendee_id

    # Another browser taking the same name is told so, in the form.
    other.open(join)
    other.wait_view("form")
    other.el("#name").send_keys("Zoë Ångström", Keys.ENTER)
    error = other.wait_visible("#name-error")
    assert "taken" in error.text
    assert other.el("#name").get_attribute("aria-invalid") == "true"
    assert other.view == "form"


# --- e. the keyboard -----------------------------------------------------------------------------


def test_voting_with_the_keyboard_only(workshop: Workshop, browsers: Callable[[], Browser]) -> None:
    ada = browsers()
    ada.driver.set_window_size(1280, 900)
    open_attendee(ada, workshop.attendees[0].join_url)
    keys = ActionChains(ada.driver)

    keys.send_keys("b").perform()  # the B shortcut
    wait_vote(ada, "b")
    assert active_element_id(ada) == "choice-b"
    assert focus_ring(ada) != "none"  # the focused choice shows it

    # Arrow keys move between the three choices; Enter votes.
    keys.send_keys(Keys.ARROW_RIGHT).perform()
    ada.wait("the Tie button focused", lambda d: active_element_id(ada) == "choice-tie")
    keys.send_keys(Keys.ENTER).perform()
    wait_vote(ada, "tie")
    assert ada.data("#choice-b", "vote-state") == "none"

    # Tab reaches the choices like any button; Space votes.
    ada.driver.execute_script("document.activeElement.blur()")
    for _ in range(12):
        keys.send_keys(Keys.TAB).perform()
        if active_element_id(ada) == "choice-a":
            break
    assert active_element_id(ada) == "choice-a", "Tab never reached the first choice"
    assert focus_ring(ada) != "none"
    keys.send_keys(Keys.SPACE).perform()
    wait_vote(ada, "a")

    # N shows the next open pair; voting there with T doesn't touch the first pair.
    first, second = workshop.comparisons[0], workshop.comparisons[1]
    keys.send_keys("n").perform()
    ada.wait_data("#pair", "comparison-id", str(second.id))
    keys.send_keys("t").perform()
    wait_vote(ada, "tie")
    mine = f'#other-pairs [data-comparison-id="{first.id}"]'
    ada.wait_data(mine, "my-vote", "a")


# --- the projector follows the room --------------------------------------------------------------


def test_projector_follows_self_registration_and_consensus(
    workshop: Workshop, browsers: Callable[[], Browser]
) -> None:
    facilitator, projector = browsers(), browsers()
    facilitator.driver.set_window_size(1366, 900)
    projector.driver.set_window_size(1366, 768)
    # The room PC gets a read-only projector token (from the CLI here).
    issued = workshop.cli("project", "token", str(workshop.project_id), "--projector")
    token = f"projector_token={issued['projector_token']}"
    projector.open(workshop.url(f"{workshop.session_path}/projector?{token}"))
    projector.wait_status("connected")
    assert "projector_token" not in projector.driver.current_url
    first, second = workshop.comparisons[0], workshop.comparisons[1]
    projector.wait_text("#opt-a", workshop.title(first.a))
    projector.wait_text("#opt-b", workshop.title(first.b))
    # Self-registration is on: the join QR code (an image the daemon makes) is up.
    projector.wait_visible("#join")
    projector.wait(
        "the QR code loaded",
        lambda d: d.execute_script(
            "const img = document.querySelector('#join-qr');"
            " return img.complete && img.naturalWidth"
        ),
    )
    assert projector.el("#join-url").text == workshop.join_url

    facilitator.open(workshop.facilitator_url())
    facilitator.wait_status("connected")
    facilitator.wait_data("#join-box", "open", "true")
    facilitator.el("label[for=reg-toggle]").click()  # off, from the dashboard
    facilitator.wait_data("#join-box", "open", "false")
    projector.wait("the QR code gone", lambda d: not projector.el("#join").is_displayed())
    facilitator.el("label[for=reg-toggle]").click()  # on again
    projector.wait_visible("#join")

    card = f'#comparisons [data-comparison-id="{first.id}"]'
    facilitator.el(f'{card} [data-action="decide-a"]').click()
    moment = projector.wait_data("#moment", "consensus", "reached")
    assert moment.get_attribute("data-winner") == workshop.title(first.a)
    projector.wait_text("#opt-a", workshop.title(second.a))
    projector.wait_data("#progress", "completed", "1")


def test_the_dashboard_opens_a_read_only_projector_and_signs_out(
    workshop: Workshop, browsers: Callable[[], Browser]
) -> None:
    facilitator = browsers()
    facilitator.driver.set_window_size(1366, 900)
    driver = facilitator.driver
    facilitator.open(workshop.facilitator_url())
    facilitator.wait_status("connected")
    dashboard = driver.current_window_handle

    facilitator.el("#projector-link").click()
    facilitator.wait("the projector's window", lambda d: len(d.window_handles) == 2)
    driver.switch_to.window(next(h for h in driver.window_handles if h != dashboard))
    facilitator.wait_status("connected")
    assert driver.current_url.endswith(f"{workshop.session_path}/projector")  # no token shown
    kept = driver.execute_script(
        "return Object.keys(sessionStorage).filter((k) => k.endsWith(':projector'))"
        ".map((k) => sessionStorage.getItem(k))"
    )
    assert len(kept) == 1
    assert workshop.facilitator_token not in kept[0]  # its own token, not the facilitator's
    driver.close()
    driver.switch_to.window(dashboard)

    facilitator.el("#sign-out").click()
    facilitator.wait_view("token")
    key = f"pairwise-ws:project:{workshop.project_id}:facilitator"
    assert driver.execute_script(f"return localStorage.getItem('{key}')") is None
    facilitator.driver.refresh()  # and it stays signed out
    facilitator.wait_view("token")


# --- the end of a session ----------------------------------------------------------------------


def test_completion_then_closing_and_a_link_that_is_no_longer_valid(
    workshop: Workshop, browsers: Callable[[], Browser]
) -> None:
    facilitator, ada = browsers(), browsers()
    facilitator.driver.set_window_size(1366, 900)
    open_attendee(ada, workshop.attendees[0].join_url)
    facilitator.open(workshop.facilitator_url())
    facilitator.wait_status("connected")

    # The facilitator settles every pair: the attendee sees the outcomes and stays.
    outcomes = {}
    for index, pair in enumerate(workshop.comparisons):
        card = f'#comparisons [data-comparison-id="{pair.id}"]'
        action, outcome = ("decide-tie", "Tie") if index == 1 else ("decide-a", None)
        facilitator.el(f'{card} [data-action="{action}"]').click()
        facilitator.wait_data(card, "status", "decided")
        outcomes[pair.id] = outcome or workshop.title(pair.a)
    ada.wait_view("complete")
    for pair_id, outcome in outcomes.items():
        ada.wait_text(f'#decided-list [data-comparison-id="{pair_id}"] .decided-winner', outcome)
    assert ada.status == "connected"
    facilitator.wait_data("body", "session-status", "completed")

    # Closing (confirmed in a dialog) ends the attendee's page for good.
    facilitator.el("#close-session").click()
    facilitator.wait_visible("#confirm-close-yes").click()
    ada.wait_view("closed")
    ada.wait_text("#message-title", "This session is closed. Thank you!")
    ada.wait_status("stopped")
    facilitator.wait_data("body", "session-status", "closed")
    facilitator.wait_status("stopped")

    # A link whose token is wrong says so (the browser can't see the 401 itself).
    person = workshop.attendees[1]
    ada.open(person.join_url.replace(person.token, "not-the-token"))
    ada.wait_view("invalid")
    ada.wait_text("#message-title", "This link is no longer valid")


# --- the adaptive schedule -----------------------------------------------------------------------


def test_an_adaptive_session_asks_one_pair_at_a_time_and_shows_what_transitivity_settled(
    shared: Place, browsers: Callable[[], Browser], request: pytest.FixtureRequest
) -> None:
    workshop = make_workshop(
        shared,
        name=request.node.name,
        features=FEATURES,
        attendees=("Ada",),
        session_options=("--schedule", "adaptive", "--rule", "majority", "--min-votes", "1"),
    )
    ada, facilitator = browsers(), browsers()
    facilitator.driver.set_window_size(1366, 900)
    facilitator.open(workshop.facilitator_url())  # live before the session completes
    facilitator.wait_status("connected")
    open_attendee(ada, workshop.attendees[0].join_url)
    low, middle, high = sorted(workshop.features)  # Ada prefers the lower id every time

    def prefer_lower() -> None:
        pair = workshop.pair(current_pair(ada))
        winner = min(pair.a, pair.b)
        ada.el(f'#pair button[data-feature-id="{winner}"]').click()

    first = current_pair(ada)
    prefer_lower()  # the first pair: low vs middle
    ada.wait("the next pair", lambda d: current_pair(ada) != first)
    ada.wait_data("#progress", "completed", "1")
    prefer_lower()  # middle vs high; low vs high follows by transitivity
    ada.wait_view("complete")
    implied = ada.wait_visible('#decided-list [data-implied="true"]')
    assert "by transitivity" in implied.text

    [pair] = [c for c in workshop.comparisons if {c.a, c.b} == {low, high}]
    card = f'#comparisons [data-comparison-id="{pair.id}"]'
    facilitator.wait_data(card, "status", "implied")
    chain = facilitator.el(f"{card} .cmp-chain").text
    titles = [workshop.title(f) for f in (low, middle, high)]
    assert chain == f"By transitivity: {' > '.join(titles)}"
    assert facilitator.el("#stat-implied-n").text == "1"
    ask = facilitator.el(f'{card} [data-action="reset_comparison"]')
    assert ask.text == "Ask anyway"
    ask.click()  # the group is asked after all
    facilitator.wait_data(card, "status", "open")
    ada.wait_view("vote")
    assert current_pair(ada) == pair.id


# --- facilitation: notes and taking a vote back ---------------------------------------------


def test_a_note_from_the_dashboard_and_an_undo_on_the_attendee_page(
    workshop: Workshop, browsers: Callable[[], Browser]
) -> None:
    facilitator, ada = browsers(), browsers()
    facilitator.driver.set_window_size(1366, 900)
    facilitator.open(workshop.facilitator_url())
    facilitator.wait_status("connected")
    open_attendee(ada, workshop.attendees[0].join_url)
    first = workshop.comparisons[0]

    ada.el("#choice-a").click()
    wait_vote(ada, "a")
    undo = ada.wait_visible("#undo-vote")
    undo.click()
    wait_vote(ada, "a", "none")
    assert ada.el("#undo-vote").is_displayed() is False
    chip = f'#comparisons [data-comparison-id="{first.id}"] .vote-chip'
    facilitator.wait("the vote gone", lambda d: not d.find_elements("css selector", chip))

    card = f'#comparisons [data-comparison-id="{first.id}"]'
    facilitator.el(f"{card} .note-edit summary").click()
    field = facilitator.el(f"{card} .note-input")
    field.send_keys("Field teams work offline all day.")
    facilitator.el(f"{card} .note-edit .btn").click()
    facilitator.wait_text(f"{card} .cmp-note", "Note: Field teams work offline all day.")


def test_an_observer_sees_the_pair_without_vote_buttons(
    workshop: Workshop, browsers: Callable[[], Browser]
) -> None:
    added = workshop.cli("attendee", "add", str(workshop.project_id), "Watcher", "--observer")
    watcher = browsers()
    open_attendee(watcher, added["join_url"])
    first = workshop.comparisons[0]

    watcher.wait_data("#pair", "observing", "true")
    assert watcher.el("#choice-tie").is_displayed() is False
    assert not watcher.el("#choice-a").is_enabled()
    assert watcher.el("#choice-a").text == workshop.title(first.a)
    assert "observing" in watcher.el("#vote-status").text


def test_the_timer_counts_down_alike_on_every_page(
    workshop: Workshop, browsers: Callable[[], Browser]
) -> None:
    facilitator, ada = browsers(), browsers()
    facilitator.driver.set_window_size(1366, 900)
    facilitator.open(workshop.facilitator_url())
    facilitator.wait_status("connected")
    open_attendee(ada, workshop.attendees[0].join_url)

    facilitator.wait_visible("#timer-controls")
    facilitator.el("#timer-seconds").send_keys("2 min")
    facilitator.el("#timer-start").click()
    for page in (facilitator, ada):
        page.wait_data("#timer", "state", "running")

    def left(page: Browser) -> int:
        value = page.data("#timer", "left")
        assert value is not None
        return int(value)

    shown = [left(facilitator), left(ada)]
    assert abs(shown[0] - shown[1]) <= 1, shown
    assert 100 <= shown[0] <= 120
    assert ":" in ada.el("#timer .timer-text").text
    facilitator.el("#timer-stop").click()
    ada.wait("the timer gone", lambda d: not ada.el("#timer").is_displayed())
