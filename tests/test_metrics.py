"""The classification report's figures against a direct count."""

import numpy as np

from app.emotions import LABELS
from training import metrics


def test_the_reports_macro_f1_matches_a_direct_count():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 500)
    y_pred = np.where(rng.random(500) < 0.6, y_true, rng.integers(0, 4, 500))
    y_pred[y_pred == 2] = 1  # a class never predicted scores 0
    direct = np.mean([2 * np.sum((y_pred == c) & (y_true == c))
                      / (np.sum(y_pred == c) + np.sum(y_true == c)) for c in range(4)])
    assert metrics.classification_report(y_true, y_pred, LABELS)["macro_f1"] == round(direct, 4)
