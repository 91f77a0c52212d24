"""Schemathesis against our own OpenAPI spec, on a real uvicorn: no 5xx, responses match the schema."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from assistant.api import create_app
from tests.servers import app_in_thread

pytestmark = [pytest.mark.slow, pytest.mark.server]

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def live_url(sample_assistant):
    app_settings = sample_assistant.settings.model_copy(update={"rate_limit_per_minute": 1_000_000})
    with app_in_thread(create_app(app_settings, sample_assistant)) as url:
        yield url


@pytest.fixture(scope="module")
def api_schema(live_url):
    return schemathesis.openapi.from_url(f"{live_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_schema(case):
    case.call_and_validate(checks=CHECKS)
