"""`make test` spreads the suite over processes without splitting what must stay together.

Tests sharing a module's fixture (or the Rasa server, or tests/scale's cluster) get one
``xdist_group`` from tests/conftest.py, and pytest-xdist runs a group in one process. When a
pytest release stopped reading the group pytest-xdist writes into each test's id, every
process started its own Rasa server and cluster and nothing failed: this catches that.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GROUPED = "tests/business/test_region.py"
# The tests of GROUPED that take its module-scoped ``regions`` fixture.
SHARING = (
    "test_accuracy_on_the_address_set_meets_the_targets",
    "test_a_district_without_its_city_is_not_guessed",
    "test_a_city_alone_gives_a_city_level_region",
    "test_the_credit_codes_region_code_names_the_place",
)
SPREAD = "tests/business/test_uscc.py"


def test_a_module_sharing_a_fixture_runs_in_one_process_when_spread() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            "2",
            "--dist",
            "loadgroup",
            "--no-loadscope-reorder",
            "-v",
            "-p",
            "no:cacheprovider",
            GROUPED,
            SPREAD,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    workers: dict[str, set[str]] = defaultdict(set)
    for worker, nodeid in re.findall(r"\[(gw\d+)\] \[\s*\d+%\] PASSED (\S+)", run.stdout):
        path, _, test = nodeid.partition("::")
        workers[path + "::" + test.split("[")[0].split("@")[0]].add(worker)
    sharing = [f"{GROUPED}::{name}" for name in SHARING]
    assert all(workers[test] for test in sharing), dict(workers)
    assert len(set().union(*(workers[test] for test in sharing))) == 1, dict(workers)
    # Both files ran whole: the parametrised place tests and the credit code tests too.
    assert sum(1 for line in run.stdout.splitlines() if " PASSED " in line) >= 20, run.stdout
