"""The Dagster UI on this code location, in a real headless Chromium (Debian's `chromium`, driven by
Debian's `chromedriver` through Selenium): every asset group of the definitions renders in the global
lineage, and every asset of each group renders in its group graph (the unified assets included).

Chromium is not a Python package: `scripts/setup-ui` installs it (CI runs it; see the README).
Screenshots land in tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LOCATION = "chitty_pipelines"  # workspace.yaml's location_name
CHROME_FLAGS = (
    # The flags Chromium needs as root on these machines; the background-networking ones stop it
    # from dialling Google on a closed network.
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1600,1000",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _expected_groups() -> dict[str, set[str]]:
    """group -> asset names, computed from the definitions as they are at test time."""
    from chitty_pipelines.definitions import defs

    groups: dict[str, set[str]] = defaultdict(set)
    for spec in defs.resolve_all_asset_specs():
        groups[spec.group_name or "default"].add(spec.key.to_user_string())
    return dict(groups)


def _require_chromium() -> tuple[str, str]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail(
            "Chromium and ChromeDriver are needed for the UI test and are not installed: run "
            "`scripts/setup-ui` (apt-get install chromium chromium-driver) once.",
            pytrace=False,
        )
    return chromium, driver


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """dagster-webserver on the repo's workspace.yaml, a private DAGSTER_HOME, no credentials."""
    tmp = tmp_path_factory.mktemp("ui")
    (tmp / "dagster").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHITTY_", "CLAUDE_", "DAGSTER_"))}
    for name in ("NEON_DATABASE_URL", "NOTION_TOKEN", "GITHUB_TOKEN", "CLOUDFLARE_ACCOUNT_ID"):
        env.pop(name, None)
    env.update(DAGSTER_HOME=str(tmp / "dagster"), CHITTY_HOME=str(tmp / "chitty"))
    port = _free_port()
    log = (tmp / "webserver.log").open("w")
    # A session of its own: dagster-webserver spawns a code-server child, and the whole group is
    # stopped below (stack-notes §7: SIGTERM to the parent alone can leave children running).
    cmd = [sys.executable, "-m", "dagster_webserver", "-w", "workspace.yaml", "-h", "127.0.0.1"]
    proc = subprocess.Popen(
        [*cmd, "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                log_text = (tmp / "webserver.log").read_text()
                pytest.fail(f"dagster-webserver exited {proc.returncode}:\n{log_text}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/server_info", timeout=2) as r:
                assert json.load(r)["dagster_webserver_version"]
                break
            if time.monotonic() > deadline:
                pytest.fail(f"no /server_info after 120 s:\n{(tmp / 'webserver.log').read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    chromium, chromedriver = _require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="chitty-chromium-")
    for flag in (*CHROME_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    # An explicit driver path: Selenium Manager never tries to download a driver or a browser.
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _graphql(url: str, query: str) -> dict:
    req = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        body = json.load(r)
    assert "errors" not in body, body["errors"]
    return body["data"]


def test_graphql_lists_the_location_and_every_asset_by_group(webserver):
    expected = _expected_groups()
    data = _graphql(
        webserver,
        "{ workspaceOrError { ... on Workspace { locationEntries { name "
        "locationOrLoadError { __typename ... on PythonError { message } } } } }"
        " assetNodes { assetKey { path } groupName } }",
    )
    entries = data["workspaceOrError"]["locationEntries"]
    assert [(e["name"], e["locationOrLoadError"]["__typename"]) for e in entries] == [
        (LOCATION, "RepositoryLocation")
    ]
    served: dict[str, set[str]] = defaultdict(set)
    for node in data["assetNodes"]:
        served[node["groupName"]].add("/".join(node["assetKey"]["path"]))
    assert dict(served) == expected


def _dismiss_modal(driver) -> None:
    from selenium.webdriver.common.by import By

    for button in driver.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
        with contextlib.suppress(Exception):
            button.click()


def _wait(driver, probe, timeout: float = 60.0):
    """Poll ``probe(driver)`` until it returns a truthy value (the UI loads data asynchronously)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            last = probe(driver)
            if last:
                return last
        time.sleep(0.25)
    return last


def _collapsed_groups(driver) -> dict[str, str]:
    """Group boxes of the global lineage: name -> the asset count printed in the box."""
    from selenium.webdriver.common.by import By

    shown = {}
    for box in driver.find_elements(By.CSS_SELECTOR, "[class*='CollapsedGroupNode_collapsedGroupNodeBox']"):
        lines = [line for line in box.text.splitlines() if line.strip()]
        if lines:
            # "9", or "9 assets (fetching statuses)" while the status query is in flight
            shown[lines[0]] = lines[1] if len(lines) > 1 else ""
    return shown


def _settled_counts(driver, expected: set[str]) -> dict[str, int] | None:
    shown = _collapsed_groups(driver)
    if set(shown) != expected or any(not re.match(r"\d+$", v) for v in shown.values()):
        return None
    return {g: int(v) for g, v in shown.items()}


def _asset_nodes(driver) -> set[str]:
    from selenium.webdriver.common.by import By

    return {
        el.get_attribute("data-tooltip")
        for el in driver.find_elements(By.CSS_SELECTOR, "[class*='AssetNode_assetName'] [data-tooltip]")
    }


def test_asset_graph_renders_every_group_and_asset_in_chromium(webserver, browser):
    expected = _expected_groups()
    ARTIFACTS.mkdir(exist_ok=True)

    browser.get(f"{webserver}/asset-groups")
    _wait(browser, lambda d: set(_collapsed_groups(d)) == set(expected))
    _dismiss_modal(browser)
    groups = _wait(browser, lambda d: _settled_counts(d, set(expected)))
    # Each group box shows its name and how many assets it holds.
    assert groups == {g: len(keys) for g, keys in expected.items()}, _collapsed_groups(browser)
    shot = ARTIFACTS / "ui-asset-graph.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")

    # Every group's own graph draws a node per asset (node titles are the last key component).
    # The graph only mounts the nodes inside the viewport, so the window is made tall enough
    # for a whole group.
    browser.set_window_size(1800, 3200)
    for group, keys in sorted(expected.items()):
        names = {k.split("/")[-1] for k in keys}
        browser.get(f"{webserver}/locations/{LOCATION}/asset-groups/{group}")
        seen = _wait(browser, lambda d, names=names: _asset_nodes(d) >= names and _asset_nodes(d))
        assert seen == names, f"group {group}: graph shows {seen}, definitions have {names}"
    unified = expected.get("unified")
    focus = "unified" if unified else sorted(expected)[0]
    browser.get(f"{webserver}/locations/{LOCATION}/asset-groups/{focus}")
    _wait(browser, lambda d: _asset_nodes(d) >= {k.split("/")[-1] for k in expected[focus]})
    _dismiss_modal(browser)
    shot = ARTIFACTS / f"ui-group-{focus}.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    if unified:
        assert _asset_nodes(browser) == {k.split("/")[-1] for k in unified}
