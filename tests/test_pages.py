"""The page and its security headers."""


def test_page_renders_with_security_headers(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b'id="camera-toggle"' in response.data and b'id="upload-input"' in response.data
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    # Frames only from YouTube's privacy-enhanced host: the one player the page embeds.
    frames = next(part for part in policy.split("; ") if part.startswith("frame-src "))
    assert frames == "frame-src https://www.youtube-nocookie.com"
    assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_api_responses_carry_the_headers_too(client):
    response = client.get("/api/playlists")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_static_files_are_served(client):
    response = client.get("/static/js/main.js")
    assert response.status_code == 200
    assert response.mimetype in ("text/javascript", "application/javascript")
