"""Schemathesis against our own OpenAPI spec, on a real uvicorn: no 5xx, responses match the schema.

Runs the `schemathesis` CLI (its pytest plugin does not support pytest 9 yet) and reads its report.
"""

import re
import subprocess

import pytest

from assistant.api import create_app
from tests.servers import BIN, app_in_thread

pytestmark = [pytest.mark.slow, pytest.mark.server]

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_every_endpoint_survives_fuzzing_and_matches_its_schema(sample_assistant, tmp_path):
    settings = sample_assistant.settings.model_copy(update={"rate_limit_per_minute": 1_000_000})
    with app_in_thread(create_app(settings, sample_assistant)) as url:
        result = subprocess.run(
            [
                str(BIN / "schemathesis"),
                "run",
                f"{url}/openapi.json",
                "--checks",
                CHECKS,
                "--max-examples",
                "30",
                "--seed",
                "1",
                "--report-dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
    output = result.stdout + result.stderr
    print(output[-3000:])
    assert result.returncode == 0, output[-4000:]
    cases = re.search(r"(\d+) generated", output)
    assert cases and int(cases.group(1)) > 100, "too few fuzz cases ran"
