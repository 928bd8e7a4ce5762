"""The mood and the music agree, and the player stays in reach (issue 27).

Fake cameras from real faces: the frown video, and still FER+ photos of a happy and a sad face
shown by turns (conftest.py). tests/browser/readings.js records, as the page shows them, every
reading, every committed mood and every playlist queued.

The issue's bars (8 s turns, several minutes of a slow server) are measured by the opt-in
`test_bars_with_8_s_expressions`: MOODTUNES_BARS=1 python -m pytest tests/browser/test_player.py -k bars -s
"""

import json
import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.browser.conftest import (
    ConsoleErrors, alternating_camera, camera_browser, fake_prediction, launch,
    replay_served_answers, start_camera,
)

READINGS_JS = Path(__file__).with_name("readings.js").read_text(encoding="utf-8")
QUIET = ("not sure", "no face in view")
PLAYER_CONTROLS = ("#play-pause", "#next", "#prev", "#now-playing", "#up-next", "#mood-status")


@contextmanager
def recorded_camera(playwright_instance, chromium_path, y4m, server):
    with camera_browser(playwright_instance, chromium_path, y4m, server) as (page, errors):
        page.add_init_script(READINGS_JS)
        yield page, errors


def recorded(page):
    return page.evaluate("() => window.__moodtunes")


def top_bars(sample):
    top = max(sample["bars"].values())
    return {emotion for emotion, value in sample["bars"].items() if value == top}


def names_top_bar(sample):
    """The headline names the longest bar (ties at the shown percentage count), or says it is unsure."""
    headline = sample["headline"].lower()
    return headline in QUIET or headline in top_bars(sample)


def wrong_commits(commits):
    return [c for c in commits if c["headline"].lower() != c["mood"] or c["mood"] not in top_bars(c)]


def test_headline_names_the_top_bar_on_every_frame_of_the_face_video(
        playwright_instance, chromium_path, y4m_camera, server):
    with recorded_camera(playwright_instance, chromium_path, y4m_camera, server) as (page, errors):
        start_camera(page, server)
        page.wait_for_function("() => window.__moodtunes.samples.length >= 10", timeout=240_000)
        samples = recorded(page)["samples"]
        assert [s for s in samples if not names_top_bar(s)] == []
        assert any(s["headline"].lower() not in QUIET for s in samples), "it never named a class"
        assert errors == []


@pytest.fixture(scope="session")
def turns_camera(expression_faces, tmp_path_factory):
    return alternating_camera(expression_faces, tmp_path_factory.mktemp("camera") / "turns.y4m", seconds=4)


def test_the_mood_committed_is_the_reading_shown_at_commit(
        playwright_instance, chromium_path, turns_camera, served_answers, server):
    """A happy and a sad face by turns, 4 s each: the music follows both, and each commit is
    the mood the headline and the top bar show at that moment (the issue saw commits to a mood
    the face had left, headline and bars disagreeing). The model's answers are replayed."""
    with recorded_camera(playwright_instance, chromium_path, turns_camera, server) as (page, errors):
        replay_served_answers(page, served_answers)
        start_camera(page, server)
        page.wait_for_function(
            "() => new Set(window.__moodtunes.commits.map((c) => c.mood)).size >= 2", timeout=120_000)
        record = recorded(page)
        assert {c["mood"] for c in record["commits"]} == {"happy", "sad"}
        assert wrong_commits(record["commits"]) == []
        assert [s for s in record["samples"] if not names_top_bar(s)] == []
        assert errors == []


def scripted_moods(page, server, first="sad"):
    """The server's answers scripted, to change the mood on cue; returns the switch."""
    answers = {emotion: json.dumps(fake_prediction(server, emotion)) for emotion in ("sad", "happy")}
    mood = {"now": first}
    page.route("**/api/predict", lambda route: route.fulfill(
        status=200, content_type="application/json", body=answers[mood["now"]]))
    return mood


def play_tone(page):
    page.click("#playlist li:has-text('tone') .track-play")
    page.wait_for_function(
        "() => { const a = document.querySelector('#player-audio'); return !a.paused && a.currentTime > 0.3; }",
        timeout=15_000)
    page.wait_for_selector("#now-playing[data-state=playing]")


def controls_out_of_view(page):
    """The player's controls not wholly inside the viewport, or covered by something else."""
    return page.evaluate("""(selectors) => selectors.filter((selector) => {
      const el = document.querySelector(selector);
      const r = el.getBoundingClientRect();
      if (el.hidden || r.width === 0 || r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth) return true;
      const hit = document.elementFromPoint(r.left + Math.min(r.width / 2, 20), r.top + r.height / 2);
      return !(hit && el.contains(hit));
    })""", list(PLAYER_CONTROLS))


def test_player_controls_stay_in_view_on_a_phone_and_a_laptop(camera_page, server, artifacts):
    page, errors = camera_page
    mood = scripted_moods(page, server)
    start_camera(page, server)
    page.wait_for_selector("body[data-playlist-mood=sad]", timeout=15_000)
    play_tone(page)
    mood["now"] = "happy"
    page.wait_for_selector("#up-next:not([hidden])", timeout=15_000)
    for width, height in ((390, 844), (1280, 800)):
        page.set_viewport_size({"width": width, "height": height})
        for scroll in ("0", "document.body.scrollHeight / 2", "document.body.scrollHeight"):
            page.evaluate(f"() => window.scrollTo(0, {scroll})")
            assert controls_out_of_view(page) == [], f"{width}x{height}, scrolled to {scroll}"
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=str(artifacts / f"player-{width}x{height}.png"))
    assert errors == []


FOCUS_UNDER_DOCK = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el.closest('#dock')) return null;
  const r = el.getBoundingClientRect();
  const dock = document.querySelector('#dock').getBoundingClientRect();
  return r.bottom > dock.top + 1 ? (el.getAttribute('aria-label') || el.id || el.textContent).trim() : null;
}"""


def test_keyboard_focus_is_never_hidden_under_the_player_bar(camera_page, server):
    """Tabbing down the page, the control with the focus scrolls clear of the fixed player bar
    (it stopped behind it: a track, a mood's select, its focus ring out of sight)."""
    page, errors = camera_page
    scripted_moods(page, server)
    start_camera(page, server)
    page.wait_for_selector("body[data-playlist-mood=sad]", timeout=15_000)
    for width, height in ((390, 844), (1280, 800)):
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate("() => { window.scrollTo(0, 0); document.activeElement.blur(); }")
        hidden = []
        for _ in range(45):
            page.keyboard.press("Tab")
            under = page.evaluate(FOCUS_UNDER_DOCK)
            if under:
                hidden.append(under)
        assert hidden == [], f"{width}x{height}: focus hidden under the player bar"
    assert errors == []


def test_the_mood_countdown_fits_in_the_player_bar_on_a_phone(playwright_instance, chromium_path, server):
    """The player bar's lines keep to the bar: the mood line's sentence is read whole (it wraps)
    and its countdown meter stays on screen (at 390 px both ran off the right edge)."""
    browser = launch(playwright_instance, chromium_path)
    try:
        errors = ConsoleErrors()
        page = errors.watch(browser.new_context(viewport={"width": 390, "height": 844}).new_page())
        page.goto(server)
        page.wait_for_function("() => /holds for/.test(document.querySelector('#mood-status').textContent)")
        overflowing = page.evaluate("""() => {
          const box = document.querySelector('.dock-text').getBoundingClientRect();
          const right = Math.min(box.right, innerWidth) + 0.5;
          return ['#now-playing', '#mood-status', '.mood-meter'].filter(
            (selector) => document.querySelector(selector).getBoundingClientRect().right > right);
        }""")
        assert overflowing == []
        assert page.evaluate("() => { const line = document.querySelector('#mood-status');"
                             " return line.scrollWidth <= line.clientWidth; }"), "the mood line is cut short"
        assert errors == []
    finally:
        browser.close()


def test_media_session_and_tab_title_name_the_local_track_playing(camera_page, server):
    page, errors = camera_page
    scripted_moods(page, server)
    start_camera(page, server)
    page.wait_for_selector("body[data-playlist-mood=sad]", timeout=15_000)
    play_tone(page)
    session = page.evaluate("""() => ({
      title: navigator.mediaSession.metadata?.title, artist: navigator.mediaSession.metadata?.artist,
      state: navigator.mediaSession.playbackState, tab: document.title })""")
    assert session == {"title": "sad tone", "artist": "MoodTunes Test", "state": "playing",
                       "tab": "▶ sad tone — MoodTunes Test · MoodTunes"}
    page.evaluate("() => document.activeElement.blur()")
    page.keyboard.press("Space")  # the page's shortcut: nothing focused that needs Space
    page.wait_for_function("() => document.querySelector('#player-audio').paused", timeout=5_000)
    assert page.evaluate("() => navigator.mediaSession.playbackState") == "paused"
    assert errors == []


def test_a_video_that_cannot_load_is_skipped_within_4_s(camera_page, server):
    """YouTube unreachable (the request fails, as offline): the page does not say Playing over a
    broken frame; it moves on to a track that plays here, and the message goes with the list."""
    page, errors = camera_page
    mood = scripted_moods(page, server)
    page.route("https://www.youtube-nocookie.com/**", lambda route: route.abort("namenotresolved"))
    start_camera(page, server)
    page.wait_for_selector("body[data-playlist-mood=sad]", timeout=15_000)
    page.click("#playlist li[data-kind=youtube] .track-play")
    page.wait_for_selector("#player-embed iframe", state="attached", timeout=5_000)
    assert page.get_attribute("#now-playing", "data-state") == "loading"
    page.wait_for_function(
        "() => { const a = document.querySelector('#player-audio'); return !a.paused && /tone/.test(a.currentSrc); }",
        timeout=4_000)
    assert "YouTube didn't answer" in page.inner_text("#player-message")
    assert page.locator("#player-embed iframe").count() == 0
    mood["now"] = "happy"
    page.wait_for_selector("#up-next:not([hidden])", timeout=15_000)
    page.click("#next")
    page.wait_for_selector("body[data-playlist-mood=happy]", timeout=5_000)
    assert page.is_hidden("#player-message")
    assert [e for e in errors if "ERR_NAME_NOT_RESOLVED" not in e and "Failed to load" not in e] == []


# A YouTube embed (faked) that answers the page but stays buffering, as on a slow connection.
BUFFERING_EMBED = """<!doctype html><meta charset="utf-8"><script>
window.addEventListener("message", (event) => {
  let message;
  try { message = JSON.parse(event.data); } catch { return; }
  if (message.event === "listening") {
    parent.postMessage(JSON.stringify({ event: "onStateChange", info: 3, id: message.id, channel: "widget" }), "*");
  }
});
</script>"""


def test_a_mood_change_while_the_music_loads_does_not_stop_it(camera_page, server):
    """Play pressed, the video still loading, and the mood changes: the new mood's list plays.
    (It replaced the list and stopped, saying "Ready", until Play was pressed again.)"""
    page, errors = camera_page
    answers = {emotion: fake_prediction(server, emotion) for emotion in ("sad", "happy")}
    sad, happy = answers["sad"]["playlist"]["match"], answers["happy"]["playlist"]["match"]
    sad["tracks"] = [t for t in sad["tracks"] if "watch?v=" in (t["url"] or "")][:1]
    happy["tracks"] = [t for t in happy["tracks"] if t["audio"]]
    mood = {"now": "sad"}
    page.route("**/api/predict", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(answers[mood["now"]])))
    page.route("https://www.youtube-nocookie.com/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body=BUFFERING_EMBED))
    start_camera(page, server)
    page.wait_for_selector("body[data-playlist-mood=sad]", timeout=15_000)
    page.click("#play-pause")
    page.wait_for_selector("#now-playing[data-state=loading]", timeout=5_000)
    mood["now"] = "happy"
    page.wait_for_selector("body[data-playlist-mood=happy]", timeout=15_000)
    page.wait_for_function(
        "() => { const a = document.querySelector('#player-audio'); return !a.paused && /happy/.test(a.currentSrc); }",
        timeout=5_000)
    page.wait_for_selector("#now-playing[data-state=playing]", timeout=5_000)
    assert errors == []


# ---- the bars, measured (opt-in: a few minutes) ---------------------------------------

@pytest.mark.bars  # minutes long: conftest.py leaves it out unless MOODTUNES_BARS=1
def test_bars_with_8_s_expressions(playwright_instance, chromium_path, expression_faces, served_answers,
                                   server, tmp_path, artifacts):
    """Happy and sad by turns, 8 s each, for six turns: 0 commits to a mood the reading does not
    show, headline = top bar on every frame, and from the face changing to its playlist being
    queued (or put on) at most 3 s. MOODTUNES_BARS_LIVE=1 asks the server for every frame
    instead of replaying its answers (then the figures include this machine's inference time)."""
    turns = int(os.environ.get("MOODTUNES_BARS_TURNS", "6"))
    camera = alternating_camera(expression_faces, tmp_path / "bars.y4m", seconds=8)
    with recorded_camera(playwright_instance, chromium_path, camera, server) as (page, _errors):
        if os.environ.get("MOODTUNES_BARS_LIVE") != "1":
            replay_served_answers(page, served_answers)
        start_camera(page, server)
        page.wait_for_function(f"() => window.__moodtunes.faces.length >= {turns + 2}",
                               timeout=(turns + 3) * 8_000 + 60_000)
        record = recorded(page)
    report = bars_report(record)
    (artifacts / "mood_bars.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    assert report["wrong_commits"] == 0
    assert report["headline_is_top_bar"] == 1.0
    assert report["face_to_playlist_s"]["missed"] == 0
    assert report["face_to_playlist_s"]["max"] <= 3.0


def bars_report(record):
    samples, commits = record["samples"], record["commits"]
    latencies, headlines, stalls = [], [], []
    for change in record["faces"][1:]:  # the first is the page's first look, not a change
        queued = [p["at"] for p in record["playlists"] if p["mood"] == change["face"] and p["at"] > change["at"]]
        latencies.append(round((min(queued) - change["at"]) / 1000, 2) if queued else None)
        named = [s["at"] for s in samples if s["headline"].lower() == change["face"] and s["at"] > change["at"]]
        headlines.append(round((min(named) - change["at"]) / 1000, 2) if named else None)
        end = min(queued) if queued else change["at"] + 8000
        times = [change["at"]] + [s["at"] for s in samples if change["at"] < s["at"] <= end]
        stalls.append(round(max(b - a for a, b in zip(times, times[1:])) / 1000, 2) if len(times) > 1 else None)
    measured = [value for value in latencies[:-1] if value is not None]  # the last turn may be cut short
    return {
        "frames": len(samples),
        "frames_per_s": round(len(samples) / ((samples[-1]["at"] - samples[0]["at"]) / 1000), 2),
        "commits": len(commits),
        "wrong_commits": len(wrong_commits(commits)),
        "headline_is_top_bar": round(sum(map(names_top_bar, samples)) / len(samples), 4),
        "not_sure_share": round(sum(s["headline"].lower() == "not sure" for s in samples) / len(samples), 4),
        "face_changes": len(latencies),
        "face_to_playlist_s": {"each": latencies, "max": max(measured, default=None),
                               "missed": latencies[:-1].count(None)},
        # Where the time went: the headline naming the new face, and the longest wait for a frame.
        "face_to_headline_s": headlines,
        "longest_frame_gap_s": stalls,
    }
