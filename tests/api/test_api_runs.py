"""``POST /{platform}/sync`` submits a real Dagster run (Gemini, on the demo corpus's Takeout file)
that reaches SUCCESS in the CLI's instance; the platform's health is its real probe; /health and
/api/status report what the run did."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.api.conftest import Server, start_server
from tests.local_fixtures import write_local_corpus


@pytest.fixture(scope="module")
def corpus_server(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("api-runs")
    paths = write_local_corpus(tmp / "corpus")
    server = start_server(
        tmp, {"CHITTY_EXPORTS_DIR": str(paths["exports"]), "CLAUDE_HOME": str(paths["claude"])}
    )
    yield server
    server.stop()


def _wait(server: Server, run_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    with server.client("read") as c:
        while time.monotonic() < deadline:
            resp = c.get(f"/api/runs/{run_id}")
            assert resp.status_code == 200, resp.text
            run = resp.json()["run"]
            if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
                return run
            time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not finish: {run}")


@pytest.mark.slow
def test_platform_sync_runs_and_succeeds(corpus_server: Server) -> None:
    with corpus_server.client("sync") as c:
        resp = c.post("/gemini/sync")
        assert resp.status_code == 202, resp.text
        body = resp.json()
        assert body["success"] is True and body["job"] == "sync_gemini" and body["status"] == "QUEUED"
        assert resp.headers["location"] == f"/api/runs/{body['runId']}"
    run = _wait(corpus_server, body["runId"])
    assert run["status"] == "SUCCESS", Path(
        corpus_server.home / "api-runs" / f"{body['runId']}.log"
    ).read_text()
    assert run["job"] == "sync_gemini" and run["startedAt"] and run["endedAt"]

    import dagster as dg

    with dg.DagsterInstance.from_config(str(corpus_server.home / "dagster")) as instance:
        record = instance.get_run_record_by_id(body["runId"])
        assert record.dagster_run.tags["chitty/trigger"] == "api"
        mats = instance.fetch_materializations(dg.AssetKey(["raw_local", "gemini_prompts"]), limit=5).records
        assert [m.run_id for m in mats] == [body["runId"]]

    with corpus_server.client("read") as c:
        status = c.get("/api/status").json()
        gemini = status["platforms"]["gemini"]
        assert gemini["status"] == "ok" and gemini["rows"] > 0 and gemini["last_sync"]
        assert set(status["platforms"]) >= {
            "claude_code",
            "chatgpt",
            "gemini",
            "neon",
            "notion",
            "github",
            "drive",
            "cloudflare",
        }
        runs = c.get("/api/sync").json()["runs"]
        assert body["runId"] in [r["runId"] for r in runs]
        history = c.get("/api/history").json()
        assert any(r["platform"] == "gemini" for r in history["syncLog"])


def test_platform_health_is_the_real_probe(corpus_server: Server, tmp_path: Path) -> None:
    with corpus_server.client("read") as c:
        ok = c.get("/gemini/health")
        assert ok.status_code == 200 and ok.json()["status"] == "healthy"
        assert ok.json()["checks"]["gemini"]["ok"] is True
        local = c.get("/local/health").json()
        assert set(local["checks"]) == {"claude_code", "chatgpt", "gemini"}
        neon = c.get("/neon/health")
        assert neon.status_code == 200 and neon.json()["status"] == "not_configured"
        assert "NEON_DATABASE_URL" in neon.json()["reason"]

    # an exports folder named but missing: the probe fails, the route says 503 with its reason
    broken = start_server(tmp_path, {"CHITTY_EXPORTS_DIR": str(tmp_path / "gone")})
    try:
        with broken.client("read") as c:
            resp = c.get("/gemini/health")
            assert resp.status_code == 503, resp.text
            assert resp.json()["success"] is False and resp.json()["details"]["checks"]["gemini"]["reason"]
    finally:
        broken.stop()
