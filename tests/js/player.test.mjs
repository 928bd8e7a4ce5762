import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";

import { installFakeDocument } from "./fakedom.mjs";
import { playlist } from "./fixtures.mjs";
import { Player } from "../../static/js/player.js";

const HAPPY = playlist("happy");
const SAD = playlist("sad");

let document;
let player;
const $ = (id) => document.getElementById(id);

beforeEach(() => {
  document = installFakeDocument();
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
