"""``chitty-sync check`` against healthy, degraded and down fakes: lines, score, exit code,
``--json``; tokens never printed. Also ``services`` and ``register``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from chitty_pipelines import config
from chitty_pipelines.chittyos.fake import ChittyOSFakes
from chitty_pipelines.cli import app
from chitty_pipelines.ops.registration import record, register_all
from chitty_pipelines.platforms import registry
from chitty_pipelines.warehouse import Warehouse

TOKENS = ("register-token", "registry-token", "id-token")  # ChittyOSFakes defaults

runner = CliRunner()


def _check(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["check", "--json", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, json.loads(result.stdout)


def _verdicts(report: dict) -> dict[tuple[int, str], str]:
    return {(line["test"], line["name"]): line["verdict"] for line in report["lines"]}


def _synced(warehouse: Warehouse) -> None:
    with warehouse.transaction("sync-run") as tx:
        tx.log_sync(
            platform="github", asset="raw_github.repositories", started_at=datetime.now(UTC), status="success"
        )


@pytest.fixture
def registered(
    ops_env: ChittyOSFakes, services_resource, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> ChittyOSFakes:
    record(warehouse, "reg-run", register_all(services_resource))
    _synced(warehouse)
    # Test 13 counts the platforms configured now: GitHub, whose sync the log holds.
    monkeypatch.setattr(registry, "configured", lambda: [registry.BY_NAME["github"]])
    return ops_env


def test_healthy_everything_passes(registered: ChittyOSFakes):
    code, report = _check()
    assert code == 0
    assert report["counts"] == {"PASS": 19, "WARN": 0, "FAIL": 0, "SKIP": len(registry.NAMES)}
    assert report["score"] == 100 and report["passed"] is True
    verdicts = _verdicts(report)
    assert {verdicts[(12, n)] for n in ("identity", "register", "registry", "schema")} == {"PASS"}
    assert (
        verdicts[(13, "id mint")]
        == verdicts[(13, "registry list")]
        == verdicts[(13, "sync status")]
        == "PASS"
    )
    assert all(verdicts[(11, p)] == "SKIP" for p in registry.NAMES)
    assert len(registered.identity.minted) == 1  # one id minted and validated


def test_degraded_lines_say_why_and_the_threshold_decides(registered: ChittyOSFakes):
    registered.unhealthy("canon", "degraded")  # 200, but not healthy
    registered.services["schema"].placeholder()  # 200 with an HTML page
    registered.registry.forget("auth")  # registration reported success, now missing
    code, report = _check()
    lines = {(line["test"], line["name"]): line for line in report["lines"]}
    assert lines[(12, "canon")]["verdict"] == "WARN" and "degraded" in lines[(12, "canon")]["reason"]
    assert lines[(12, "schema")]["verdict"] == "WARN"
    assert lines[(12, "schema")]["reason"] == "200 but the body is not a JSON object"
    assert lines[(14, "auth")]["verdict"] == "FAIL"
    assert lines[(14, "auth")]["reason"].startswith("reported registered but missing")
    assert report["counts"] == {"PASS": 16, "WARN": 2, "FAIL": 1, "SKIP": len(registry.NAMES)}
    assert report["score"] == 84  # floor(16 * 100 / 19)
    assert code == 1  # above the threshold, but a configured FAIL always fails the check


def test_the_threshold_decides_on_warnings(registered: ChittyOSFakes):
    registered.unhealthy("canon", "degraded")
    registered.services["schema"].placeholder()
    code, report = _check()
    assert report["counts"]["WARN"] == 2 and report["counts"]["FAIL"] == 0
    assert (report["score"], code) == (89, 0)  # floor(17 * 100 / 19)
    code, report = _check("--threshold", "90")
    assert code == 1 and report["passed"] is False


def test_a_required_service_failing_is_a_fail(registered: ChittyOSFakes):
    registered.fail("register", 500)
    code, report = _check()
    verdicts = _verdicts(report)
    assert verdicts[(12, "register")] == "FAIL"
    assert all(verdicts[(14, n)] == "WARN" for n in ("identity", "sync", "schema"))  # cannot verify
    assert code == 1


def test_everything_down(ops_env: ChittyOSFakes):
    for name in list(ops_env.services):
        ops_env.down(name)
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 1
    text = result.stdout
    assert "FAIL 12 core services identity      unreachable: connection refused" in text
    assert "WARN 12 core services canon         unreachable: connection refused" in text
    assert "FAIL 13 integration   id mint       id service unavailable" in text
    skipped = len(registry.NAMES)
    score = (
        f"score 0% (0 PASS, 16 WARN, 3 FAIL; {skipped} not configured, not counted); threshold 80%: failed"
    )
    assert score in text
    for token in TOKENS:
        assert token not in result.output


def test_wrong_id_token_fails_mint_and_names_the_variable(registered: ChittyOSFakes, monkeypatch):
    monkeypatch.setenv("CHITTY_ID_TOKEN", "not-the-right-secret")
    code, report = _check()
    line = next(ln for ln in report["lines"] if ln["name"] == "id mint")
    assert line["verdict"] == "FAIL" and "CHITTY_ID_TOKEN" in line["reason"]
    # floor(18 * 100 / 19) is above the threshold, but a configured FAIL fails the check
    assert (report["score"], report["passed"], code) == (94, False, 1)
    assert "not-the-right-secret" not in json.dumps(report)
    monkeypatch.delenv("CHITTY_ID_TOKEN")
    _code, report = _check()
    line = next(ln for ln in report["lines"] if ln["name"] == "id mint")
    assert line["verdict"] == "SKIP" and "CHITTY_ID_TOKEN" in line["reason"]


def test_services_command_shows_health_and_registration(registered: ChittyOSFakes):
    result = runner.invoke(app, ["services", "--json"])
    assert result.exit_code == 0
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"identity", "sync", "register", "registry", "auth", "gateway", "canon", "schema"}
    assert rows["canon"]["healthy"] is True and rows["canon"]["register"] == "pending"
    assert rows["canon"]["registry"] == "discoverable"
    offline = runner.invoke(app, ["services", "--json", "--no-probe"])
    assert json.loads(offline.stdout)[0]["healthy"] is None  # nothing probed or recorded yet


def test_status_shows_core_services(registered: ChittyOSFakes):
    registered.down("schema")
    result = runner.invoke(app, ["status"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("| ")]  # piped: markdown
    row = {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[2:-1]] for ln in lines}
    assert row["canon"][0] == "ok" and row["canon"][2:] == ["pending", "discoverable"]
    assert row["schema"][0].startswith("FAIL: connection refused")


def test_a_configured_platform_is_checked_through_its_resource(registered: ChittyOSFakes, monkeypatch):
    from chitty_pipelines.platforms.github.fake import GitHubFake

    with GitHubFake(tokens={"ghp_secret_for_check": "octo"}) as github:
        github.add_owner("octo", "User")  # the probe looks GITHUB_OWNERS up, as the sync would
        monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret_for_check")
        monkeypatch.setenv("GITHUB_OWNERS", "octo")
        monkeypatch.setenv("GITHUB_BASE_URL", github.api_url)
        code, report = _check()
        line = next(ln for ln in report["lines"] if (ln["test"], ln["name"]) == (11, "github"))
        assert line["verdict"] == "PASS" and line["reason"].startswith("GITHUB_TOKEN accepted")
        assert report["counts"]["PASS"] == 20 and code == 0
        github.revoke("ghp_secret_for_check")
        code, report = _check()
        line = next(ln for ln in report["lines"] if (ln["test"], ln["name"]) == (11, "github"))
        assert line["verdict"] == "FAIL" and "GITHUB_TOKEN" in line["reason"]
        assert "ghp_secret_for_check" not in json.dumps(report)


def test_sync_status_counts_only_configured_platforms(warehouse, monkeypatch) -> None:
    """A platform that failed once and was then unset is no finding; with nothing configured the
    line is skipped, not a warning telling a user who just synced to sync again."""
    from datetime import UTC, datetime

    from chitty_pipelines.ops import check
    from chitty_pipelines.platforms import registry

    with warehouse.transaction("r1") as tx:
        tx.log_sync(
            platform="notion", asset="raw_notion/pages", started_at=datetime.now(UTC), status="failed"
        )
        tx.log_sync(
            platform="gemini",
            asset="raw_local/gemini_prompts",
            started_at=datetime.now(UTC),
            status="success",
        )
    gemini = registry.BY_NAME["gemini"]
    monkeypatch.setattr(registry, "configured", lambda: [gemini])
    line = check._sync_status_line(warehouse)
    assert (line.verdict, line.reason) == (check.PASS, "1 platforms configured; synced: gemini")
    monkeypatch.setattr(registry, "configured", lambda: [gemini, registry.BY_NAME["notion"]])
    assert check._sync_status_line(warehouse).verdict == check.WARN  # notion is configured again
    monkeypatch.setattr(registry, "configured", lambda: [])
    assert check._sync_status_line(warehouse).verdict == check.SKIP


def test_nothing_configured_is_not_a_score(tmp_path) -> None:
    """With nothing configured every line is skipped: check says there was nothing to score (not
    "score 100%") and exits 0, since nothing failed."""
    import os
    import subprocess
    import sys

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "CHITTY_HOME": str(tmp_path / "chitty"),
        "CHITTY_OFFLINE": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "chitty_pipelines.cli", "check"], env=env, capture_output=True, text=True
    )
    last = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 0, done.stderr
    assert last.startswith("nothing to score: all ") and "skipped (nothing configured)" in last
    assert "100%" not in done.stdout


def test_not_configured_reads_as_not_configured_in_aligned_columns(tmp_path) -> None:
    """Nothing set (and not offline): a service that is not configured is not "unreachable" and
    has no latency; every name, "registry list" included, fits its column."""
    import os
    import subprocess
    import sys

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "CHITTY_HOME": str(tmp_path / "c"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "chitty_pipelines.cli", "check"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("SKIP ")]
    assert len(lines) > 20 and "unreachable" not in done.stdout and " ms)" not in done.stdout
    assert "SKIP 12 core services identity      not configured: set CHITTY_ID_URL" in done.stdout
    assert "SKIP 13 integration   registry list not configured" in done.stdout
    # The reasons start in one column: after the longest name (13 characters) and one space.
    column = len("SKIP 11 platforms     ") + len("registry list") + 1
    assert all(line[column - 1] == " " and line[column] != " " for line in lines), lines


def test_registered_at_is_only_the_time_of_a_registration(
    ops_env: ChittyOSFakes, services_resource, warehouse: Warehouse
):
    """`registered_at` named the last attempt's time even when Register refused or was down, so
    `status --json` showed a registration time for services never registered."""
    ops_env.fail("register", 503)
    record(warehouse, "down-run", register_all(services_resource))
    rows = json.loads(runner.invoke(app, ["services", "--json", "--no-probe"]).stdout)
    assert {(r["register"], r["registered_at"]) for r in rows} == {("unavailable", None)}
    ops_env.register.faults.rate = 0.0
    record(warehouse, "up-run", register_all(services_resource))
    rows = json.loads(runner.invoke(app, ["services", "--json"]).stdout)
    for r in rows:  # one ISO format for both times
        assert r["register"] == "pending"
        assert datetime.fromisoformat(r["registered_at"]).tzinfo is not None and "T" in r["registered_at"]
        assert "T" in r["checked_at"]


@pytest.mark.parametrize(
    ("var", "value", "says"),
    [
        ("CHITTY_ID_URL", "ftp://id.example", "CHITTY_ID_URL='ftp://id.example' is not an http(s) URL"),
        ("CHITTY_REGISTER_URL", "register.chitty.cc", "CHITTY_REGISTER_URL='register.chitty.cc' is not an"),
        ("CHITTY_SERVICE_URLS", "canon", "CHITTY_SERVICE_URLS: 'canon' is not name=url"),
        ("CHITTY_SERVICE_URLS", "cannon=https://c.example", "CHITTY_SERVICE_URLS: 'cannon' is not a core"),
        ("CHITTY_SERVICE_URLS", "canon=c.example", "CHITTY_SERVICE_URLS: canon='c.example' is not an http"),
    ],
)
def test_a_malformed_service_url_names_its_variable(tmp_path, var, value, says):
    """A URL without http(s) crashed check (InvalidSchema: No connection adapters...), or became
    a WARN "UnsupportedProtocol"; a CHITTY_SERVICE_URLS pair without '=' or naming no core
    service was silently ignored (the service then read "not configured")."""
    env = _clean_env(
        tmp_path,
        DAGSTER_HOME=str(tmp_path / "dagster"),
        CHITTY_ID_TOKEN="id-token",
        CHITTY_ID_URL="http://127.0.0.1:9",
        CHITTY_OPS_TIMEOUT="1",
    )
    env[var] = value
    commands = (["check"], ["services"]) if var == "CHITTY_ID_URL" else (["check"],)
    for command in commands:
        run = _cli(env, *command)
        assert run.returncode == 1, run.stdout + run.stderr
        assert says in run.stderr, run.stdout + run.stderr
        assert "Traceback" not in run.stderr and "Error:" not in run.stderr
        assert "id-token" not in run.stdout + run.stderr


@pytest.mark.parametrize(
    ("var", "value", "says"),
    [
        (
            "CHITTY_REGISTRY_ROUTES",
            "bogus",
            "CHITTY_REGISTRY_ROUTES='bogus' is not known: set it to stub or v1",
        ),
        (
            "CHITTY_REGISTRY_AUTH",
            "basic",
            "CHITTY_REGISTRY_AUTH='basic' is not known: set it to none, bearer",
        ),
        ("CHITTY_REGISTER_API", "v2", "CHITTY_REGISTER_API='v2' is not known: set it to v1 or legacy"),
    ],
)
def test_an_unknown_registry_mode_is_a_configuration_error(tmp_path, var, value, says):
    """These read "ValueError: CHITTY_REGISTRY_ROUTES must be stub or v1, not 'bogus'": an
    exception's class name where every other configuration error says what to set."""
    env = _clean_env(tmp_path, CHITTY_OPS_TIMEOUT="1")
    env.update(CHITTY_REGISTER_URL="http://127.0.0.1:9", CHITTY_REGISTRY_URL="http://127.0.0.1:9")
    env[var] = value
    run = _cli(env, "check")
    assert run.returncode == 1, run.stdout + run.stderr
    assert says in run.stderr and "ValueError" not in run.stderr, run.stderr


def test_check_help_says_a_fail_exits_1() -> None:
    """The help said "Exit 1 below the threshold" only, while any FAIL exits 1 at any score."""
    result = runner.invoke(app, ["check", "--help"], env={"COLUMNS": "200"})
    assert "Exit 1 below the threshold or on any FAIL." in result.output


def test_register_marks_a_failed_check_apart_from_a_passed_one(ops_env: ChittyOSFakes, tmp_path):
    """`register` printed every asset check as "· <check>", failed or passed alike: with Register
    down, "· ops/service_registrations:registered_with_register" read like a step that ran."""
    ops_env.fail("register", 503)
    run = _cli(_clean_env(tmp_path, **ops_env.env()), "register")
    assert run.returncode == 1, run.stdout + run.stderr
    lines = (run.stdout + run.stderr).splitlines()
    failed = "! ops/service_registrations:registered_with_register"  # then what it counted
    assert any(line.startswith(failed) for line in lines), lines
    assert "✓ ops/service_registrations:discoverable_in_registry" in lines, lines


def _clean_env(tmp_path, **extra: str) -> dict[str, str]:
    """This environment without any variable chitty-pipelines reads, a fresh home, and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not any(k == s.name for s in config.ENV_VARS)}
    env.update(HOME=str(tmp_path), CHITTY_HOME=str(tmp_path / "home"), **extra)
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "chitty_pipelines.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
