"""Classification metrics from labels and predictions, without extra dependencies."""

import numpy as np


def classification_report(y_true, y_pred, labels):
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    `confusion[i][j]` counts images of true class i predicted as class j.
    """
    n_classes = len(labels)
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    confusion = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(confusion, (y_true, y_pred), 1)
    true_pos = np.diag(confusion)
    predicted = confusion.sum(axis=0)
    support = confusion.sum(axis=1)
    precision = np.divide(true_pos, predicted, out=np.zeros(n_classes), where=predicted > 0)
    recall = np.divide(true_pos, support, out=np.zeros(n_classes), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(n_classes), where=denom > 0)
    return {
        "n": int(len(y_true)),
        "accuracy": round(float(true_pos.sum() / max(len(y_true), 1)), 4),
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
