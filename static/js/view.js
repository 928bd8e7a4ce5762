// Shows a reading: expression name, confidence, one bar per class, face boxes.
// Text goes in through textContent only; sizes through element.style (CSP-safe).
// The expressions' display names and emoji live here only: the page's per-expression
// rows are built from them (renderEmotionRows).

import { EMOTIONS } from "./mood.js";

export const EMOTION_NAMES = Object.freeze({ angry: "Angry", happy: "Happy", neutral: "Neutral", sad: "Sad" });
export const EMOTION_EMOJI = Object.freeze({ angry: "😠", happy: "😄", neutral: "😐", sad: "😢" });

export function emotionName(emotion) {
  return EMOTION_NAMES[emotion] || String(emotion || "");
}

/** Builds the page's rows for each expression (bars, match/lift choices) from its <template>s. */
export function renderEmotionRows() {
  document.getElementById("bars").replaceChildren(...EMOTIONS.map(barRow));
  document.getElementById("modes").replaceChildren(...EMOTIONS.map(modeRow));
}

function barRow(emotion) {
  const row = cloneTemplate("bar-row");
  row.dataset.emotion = emotion;
  row.querySelector(".bar-label").textContent = emotionName(emotion);
  row.querySelector(".bar-track").setAttribute("aria-label", emotionName(emotion));
  return row;
}

function modeRow(emotion) {
  const row = cloneTemplate("mode-row");
  const id = `mode-${emotion}`;
  row.querySelector("label").htmlFor = id;
  row.querySelector(".mode-emoji").textContent = EMOTION_EMOJI[emotion];
  row.querySelector(".mode-name").textContent = emotionName(emotion);
  const select = row.querySelector("select");
  select.id = id;
  select.name = id;
  select.dataset.emotion = emotion;
  return row;
}

function cloneTemplate(id) {
  return document.getElementById(id).content.firstElementChild.cloneNode(true);
}

/** "smooth", unless the user asked for less motion (CSS's reduced-motion rule can't reach JS scrolling). */
export function scrollBehavior(win = globalThis) {
  return win.matchMedia && win.matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth";
}

export function percent(value) {
  const number = Number(value);
  return `${Math.round((Number.isFinite(number) ? Math.min(1, Math.max(0, number)) : 0) * 100)}%`;
}

export const UNSURE_TEXT = "Not sure";

/**
 * The headline names the reading's label, which is always the top bar; a face the reading is
 * unsure about reads "Not sure" (MoodSmoother keeps a name already shown down to
 * unsureBelow - keepMargin, so it does not flap).
 * @param {{probabilities: Object<string, number>|null, label: string|null, confidence: number|null, unsure?: boolean}} reading
 * @param {string} [noFaceText]
 */
export function renderReading(reading, noFaceText = "No face in view") {
  const expression = document.getElementById("expression");
  const confidence = document.getElementById("confidence");
  const emoji = document.getElementById("expression-emoji");
  const label = reading.label;
  // Only touch the live region when the words change, so screen readers hear changes, not frames.
  const text = label ? emotionName(label) : reading.unsure ? UNSURE_TEXT : noFaceText;
  if (expression.textContent !== text) expression.textContent = text;
  expression.dataset.emotion = label || "";
  if (emoji) emoji.textContent = label ? EMOTION_EMOJI[label] || "" : "";
  confidence.textContent = label && reading.confidence != null ? `${percent(reading.confidence)} sure` : "";
  document.body.dataset.expression = label || (reading.unsure ? "unsure" : "none");
  renderBars(reading.probabilities, label);
}

export function renderBars(probabilities, top) {
  const bars = document.getElementById("bars");
  for (const emotion of EMOTIONS) {
    const row = bars.querySelector(`[data-emotion="${emotion}"]`);
    if (!row) continue;
    const value = probabilities ? Number(probabilities[emotion]) || 0 : 0;
    const text = percent(value);
    row.querySelector(".bar-fill").style.width = text;
    row.querySelector(".bar-value").textContent = text;
    row.querySelector(".bar-track").setAttribute("aria-valuenow", String(Math.round(Math.min(1, Math.max(0, value)) * 100)));
    row.classList.toggle("is-top", emotion === top);
  }
}

/**
 * A face box as CSS percentages of the picture it was found in.
 * @param {number[]} box  [x, y, w, h] in pixels of the image
 * @param {{width: number, height: number}} image
 * @param {boolean} mirror  the picture is shown flipped left-to-right
 */
export function boxToPercent(box, image, mirror = false) {
  const [x, y, w, h] = box.map(Number);
  const width = Number(image.width);
  const height = Number(image.height);
  if (![x, y, w, h, width, height].every(Number.isFinite) || width <= 0 || height <= 0) return null;
  const left = mirror ? width - (x + w) : x;
  const clamp = (value) => Math.min(100, Math.max(0, value));
  return {
    left: clamp((left / width) * 100),
    top: clamp((y / height) * 100),
    width: clamp((w / width) * 100),
    height: clamp((h / height) * 100),
  };
}

/**
 * Draws one box per face into `layer` (an absolutely positioned element over the picture).
 * @param {HTMLElement} layer
 * @param {{box: number[], emotion: string, confidence: number}[]} faces  the first is the main face
 * @param {{width: number, height: number}} image
 * @param {{mirror?: boolean, mainLabel?: string|null, mainConfidence?: number|null}} [options]
 */
export function renderBoxes(layer, faces, image, { mirror = false, mainLabel, mainConfidence } = {}) {
  const list = Array.isArray(faces) ? faces.filter((face) => face && Array.isArray(face.box)) : [];
  while (layer.children.length > list.length) layer.lastElementChild.remove();
  list.forEach((face, i) => {
    let box = layer.children[i];
    if (!box) {
      box = document.createElement("div");
      box.className = "face-box";
      const tag = document.createElement("span");
      tag.className = "face-label";
      box.append(tag);
      layer.append(box);
    }
    const rect = boxToPercent(face.box, image, mirror);
    box.hidden = rect === null;
    if (!rect) return;
    box.style.left = `${rect.left}%`;
    box.style.top = `${rect.top}%`;
    box.style.width = `${rect.width}%`;
    box.style.height = `${rect.height}%`;
    const main = i === 0;
    const emotion = main && mainLabel !== undefined ? mainLabel : face.emotion;
    const confidence = main && mainLabel !== undefined ? mainConfidence : face.confidence;
    box.classList.toggle("is-main", main);
    box.classList.toggle("label-inside", rect.top < 8);
    box.dataset.emotion = emotion || "";
    box.querySelector(".face-label").textContent = emotion
      ? `${emotionName(emotion)}${confidence != null ? ` ${percent(confidence)}` : ""}`
      : main && mainLabel === null ? UNSURE_TEXT : "…";
  });
}

/** The mood history list, newest first. */
export function renderHistory(listElement, entries) {
  if (!entries.length) {
    const empty = document.createElement("li");
    empty.className = "history-empty";
    empty.textContent = "No mood yet.";
    listElement.replaceChildren(empty);
    return;
  }
  listElement.replaceChildren(...entries.map((entry) => {
    const item = document.createElement("li");
    item.dataset.mood = entry.mood;
    const time = document.createElement("time");
    const date = new Date(entry.at);
    time.dateTime = date.toISOString();
    time.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    const mood = document.createElement("span");
    mood.className = "history-mood";
    mood.textContent = emotionName(entry.mood) + (entry.locked ? " (playlist locked)" : "");
    item.append(time, mood);
    return item;
  }));
}
