"""Calibrated confidence: a temperature fitted on validation faces, and how far off it leaves
the confidence (expected calibration error, reliability plot).

A network trained to fit its training faces is over-confident on new ones. Dividing its
logits by one number, the temperature, fitted to minimise the validation log-loss, makes "80 %
sure" right about 80 % of the time without changing any answer (Guo et al. 2017, "On
Calibration of Modern Neural Networks").
"""

import numpy as np

from training.output import pyplot

ECE_BINS = 15
TEMPERATURES = np.geomspace(0.25, 8.0, 301)


def softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def probabilities(logit_views, temperature=1.0):
    """The mean over views (e.g. a face and its mirror image: (views, n, classes)) of each
    view's softmax at `temperature`, as the shipped model averages them."""
    return softmax(np.asarray(logit_views) / temperature).mean(axis=0)


def log_loss(probs, labels):
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None))))


def fit_temperature(logit_views, labels):
    """The temperature (from TEMPERATURES) with the lowest log-loss on these faces."""
    losses = [log_loss(probabilities(logit_views, t), labels) for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(losses))])


def reliability(probs, labels, bins=ECE_BINS):
    """Per confidence bin (equal width over [0, 1]): count, mean confidence, accuracy."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(labels)
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        members = index == b
        if members.any():
            rows.append((int(members.sum()), float(confidence[members].mean()),
                         float(correct[members].mean())))
        else:
            rows.append((0, None, None))
    return rows


def expected_calibration_error(probs, labels, bins=ECE_BINS):
    """The gap between confidence and accuracy, averaged over the bins, weighted by their size."""
    rows = reliability(probs, labels, bins)
    total = sum(count for count, _, _ in rows)
    return float(sum(count * abs(conf - acc) for count, conf, acc in rows if count) / total)


def plot_reliability(probs, labels, out_path, title):
    plt = pyplot()

    rows = reliability(probs, labels)
    width = 1 / len(rows)
    centres = [(i + 0.5) * width for i in range(len(rows))]
    fig, ax = plt.subplots(figsize=(4.8, 4.6))
    ax.bar(centres, [acc or 0 for _, _, acc in rows], width=width * 0.9, color="#4c72b0",
           label="accuracy in the bin")
    ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    for x, (count, _, acc) in zip(centres, rows):
        if count:
            ax.text(x, (acc or 0) + 0.01, str(count), ha="center", fontsize=6, rotation=90)
    ax.set_xlabel("confidence (top class)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title}\nECE ({len(rows)} bins) {expected_calibration_error(probs, labels):.3f}")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
