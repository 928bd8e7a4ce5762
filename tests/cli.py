"""Running the training and evaluation CLIs as `python -m` does, from the project's root."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(module, *args):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


# Runs a module as `python -m` does and says at its exit whether TensorFlow was imported.
REFUSAL_RUNNER = """
import runpy, sys
try:
    runpy.run_module(sys.argv.pop(1), run_name="__main__", alter_sys=True)
finally:
    print("TensorFlow imported:", "tensorflow" in sys.modules, file=sys.stderr)
"""


def refused(module, *args):
    """A run of `module` that must stop with a clear error before importing TensorFlow."""
    result = subprocess.run([sys.executable, "-c", REFUSAL_RUNNER, module, *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "TensorFlow imported: False" in result.stderr
    return result
