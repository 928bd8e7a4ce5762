import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

import { EMOTIONS } from "../../static/js/mood.js";
import { boxToPercent, EMOTION_EMOJI, EMOTION_NAMES, percent, scrollBehavior } from "../../static/js/view.js";
import { loadModes, saveModes, STORAGE_KEY } from "../../static/js/settings.js";
import { cameraErrorState, cameraSupport } from "../../static/js/camera.js";
import { sentence } from "../../static/js/api.js";

describe("face boxes", () => {
  it("places a box in percent of the picture", () => {
    assert.deepEqual(boxToPercent([64, 48, 128, 96], { width: 640, height: 480 }, false),
      { left: 10, top: 10, width: 20, height: 20 });
  });

  it("mirrors a box for the mirrored camera view", () => {
    assert.deepEqual(boxToPercent([64, 48, 128, 96], { width: 640, height: 480 }, true),
      { left: 70, top: 10, width: 20, height: 20 });
  });

  it("refuses boxes it can't place", () => {
    assert.equal(boxToPercent([1, 2, 3, 4], { width: 0, height: 480 }), null);
    assert.equal(boxToPercent(["a", 2, 3, 4], { width: 640, height: 480 }), null);
  });

  it("formats percentages", () => {
    assert.equal(percent(0.914), "91%");
    assert.equal(percent(null), "0%");
    assert.equal(percent(2), "100%");
  });
});

describe("expression names", () => {
  const page = readFileSync(new URL("../../templates/index.html", import.meta.url), "utf8");

  it("has a name and an emoji for every expression", () => {
    for (const emotion of EMOTIONS) {
      assert.ok(EMOTION_NAMES[emotion], emotion);
      assert.ok(EMOTION_EMOJI[emotion], emotion);
    }
  });

  it("lives in view.js only: the page has the empty rows view.js fills", () => {
    for (const emotion of EMOTIONS) {
      assert.ok(!page.includes(EMOTION_NAMES[emotion]), `index.html spells out ${EMOTION_NAMES[emotion]}`);
      assert.ok(!page.includes(EMOTION_EMOJI[emotion]), `index.html holds the ${emotion} emoji`);
    }
    for (const id of ["bars", "bar-row", "modes", "mode-row"]) assert.ok(page.includes(`id="${id}"`), id);
  });
});

describe("motion", () => {
  const windowPreferring = (reduce) => ({ matchMedia: (query) => ({ matches: reduce && query.includes("reduce") }) });

  it("scrolls smoothly unless the user asked for reduced motion", () => {
    assert.equal(scrollBehavior(windowPreferring(false)), "smooth");
    assert.equal(scrollBehavior(windowPreferring(true)), "auto");
    assert.equal(scrollBehavior({}), "smooth");
  });
});

describe("settings", () => {
  function memoryStorage(initial = {}) {
    const data = { ...initial };
    return { getItem: (k) => (k in data ? data[k] : null), setItem: (k, v) => { data[k] = String(v); }, data };
  }

  it("defaults to match, keeps valid saved choices, drops invalid ones", () => {
    const storage = memoryStorage({ [STORAGE_KEY]: JSON.stringify({ sad: "lift", angry: "bogus" }) });
    assert.deepEqual(loadModes(storage), { angry: "match", happy: "match", neutral: "match", sad: "lift" });
    assert.deepEqual(loadModes(memoryStorage({ [STORAGE_KEY]: "{not json" })).sad, "match");
    assert.equal(loadModes(null).happy, "match");
  });

  it("saves and survives a storage that throws", () => {
    const storage = memoryStorage();
    assert.equal(saveModes({ happy: "lift" }, storage), true);
    assert.equal(loadModes(storage).happy, "lift");
    assert.equal(saveModes({}, { setItem: () => { throw new Error("quota"); } }), false);
  });
});

describe("camera checks", () => {
  it("tells insecure and absent apart", () => {
    assert.equal(cameraSupport({ isSecureContext: false, navigator: {} }), "insecure");
    assert.equal(cameraSupport({ isSecureContext: true, navigator: {} }), "absent");
    assert.equal(cameraSupport({ isSecureContext: true, navigator: { mediaDevices: { getUserMedia() {} } } }), "ok");
  });

  it("maps getUserMedia errors to page states", () => {
    assert.equal(cameraErrorState({ name: "NotAllowedError" }), "refused");
    assert.equal(cameraErrorState({ name: "NotFoundError" }), "absent");
    assert.equal(cameraErrorState({ name: "NotReadableError" }), "error");
  });

  it("turns server messages into sentences", () => {
    assert.equal(sentence("the image is too large"), "The image is too large.");
    assert.equal(sentence("Done!"), "Done!");
  });
});
