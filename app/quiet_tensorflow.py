"""Load TensorFlow without its start-up notices, so the server's and CLIs' own output stays readable.

TF_CPP_MIN_LOG_LEVEL=2 hides TensorFlow's C++ info and warning logs, but since TensorFlow 2.19
two notices ignore it (tensorflow/tensorflow#100442): Abseil's "All log messages before
absl::InitializeLog() ..." and "oneDNN custom operations are on ...", each printed twice on
every import. They are written to file descriptor 2 from C++, so the import runs with that
descriptor captured; those two notices are dropped and anything else is passed on. The capture
is process-wide: what other threads write meanwhile comes out, in order, when the import ends.
Project code that imports Keras or TensorFlow lazily calls `load_tensorflow()` first.
"""

import contextlib
import os
import re
import sys
import tempfile
import threading

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

STARTUP_NOISE = re.compile(
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"
    r"|^I\d{4} [\d:. ]+\d+ port\.cc:\d+\] oneDNN custom operations are on\."
)

_import_lock = threading.Lock()


def load_tensorflow():
    """Import TensorFlow (once per process) and return the module."""
    with _import_lock:
        if "tensorflow" not in sys.modules:
            with stderr_without(STARTUP_NOISE):
                import tensorflow  # noqa: F401
    return sys.modules["tensorflow"]


@contextlib.contextmanager
def stderr_without(pattern):
    """Hold back what is written to file descriptor 2 (C++ included) and pass on the lines
    that do not match `pattern` when the block ends, also when it fails."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not pattern.search(line)))
            sys.stderr.flush()
