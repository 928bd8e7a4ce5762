"""YuNet, libfacedetection's face detector, from the `yuface` wheel's own library.

The wheel's Python wrapper allocates a 36 KiB result buffer on every call and never frees it,
and it holds the GIL while it runs. The library's C function takes the buffer from its caller,
so this module calls it through ctypes with a buffer numpy frees (memory stays flat), and
ctypes releases the GIL for the call (other threads run meanwhile).
"""

import ctypes
import importlib.util
import threading
from pathlib import Path

import numpy as np

# libfacedetection's DETECT_BUFFER_SIZE: an int count, then up to 1024 faces of 16 int16 each:
# score (0-100), box x, y, w, h, five landmarks (x, y): the eyes, the nose, the mouth corners.
RESULT_BYTES = 0x9000
FACE_FIELDS = 16
LIBRARY = "libfacedetection.so.v0.0.3"  # the yuface 2023.5.1 wheel's file name

_lock = threading.Lock()
_detect = None
_set_threads = None


def load():
    """Load the library and run it once; raises ImportError where the wheel is not installed.

    Its first call fills global weight tables and sets a flag with no lock: it is made once,
    here, under ours, so threads only ever call it once it is ready.
    """
    global _detect, _set_threads
    with _lock:
        if _detect is not None:
            return
        spec = importlib.util.find_spec("yuface")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("the yuface package is not installed")
        path = Path(spec.submodule_search_locations[0]) / LIBRARY
        try:
            library = ctypes.CDLL(str(path))
        except OSError as exc:
            raise ImportError(f"cannot load {path}: {exc}") from exc
        function = library._Z14facedetect_cnnPhS_iii  # facedetect_cnn(uchar*, uchar*, int, int, int)
        function.restype = ctypes.c_void_p
        function.argtypes = [ctypes.c_void_p, ctypes.c_void_p] + [ctypes.c_int] * 3
        _set_threads = library.omp_set_num_threads  # from the OpenMP runtime the wheel bundles
        _set_threads.argtypes = [ctypes.c_int]
        _run(function, np.zeros((48, 48, 3), np.uint8))
        _detect = function


def detect(bgr):
    """Faces in a uint8 BGR image (H, W, 3): an int array (n, 15) of score, x, y, w, h, then
    the five landmarks as x, y pairs, in the image's pixels (boxes may reach past its edges)."""
    if _detect is None:
        raise RuntimeError("yunet.load() has not been called")
    # One OpenMP thread per call (the setting is per calling thread): requests already run
    # side by side in the server's threads, and a team per request would fight them for the cores.
    _set_threads(1)
    return _run(_detect, bgr)


def _run(function, bgr):
    bgr = np.ascontiguousarray(bgr, dtype=np.uint8)
    if bgr.ndim != 3 or bgr.shape[2] != 3:
        raise ValueError(f"expected a BGR image (H, W, 3), got shape {bgr.shape}")
    result = np.zeros(RESULT_BYTES, np.uint8)
    height, width = bgr.shape[:2]
    function(result.ctypes.data, bgr.ctypes.data, width, height, bgr.strides[0])
    count = int(result[:4].view(np.int32)[0])
    faces = result[4:4 + count * FACE_FIELDS * 2].view(np.int16).reshape(count, FACE_FIELDS)
    return faces[:, :15].astype(np.int32)
