"""The expressions the app recognises, in the order the model outputs them."""

LABELS = ("angry", "happy", "neutral", "sad")
