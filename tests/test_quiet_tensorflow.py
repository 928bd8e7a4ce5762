"""TensorFlow's start-up notices stay out of the server's and the CLIs' output; nothing else does."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
ONEDNN_NOTICE = ("I0000 00:00:1795562051.874509   10886 port.cc:153] oneDNN custom operations are "
                 "on. You may see slightly different numerical results due to floating-point "
                 "round-off errors from different computation orders. To turn them off, set the "
                 "environment variable `TF_ENABLE_ONEDNN_OPTS=0`.")


def python(code_or_args):
    args = ["-c", code_or_args] if isinstance(code_or_args, str) else code_or_args
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("program", [
    "from app.quiet_tensorflow import load_tensorflow; load_tensorflow(); import keras",
    ["-m", "training.train", "--help"],
])
def test_loading_tensorflow_prints_nothing_on_stderr(program):
    result = python(program)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr == ""


def test_only_the_known_notices_are_held_back_even_when_the_block_fails():
    result = python(f"""
import os
from app.quiet_tensorflow import STARTUP_NOISE, stderr_without
try:
    with stderr_without(STARTUP_NOISE):
        os.write(2, b{ABSL_NOTICE + chr(10)!r})
        os.write(2, b{ONEDNN_NOTICE + chr(10)!r})
        os.write(2, b"E0000 something TensorFlow really has to say\\n")
        raise RuntimeError("import failed")
except RuntimeError as exc:
    print(exc)
""")
    assert result.stdout == "import failed\n"
    assert result.stderr == "E0000 something TensorFlow really has to say\n"
