import os

import pytest

from tests.bundles import make_tiny_bundle

# CI has everything the tests need (the shared data, Chromium, Node): there a skip means a
# missing install step or a wrong path, and must fail the run instead of shrinking it.
SKIPS_FAIL = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if SKIPS_FAIL and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, where nothing may be: {reason}"


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory):
    return make_tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny.keras")


@pytest.fixture
def make_app(tiny_bundle, tmp_path):
    """Build an app on the tiny bundle, with any configuration overridden."""
    from app import create_app

    def build(**overrides):
        config = {"TESTING": True, "MODEL_PATH": str(tiny_bundle),
                  "MUSIC_DIR": str(tmp_path / "music"), **overrides}
        return create_app(config)

    return build


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()
