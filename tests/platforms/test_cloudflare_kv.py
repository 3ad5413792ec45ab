"""Workers KV through the official SDK against the v4 fake: pages, values, incremental, faults."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from chitty_pipelines.kernel.fake_server import Faults
from chitty_pipelines.platforms.cloudflare.fake import FakeCloudflare
from chitty_pipelines.platforms.cloudflare.health import probe
from chitty_pipelines.platforms.cloudflare.kv import list_keys
from chitty_pipelines.platforms.cloudflare.tables import KV_KEY
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.resource import WarehouseResource
from tests.import_probe import imported_by
from tests.platforms.cloudflare_support import (
    ACCOUNT,
    KV,
    OP,
    TOKEN,
    failure_text,
    fake,
    materialize,
    metadata,
    resource,
    rows,
)
from tests.warehouse_support import warehouse_resource_at

N_KEYS = 130  # three list pages of 50 (the 1,000 default is covered by test_default_page_is_1000_keys)
PAGE = 50


def _seed(f: FakeCloudflare) -> None:
    for i in range(N_KEYS):
        f.put_kv(
            "ns-a",
            f"session:{i:05d}",
            json.dumps({"i": i}),
            expiration=1_900_000_000 + i if i % 7 == 0 else None,
            metadata={"v": 1, "kind": "session"} if i % 5 == 0 else None,
        )
    f.put_kv("ns-b", "blob", b"\xff\x00\xfe")
    f.put_kv("ns-b", "path/with spaces?&#", "odd key")


@pytest.fixture
def kv_fake() -> Iterator[FakeCloudflare]:
    with fake() as f:
        _seed(f)
        yield f  # type: ignore[misc]


def _kv(f: FakeCloudflare, **kw: Any):
    settings: dict[str, Any] = {
        "api_base_url": f.base_url,
        "api_token": dg.EnvVar("CLOUDFLARE_API_TOKEN"),
        "kv_namespace_ids": ["ns-a", "ns-b"],
        "kv_concurrency": 8,
        "kv_page_size": PAGE,
    }
    return resource(**{**settings, **kw})


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)


def _table(wh: Warehouse) -> list[tuple[Any, ...]]:
    return rows(
        wh,
        "SELECT namespace_id, key, epoch(expiration), metadata, value, value_encoding, value_bytes "
        "FROM raw_cloudflare.kv_entries ORDER BY namespace_id, key",
    )


def _expected() -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for i in range(N_KEYS):
        value = json.dumps({"i": i})
        meta = '{"kind":"session","v":1}' if i % 5 == 0 else None
        exp = float(1_900_000_000 + i) if i % 7 == 0 else None
        out.append(("ns-a", f"session:{i:05d}", exp, meta, value, "utf8", len(value)))
    out.append(("ns-b", "blob", None, None, base64.b64encode(b"\xff\x00\xfe").decode(), "base64", 3))
    out.append(("ns-b", "path/with spaces?&#", None, None, "odd key", "utf8", 7))
    return out


def _values_read(f: FakeCloudflare) -> int:
    return sum(n for path, n in f.requests.items() if "/values/" in path)


def test_keys_and_values_are_exact(
    kv_fake: FakeCloudflare, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    result = materialize(KV, _kv(kv_fake), warehouse_resource)
    assert _table(warehouse) == _expected()
    md = metadata(result, KV_KEY)
    assert (md["dagster/row_count"], md["keys_listed"], md["values_read"], md["new"]) == (N_KEYS + 2,) * 2 + (
        N_KEYS + 2,
        N_KEYS + 2,
    )
    # 3 pages for ns-a, 1 for ns-b, one read per value.
    list_calls = sum(n for path, n in kv_fake.requests.items() if path.endswith("/keys"))
    assert list_calls == 4 and _values_read(kv_fake) == N_KEYS + 2
    assert md["api_requests"] == kv_fake.total_requests


def test_no_change_resync_lists_only_and_k_changes_read_k_values(
    kv_fake: FakeCloudflare, warehouse_resource: WarehouseResource, warehouse: Warehouse
) -> None:
    cf = _kv(kv_fake)
    materialize(KV, cf, warehouse_resource)
    kv_fake.reset_counters()
    md = metadata(materialize(KV, cf, warehouse_resource), KV_KEY)
    assert _values_read(kv_fake) == 0 and kv_fake.total_requests == 4
    assert (md["rows_written"], md["new"], md["changed"], md["deleted"]) == (0, 0, 0, 0)

    kv_fake.put_kv("ns-a", "session:00001", "v2", metadata={"v": 2})  # metadata changed -> re-read
    kv_fake.put_kv("ns-a", "session:00002", "v2", expiration=2_000_000_000)  # expiration changed
    kv_fake.put_kv("ns-b", "new-key", "fresh")
    kv_fake.delete_kv("ns-a", "session:00003")
    kv_fake.reset_counters()
    md = metadata(materialize(KV, cf, warehouse_resource), KV_KEY)
    assert _values_read(kv_fake) == 3
    assert (md["new"], md["changed"], md["deleted"], md["rows_written"]) == (1, 2, 1, 3)
    table = {(r[0], r[1]): r for r in _table(warehouse)}
    assert table[("ns-a", "session:00001")][3:5] == ('{"v":2}', "v2")
    assert table[("ns-a", "session:00002")][2] == 2_000_000_000.0
    assert table[("ns-b", "new-key")][4] == "fresh"
    assert ("ns-a", "session:00003") not in table and len(table) == N_KEYS + 2


def test_no_change_resync_reads_stored_entries_without_pandas(
    kv_fake: FakeCloudflare, warehouse_resource: WarehouseResource
) -> None:
    """A step is a fresh interpreter: a re-sync that finds nothing changed (keys with and without
    expiration and metadata) reads the stored entries as plain rows, so it never pays pandas'
    import (~0.3 s), and sees every entry unchanged."""
    materialize(KV, _kv(kv_fake), warehouse_resource)
    code = f"""
from chitty_pipelines.platforms.cloudflare.resource import CloudflareResource
from chitty_pipelines.platforms.cloudflare.streams import sync_kv
from chitty_pipelines.warehouse import Warehouse
wh = Warehouse({warehouse_resource.path!r}, url={warehouse_resource.url!r})
cf = CloudflareResource(account_id={ACCOUNT!r}, api_token={TOKEN!r}, api_base_url={kv_fake.base_url!r},
                        kv_namespace_ids=["ns-a", "ns-b"], kv_page_size={PAGE}, api_rate_per_s=0)
result = sync_kv(cf, wh, "probe", False, print)
assert (result.rows_written, result.metadata["changed"], result.metadata["new"]) == (0, 0, 0), result
"""
    assert imported_by(code, ("pandas",)) == []
    # The probe sees pandas at all: a DataFrame read in the same process imports it.
    assert imported_by(code + 'wh.query("SELECT 1")\n', ("pandas",)) == ["pandas"]


def test_default_page_is_1000_keys() -> None:
    with fake() as f:
        for i in range(1001):
            f.put_kv("big", f"k{i:04d}", "v")
        api = resource(api_base_url=f.base_url, api_token=TOKEN).api()
        assert len(list_keys(api, "big")) == 1001
        # The fake serves at most ``limit`` keys a page: 1,001 keys in two calls means pages of 1,000.
        assert f.requests["GET /accounts/acc123/storage/kv/namespaces/big/keys"] == 2


def test_twenty_percent_faults_give_the_same_table(
    warehouse_resource: WarehouseResource, tmp_path: Path
) -> None:
    def run(f: FakeCloudflare, target: WarehouseResource) -> list[tuple[Any, ...]]:
        for i in range(150):
            f.put_kv("ns-a", f"k{i:03d}", f"value {i}", metadata={"n": i} if i % 2 else None)
        materialize(KV, _kv(f, kv_namespace_ids=["ns-a"], kv_page_size=40, api_attempts=12), target)
        return _table(target.get())

    with fake() as clean_fake:
        clean = run(clean_fake, warehouse_resource)
    with fake(faults=Faults(rate=0.2, retry_after_s=0.01, statuses=(429, 500, 502, 503), seed=11)) as flaky:
        faulty = run(flaky, warehouse_resource_at(tmp_path / "faulty.duckdb", lock_timeout_s=60))
        faulted = sum(1 for _m, _p, status in flaky.log if status in (429, 500, 502, 503))
    assert faulted >= 25  # about a fifth of the ~190 requests failed (list pages and values) and were retried
    assert len(clean) == 150 and faulty == clean


def test_rate_limit_429_is_waited_out_and_pacing_avoids_it(warehouse_resource: WarehouseResource) -> None:
    limits = {"rate_limit": 10, "rate_window_s": 0.25, "rate_retry_after_s": 0.25}
    with fake(**limits) as f:
        for i in range(30):
            f.put_kv("ns-a", f"k{i:02d}", str(i))
        unpaced = _kv(f, kv_namespace_ids=["ns-a"], api_rate_per_s=0, api_attempts=12)
        result = materialize(KV, unpaced, warehouse_resource)
        assert f.rate_limited > 0  # the burst hit the limit, and Retry-After was honoured
        assert metadata(result, KV_KEY)["dagster/row_count"] == 30
    with fake(**limits) as f:
        for i in range(30):
            f.put_kv("ns-a", f"k{i:02d}", str(i))
        paced = _kv(f, kv_namespace_ids=["ns-a"], api_rate_per_s=30)  # 7.5 per window < 10
        materialize(KV, paced, warehouse_resource, run_config=_full())
        assert f.rate_limited == 0 and f.total_requests == 31


def _full() -> dict[str, Any]:
    return {"ops": {OP: {"config": {"full_refresh": True}}}}


def test_wrong_token_fails_fast_naming_the_variable_and_never_leaks(
    kv_fake: FakeCloudflare, warehouse_resource: WarehouseResource, monkeypatch: pytest.MonkeyPatch
) -> None:
    leaked = "cf-REVOKED-token-77aa"
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", leaked)
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(KV, _kv(kv_fake), warehouse_resource, raise_on_error=False, instance=instance)
    assert not result.success
    text = failure_text(result)
    assert "CLOUDFLARE_API_TOKEN" in text and "code 10000: Authentication error" in text
    assert kv_fake.total_requests == 1  # not retried
    logs = "".join(repr(e) for e in instance.all_logs(result.run_id))
    assert leaked not in text and leaked not in logs


def test_token_never_appears_in_metadata_logs_or_warehouse(
    kv_fake: FakeCloudflare,
    warehouse_resource: WarehouseResource,
    warehouse: Warehouse,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # the SDK and httpx log requests at DEBUG
    kv_fake.faults = Faults(rate=0.2, retry_after_s=0.0, seed=3)  # retries log warnings too
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(KV, _kv(kv_fake, api_attempts=10), warehouse_resource, instance=instance)
    logs = "".join(repr(e) for e in instance.all_logs(result.run_id))
    dump = "".join(
        warehouse.query(f"SELECT * FROM {t}").to_csv()
        for t in ("ops.sync_log", "ops.sync_cursors", "ops.rejects")
    )
    assert "kv_entries" in logs and "kv_entries" in dump and "/storage/kv/namespaces/" in caplog.text
    for text in (logs, dump, caplog.text, repr(metadata(result, KV_KEY))):
        assert TOKEN not in text


def test_health_outside_a_run_resolves_the_env_var(
    kv_fake: FakeCloudflare, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _kv(kv_fake).api_health() == {"ok": True, "configured": True, "reason": "token active"}
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "wrong")
    bad = probe(_kv(kv_fake))
    assert (
        bad["ok"] is False and "CLOUDFLARE_API_TOKEN" in bad["api"]["reason"] and "wrong" not in bad["reason"]
    )


def test_file_pacer_spaces_calls_across_independent_pacers(tmp_path: Path) -> None:
    """Two pacers on one file stand for the KV and D1 steps in two processes: one schedule."""
    import threading
    import time

    from chitty_pipelines.platforms.cloudflare.pacing import FilePacer

    pacers = [FilePacer(20, tmp_path / "p.pace"), FilePacer(20, tmp_path / "p.pace")]
    stamps: list[float] = []

    def work(p: FilePacer) -> None:
        for _ in range(8):
            p.wait()
            stamps.append(time.monotonic())

    threads = [threading.Thread(target=work, args=(p,)) for p in pacers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    assert stamps[-1] - stamps[0] >= 15 * 0.05 - 0.01  # 16 calls at 20/s
