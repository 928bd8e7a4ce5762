import pytest

from tests.bundles import make_tiny_bundle


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
