// One embedded YouTube player, driven through YouTube's iframe postMessage protocol (no
// YouTube script is loaded into the page).
//
// "listening" is posted to the frame once it loads, repeated until the frame answers (its own
// script ignores it until ready); once it answers, the page subscribes to its state changes and
// errors, as YouTube's iframe API does, and sets its volume. A frame that has not answered
// within `answerWithinMs` (YouTube unreachable or blocked) is reported as failed, like a video
// that can't play.

import { YOUTUBE_EMBED_ORIGIN } from "./tracks.js";

// YouTube's player states (its iframe API's PlayerState); -1 unstarted, 3 buffering and 5 cued change nothing here.
export const YT_ENDED = 0;
export const YT_PLAYING = 1;
export const YT_PAUSED = 2;
const EVENTS = ["onStateChange", "onError"];
const LISTEN_EVERY_MS = 250;
export const ANSWER_WITHIN_MS = 3000;

export class YouTubeEmbed {
  /**
   * @param {object} options
   * @param {string} options.embedUrl
   * @param {string} options.title       the iframe's accessible name
   * @param {number} options.id          tells this player's messages from an earlier one's
   * @param {(state: number) => void} options.onState  a new player state (YT_* above)
   * @param {(reason: "silent"|"error") => void} options.onFail  it cannot play
   * @param {number} [options.volume=1]  0 … 1, set once the frame answers
   */
  constructor({ embedUrl, title, id, onState, onFail, volume = 1, answerWithinMs = ANSWER_WITHIN_MS }) {
    const frame = document.createElement("iframe");
    frame.src = embedUrl;
    frame.title = title;
    frame.allow = "autoplay; encrypted-media; picture-in-picture; fullscreen";
    frame.referrerPolicy = "strict-origin-when-cross-origin"; // YouTube refuses embeds without a referrer
    frame.className = "embed embed-youtube";
    frame.addEventListener("load", () => this._listen());
    Object.assign(this, { frame, id, onState, onFail, volume });
    this.state = null;
    this.heard = false;
    this.failed = false;
    this._listenTimer = null;
    this._deadline = setTimeout(() => {
      if (!this.heard) this._fail("silent");
    }, answerWithinMs);
  }

  play() {
    this._command("playVideo");
  }

  pause() {
    this._command("pauseVideo");
  }

  /** @param {number} volume  0 … 1; kept until the frame answers (it ignores commands before) */
  setVolume(volume) {
    this.volume = volume;
    if (this.heard) this._sendVolume();
  }

  destroy() {
    clearInterval(this._listenTimer);
    clearTimeout(this._deadline);
    this.onState = () => {};
    this.onFail = () => {};
  }

  /**
   * A window message: acted on only if it is this frame's, from YouTube's origin.
   * @returns {boolean} whether it was this frame's
   */
  handleMessage(event) {
    if (event.origin !== YOUTUBE_EMBED_ORIGIN) return false;
    if (!this.frame.contentWindow || event.source !== this.frame.contentWindow) return false;
    const data = parseMessage(event.data);
    if (!data) return false;
    if (!this.heard) {
      this.heard = true;
      clearInterval(this._listenTimer);
      clearTimeout(this._deadline);
      for (const name of EVENTS) this._command("addEventListener", [name]);
      if (this.volume < 1) this._sendVolume(); // full is where YouTube starts
    }
    if (data.event === "onError") {
      this._fail("error"); // e.g. the owner does not allow embedding: nothing plays
      return true;
    }
    const state = reportedState(data);
    if (state === null || state === this.state) return true; // the state comes twice: onStateChange and infoDelivery
    this.state = state;
    this.onState(state);
    return true;
  }

  _fail(reason) {
    if (this.failed) return;
    this.failed = true;
    this.onFail(reason);
  }

  /** The frame (re)loaded: ask it for its state until it answers. */
  _listen() {
    clearInterval(this._listenTimer);
    if (this.heard) return;
    const listen = () => {
      if (this.heard) clearInterval(this._listenTimer);
      else this._post({ event: "listening" });
    };
    listen();
    this._listenTimer = setInterval(listen, LISTEN_EVERY_MS);
  }

  _sendVolume() {
    this._command("setVolume", [Math.round(this.volume * 100)]);
  }

  _command(func, args = []) {
    this._post({ event: "command", func, args });
  }

  _post(message) {
    const target = this.frame.contentWindow;
    // Only to YouTube's origin: if the frame is anything else by now, the browser drops it.
    if (target) target.postMessage(JSON.stringify({ ...message, id: this.id, channel: "widget" }), YOUTUBE_EMBED_ORIGIN);
  }
}

/** A message's data as an object, or null: YouTube posts JSON strings; anything else is not its. */
function parseMessage(data) {
  if (typeof data !== "string") return null;
  try {
    const value = JSON.parse(data);
    return value && typeof value === "object" && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

/** The player state a YouTube message reports, or null. */
function reportedState(data) {
  const info = data.info;
  if (data.event === "onStateChange") return Number.isInteger(info) ? info : null;
  if (data.event === "infoDelivery" || data.event === "initialDelivery") {
    return info && typeof info === "object" && Number.isInteger(info.playerState) ? info.playerState : null;
  }
  return null;
}
