import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { playlist } from "./fixtures.mjs";
import { MoodHistory, PlayQueue } from "../../static/js/queue.js";

const HAPPY = playlist("happy");
const SAD = playlist("sad");
const ANGRY = playlist("angry", 2);

describe("PlayQueue: mood changes", () => {
  it("shows the first mood's playlist at once, first track ready", () => {
    const queue = new PlayQueue();
    assert.equal(queue.setMood("happy", "match", HAPPY), "replaced");
    assert.equal(queue.list.mood, "happy");
    assert.equal(queue.list.title, "happy list");
    assert.equal(queue.index, 0);
    assert.equal(queue.current.title, "happy 1");
    assert.equal(queue.upNext, null);
  });

  it("replaces the list when nothing is playing", () => {
    const queue = new PlayQueue();
    queue.setMood("happy", "match", HAPPY);
    queue.next();
    assert.equal(queue.setMood("sad", "match", SAD), "replaced");
    assert.equal(queue.list.mood, "sad");
    assert.equal(queue.current.title, "sad 1");
  });

  it("queues the new playlist after the current track while playing", () => {
    const queue = new PlayQueue();
    queue.setMood("happy", "match", HAPPY);
    queue.next();
    queue.setPlaying(true);
    assert.equal(queue.setMood("sad", "match", SAD), "queued");
    assert.equal(queue.current.title, "happy 2", "the current track is not cut");
    assert.equal(queue.list.mood, "happy");
    assert.deepEqual(queue.upNext, { mood: "sad", mode: "match", title: "sad list" });
  });

  it("next advances into the queued playlist", () => {
    const queue = new PlayQueue();
    queue.setMood("happy", "match", HAPPY);
    queue.setPlaying(true);
    queue.setMood("sad", "match", SAD);
    assert.equal(queue.next().title, "sad 1");
    assert.equal(queue.list.mood, "sad");
    assert.equal(queue.index, 0);
    assert.equal(queue.upNext, null);
    assert.equal(queue.next().title, "sad 2", "then along the new list");
  });

  it("the end of the current track also starts the queued playlist", () => {
    const queue = new PlayQueue();
    queue.setMood("happy", "match", HAPPY);
    queue.setPlaying(true);
    queue.setMood("angry", "match", ANGRY);
    queue.setPlaying(false); // <audio> fires pause before ended, and the player then calls next
    assert.equal(queue.next().title, "angry 1");
  });

  it("a later mood replaces the queued one; the same mood again cancels it", () => {
    const queue = new PlayQueue();
    queue.setMood("happy", "match", HAPPY);
    queue.setPlaying(true);
    queue.setMood("sad", "match", SAD);
    assert.equal(queue.setMood("angry", "match", ANGRY), "queued");
    assert.equal(queue.upNext.mood, "angry");
    assert.equal(queue.setMood("angry", "match", ANGRY), "unchanged");
    assert.equal(queue.setMood("happy", "match", HAPPY), "unchanged");
    assert.equal(queue.upNext, null);
    assert.equal(queue.next().title, "happy 2");
  });

  it("ignores a mood without a usable playlist", () => {
    const queue = new PlayQueue();
    assert.equal(queue.setMood("happy", "match", null), "ignored");
    assert.equal(queue.setMood("happy", "match", { title: "x", description: "", tracks: [] }), "ignored");
    assert.equal(queue.list, null);
  });
});

describe("PlayQueue: lock", () => {
  it("ignores mood changes while locked", () => {
    const queue = new PlayQueue();
    queue.setMood("happy", "match", HAPPY);
    queue.setLocked(true);
    assert.equal(queue.setMood("sad", "match", SAD), "ignored");
    assert.equal(queue.list.mood, "happy");
    queue.setPlaying(true);
    assert.equal(queue.setMood("sad", "match", SAD), "ignored");
    assert.equal(queue.upNext, null);
  });

  it("locking drops a queued switch; unlocking lets moods through again", () => {
    const queue = new PlayQueue();
    queue.setMood("happy", "match", HAPPY);
    queue.setPlaying(true);
    queue.setMood("sad", "match", SAD);
    queue.setLocked(true);
    assert.equal(queue.upNext, null);
    assert.equal(queue.next().title, "happy 2");
    queue.setLocked(false);
    assert.equal(queue.setMood("sad", "match", SAD), "queued");
  });
});

describe("PlayQueue: navigation", () => {
  it("next wraps around, prev stops at the first track", () => {
    const queue = new PlayQueue();
    queue.setMood("angry", "match", ANGRY);
    assert.equal(queue.next().title, "angry 2");
    assert.equal(queue.next().title, "angry 1");
    assert.equal(queue.prev().title, "angry 1");
  });

  it("select picks a track and keeps a queued playlist", () => {
    const queue = new PlayQueue();
    queue.setMood("happy", "match", HAPPY);
    queue.setPlaying(true);
    queue.setMood("sad", "match", SAD);
    assert.equal(queue.select(2).title, "happy 3");
    assert.equal(queue.select(7), null);
    assert.equal(queue.upNext.mood, "sad");
  });

  it("does nothing without a playlist", () => {
    const queue = new PlayQueue();
    assert.equal(queue.next(), null);
    assert.equal(queue.prev(), null);
    assert.equal(queue.select(0), null);
  });
  it("next skips tracks that can't play here, and stays put when none can", () => {
    const queue = new PlayQueue();
    queue.setMood("happy", "match", playlist("happy", 5));
    const playable = (track) => track.title === "happy 4" || track.title === "happy 2";
    assert.equal(queue.next(playable).title, "happy 2");
    assert.equal(queue.next(playable).title, "happy 4");
    assert.equal(queue.next(playable).title, "happy 2", "wraps, skipping 5 and 1");
    assert.equal(queue.next(() => false).title, "happy 3", "one step when nothing can play");
  });

  it("next into a queued playlist starts at its first playable track", () => {
    const queue = new PlayQueue();
    queue.setMood("happy", "match", HAPPY);
    queue.setPlaying(true);
    queue.setMood("sad", "match", SAD);
    assert.equal(queue.next((track) => track.title !== "sad 1").title, "sad 2");
    assert.equal(queue.list.mood, "sad");
  });

  it("shuffle plays every track once, in a random order, before any repeats", () => {
    let seed = 3;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    const queue = new PlayQueue({ random });
    queue.setMood("happy", "match", playlist("happy", 8));
    queue.shuffle = true;
    const round = [queue.current.title, ...Array.from({ length: 7 }, () => queue.next().title)];
    assert.equal(new Set(round).size, 8, round.join(", "));
    assert.notDeepEqual(round, playlist("happy", 8).tracks.map((track) => track.title), "not the list's order");
    const again = Array.from({ length: 8 }, () => queue.next().title);
    assert.equal(new Set(again).size, 8, "the next round too");
  });

});

describe("PlayQueue: match / lift", () => {
  const HAPPY_LIFT = playlist("happy-lift", 2);

  it("changing the mode of the shown mood replaces the list at once when idle", () => {
    const queue = new PlayQueue();
    queue.setMood("happy", "match", HAPPY);
    assert.equal(queue.changeMode("happy", "lift", HAPPY_LIFT), "replaced");
    assert.equal(queue.list.mode, "lift");
    assert.equal(queue.current.title, "happy-lift 1");
  });

  it("while playing, the new list waits as up next: the list on screen is the one playing", () => {
    const queue = new PlayQueue();
    queue.setMood("happy", "match", HAPPY);
    queue.next();
    queue.setPlaying(true);
    assert.equal(queue.changeMode("happy", "lift", HAPPY_LIFT), "queued");
    assert.equal(queue.list.title, "happy list");
    assert.equal(queue.current.title, "happy 2");
    assert.equal(queue.upNext.title, "happy-lift list");
    assert.equal(queue.next().title, "happy-lift 1");
    assert.equal(queue.list.mode, "lift");
  });


  it("updates a queued playlist of that mood, and leaves other moods alone", () => {
    const queue = new PlayQueue();
    queue.setMood("sad", "match", SAD);
    queue.setPlaying(true);
    queue.setMood("happy", "match", HAPPY);
    assert.equal(queue.changeMode("happy", "lift", HAPPY_LIFT), "updated-pending");
    assert.equal(queue.upNext.mode, "lift");
    assert.equal(queue.changeMode("angry", "lift", ANGRY), "unaffected");
    assert.equal(queue.list.mood, "sad");
  });

  it("applies even while locked (it is the user's own choice)", () => {
    const queue = new PlayQueue();
    queue.setMood("happy", "match", HAPPY);
    queue.setLocked(true);
    assert.equal(queue.changeMode("happy", "lift", HAPPY_LIFT), "replaced");
  });
});

describe("MoodHistory", () => {
  it("keeps the newest first and caps the length", () => {
    const history = new MoodHistory(10);
    const moods = ["happy", "sad", "angry", "neutral"];
    for (let i = 0; i < 25; i += 1) history.add(moods[i % 4], 1000 * i);
    assert.equal(history.entries.length, 10);
    assert.equal(history.entries[0].at, 24000);
    assert.equal(history.entries[9].at, 15000);
  });

  it("does not record the same mood twice in a row, or no mood", () => {
    const history = new MoodHistory();
    assert.ok(history.add("happy", 1));
    assert.equal(history.add("happy", 2), null);
    assert.equal(history.add(null, 3), null);
    history.add("sad", 4, { locked: true });
    assert.deepEqual(history.entries.map((entry) => [entry.mood, entry.locked]), [["sad", true], ["happy", false]]);
  });
});
