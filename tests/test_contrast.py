"""Colour contrast of the page, computed from the values in static/css/style.css (WCAG 2.x):
text at least 4.5:1, icons and graphics (bars, meters, the play button) at least 3:1, in every
mood colour, in the light and the dark scheme."""

import re
from pathlib import Path

import pytest

from app.emotions import LABELS

CSS = (Path(__file__).resolve().parent.parent / "static" / "css" / "style.css").read_text(encoding="utf-8")


def custom_properties(block):
    return dict(re.findall(r"(--[\w-]+)\s*:\s*([^;]+);", block))


def scheme(name):
    """The page's custom properties in the light or dark scheme, var() references resolved."""
    light = custom_properties(re.search(r"^:root\s*\{(.*?)^\}", CSS, re.S | re.M).group(1))
    dark_block = re.search(r"@media \(prefers-color-scheme: dark\)\s*\{\s*:root\s*\{(.*?)\}", CSS, re.S)
    values = {**light, **(custom_properties(dark_block.group(1)) if name == "dark" else {})}

    def resolve(value):
        value = value.strip()
        match = re.fullmatch(r"var\((--[\w-]+)\)", value)
        return resolve(values[match.group(1)]) if match else value

    return {key: resolve(value) for key, value in values.items()}


def luminance(hex_colour):
    channels = [int(hex_colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a, b):
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_is_computed_as_wcag_does():
    assert contrast("#ffffff", "#000000") == pytest.approx(21)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("name", ["light", "dark"])
def test_text_keeps_4_5_to_1(name):
    colours = scheme(name)
    pairs = [("--text", ground) for ground in ("--bg", "--surface", "--surface-2")]
    pairs += [("--muted", ground) for ground in ("--bg", "--surface", "--surface-2")]
    pairs += [("--accent-text", "--accent"), ("--danger", "--danger-bg")]
    # Text and icons on a mood colour: the pressed Lock and Shuffle labels, the Play icon, the logo.
    pairs += [(f"--{mood}-ink", f"--{mood}") for mood in LABELS]
    low = {f"{a} on {b}": round(contrast(colours[a], colours[b]), 2) for a, b in pairs
           if contrast(colours[a], colours[b]) < 4.5}
    assert low == {}, f"{name} scheme"


@pytest.mark.parametrize("name", ["light", "dark"])
def test_mood_colours_keep_3_to_1_as_graphics(name):
    """The bars, the countdown meter, the dock's edge and the Play button's disc stand out
    from every surface they sit on."""
    colours = scheme(name)
    low = {f"--{mood} on {ground}": round(contrast(colours[f"--{mood}"], colours[ground]), 2)
           for mood in (*LABELS, "accent") for ground in ("--bg", "--surface", "--surface-2")
           if contrast(colours[f"--{mood}"], colours[ground]) < 3}
    assert low == {}, f"{name} scheme"


def test_whatever_sits_on_a_mood_colour_takes_its_ink():
    """No fixed white on a mood fill (white on the happy yellow was 2.1:1): every rule that
    paints var(--mood) as a background sets its colour to var(--on-mood), and each mood sets
    --on-mood to its own ink."""
    rules = re.findall(r"([^{}]+)\{([^{}]*)\}", CSS)
    filled = [(selector.strip(), body) for selector, body in rules if re.search(r"background:\s*var\(--mood\)", body)]
    assert filled, "no rule paints the mood colour"
    for selector, body in filled:
        if ":hover" in selector or selector == ".mood-progress" or 'content: ""' in body:
            continue  # a hover brightens its rule; a meter's fill and an empty dot hold no text
        assert re.search(r"(?<![\w-])color:\s*var\(--on-mood\)", body), selector
    for mood in LABELS:
        assert re.search(rf'body\[data-playlist-mood="{mood}"\]\s*\{{[^}}]*--on-mood:\s*var\(--{mood}-ink\)', CSS), mood
