import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it, mock } from "node:test";

import { FakeWindow, installFakeDocument, installFakeMediaSession, installFakeWindow } from "./fakedom.mjs";
import { playlist, youtubePlaylist } from "./fixtures.mjs";
import { Player } from "../../static/js/player.js";

const HAPPY = playlist("happy");
const SAD = playlist("sad");
const HAPPY_VIDEOS = youtubePlaylist("happy");
const SAD_VIDEOS = youtubePlaylist("sad");
const YOUTUBE = "https://www.youtube-nocookie.com";

let document;
let window;
let session;
let player;
const $ = (id) => document.getElementById(id);

beforeEach(() => {
  document = installFakeDocument();
  window = installFakeWindow("http://localhost:8000");
  session = installFakeMediaSession();
  $("lock-mood").textContent = "Lock mood"; // as in the template
  player = new Player();
});

describe("Player: the end of a track", () => {
  it("starts the queued playlist when the playing track ends", () => {
    player.offerMood("happy", "match", HAPPY);
    player.playIndex(0);
    assert.equal(player.offerMood("sad", "match", SAD), "queued");
    const audio = $("player-audio");
    audio.pause(); // a browser fires pause, then ended
    audio.dispatch("ended");
    assert.equal(player.queue.list.mood, "sad");
    assert.equal(player.queue.current.title, "sad 1");
    assert.equal(audio.src, "/music/sad/1.wav");
    assert.equal(audio.paused, false, "the next track plays on its own");
  });

  it("starts the queued playlist when the playing track can't be played", () => {
    player.offerMood("happy", "match", HAPPY);
    player.playIndex(0);
    assert.equal(player.offerMood("sad", "match", SAD), "queued");
    const audio = $("player-audio");
    audio.dispatch("error"); // e.g. the file was deleted from music/
    assert.equal(player.queue.current.title, "sad 1");
    assert.equal(audio.src, "/music/sad/1.wav");
    assert.equal(player.queue.upNext, null);
  });

  it("skips a track that can't be played to the next one, and says so", () => {
    player.offerMood("happy", "match", HAPPY);
    player.playIndex(0);
    $("player-audio").dispatch("error");
    assert.equal(player.queue.current.title, "happy 2");
    assert.equal(player.queue.playing, true);
    assert.match($("player-message").textContent, /Can't play “happy 1”/);
  });

  it("stops, saying so, when no track of the list can be played", () => {
    player.offerMood("happy", "match", HAPPY);
    player.playIndex(0);
    for (let i = 0; i < 3; i += 1) $("player-audio").dispatch("error");
    assert.equal(player.queue.playing, false);
    assert.match($("player-message").textContent, /Nothing else in this playlist plays here/);
  });
});

describe("Player: accessibility", () => {
  it("rebuilds the now-playing live region only when what it says changes", () => {
    const box = $("now-playing");
    player.offerMood("happy", "match", HAPPY);
    assert.equal(box.textContent, "Ready happy 1 — Artist");
    const built = box.rebuilds;
    player.setLocked(true);
    player.setLocked(false);
    player.changeMode("sad", "lift", SAD);
    player.render();
    assert.equal(box.rebuilds, built, "locking, modes and re-renders say nothing new");
    player.togglePlay();
    assert.equal(box.textContent, "Playing happy 1 — Artist");
    assert.equal(box.rebuilds, built + 1);
    $("player-audio").dispatch("timeupdate");
    assert.equal(box.rebuilds, built + 1);
  });

  it("keeps one label on the lock button; aria-pressed carries the state", () => {
    const lock = $("lock-mood");
    assert.equal(lock.getAttribute("aria-pressed"), "false");
    lock.dispatch("click");
    assert.equal(player.locked, true);
    assert.equal(lock.getAttribute("aria-pressed"), "true");
    assert.equal(lock.textContent, "Lock mood");
    lock.dispatch("click");
    assert.equal(lock.getAttribute("aria-pressed"), "false");
    assert.equal(lock.textContent, "Lock mood");
  });

  it("gives the seek slider the position as text", () => {
    const seek = $("seek");
    const audio = $("player-audio");
    player.offerMood("happy", "match", HAPPY);
    player.togglePlay();
    assert.equal(seek.getAttribute("aria-valuetext"), null, "no duration yet");
    audio.duration = 200;
    audio.currentTime = 62.4;
    audio.dispatch("timeupdate");
    assert.equal(seek.getAttribute("aria-valuetext"), "1:02 of 3:20");
    assert.equal($("track-time").textContent, "1:02 / 3:20");
    assert.equal(seek.value, "312");
  });
});

describe("Player: a daily player", () => {
  it("tells the media session and the tab what plays, and takes media keys", () => {
    player.offerMood("happy", "match", HAPPY);
    assert.equal(session.metadata.title, "happy 1", "ready to play from the lock screen");
    assert.equal(session.playbackState, "paused");
    assert.equal(document.title, "MoodTunes");
    player.togglePlay();
    assert.deepEqual({ ...session.metadata }, { title: "happy 1", artist: "Artist", album: "happy list" });
    assert.equal(session.playbackState, "playing");
    assert.equal(document.title, "▶ happy 1 — Artist · MoodTunes");
    session.handlers.nexttrack();
    assert.equal(session.metadata.title, "happy 2");
    session.handlers.pause();
    assert.equal(session.playbackState, "paused");
    assert.equal($("player-audio").paused, true);
    session.handlers.play();
    assert.equal($("player-audio").paused, false);
    session.handlers.previoustrack();
    assert.equal(session.metadata.title, "happy 1");
  });

  it("starts the music with the first mood once the user asked for it (the Start-camera click)", () => {
    player.armAutoplay();
    assert.equal(player.queue.playing, false, "no mood yet");
    player.offerMood("happy", "match", HAPPY);
    assert.equal(player.queue.playing, true);
    assert.equal($("player-audio").src, "/music/happy/1.wav");
    player.togglePlay(); // the user pauses: a later mood does not start it again
    player.offerMood("sad", "match", SAD);
    assert.equal(player.queue.playing, false);
  });

  it("does not start the music on a mood alone", () => {
    player.offerMood("happy", "match", HAPPY);
    assert.equal(player.queue.playing, false);
    assert.equal($("now-playing").dataset.state, "ready");
  });

  it("starts the new mood's list when the mood changes while a track is still loading", () => {
    const audio = $("player-audio");
    audio.play = () => { // a file still on its way: "playing" has not fired yet
      audio.paused = false;
      return Promise.resolve();
    };
    player.offerMood("happy", "match", HAPPY);
    player.togglePlay();
    assert.equal($("now-playing").dataset.state, "loading");
    assert.equal(player.offerMood("sad", "match", SAD), "replaced");
    assert.equal(audio.src, "/music/sad/1.wav");
    assert.equal($("now-playing").dataset.state, "loading", "the music the user started carries on");
    assert.equal(player.changeMode("sad", "lift", HAPPY), "replaced");
    assert.equal(audio.src, "/music/happy/1.wav");
    assert.equal($("now-playing").dataset.state, "loading");
  });

  it("queues the other mode of the playing mood instead of showing a list that is not playing", () => {
    player.offerMood("happy", "match", HAPPY);
    player.togglePlay();
    assert.equal(player.changeMode("happy", "lift", SAD), "queued");
    assert.equal($("playlist-title").textContent, "happy list");
    assert.match($("up-next").textContent, /Up next: happy — sad list/);
  });

  it("sets the volume of local files", () => {
    player.setVolume(0.4);
    assert.equal($("player-audio").volume, 0.4);
    $("volume").value = "70";
    $("volume").dispatch("input");
    assert.equal($("player-audio").volume, 0.7);
  });

  it("shuffles on the user's word", () => {
    const shuffle = $("shuffle");
    shuffle.dispatch("click");
    assert.equal(player.queue.shuffle, true);
    assert.equal(shuffle.getAttribute("aria-pressed"), "true");
  });

  it("gives each track one Tab stop: its Open ↗ link is for the mouse", () => {
    player.offerMood("happy", "match", HAPPY_VIDEOS);
    const row = $("playlist").childNodes[0];
    const link = row.querySelector("a.open-link");
    assert.equal(link.tabIndex, -1);
    assert.equal(row.querySelector("button.track-play").tabIndex, undefined);
  });
});

describe("Player: a YouTube embed reports its state", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setInterval", "setTimeout"] }));
  afterEach(() => mock.timers.reset());

  /** The iframe on the page now. */
  const frame = () => $("player-embed").childNodes[0] || null;
  /** The frame posts `message` (an object, sent as JSON like YouTube's) to the page. */
  const report = (message, { from = frame(), origin = YOUTUBE } = {}) =>
    window.receive({ data: typeof message === "string" ? message : JSON.stringify(message), origin, source: from.contentWindow });
  const state = (playerState) => ({ event: "infoDelivery", info: { playerState, currentTime: 12.5 } });
  const posted = (iframe) => iframe.contentWindow.posted.map(({ message, targetOrigin }) => [JSON.parse(message), targetOrigin]);

  /** A playing happy video with a sad playlist queued behind it. */
  function playingWithSadQueued() {
    player.offerMood("happy", "match", HAPPY_VIDEOS);
    player.playIndex(0);
    frame().dispatch("load");
    report(state(1));
    assert.equal(player.offerMood("sad", "match", SAD_VIDEOS), "queued");
  }

  it("embeds with enablejsapi and the page's origin, and asks the frame for its state once it loads", () => {
    player.offerMood("happy", "match", HAPPY_VIDEOS);
    player.playIndex(0);
    const iframe = frame();
    assert.equal(iframe.src,
      `${YOUTUBE}/embed/happy_____1?autoplay=1&enablejsapi=1&origin=http%3A%2F%2Flocalhost%3A8000`);
    assert.deepEqual(posted(iframe), [], "nothing before it loads");
    iframe.dispatch("load");
    const listening = [{ event: "listening", id: 1, channel: "widget" }, YOUTUBE];
    assert.deepEqual(posted(iframe), [listening]);
    mock.timers.tick(250);
    assert.deepEqual(posted(iframe), [listening, listening], "asked again until it answers");
    report({ event: "onReady", info: null });
    report(state(-1));
    mock.timers.tick(5000);
    const subscribe = (event) => [{ event: "command", func: "addEventListener", args: [event], id: 1, channel: "widget" }, YOUTUBE];
    assert.deepEqual(posted(iframe), [listening, listening, subscribe("onStateChange"), subscribe("onError")],
      "subscribed once it answered, and not asked again");
  });

  it("sets the page's volume in a frame once it answers (it ignores commands before), and at once after that", () => {
    const volumes = (iframe) => posted(iframe).filter(([message]) => message.func === "setVolume")
      .map(([message]) => message.args[0]);
    player.setVolume(0.4);
    player.offerMood("happy", "match", HAPPY_VIDEOS);
    player.playIndex(0);
    const first = frame();
    first.dispatch("load");
    assert.deepEqual(volumes(first), [], "not before it answers");
    report(state(-1));
    assert.deepEqual(posted(first).at(-1)[0], { event: "command", func: "setVolume", args: [40], id: 1, channel: "widget" });

    player.next();
    const second = frame();
    player.setVolume(0.3); // while it loads
    second.dispatch("load");
    report(state(-1));
    player.setVolume(0.7);
    assert.deepEqual(volumes(second), [30, 70]);
  });

  it("plays the next track when the video ends, so a queued mood change takes over", () => {
    playingWithSadQueued();
    const ended = frame();
    // YouTube reports the end twice: as a state change and in its info delivery.
    report({ event: "onStateChange", info: 0 });
    report(state(0), { from: ended });
    assert.equal(player.queue.list.mood, "sad");
    assert.equal(player.queue.current.title, "sad video 1", "advanced once, not twice");
    assert.equal(player.queue.upNext, null);
    assert.notEqual(frame(), ended);
    assert.match(frame().src, /\/embed\/sad_______1\?/);
    assert.equal(player.loading, true, "loading until the new video reports playing");
    assert.equal(document.body.dataset.playlistMood, "sad");
  });

  it("moves along the list when a video ends with nothing queued, and replays a one-video list", () => {
    player.offerMood("happy", "match", HAPPY_VIDEOS);
    player.playIndex(0);
    report(state(0));
    assert.equal(player.queue.current.title, "happy video 2");
    assert.match(frame().src, /\/embed\/happy_____2\?/);

    player.offerMood("sad", "match", youtubePlaylist("sad", 1));
    player.next();
    const only = frame();
    report(state(1));
    report(state(0));
    assert.equal(player.queue.current.title, "sad video 1");
    assert.notEqual(frame(), only, "a new player: the ended one starts again");
  });

  it("counts a video paused in the frame as paused: the next mood change replaces the list at once", () => {
    playingWithSadQueued();
    player.offerMood("happy", "match", HAPPY_VIDEOS); // the mood came back: nothing queued
    report(state(2));
    assert.equal(player.queue.playing, false);
    assert.equal($("play-pause").textContent, "Play");
    assert.equal($("now-playing").dataset.state, "paused");
    assert.equal(player.offerMood("sad", "match", SAD_VIDEOS), "replaced");
    assert.equal(frame(), null, "the paused video is gone");
  });

  it("resumes a video paused in the frame when Play is pressed", () => {
    player.offerMood("happy", "match", HAPPY_VIDEOS);
    player.playIndex(0);
    const iframe = frame();
    iframe.dispatch("load");
    report(state(2));
    player.togglePlay();
    assert.equal(frame(), iframe, "the same player, not a restart");
    assert.deepEqual(posted(iframe).at(-1), [{ event: "command", func: "playVideo", args: [], id: 1, channel: "widget" }, YOUTUBE]);
    report(state(1));
    assert.equal(player.queue.playing, true);
    player.togglePlay(); // Pause: the same player pauses
    assert.deepEqual(posted(iframe).at(-1), [{ event: "command", func: "pauseVideo", args: [], id: 1, channel: "widget" }, YOUTUBE]);
    assert.equal(frame(), iframe);
    assert.equal(player.queue.playing, false);
  });

  it("says Loading, not Playing, until the video reports that it plays", () => {
    player.offerMood("happy", "match", HAPPY_VIDEOS);
    player.playIndex(0);
    assert.equal(player.queue.playing, false);
    assert.equal($("now-playing").dataset.state, "loading");
    assert.equal($("play-pause").getAttribute("aria-label"), "Pause", "it can be stopped meanwhile");
    report(state(1));
    assert.equal($("now-playing").dataset.state, "playing");
  });

  it("takes the media keys while a video loads: play keeps it loading, pause stops it", () => {
    player.offerMood("happy", "match", HAPPY_VIDEOS);
    player.playIndex(0);
    session.handlers.play();
    assert.equal(player.loading, true, "play on a loading video leaves it loading");
    session.handlers.pause();
    assert.equal(player.loading, false);
    assert.notEqual($("now-playing").dataset.state, "loading");
  });

  it("skips a video YouTube can't play to the next one, and drops the message with the playlist", () => {
    player.offerMood("happy", "match", HAPPY_VIDEOS);
    player.playIndex(0);
    report({ event: "onError", info: 150 });
    assert.equal(player.queue.current.title, "happy video 2");
    assert.match(frame().src, /\/embed\/happy_____2\?/);
    assert.match($("player-message").textContent, /Skipped “happy video 1”: YouTube can't play it here/);
    player.offerMood("sad", "match", SAD_VIDEOS); // not playing yet (loading): replaced at once
    assert.equal($("player-message").hidden, true);
    assert.equal($("player-message").textContent, "");
  });

  it("skips a frame that stays silent for 3 s (YouTube unreachable) to the next track that plays here", () => {
    const mixed = { ...HAPPY_VIDEOS, tracks: [...HAPPY_VIDEOS.tracks, ...HAPPY.tracks] };
    player.offerMood("happy", "match", mixed);
    player.playIndex(0);
    frame().dispatch("load");
    mock.timers.tick(2_900);
    assert.equal(player.queue.current.title, "happy video 1", "still waiting for it");
    mock.timers.tick(100);
    assert.equal(player.queue.current.title, "happy 1", "the other videos would be silent too: on to a file");
    assert.equal(frame(), null);
    assert.equal($("player-audio").src, "/music/happy/1.wav");
    assert.equal(player.queue.playing, true);
    assert.match($("player-message").textContent, /Skipped “happy video 1”: YouTube didn't answer/);
  });

  it("stops on a silent frame when nothing else in the list plays here", () => {
    player.offerMood("happy", "match", HAPPY_VIDEOS);
    player.playIndex(0);
    mock.timers.tick(3_000);
    assert.equal(player.queue.playing, false);
    assert.equal(player.loading, false);
    assert.equal(frame(), null);
    assert.match($("player-message").textContent, /Nothing else in this playlist plays here/);
  });

  it("does not give up on a frame that answered", () => {
    player.offerMood("happy", "match", HAPPY_VIDEOS);
    player.playIndex(0);
    frame().dispatch("load");
    report(state(1));
    mock.timers.tick(60_000);
    assert.equal(player.queue.playing, true);
    assert.equal($("player-message").textContent, "");
  });

  it("hands over to the queued playlist when YouTube can't play the video", () => {
    playingWithSadQueued();
    report({ event: "onError", info: 150 });
    assert.equal(player.queue.list.mood, "sad");
    assert.equal(player.queue.current.title, "sad video 1");
    assert.match(frame().src, /\/embed\/sad_______1\?/);
    assert.equal($("player-message").textContent, "", "the message went with the old playlist");
  });

  it("ignores messages from another origin or window, from an earlier player, and anything not YouTube's JSON", () => {
    playingWithSadQueued();
    const before = frame();
    const ended = JSON.stringify(state(0));
    report(ended, { origin: "https://www.youtube.com" });
    report(ended, { origin: "https://evil.example" });
    report(ended, { origin: "http://localhost:8000" });
    window.receive({ data: ended, origin: YOUTUBE, source: new FakeWindow(YOUTUBE) }); // another frame
    window.receive({ data: ended, origin: YOUTUBE, source: window });
    window.receive({ data: ended, origin: YOUTUBE, source: null });
    for (const data of ["{not json", "", "null", "0", "[0]", '"ended"', '{"event":"onStateChange","info":"0"}',
      '{"event":"infoDelivery","info":null}', '{"event":"infoDelivery","info":{"playerState":"0"}}',
      '{"event":"infoDelivery"}', '{"info":{"playerState":0}}']) {
      report(data);
    }
    window.receive({ data: state(0), origin: YOUTUBE, source: before.contentWindow }); // an object, not JSON text
    assert.equal(frame(), before);
    assert.equal(player.queue.list.mood, "happy");
    assert.equal(player.queue.current.title, "happy video 1");
    assert.equal(player.queue.upNext.mood, "sad");
    assert.equal(player.queue.playing, true);

    player.playIndex(1); // a new player; the old frame's late report is not about it
    report(state(0), { from: before });
    report(state(2), { from: before });
    assert.equal(player.queue.current.title, "happy video 2");
    assert.equal(player.loading, true);
    assert.equal($("now-playing").dataset.state, "loading");
  });
});
