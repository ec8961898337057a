"""Real-browser tests (Debian chromium + Playwright): draw the flight booking saga with the
mouse, export it, and start 50 runs. Screenshots go to artifacts/screenshots/.

Skipped with a reason when chromium or playwright is missing, unless CI=true (then they fail).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from designer.files import open_sample
from designer.registry import sample_registry
from runtime.loading import parse_definition
from runtime.validation import validate
from tests.servers import CHROMIUM, CHROMIUM_ARGS, require_browser, streamlit_app

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("SHOTS_DIR", ROOT / "artifacts" / "screenshots"))
IFRAME = 'iframe[title="streamlit_flow.streamlit_flow"]'


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    work = tmp_path_factory.mktemp("studio")
    env = {"SAGA_DESIGNS_DIR": str(work / "designs"), "SAGA_DB": f"sqlite:///{work / 'events.db'}"}
    with streamlit_app(ROOT / "streamlit_app.py", env=env, cwd=ROOT,
                       log=work / "streamlit.log") as url:
        yield url


@pytest.fixture
def page(app_url: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
        pg.set_default_timeout(20_000)
        pg.goto(app_url)
        yield pg
        browser.close()


# -- helpers ------------------------------------------------------------------------------------
def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def poll(page: Any, what: str, check: Any, timeout: float = 20) -> Any:
    """Retry ``check()`` until it returns something truthy (each interaction reruns the app)."""
    end = time.time() + timeout
    last: Any = None
    while time.time() < end:
        try:
            last = check()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - the DOM changes under us while the app reruns
            last = exc
        page.wait_for_timeout(200)
    shot(page, "failed_" + "".join(c if c.isalnum() else "_" for c in what))
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def canvas(page: Any) -> Any:
    """The canvas's frame, once the rerun that replaces it (a new key) has finished."""
    for _ in range(100):
        if page.locator(IFRAME).count() == 1:
            break
        page.wait_for_timeout(100)
    return page.frame_locator(IFRAME)


def node_text(page: Any, step: str) -> str:
    node = canvas(page).locator(f'.react-flow__node[data-id="{step}"]')
    return str(node.inner_text(timeout=2000))


def settle_canvas(page: Any) -> None:
    canvas(page)
    page.locator(IFRAME).evaluate("el => el.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(600)


def drag(page: Any, a: dict[str, float], b: dict[str, float]) -> None:
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=20)
    page.mouse.up()


def choose(page: Any, label: str, option: str) -> None:
    box = page.get_by_role("combobox", name=label, exact=True)
    box.click()
    box.fill(option)
    page.get_by_role("option", name=option, exact=True).click()


def type_into(page: Any, label: str, text: str) -> None:
    field = page.get_by_role("textbox", name=label, exact=True)
    field.fill(text)
    field.press("Enter")


def connect(page: Any, source: str, target: str) -> None:
    def attempt() -> bool:
        settle_canvas(page)
        frame = canvas(page)
        src = frame.locator(f'.react-flow__handle.source[data-nodeid="{source}"]').bounding_box()
        dst = frame.locator(f'.react-flow__handle.target[data-nodeid="{target}"]').bounding_box()
        drag(page, src, dst)
        edge = frame.locator(f'[data-testid="rf__edge-{source}->{target}"]')
        for _ in range(40):
            if edge.count():
                return True
            page.wait_for_timeout(250)
        return False

    poll(page, f"arrow {source} -> {target}", attempt, timeout=45)


def fill_step(page: Any, step: str, action: str, compensation: str | None,
              kind: str | None) -> None:
    poll(page, f"form of {step}",
         lambda: page.get_by_role("combobox", name="Step", exact=True).input_value() == step)
    choose(page, "Action", action)
    poll(page, f"{step} action", lambda: action in node_text(page, step).replace("\\", ""))
    if compensation:
        choose(page, "Compensation", compensation)
        poll(page, f"{step} compensation", lambda: compensation in node_text(page, step))
    if kind:
        choose(page, "Kind", kind)
        poll(page, f"{step} kind", lambda: kind in node_text(page, step))


def add_step(page: Any, name: str) -> None:
    before = canvas(page).locator(".react-flow__node").count()
    page.get_by_role("button", name="Add step", exact=True).click()
    poll(page, "a new step", lambda: canvas(page).locator(".react-flow__node").count() > before)
    poll(page, "its form", lambda: page.get_by_role("textbox", name="Name", exact=True)
         .input_value().startswith("step_"))
    type_into(page, "Name", name)
    poll(page, f"step {name}", lambda: name in node_text(page, name))


# -- tests ----------------------------------------------------------------------------------------
def test_draw_the_flight_booking_saga_and_export_it(page: Any) -> None:
    canvas(page).locator(".react-flow__pane").wait_for()
    poll(page, "an empty design", lambda: page.get_by_text("The canvas is empty").count())
    settle_canvas(page)
    shot(page, "design_empty")

    # 1) the first step from the canvas's own menu: right-click the pane, name it, create
    box = page.locator(IFRAME).bounding_box()
    page.mouse.click(box["x"] + 90, box["y"] + 90, button="right")
    canvas(page).get_by_role("button", name="Create New Node").click()
    canvas(page).locator("textarea").fill("reserve_seat")
    canvas(page).get_by_role("button", name="Create Node").click()
    poll(page, "reserve_seat on the canvas", lambda: "reserve" in node_text(page, "reserve_seat"))
    fill_step(page, "reserve_seat", "flight.reserve_seat", "flight.release_seat", None)

    # 2) three more with the Add step button, each set up through the form
    add_step(page, "charge_payment")
    fill_step(page, "charge_payment", "payments.charge", "payments.refund", None)
    add_step(page, "issue_ticket")
    fill_step(page, "issue_ticket", "tickets.issue", None, "pivot")
    add_step(page, "send_confirmation")
    fill_step(page, "send_confirmation", "notify.confirm", None, "retriable")
    settle_canvas(page)
    shot(page, "design_steps_unconnected")
    assert page.get_by_text("steps with problems are outlined red").count()

    # 3) arrows drawn by dragging from a step's right handle to the next step's left handle
    connect(page, "reserve_seat", "charge_payment")
    connect(page, "charge_payment", "issue_ticket")
    connect(page, "issue_ticket", "send_confirmation")
    poll(page, "a valid saga", lambda: page.get_by_text("No problems: this saga is valid.").count())

    # 4) clicking a step on the canvas selects it in the form
    settle_canvas(page)
    canvas(page).locator('.react-flow__node[data-id="charge_payment"]').click()
    poll(page, "charge_payment selected",
         lambda: page.get_by_role("combobox", name="Step", exact=True).input_value()
         == "charge_payment")
    settle_canvas(page)
    shot(page, "design_flight_booking_drawn")

    # 5) export YAML: it validates and is the flight booking saga
    button = page.get_by_test_id("stDownloadButton").filter(has_text="YAML")
    button.scroll_into_view_if_needed()
    with page.expect_download() as download:
        button.click()
    text = Path(download.value.path()).read_bytes()
    definition = parse_definition(text, source="export.yaml")
    if shutil.which("dot"):  # pictures are drawn on click, by Graphviz
        svg_button = page.get_by_test_id("stDownloadButton").filter(has_text="SVG")
        with page.expect_download() as svg:
            svg_button.click()
        assert b"<svg" in Path(svg.value.path()).read_bytes()
    assert validate(definition, sample_registry()) == []
    expected = open_sample("flight_booking")

    def shape(d: Any) -> list[tuple[Any, ...]]:
        return [(s.name, s.action, s.compensation, s.kind, s.read_only, s.after) for s in d.steps]

    assert shape(definition) == shape(expected)
    assert set(definition.layout) == {s.name for s in expected.steps}
    assert all(s.simulate is None and s.retry is None for s in definition.steps)

    # 5b) saga-level defaults: a shorter timeout for every step, exported with the saga
    defaults = page.get_by_test_id("stExpander").filter(has_text="Saga defaults")
    defaults.get_by_text("Saga defaults").click()
    timeout = defaults.get_by_label("Timeout per attempt")
    timeout.fill("5s")
    timeout.press("Enter")
    settle_canvas(page)  # the edit redraws the page (and the canvas)
    shot(page, "design_saga_defaults")
    with page.expect_download() as download:
        button.click()
    exported = parse_definition(Path(download.value.path()).read_bytes(), source="export.yaml")
    assert exported.defaults.timeout.total_seconds() == 5 and shape(exported) == shape(expected)

    # 6) delete an arrow from its right-click menu: the saga turns invalid; Undo restores it
    settle_canvas(page)
    edge = canvas(page).locator('[data-testid="rf__edge-issue_ticket->send_confirmation"]')
    box = edge.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, button="right")
    canvas(page).get_by_role("button", name="Delete Edge").click()
    poll(page, "the problem list", lambda: page.get_by_text("unrelated-to-pivot").count())
    settle_canvas(page)
    shot(page, "design_arrow_deleted")
    page.get_by_role("button", name="Undo", exact=True).click()
    poll(page, "a valid saga again",
         lambda: page.get_by_text("No problems: this saga is valid.").count())


def test_start_50_runs_and_see_the_summary(page: Any, app_url: str) -> None:
    page.goto(f"{app_url}/run")
    poll(page, "the Run page", lambda: page.get_by_role("button", name="Start").count())
    assert page.get_by_role("radio", name="Sample", exact=True).is_checked()
    runs = page.get_by_role("spinbutton", name="Runs")
    assert runs.input_value() == "50"
    shot(page, "run_ready")
    page.get_by_role("button", name="Start").click()
    poll(page, "the batch summary", lambda: page.get_by_text("done: 50 runs").count(),
         timeout=120)
    link = page.get_by_role("link", name="Open this batch in Monitor")
    link.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    shot(page, "run_done")
    href = link.get_attribute("href") or ""
    assert "monitor?batch=" in href
    batch = href.rsplit("=", 1)[1]
    completed = int(page.get_by_test_id("stMetric").filter(has_text="Completed")
                    .get_by_test_id("stMetricValue").inner_text())
    assert 0 < completed <= 50
    # the link opens the Monitor page filtered to this batch
    if link.get_attribute("target") == "_blank":
        with page.context.expect_page() as opened:
            link.click()
        monitor = opened.value
    else:
        link.click()
        monitor = page
    poll(monitor, "the Monitor page", lambda: f"/monitor?batch={batch}" in monitor.url
         and monitor.get_by_role("heading", name="Monitor").count())
    monitor.wait_for_timeout(1500)
    shot(monitor, "run_opened_in_monitor")
