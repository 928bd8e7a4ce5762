"""Training and evaluation of the MoodTunes expression model."""
