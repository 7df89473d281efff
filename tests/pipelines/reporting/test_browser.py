"""Browser tests: kedro viz and the MLflow UI, started as users start them, opened in headless Chromium.

Each server runs in its own process group (their children outlive a killed parent) and is stopped by
killing the group. Debian's chromium is driven through Playwright (no browser download). Screenshots are
saved under pytest's tmp dir; their paths are in the assertion messages."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PROJECT

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
BIN = Path(sys.executable).parent

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium; `make test` installs it)",
    ),
]
playwright = pytest.importorskip("playwright.sync_api", reason="needs playwright (requirements.lock)")


def _free_port() -> int:
    """A free port below 49152: kedro viz refuses the ephemeral range the OS hands out for port 0."""
    for port in random.Random().sample(range(20000, 45000), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-45000")


def _env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DO_NOT_TRACK": "true",
        "KEDRO_DISABLE_TELEMETRY": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        **extra,
    }


@contextlib.contextmanager
def serve(command: list[str], ready_url: str, cwd: Path, log: Path, env: dict[str, str], timeout: float = 240):
    """Start a server in a new process group, wait until ``ready_url`` answers 200, kill the group after."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"{command[:3]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(ready_url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{ready_url} not ready in {timeout} s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


@contextlib.contextmanager
def browser_page(tmp_path: Path):
    with playwright.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1600, "height": 1000},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


# Per-variant files (weights, preprocessors, cards, histories) that must stay inside their pipeline's box.
PER_VARIANT_FILES = ("ppcl_crd_model", "ppcl_full_card", "ppcl_no_cl_preprocessor", "dual_attention_env_history")


def pipeline_boxes() -> list[str]:
    """The pipelines of ``__default__`` (what kedro viz opens on), each one collapsed box: the registry's list."""
    from engagement_lab.pipelines.demo import NOT_IN_OWN_DATA_RUN, project_pipelines

    return [name for name in project_pipelines() if name not in NOT_IN_OWN_DATA_RUN]


def _labels(page) -> list[str]:
    """What a person reads on the graph: node labels, raw or "pretty" names as one spelling."""
    return [t.strip().lower().replace(" ", "_") for t in page.locator(".pipeline-node__text").all_text_contents()]


def test_kedro_viz_renders_the_pipelines(tmp_path):
    port = _free_port()
    command = [str(BIN / "kedro"), "viz", "run", "--no-browser", "--host", "127.0.0.1", "--port", str(port)]
    shots = {name: tmp_path / f"kedro_viz_{name}.png" for name in ("default", "ppcl_focused", "ppcl_expanded")}
    url = f"http://127.0.0.1:{port}"
    with serve(command, f"{url}/api/main", PROJECT, tmp_path / "viz.log", _env()):
        with browser_page(tmp_path) as page:
            # A person dismisses kedro viz's feature tour once; its saved setting keeps it off the screenshots.
            page.add_init_script("localStorage.setItem('KedroViz', JSON.stringify({showFeatureHints: false}))")
            page.goto(f"{url}/", wait_until="domcontentloaded", timeout=120_000)
            page.wait_for_selector(".pipeline-node, button:has-text('Render it anyway')", timeout=120_000)
            page.wait_for_timeout(2000)  # the layout settles
            prompt = page.get_by_role("button", name="Render it anyway").count()
            page.screenshot(path=str(shots["default"]))
            default = _labels(page)
            # One pipeline in focus mode (its box with what it reads and writes), then opened (a click expands it).
            page.goto(f"{url}/?pid=__default__&fid=ppcl", wait_until="domcontentloaded", timeout=120_000)
            page.wait_for_selector(".pipeline-node", timeout=120_000)
            page.wait_for_timeout(2000)
            page.screenshot(path=str(shots["ppcl_focused"]))
            focused = _labels(page)
            page.locator(".pipeline-node", has_text="ppcl").filter(has_not_text="_").first.click()
            page.wait_for_timeout(3000)
            page.screenshot(path=str(shots["ppcl_expanded"]))
            expanded = _labels(page)
            graph = json.load(urllib.request.urlopen(f"{url}/api/main", timeout=30))
            plot = next(n["id"] for n in graph["nodes"] if n["name"] == "reporting_comparison_plot")
            preview = json.load(urllib.request.urlopen(f"{url}/api/nodes/{plot}", timeout=60))
    print("kedro viz screenshots:", ", ".join(str(path) for path in shots.values()))  # noqa: T201
    where = f"screenshots {', '.join(str(path) for path in shots.values())}"
    # kedro viz drops the layer bands (with only a log warning) when the catalog's layers form a cycle.
    assert graph["layers"][-3:] == ["models", "model_output", "reporting"], graph["layers"]
    # The default view opens without the large-graph prompt: every pipeline is one collapsed box, and only what
    # pipelines hand each other or deliver sits beside the boxes (190 elements before the model indexes, 81 after).
    assert prompt == 0, f"kedro viz asks before drawing the default view; {where}"
    boxes = pipeline_boxes()
    assert len(boxes) == 10, boxes
    missing = [name for name in boxes if name not in default]
    assert not missing and len(default) <= 85, f"boxes missing {missing}; {len(default)} elements; {where}"
    assert not [name for name in PER_VARIANT_FILES if name in default], f"per-variant files at the top; {where}"
    assert "register_engagement_models" not in default, f"reporting's nodes drawn outside its box; {where}"
    # In focus, ppcl is its box with what it reads and writes: no per-model file, its model index instead.
    assert "ppcl" in focused and "ppcl_model_index" in focused and len(focused) <= 25, f"{focused}; {where}"
    assert not [name for name in PER_VARIANT_FILES if name in focused], f"{focused}; {where}"
    # Opened, it shows its steps, one box per model of Tables 1-2 and the index node that reads their files.
    variants = [name for name in ("ppcl.full", "ppcl.no_cl", "ppcl.rnc", "ppcl.random_sampling") if name in expanded]
    assert len(variants) == 4 and "index_ppcl_models" in expanded and "evaluate_ppcl" in expanded, f"{where}"
    # After a run (make run) kedro viz serves the report's plots; a fresh checkout has none to show.
    if list((PROJECT / "data/08_reporting/reporting/comparison.json").glob("*/comparison.json")):
        assert preview.get("preview_type") == "PlotlyPreview" and preview["preview"]["data"], preview


def test_mlflow_ui_shows_the_run_and_its_metrics(tmp_path):
    import mlflow

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=store)
    experiment = client.create_experiment("engagement_lab", artifact_location=str(tmp_path / "artifacts"))
    run = client.create_run(experiment, run_name="browser-test-run")
    client.log_metric(run.info.run_id, "engagement.catboost_paper.test_accuracy", 0.42)
    client.log_metric(run.info.run_id, "vise.vise.finetune_acc_mean", 0.77)
    client.set_terminated(run.info.run_id)

    port = _free_port()
    command = [
        str(BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        store,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    shot = tmp_path / "mlflow_run.png"
    env = _env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    with serve(command, f"http://127.0.0.1:{port}/health", tmp_path, tmp_path / "mlflow.log", env):
        with browser_page(tmp_path) as page:
            url = f"http://127.0.0.1:{port}/#/experiments/{experiment}/runs/{run.info.run_id}"
            page.goto(url, wait_until="domcontentloaded", timeout=120_000)
            page.get_by_text("engagement.catboost_paper.test_accuracy").first.wait_for(timeout=120_000)
            page.screenshot(path=str(shot), full_page=True)
            body = page.locator("body").inner_text()
    assert "browser-test-run" in body, f"run name not shown; screenshot {shot}"
    assert "vise.vise.finetune_acc_mean" in body and "0.42" in body, f"metrics not shown; screenshot {shot}"


# ------------------------------------------------------------------------------------------------- the report
REPORT_WIDTH = 1280  # a laptop window: the page's content column is 1,200 px


def _report_page(tmp_path: Path) -> Path:
    """The report as the reporting pipeline writes it, on contracts as wide as a demo run's (PPCL: 17 columns,
    25 rows; engagement: four tables), the other two sections not run."""
    from engagement_lab.pipelines.reporting.nodes import build_report
    from engagement_lab.reporting.figures import comparison_figure, placeholder
    from tests.conftest import base_params
    from tests.pipelines.reporting.contracts import engagement_contract, ppcl_contract

    params = base_params("reporting")
    contracts = {"vise": None, "dual_attention": None, "engagement": engagement_contract(), "ppcl": ppcl_contract()}
    figures = {n: placeholder(n, "not drawn here") for n in ("popularity", "training_curves", "confusion")}
    figures["predicted_vs_true"] = placeholder("predicted_vs_true", "not drawn here")
    figures["comparison"] = comparison_figure(contracts, params["published"], params["headline_metrics"])
    _, page = build_report(params, **figures, **contracts)
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


BOXES_JS = """() => [...document.querySelectorAll('.table-scroll')].map(box => ({
    right: box.getBoundingClientRect().right,
    scrollWidth: box.scrollWidth,
    clientWidth: box.clientWidth,
    overflowX: getComputedStyle(box).overflowX,
}))"""


def test_report_tables_fit_the_page_and_say_which_way_is_better(tmp_path, capsys):
    report = _report_page(tmp_path)
    shots = {name: tmp_path / f"report_{name}.png" for name in ("page", "ppcl_table", "ppcl_table_scrolled")}
    with browser_page(tmp_path) as page:
        page.set_viewport_size({"width": REPORT_WIDTH, "height": 900})
        page.goto(report.as_uri(), wait_until="load", timeout=120_000)
        page.screenshot(path=str(shots["page"]), full_page=True)
        page_width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        body_right = page.evaluate("() => document.body.getBoundingClientRect().right")
        boxes = page.evaluate(BOXES_JS)
        section = page.locator("h2#ppcl ~ .table-scroll").first
        section.scroll_into_view_if_needed()
        section.screenshot(path=str(shots["ppcl_table"]))
        before = section.inner_text()
        summary = page.locator("h2#ppcl ~ p.summary").first.inner_text()
        marker = section.locator("th", has_text="test_mae").locator(".better")
        marker_visible, marker_text = marker.is_visible(), marker.inner_text()
        # Scrolled to its right end: the last column shows, and the model column stays in view.
        section.evaluate("box => { box.scrollLeft = box.scrollWidth; }")
        page.wait_for_timeout(200)
        section.screenshot(path=str(shots["ppcl_table_scrolled"]))
        box = section.bounding_box()
        last = section.locator("th", has_text="test_src_fraction_of_oracle").bounding_box()
        model = section.locator("td", has_text="full (PPCL)").first.bounding_box()
    with capsys.disabled():
        sys.stdout.write("\nreport screenshots: " + ", ".join(str(p) for p in shots.values()) + "\n")
    where = f"screenshots {', '.join(str(p) for p in shots.values())}"
    # Nothing runs past the page: the page itself never scrolls sideways, every table box ends inside the content
    # column, and a table wider than its box scrolls inside it.
    assert page_width[0] <= page_width[1], f"the page scrolls sideways {page_width}; {where}"
    assert len(boxes) >= 8, boxes
    for b in boxes:
        assert b["right"] <= body_right + 1, f"a table box ends past the page {b}; {where}"
        assert b["scrollWidth"] <= b["clientWidth"] or b["overflowX"] in ("auto", "scroll"), f"clipped {b}; {where}"
    # What a person reads in the PPCL table: each metric with its direction, ours beside the paper's.
    assert marker_visible and marker_text == "↓ lower is better", f"{marker_text!r}; {where}"
    for text in (
        "test_mae",
        "↓ lower is better",
        "↑ higher is better",
        "ours",
        "paper",
        "full (PPCL)",
        "0.834 ± 0.028",
    ):
        assert text in before, f"{text!r} not shown in the PPCL table; {where}"
    assert "It loses to the best baseline, catboost (0.823) by 0.011" in summary, f"{summary!r}; {where}"
    assert last is not None and box["x"] <= last["x"] and last["x"] + last["width"] <= box["x"] + box["width"] + 1, (
        f"the last column is not reachable by scrolling: {last} in {box}; {where}"
    )
    assert model is not None and box["x"] - 1 <= model["x"] < box["x"] + 40, f"the model column scrolled away; {where}"
