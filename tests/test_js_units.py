"""Runs the page's pure-logic JavaScript unit tests (tests/js/*.test.mjs) with Node's test runner."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not on PATH: the JavaScript unit tests need Node 20+")
def test_js_units_pass():
    result = subprocess.run(
        [NODE, "--test", "tests/js/"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    summary = "\n".join(line for line in result.stdout.splitlines() if line.startswith("# "))
    assert result.returncode == 0, (
        f"node --test tests/js/ exited {result.returncode}\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}")
    assert "# fail 0" in summary and "# pass 0" not in summary, summary
