"""One macro-F1: the class-bias fit and the reports compute it with the same function."""

import numpy as np
import pytest

from app.emotions import LABELS
from training import class_bias, metrics


def test_macro_f1_matches_the_report_and_a_direct_count():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 500)
    y_pred = np.where(rng.random(500) < 0.6, y_true, rng.integers(0, 4, 500))
    y_pred[y_pred == 2] = 1  # a class never predicted scores 0
    direct = np.mean([2 * np.sum((y_pred == c) & (y_true == c))
                      / (np.sum(y_pred == c) + np.sum(y_true == c)) for c in range(4)])
    assert metrics.macro_f1(y_true, y_pred, 4) == pytest.approx(direct, rel=1e-12)
    assert metrics.classification_report(y_true, y_pred, LABELS)["macro_f1"] == round(direct, 4)


def test_class_bias_scores_with_the_metrics_macro_f1(monkeypatch):
    calls = []

    def recording(y_true, y_pred, n_classes):
        calls.append((y_pred.tolist(), n_classes))
        return 0.5

    monkeypatch.setattr(metrics, "macro_f1", recording)
    probabilities = np.array([[0.1, 0.7, 0.1, 0.1], [0.6, 0.2, 0.1, 0.1]])
    assert class_bias.macro_f1(np.array([1, 0]), probabilities) == 0.5
    assert calls == [([1, 0], 4)]
