// What the operating system shows and controls: the Media Session API (media keys, the lock
// screen, the browser's media hub) and the tab's title. No DOM beyond what is passed in, so
// tests pass fakes.

export const PAGE_TITLE = "MoodTunes";

/** The tab's title: the track while it plays, so a background tab says what is on. */
export function tabTitle(track, playing) {
  return track && playing ? `▶ ${track.title} — ${track.artist} · ${PAGE_TITLE}` : PAGE_TITLE;
}

export class MediaSessionBridge {
  /**
   * @param {{play: Function, pause: Function, next: Function, prev: Function}} actions
   * @param {object} [options]
   * @param {object|undefined} [options.session]  navigator.mediaSession, where the browser has it
   * @param {Function|undefined} [options.Metadata]  the MediaMetadata constructor
   * @param {{title: string}} [options.doc]  the document whose title follows the track
   */
  constructor(actions, {
    session = globalThis.navigator?.mediaSession, Metadata = globalThis.MediaMetadata, doc = globalThis.document,
  } = {}) {
    Object.assign(this, { session, Metadata, doc });
    this._shown = undefined;
    if (!session) return;
    const handlers = { play: actions.play, pause: actions.pause, nexttrack: actions.next, previoustrack: actions.prev };
    for (const [name, handler] of Object.entries(handlers)) {
      try {
        session.setActionHandler(name, () => handler());
      } catch {
        // a browser that does not know this action: the page's own buttons still work
      }
    }
  }

  /** Shows `track` (or nothing) as playing or paused; `album` is the playlist's title. */
  show(track, { playing, album = "" }) {
    if (this.doc) this.doc.title = tabTitle(track, playing);
    if (!this.session) return;
    this.session.playbackState = !track ? "none" : playing ? "playing" : "paused";
    if (track === this._shown) return;
    this._shown = track;
    this.session.metadata = track && this.Metadata
      ? new this.Metadata({ title: track.title, artist: track.artist, album })
      : null;
  }
}
