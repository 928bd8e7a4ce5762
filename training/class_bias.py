"""Per-class output biases, fitted on the validation split, that even out the classes.

Class weights in training do not fully stop a network from favouring some
classes over look-alikes (on FER-2013, sad faces are read as neutral more
often than the reverse). Adding a constant b[c] to the last layer's logit
for class c multiplies every probability of class c by exp(b[c]) before
renormalising: a prior correction with no cost at inference. The biases are
fitted for macro-F1 on the validation split; whether they are kept is judged
by cross-fitting (fit on one half, score on the other), so a bias that only
fits the split's noise is not shipped.
"""

import numpy as np

from training import metrics

GRID = np.round(np.arange(-0.6, 0.601, 0.05), 2)


def corrected(passes, bias):
    """The averaged probabilities of `passes` (passes × images × classes) after biasing each pass."""
    scaled = passes * np.exp(bias)
    return (scaled / scaled.sum(axis=-1, keepdims=True)).mean(axis=0)


def macro_f1(y_true, probabilities):
    """Macro-F1 of the most probable class (training.metrics's, unrounded for fine comparisons)."""
    return metrics.macro_f1(y_true, probabilities.argmax(axis=1), probabilities.shape[1])


def fit_class_bias(passes, y_true, sweeps=3):
    """Biases (class 0 fixed at 0) maximising macro-F1, by coordinate search over GRID.

    Ties go to the smaller shift, so classes that need no correction get none.
    """
    bias = np.zeros(passes.shape[-1])
    for _ in range(sweeps):
        for c in range(1, len(bias)):
            def score(value, c=c):
                trial = bias.copy()
                trial[c] = value
                return macro_f1(y_true, corrected(passes, trial)), -abs(value)
            bias[c] = max(GRID, key=score)
    return bias


def cross_fitted_gain(passes, y_true, seed, folds=2):
    """Mean held-out macro-F1 gain of biases fitted on the other folds."""
    order = np.random.default_rng(seed).permutation(len(y_true))
    gains = []
    for held_out in np.array_split(order, folds):
        fit = np.setdiff1d(order, held_out)
        bias = fit_class_bias(passes[:, fit], y_true[fit])
        plain = macro_f1(y_true[held_out], corrected(passes[:, held_out], np.zeros_like(bias)))
        gains.append(macro_f1(y_true[held_out], corrected(passes[:, held_out], bias)) - plain)
    return float(np.mean(gains))
