"""Runs the page's JavaScript unit tests (tests/js/*.test.mjs) with Node's test runner."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE = shutil.which("node")
# Named one by one: `node --test DIR` only works up to Node 20 (21+ take file globs instead).
TEST_FILES = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "tests" / "js").glob("*.test.mjs"))


@pytest.mark.skipif(NODE is None, reason="node is not on PATH: the JavaScript unit tests need Node 20+")
def test_js_units_pass():
    assert TEST_FILES, "no tests/js/*.test.mjs files found"
    result = subprocess.run(
        [NODE, "--test", *TEST_FILES],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    summary = "\n".join(line for line in result.stdout.splitlines() if line.startswith("# "))
    assert result.returncode == 0, (
        f"node --test tests/js/*.test.mjs exited {result.returncode}\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}")
    assert "# fail 0" in summary and "# pass 0" not in summary, summary
