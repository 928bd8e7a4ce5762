import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  YOUTUBE_EMBED_ORIGIN, playbackFor, playsInPage, safeAudioPath, safeWebUrl, youtubeId,
} from "../../static/js/tracks.js";

describe("tracks: links", () => {
  it("accepts only absolute http(s) links", () => {
    assert.equal(safeWebUrl("https://example.com/a?b=1"), "https://example.com/a?b=1");
    assert.equal(safeWebUrl("http://example.com"), "http://example.com/");
    for (const bad of ["javascript:alert(1)", "data:text/html,x", "//evil.com", "/music/x.wav", " https://x.com", null, 42]) {
      assert.equal(safeWebUrl(bad), null, String(bad));
    }
  });

  it("accepts only same-origin audio paths", () => {
    assert.equal(safeAudioPath("/music/sad/x.wav"), "/music/sad/x.wav");
    for (const bad of ["//evil.com/x.wav", "https://evil.com/x.wav", "music/x.wav", "/\\evil.com", null]) {
      assert.equal(safeAudioPath(bad), null, String(bad));
    }
  });

  it("finds YouTube video ids in watch and youtu.be links only", () => {
    assert.equal(youtubeId("https://www.youtube.com/watch?v=dQw4w9WgXcQ"), "dQw4w9WgXcQ");
    assert.equal(youtubeId("https://youtube.com/watch?list=x&v=dQw4w9WgXcQ&t=3"), "dQw4w9WgXcQ");
    assert.equal(youtubeId("https://m.youtube.com/watch?v=dQw4w9WgXcQ"), "dQw4w9WgXcQ");
    assert.equal(youtubeId("https://youtu.be/dQw4w9WgXcQ"), "dQw4w9WgXcQ");
    assert.equal(youtubeId("https://www.youtube.com/results?search_query=Metallica+Enter+Sandman"), null);
    assert.equal(youtubeId("https://www.youtube.com/watch?v=bad"), null);
    assert.equal(youtubeId("https://www.youtube.com.evil.com/watch?v=dQw4w9WgXcQ"), null);
  });


});

describe("tracks: playbackFor", () => {
  it("prefers a local audio file", () => {
    assert.deepEqual(playbackFor({ audio: "/music/happy/a.mp3", url: "https://youtu.be/dQw4w9WgXcQ" }),
      { kind: "audio", src: "/music/happy/a.mp3", href: "https://youtu.be/dQw4w9WgXcQ" });
  });

  it("embeds YouTube watch links from youtube-nocookie.com with autoplay and its postMessage API", () => {
    const track = { url: "https://www.youtube.com/watch?v=dQw4w9WgXcQ", audio: null };
    const playback = playbackFor(track, { pageOrigin: "http://localhost:8000" });
    assert.equal(playback.kind, "youtube");
    assert.equal(YOUTUBE_EMBED_ORIGIN, "https://www.youtube-nocookie.com");
    assert.equal(playback.embedUrl,
      "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?autoplay=1&enablejsapi=1&origin=http%3A%2F%2Flocalhost%3A8000");
    assert.equal(new URL(playback.embedUrl).searchParams.get("origin"), "http://localhost:8000");
  });

  it("leaves origin= out of the embed URL when the page has no web origin", () => {
    const track = { url: "https://youtu.be/dQw4w9WgXcQ", audio: null };
    for (const pageOrigin of [undefined, null, "null", "file://", "javascript:x"]) {
      assert.equal(playbackFor(track, { pageOrigin }).embedUrl,
        "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?autoplay=1&enablejsapi=1", String(pageOrigin));
    }
  });

  it("opens a Spotify link as a link: nothing embeds it", () => {
    assert.equal(playbackFor({ url: "https://open.spotify.com/track/4cOdK2wGLETKBW3PvgPWqT" }).kind, "link");
  });

  it("tells tracks that play in the page from those that only open elsewhere", () => {
    assert.equal(playsInPage({ audio: "/music/happy/a.mp3" }), true);
    assert.equal(playsInPage({ url: "https://youtu.be/dQw4w9WgXcQ" }), true);
    assert.equal(playsInPage({ url: "https://www.youtube.com/results?search_query=x" }), false);
    assert.equal(playsInPage({}), false);
  });


  it("opens anything else as a link, and refuses unsafe links", () => {
    assert.deepEqual(playbackFor({ url: "https://www.youtube.com/results?search_query=x", audio: null }),
      { kind: "link", href: "https://www.youtube.com/results?search_query=x" });
    assert.deepEqual(playbackFor({ url: "javascript:alert(1)", audio: null }), { kind: "none" });
    assert.deepEqual(playbackFor({}), { kind: "none" });
  });
});
