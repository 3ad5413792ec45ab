"""``chitty-sync status --json``: one JSON object (platforms, unified tables, services, runs,
warnings, warehouse) valid against the schema printed in the README."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from chitty_pipelines import config
from chitty_pipelines.cli import app
from chitty_pipelines.unified.entity_tables import PROJECTS
from chitty_pipelines.warehouse import Warehouse

README = Path(__file__).resolve().parents[1] / "README.md"
runner = CliRunner()


def readme_schema() -> dict:
    text = README.read_text()
    block = re.search(
        r"<!-- status-schema:start -->\s*```json\n(.*?)```\s*<!-- status-schema:end -->", text, re.S
    )
    assert block, "the README has no status schema block"
    return json.loads(block.group(1))


@pytest.fixture
def local_machine(chitty_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for spec in config.ENV_VARS:  # no real token of this machine may count
        if spec.platform and spec.platform not in ("claude_code", "chatgpt", "gemini"):
            monkeypatch.delenv(spec.name, raising=False)
    for name in ("CHITTY_SERVICE_URLS", "CHITTY_ID_URL", "CHITTY_REGISTER_URL", "CHITTY_REGISTRY_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    (tmp_path / "claude" / "projects").mkdir(parents=True)
    monkeypatch.setenv("CHITTY_EXPORTS_DIR", str(tmp_path / "no-such-exports"))  # named, missing
    return tmp_path


def test_status_json_is_one_object_valid_against_the_readme_schema(local_machine, warehouse: Warehouse):
    with warehouse.transaction("run-1") as tx:
        tx.log_sync(
            platform="claude_code",
            asset="raw_local/claude_sessions",
            started_at=datetime.now(UTC),
            status="success",
        )
        tx.ensure(PROJECTS)
        tx.upsert(PROJECTS, [{"project_key": "alpha", "name": "Alpha", "built_at": datetime.now(UTC)}])
        tx.log_sync(
            platform="unified", asset="unified/projects", started_at=datetime.now(UTC), status="success"
        )
    schema = readme_schema()
    for args in (["status", "--json"], ["status", "--json", "--no-health"]):
        result = runner.invoke(app, args, env={"COLUMNS": "40"})
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)  # the whole of stdout is one JSON value...
        assert isinstance(doc, dict)  # ...and it is an object
        jsonschema.validate(doc, schema)
        assert doc["warehouse"]["exists"] is True and doc["warehouse"]["size_bytes"] > 0
        claude = next(p for p in doc["platforms"] if p["platform"] == "claude_code")
        assert claude["last_status"] == "success"
        projects = next(t for t in doc["unified"]["tables"] if t["table"] == "unified.projects")
        assert (
            projects["rows"] == 1
            and projects["last_materialization"]
            and projects["last_status"] == "success"
        )
        assert doc["unified"]["counts"]["projects"] == 1
        canon = next(s for s in doc["services"] if s["name"] == "canon")
        assert canon["state"] == "not_configured"
        # never contacted: nothing measured (it showed healthy false and 0 ms)
        assert canon["healthy"] is None and canon["reachable"] is None and canon["latency_ms"] is None
        assert any("CHITTY_EXPORTS_DIR" in w["message"] for w in doc["warnings"])


def test_the_schema_rejects_what_is_not_the_status(local_machine):
    """The schema is not vacuous: a list of platforms (the old output) or a missing part fails."""
    schema = readme_schema()
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([{"platform": "github"}], schema)
    doc = json.loads(runner.invoke(app, ["status", "--json", "--no-health"]).stdout)
    del doc["services"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
