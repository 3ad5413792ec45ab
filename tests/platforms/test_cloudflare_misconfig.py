"""Cloudflare KV and D1 set up wrongly, as a data engineer can from the README: a namespace or
database id that does not exist, an API base URL where nothing listens, a server that accepts
and never answers. The step fails naming the variable to fix; status and check (the probe) say
the same, where the token verify alone said "token active"."""

from __future__ import annotations

import time

from cloudflare_support import D1, KV, R2, TOKEN, failure_text, fake, free_port, materialize, resource

from chitty_pipelines.kernel.fake_server import Faults
from chitty_pipelines.platforms.cloudflare.health import probe
from chitty_pipelines.warehouse.resource import WarehouseResource

NO_NAMESPACE = "ffffffffffffffffffffffffffffffff"
NO_DATABASE = "ffffffff-0000-4000-8000-000000000000"


def test_unknown_namespace_and_database_name_their_variables(warehouse_resource: WarehouseResource) -> None:
    with fake() as f:
        f.put_kv("ns1", "k", b"v")
        f.d1_execute("db1", "CREATE TABLE t (id INTEGER PRIMARY KEY)")
        cf = resource(api_base_url=f.base_url, api_token=TOKEN)
        kv = materialize(KV, cf.model_copy(update={"kv_namespace_ids": [NO_NAMESPACE]}), warehouse_resource,
                         raise_on_error=False)  # fmt: skip
        assert "check CLOUDFLARE_KV_NAMESPACE_IDS" in failure_text(kv)
        d1 = materialize(D1, cf.model_copy(update={"d1_database_ids": [NO_DATABASE]}), warehouse_resource,
                         raise_on_error=False)  # fmt: skip
        assert "check CLOUDFLARE_D1_DATABASE_IDS" in failure_text(d1)

        good = probe(cf.model_copy(update={"kv_namespace_ids": ["ns1"], "d1_database_ids": ["db1"]}))
        assert good["ok"] is True, good
        bad_kv = probe(cf.model_copy(update={"kv_namespace_ids": ["ns1", NO_NAMESPACE]}))
        assert bad_kv["ok"] is False and "check CLOUDFLARE_KV_NAMESPACE_IDS" in bad_kv["reason"]
        bad_d1 = probe(cf.model_copy(update={"d1_database_ids": [NO_DATABASE]}))
        assert bad_d1["ok"] is False and "check CLOUDFLARE_D1_DATABASE_IDS" in bad_d1["reason"]
        assert TOKEN not in bad_kv["reason"] + bad_d1["reason"]


def test_nothing_listening_fails_naming_the_api_base_url(warehouse_resource: WarehouseResource) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    cf = resource(api_base_url=base, api_token=TOKEN, kv_namespace_ids=["ns1"], api_attempts=2)
    text = failure_text(materialize(KV, cf, warehouse_resource, raise_on_error=False))
    assert f"no answer from {base}" in text and "check CLOUDFLARE_API_BASE_URL" in text
    reason = probe(cf)["reason"]
    assert "check CLOUDFLARE_API_BASE_URL" in reason and base in reason


def test_a_server_that_never_answers_times_out_naming_the_settings(
    warehouse_resource: WarehouseResource,
) -> None:
    with fake(faults=Faults(timeout_rate=1.0, timeout_hold_s=3.0)) as f:
        cf = resource(
            api_base_url=f.base_url,
            api_token=TOKEN,
            kv_namespace_ids=["ns1"],
            api_attempts=2,
            api_timeout_s=0.5,
        )
        t0 = time.monotonic()
        result = materialize(KV, cf, warehouse_resource, raise_on_error=False)
        elapsed = time.monotonic() - t0
    text = failure_text(result)
    assert "APITimeoutError" in text and "CLOUDFLARE_API_TIMEOUT_S is 0.5 s" in text
    assert elapsed < 30  # bounded by the timeout, not the server's 3 s hold per request


def test_an_r2_endpoint_that_never_answers_names_it_and_the_timeout(
    warehouse_resource: WarehouseResource,
) -> None:
    """R2 said only "R2 list bucket b: ReadTimeoutError"."""
    import socket
    import threading

    held: list[socket.socket] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def accept() -> None:  # accepts every connection and never answers
        try:
            while True:
                held.append(server.accept()[0])
        except OSError:
            return

    threading.Thread(target=accept, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.getsockname()[1]}"
    cf = resource(
        r2_endpoint_url=endpoint,
        r2_access_key_id="key-id-xyz",
        r2_secret_access_key="r2-secret-SECRET-0123",
        r2_buckets=["b"],
        r2_timeout_s=0.5,
        r2_attempts=2,
    )
    try:
        text = failure_text(materialize(R2, cf, warehouse_resource, raise_on_error=False))
    finally:
        server.close()
        for conn in held:
            conn.close()
    assert f"no answer from {endpoint}" in text and "check CLOUDFLARE_R2_ENDPOINT" in text
    assert "CLOUDFLARE_R2_TIMEOUT_S is 0.5 s" in text and "r2-secret-SECRET-0123" not in text
