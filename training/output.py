"""What training and evaluation write: output folders, checked before the work starts (one that
cannot be written would otherwise lose a whole run at its very end), and plots."""

import tempfile
from pathlib import Path


def writable_folder(folder):
    """Makes `folder` if needed and tries a file in it; raises OSError when either fails."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder):
        pass
    return folder


def unwritable(folder):
    """Why `folder` cannot be made or written ("cannot write in …"), or None if it can."""
    try:
        writable_folder(folder)
    except OSError as exc:
        return f"cannot write in {folder}: {exc}"
    return None


def pyplot():
    """matplotlib.pyplot, drawing to files only (no display on a server or in CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
