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

export const VOLUME_KEY = "moodtunes.volume";

/** The volume (0 … 1) chosen in this browser; full volume when none was saved. */
export function loadVolume(storage = safeLocalStorage()) {
  try {
    const raw = storage ? storage.getItem(VOLUME_KEY) : null;
    const volume = raw === null ? Number.NaN : Number(raw);
    return volume >= 0 && volume <= 1 ? volume : 1;
  } catch {
    return 1;
  }
}

export function saveVolume(volume, storage = safeLocalStorage()) {
  try {
    if (storage) storage.setItem(VOLUME_KEY, String(volume));
  } catch {
    // private mode or storage full: the volume lasts for this visit only
  }
}

function safeLocalStorage() {
  try {
    return globalThis.localStorage || null;
  } catch {
    return null;
  }
}
