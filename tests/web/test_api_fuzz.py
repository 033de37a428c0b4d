"""API fuzzing (issue 13): schemathesis generates requests for every operation in the app's OpenAPI document
(fetched, signed in, from /api/openapi.json) and sends them to the app in-process (ASGI) as a signed-in
administrator with a valid CSRF token, so forms, uploads and the planner are reached, not just refused.
No request may give a server error (5xx). Examples per operation are bounded to keep the run short."""

from __future__ import annotations

import pytest
import schemathesis
import test_planner_pages
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from conftest import csrf_from, login

planner_app = test_planner_pages.planner_app  # warehouse, populations and roster: the planner is reachable
EXAMPLES_PER_OPERATION = 8
REQUEST_TIMEOUT = 90  # seconds; a planner comparison on a loaded machine can take more than the default 10
NOT_FUZZED = {("POST", "/logout")}  # would end the fuzzing session itself


@pytest.fixture(scope="module")
def signed_in(planner_app) -> dict:
    client = TestClient(planner_app)
    assert login(client, "admin").status_code == 303
    token = csrf_from(client.get("/admin/users").text)
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    return {"Cookie": cookie, "X-CSRF-Token": token}


def test_no_operation_gives_a_server_error(planner_app, signed_in):
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", planner_app, headers=signed_in)
    warm = TestClient(planner_app, headers=signed_in).get("/plan/compare")  # the first task starts a worker
    assert warm.status_code == 200
    operations = [result.ok() for result in schema.get_all_operations()]
    fuzzed = [op for op in operations if (op.method.upper(), op.path) not in NOT_FUZZED]
    assert len(fuzzed) >= 25 and any(op.path == "/plan/roster" and op.method.upper() == "POST" for op in fuzzed)
    errors, statuses = [], []
    for operation in fuzzed:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def send(case):
            response = case.call(headers=signed_in, timeout=REQUEST_TIMEOUT)
            statuses.append((case.path, response.status_code))
            if response.status_code >= 500:
                errors.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                              f"{case.as_curl_command()}")

        send()
    assert errors == []
    # answered as a signed-in administrator with a valid CSRF token, not refused at the door
    assert sum(status == 200 for _, status in statuses) >= 25
    assert not [(path, status) for path, status in statuses if status == 403 or (status == 401 and path != "/login")]
