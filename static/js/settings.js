// The user's music choice per emotion: "match" my mood or "lift" it.
// Kept in localStorage (this browser only); any storage failure falls back to defaults.

import { EMOTIONS } from "./mood.js";

export const MODES = Object.freeze(["match", "lift"]);
export const STORAGE_KEY = "moodtunes.modes";
const DEFAULT_MODE = "match";

/** {angry: "match"|"lift", …} from storage, defaults for anything missing or invalid. */
export function loadModes(storage = safeLocalStorage()) {
  let saved = {};
  try {
    const raw = storage ? storage.getItem(STORAGE_KEY) : null;
    const parsed = raw ? JSON.parse(raw) : null;
    if (parsed && typeof parsed === "object") saved = parsed;
  } catch {
    saved = {};
  }
  return Object.fromEntries(EMOTIONS.map((emotion) => [
    emotion, MODES.includes(saved[emotion]) ? saved[emotion] : DEFAULT_MODE,
  ]));
}

export function saveModes(modes, storage = safeLocalStorage()) {
  try {
    if (storage) storage.setItem(STORAGE_KEY, JSON.stringify(modes));
    return true;
  } catch {
    return false; // private mode or storage full: the choice lasts for this visit only
  }
}

function safeLocalStorage() {
  try {
    return globalThis.localStorage || null;
  } catch {
    return null;
  }
}
