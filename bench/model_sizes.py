"""What VGG16's input size costs a face: classify time and GFLOP, one thread, as the app serves.

    python bench/model_sizes.py [--sizes 48 64 80 96 112] [--calls 200]

For each size VGG16 may see, builds the training script's network (random weights: the time does
not depend on them), read alone and with its mirror image, writes it as a bundle and loads it
the way the server does (EmotionModel), then times `classify` on one 48-px face: the median of
--calls calls, on one thread, as gunicorn's workers run. The accuracy that goes with each size
comes from training at it (models/README.md).
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def vgg16_gflop(net_size):
    """Multiply-adds of VGG16's 13 convolutions at this input, ×2: the head is negligible."""
    channels = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
                (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    pools_before = [0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    macs = sum((net_size // 2 ** pools) ** 2 * 9 * c_in * c_out
               for (c_in, c_out), pools in zip(channels, pools_before))
    return 2 * macs / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[48, 64, 80, 96, 112])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    from app.bundle import write_bundle
    from app.emotion_model import EmotionModel
    from app.emotions import LABELS
    from training.network import inference_copy, make_model, with_mirror

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    face = np.random.default_rng(0).integers(0, 255, (1, 48, 48, 1), dtype=np.uint8)
    print(f"{'VGG16 input':>12} {'passes':>7} {'GFLOP/face':>11} {'classify p50 ms':>16}")
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            network, _ = make_model(48, size, None, len(LABELS))
            for passes, model in ((1, network), (2, with_mirror(network))):
                path = Path(folder) / f"vgg16_{size}_{passes}.keras"
                write_bundle(inference_copy(model), {"labels": list(LABELS), "input_size": [48, 48],
                                                     "channels": 1}, path)
                served = EmotionModel.load(path)
                times = []
                for _ in range(args.calls):
                    started = time.perf_counter()
                    served.classify(face)
                    times.append((time.perf_counter() - started) * 1000)
                print(f"{size:>9} px {passes:>7} {passes * vgg16_gflop(size):>11.2f} "
                      f"{statistics.median(times):>16.1f}", flush=True)


if __name__ == "__main__":
    main()
