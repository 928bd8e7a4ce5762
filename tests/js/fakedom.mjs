// Just enough of the DOM for player.js to run under Node (no browser, no jsdom):
// elements with children, attributes, classes, dataset and events, an <audio>
// whose play()/pause() fire events the way a browser's do, and a window and
// <iframe> windows that record postMessage and deliver "message" events.

class FakeClassList {
  constructor() {
    this.names = new Set();
  }

  toggle(name, on = !this.names.has(name)) {
    if (on) this.names.add(name);
    else this.names.delete(name);
    return on;
  }

  contains(name) {
    return this.names.has(name);
  }
}

export class FakeElement {
  constructor(tagName) {
    this.tagName = tagName.toUpperCase();
    this.childNodes = [];
    this.attributes = new Map();
    this.classList = new FakeClassList();
    this.dataset = {};
    this.style = {};
    this.listeners = {};
    this.hidden = false;
    this.disabled = false;
    this.rebuilds = 0; // how many times replaceChildren ran: a live region is re-announced each time
  }

  get className() {
    return [...this.classList.names].join(" ");
  }

  set className(value) {
    this.classList.names = new Set(String(value).split(/\s+/).filter(Boolean));
  }

  get textContent() {
    return this.childNodes.map((node) => (typeof node === "string" ? node : node.textContent)).join("");
  }

  set textContent(value) {
    this.childNodes = [String(value)];
  }

  append(...nodes) {
    this.childNodes.push(...nodes);
  }

  replaceChildren(...nodes) {
    this.rebuilds += 1;
    this.childNodes = [...nodes];
  }

  setAttribute(name, value) {
    this.attributes.set(name, String(value));
  }

  getAttribute(name) {
    return this.attributes.has(name) ? this.attributes.get(name) : null;
  }

  removeAttribute(name) {
    this.attributes.delete(name);
  }

  addEventListener(type, listener) {
    (this.listeners[type] ||= []).push(listener);
  }

  dispatch(type) {
    for (const listener of this.listeners[type] || []) listener({ type, target: this });
  }

  /** Simple selectors only: "tag", ".class" or "tag.class". */
  querySelectorAll(selector) {
    const [tag, name] = selector.split(".");
    const matches = (node) => (!tag || node.tagName === tag.toUpperCase()) && (!name || node.classList.contains(name));
    const found = [];
    const walk = (node) => {
      for (const child of node.childNodes) {
        if (typeof child === "string") continue;
        if (matches(child)) found.push(child);
        walk(child);
      }
    };
    walk(this);
    return found;
  }

  querySelector(selector) {
    return this.querySelectorAll(selector)[0] || null;
  }
}

export class FakeAudio extends FakeElement {
  constructor() {
    super("audio");
    this.paused = true;
    this.currentTime = 0;
    this.duration = Number.NaN;
  }

  set src(value) {
    this.setAttribute("src", value);
  }

  get src() {
    return this.getAttribute("src") || "";
  }

  play() {
    this.paused = false;
    this.dispatch("play");
    this.dispatch("playing");
    return Promise.resolve();
  }

  pause() {
    this.paused = true;
    this.dispatch("pause");
  }
}

/** A window that records what is posted to it (an iframe's contentWindow, or another window). */
export class FakeWindow {
  constructor(origin = "null") {
    this.location = { origin };
    this.posted = []; // [{message, targetOrigin}]
    this.listeners = {};
  }

  postMessage(message, targetOrigin) {
    this.posted.push({ message, targetOrigin });
  }

  addEventListener(type, listener) {
    (this.listeners[type] ||= []).push(listener);
  }

  /** A "message" event as the browser delivers it: data, the sender's origin and its window. */
  receive({ data, origin, source }) {
    for (const listener of this.listeners.message || []) listener({ type: "message", data, origin, source });
  }
}

export class FakeIframe extends FakeElement {
  constructor() {
    super("iframe");
    this.contentWindow = new FakeWindow();
  }
}

/** Installs `globalThis.window`, the page's window at `origin`, and returns it. */
export function installFakeWindow(origin = "http://localhost:8000") {
  const window = new FakeWindow(origin);
  globalThis.window = window;
  return window;
}

const ELEMENTS = { audio: FakeAudio, iframe: FakeIframe };

/** Installs `globalThis.document`; getElementById makes each element on first use. */
export function installFakeDocument() {
  const elements = new Map();
  const document = {
    title: "MoodTunes",
    body: new FakeElement("body"),
    createElement: (tagName) => new (ELEMENTS[tagName] || FakeElement)(tagName),
    getElementById(id) {
      if (!elements.has(id)) elements.set(id, document.createElement(id === "player-audio" ? "audio" : "div"));
      return elements.get(id);
    },
  };
  globalThis.document = document;
  return document;
}

/** Installs a `navigator.mediaSession` that records what the page sets, and `MediaMetadata`. */
export function installFakeMediaSession() {
  const session = {
    metadata: null,
    playbackState: "none",
    handlers: {},
    setActionHandler(name, handler) {
      this.handlers[name] = handler;
    },
  };
  globalThis.MediaMetadata = class {
    constructor(init) {
      Object.assign(this, init);
    }
  };
  Object.defineProperty(globalThis, "navigator", { value: { mediaSession: session }, configurable: true, writable: true });
  return session;
}
