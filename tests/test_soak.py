"""The CI variant of the soak: chat under load while a source is edited and rebuilt, repeatedly."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.server]


def test_no_errors_while_sources_change_and_rebuild():
    # At least three generation switches under load, however slow the machine is today.
    command = [sys.executable, "-m", "bench.soak", "--seconds", "45", "--concurrency", "3", "--min-rebuilds", "3"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(report)
    assert report["errors"] == 0, report["first_errors"]
    assert report["rebuilds"] >= 3 and report["requests"] > 50
    assert report["rss_mb_growth_after_warmup"] < 100
