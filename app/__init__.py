"""MoodTunes: face expression → music.

`create_app` lives in `app.factory`; it is imported lazily here so the core
modules (faces, emotion model, bundle, playlists) can be used by the training
scripts without pulling in Flask.
"""


def create_app(test_config=None):
    from app.factory import create_app as _create_app

    return _create_app(test_config)
