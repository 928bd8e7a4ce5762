"""Classification metrics from labels and predictions, without extra dependencies."""

import numpy as np


def confusion_matrix(y_true, y_pred, n_classes):
    """`confusion[i][j]` counts images of true class i predicted as class j."""
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    return np.bincount(y_true * n_classes + y_pred,
                       minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def f1_scores(confusion):
    """Per-class F1 = 2·hits / (predicted + actual); 0 for a class never predicted nor present."""
    hits = np.diag(confusion)
    both = confusion.sum(axis=0) + confusion.sum(axis=1)
    return np.divide(2 * hits, both, out=np.zeros(len(hits)), where=both > 0)


def classification_report(y_true, y_pred, labels):
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    `confusion[i][j]` counts images of true class i predicted as class j.
    """
    n_classes = len(labels)
    confusion = confusion_matrix(y_true, y_pred, n_classes)
    true_pos = np.diag(confusion)
    predicted = confusion.sum(axis=0)
    support = confusion.sum(axis=1)
    precision = np.divide(true_pos, predicted, out=np.zeros(n_classes), where=predicted > 0)
    recall = np.divide(true_pos, support, out=np.zeros(n_classes), where=support > 0)
    f1 = f1_scores(confusion)
    n = int(support.sum())
    return {
        "n": n,
        "accuracy": round(float(true_pos.sum() / max(n, 1)), 4),
        "macro_f1": round(float(f1.mean()), 4),
        "per_class": {
            label: {
                "precision": round(float(precision[i]), 4),
                "recall": round(float(recall[i]), 4),
                "f1": round(float(f1[i]), 4),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion": confusion.tolist(),
        "labels": list(labels),
    }
