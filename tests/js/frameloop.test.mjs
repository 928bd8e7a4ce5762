import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { FrameLoop } from "../../static/js/frameloop.js";

/** A fake clock and timer queue the test advances by hand. */
function fakeTime() {
  let now = 0;
  let nextId = 1;
  const timers = new Map();
  return {
    now: () => now,
    setTimer(fn, ms) {
      const id = nextId++;
      timers.set(id, { fn, at: now + ms });
      return id;
    },
    clearTimer(id) {
      timers.delete(id);
    },
    pending: () => timers.size,
    /** Runs timers due within `ms`, letting promises settle in between. */
    async advance(ms) {
      const end = now + ms;
      for (;;) {
        await settle();
        const due = [...timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = Math.max(now, due[1].at);
        due[1].fn();
      }
      now = end;
      await settle();
    },
  };
}

async function settle() {
  for (let i = 0; i < 20; i += 1) await Promise.resolve();
}

function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

describe("FrameLoop", () => {
  it("never has more than one request in flight and waits for the answer", async () => {
    const time = fakeTime();
    let inFlight = 0;
    let maxInFlight = 0;
    const answers = [];
    const loop = new FrameLoop({
      intervalMs: 200,
      capture: async () => ({ n: answers.length }),
      send: () => {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const answer = deferred();
        answers.push(answer);
        return answer.promise.finally(() => { inFlight -= 1; });
      },
      ...time,
    });
    loop.start();
    await time.advance(2000); // the server is slow: nothing answered yet
    assert.equal(answers.length, 1);
    answers[0].resolve({});
    await time.advance(200);
    assert.equal(answers.length, 2);
    assert.equal(maxInFlight, 1);
    loop.stop();
  });

  it("targets one frame per interval when the server is quick", async () => {
    const time = fakeTime();
    let sent = 0;
    const results = [];
    const loop = new FrameLoop({
      intervalMs: 200, capture: async () => "frame", send: async () => ++sent, onResult: (r) => results.push(r), ...time,
    });
    loop.start();
    await time.advance(1000);
    assert.ok(sent >= 5 && sent <= 6, `sent ${sent}`);
    assert.deepEqual(results, Array.from({ length: sent }, (_, i) => i + 1));
    loop.stop();
  });

  it("pauses (hidden tab) and resumes without starting a second chain", async () => {
    const time = fakeTime();
    let sent = 0;
    const loop = new FrameLoop({ intervalMs: 200, capture: async () => 1, send: async () => ++sent, ...time });
    loop.start();
    await time.advance(400);
    loop.pause();
    const before = sent;
    await time.advance(5000);
    assert.equal(sent, before);
    loop.resume();
    loop.resume();
    await time.advance(1000);
    assert.ok(sent - before <= 6, `sent ${sent - before} after resuming`);
    assert.ok(time.pending() <= 1);
    loop.stop();
  });

  it("backs off after errors and recovers", async () => {
    const time = fakeTime();
    let calls = 0;
    const errors = [];
    const loop = new FrameLoop({
      intervalMs: 200, maxBackoffMs: 5000, capture: async () => 1,
      send: async () => {
        calls += 1;
        if (calls <= 3) throw new Error("503");
        return "ok";
      },
      onError: (error) => errors.push(error.message),
      ...time,
    });
    loop.start();
    await time.advance(400 + 800 + 1600 - 1);
    assert.equal(calls, 3, "waits 400, 800, 1600 ms between failing tries");
    await time.advance(1);
    assert.equal(calls, 4);
    assert.equal(loop.failures, 0);
    assert.equal(errors.length, 3);
    loop.stop();
  });

  it("skips turns with no frame and drops answers that arrive after stop", async () => {
    const time = fakeTime();
    const answer = deferred();
    const results = [];
    let captures = 0;
    const loop = new FrameLoop({
      intervalMs: 200,
      capture: async () => (++captures === 1 ? null : "frame"),
      send: () => answer.promise,
      onResult: (r) => results.push(r),
      ...time,
    });
    loop.start();
    await time.advance(200);
    assert.equal(captures, 2);
    loop.stop();
    answer.resolve("late");
    await time.advance(1000);
    assert.deepEqual(results, []);
    assert.equal(captures, 2);
  });
});
