"""Property-based tests from the API's own OpenAPI schema (schemathesis) against a real server:
no 5xx, every status code documented, every response body matching its schema, schema-invalid
input refused with a 4xx. Bounded: a few examples per operation, so the file runs in about a
minute. The two operations that start Dagster runs are left out (each example would start a
sync process); test_api_runs.py covers them with a real run."""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import Server

MAX_EXAMPLES = 12
SKIPPED = {("POST", "/api/sync"), ("POST", "/{platform}/sync")}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _operations(server: Server):
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    out = []
    for result in schema.get_all_operations():
        op = result.ok()
        if (op.method.upper(), op.path) not in SKIPPED:
            out.append(op)
    return out


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_openapi_properties(server: Server, mode: GenerationMode) -> None:
    operations = _operations(server)
    assert len(operations) >= 20  # every resource route is in the schema
    headers = {"Authorization": f"Bearer {server.tokens['admin']}"}
    checks = CHECKS + ([negative_data_rejection] if mode == GenerationMode.NEGATIVE else [])
    failures = []
    for op in operations:
        # The token goes into the strategy, not only into the call: a negative case that "drops"
        # the Authorization header got it back from the call and, with a query value that is a
        # valid string once serialized, read as accepted negative data (a false positive).
        # Requests without a token are test_api_status_codes.py's.
        @given(case=op.as_strategy(generation_mode=mode, headers=headers))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=server.url, headers=headers, checks=checks)

        try:
            run()
        except hypothesis.errors.Unsatisfiable:  # nothing to make invalid (GET /health has no input)
            continue
        except Exception as exc:  # collect every operation's failure, then report them together
            failures.append(f"{op.method.upper()} {op.path}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
