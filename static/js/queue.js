// What the player plays next, as pure state (no DOM, no audio): player.js
// renders it and drives the <audio>/<iframe>; tests drive it directly.
//
// Rules:
// - A mood change never cuts the current track: while something plays, the new
//   mood's playlist waits as "up next" and takes over when the track ends or the
//   user presses next. When nothing plays it replaces the list at once.
// - While locked, mood changes are ignored (the user's own choices still apply).
// - Changing match/lift for the mood on screen shows the new list at once when
//   nothing plays; while a track plays the new list waits as "up next", like a
//   mood change, so the list on screen is always the one playing.
// - Next skips tracks that can't play here (a `playable` test the player passes),
//   in order or, with shuffle on, in a random order that repeats no track until
//   every one has played.

/**
 * @typedef {{title: string, artist: string, url: string|null, audio: string|null, source?: string}} Track
 * @typedef {{title: string, description: string, tracks: Track[]}} Playlist
 * @typedef {{mood: string, mode: string, title: string, description: string, tracks: Track[]}} Entry
 */

export class PlayQueue {
  /** @param {{random?: () => number}} [options]  the shuffle's source of randomness (tests pass their own) */
  constructor({ random = Math.random } = {}) {
    /** @type {Entry|null} the list on screen */
    this.list = null;
    /** position of the current track in `list`; -1 when the current track came from an earlier list */
    this.index = -1;
    /** @type {Track|null} the loaded track (playing or not) */
    this.current = null;
    /** @type {Entry|null} the list that takes over after the current track */
    this.pending = null;
    this.locked = false;
    this.playing = false;
    this.shuffle = false;
    this._random = random;
    this._played = new Set(); // indices of `list` played since it was shown (for shuffle)
  }

  /**
   * The stable mood is now `mood`, whose chosen (match/lift) playlist is `playlist`.
   * @returns {"ignored"|"unchanged"|"queued"|"replaced"}
   */
  setMood(mood, mode, playlist) {
    if (this.locked) return "ignored";
    const entry = makeEntry(mood, mode, playlist);
    if (!entry) return "ignored";
    if (sameEntry(this.pending, entry)) return "unchanged";
    if (sameEntry(this.list, entry)) {
      this.pending = null; // the mood came back before the switch happened
      return "unchanged";
    }
    if (this.playing) {
      this.pending = entry;
      return "queued";
    }
    this._show(entry, true);
    return "replaced";
  }

  /**
   * The user chose a different mode (match/lift) for `mood`.
   * @returns {"replaced"|"queued"|"updated-pending"|"unaffected"}
   */
  changeMode(mood, mode, playlist) {
    const entry = makeEntry(mood, mode, playlist);
    if (!entry) return "unaffected";
    if (this.pending && this.pending.mood === mood) {
      this.pending = entry;
      return "updated-pending";
    }
    if (this.list && this.list.mood === mood && !sameEntry(this.list, entry)) {
      if (this.playing) {
        this.pending = entry;
        return "queued";
      }
      this._show(entry, true);
      return "replaced";
    }
    return "unaffected";
  }

  /**
   * Next track (the user pressed next, or the current one ended or failed): into the queued
   * playlist if there is one, else along the list (wrapping), skipping tracks `playable` refuses.
   * When none is playable it moves one step, so the user still sees where they are.
   */
  next(playable = () => true) {
    if (this.pending) {
      this._show(this.pending, false);
      return this._advance(playable, -1);
    }
    if (!this.list) return null;
    return this._advance(playable, this.index);
  }

  _advance(playable, from) {
    const count = this.list.tracks.length;
    const order = this.shuffle ? this._shuffledFrom(from) : Array.from({ length: count }, (_, i) => (from + 1 + i) % count);
    const found = order.find((i) => i !== from && playable(this.list.tracks[i]))
      ?? order.find((i) => i === from && playable(this.list.tracks[i]))
      ?? order[0];
    return this.select(found);
  }

  /** Every index but `from`, the unplayed first, each group in random order. */
  _shuffledFrom(from) {
    const others = this.list.tracks.map((_, i) => i).filter((i) => i !== from);
    for (let i = others.length - 1; i > 0; i -= 1) {
      const j = Math.floor(this._random() * (i + 1));
      [others[i], others[j]] = [others[j], others[i]];
    }
    const fresh = others.filter((i) => !this._played.has(i));
    const again = others.filter((i) => this._played.has(i));
    return [...fresh, ...again, ...(from >= 0 ? [from] : [])];
  }

  /** Previous track in the list (stays on the first). */
  prev() {
    if (!this.list) return null;
    this.index = Math.max(0, this.index - 1);
    this.current = this.list.tracks[this.index];
    return this.current;
  }

  /** The user picked track `index` of the list on screen. */
  select(index) {
    if (!this.list || !(index >= 0 && index < this.list.tracks.length)) return null;
    this.index = index;
    this.current = this.list.tracks[index];
    if (this._played.size >= this.list.tracks.length) this._played = new Set(); // every track played: a new round
    this._played.add(index);
    return this.current;
  }

  setPlaying(playing) {
    this.playing = Boolean(playing);
  }

  /** Locking freezes the list on screen: a queued switch is dropped too. */
  setLocked(locked) {
    this.locked = Boolean(locked);
    if (this.locked) this.pending = null;
  }

  /** @returns {{mood: string, mode: string, title: string}|null} */
  get upNext() {
    return this.pending ? { mood: this.pending.mood, mode: this.pending.mode, title: this.pending.title } : null;
  }

  _show(entry, takeFirstTrack) {
    this.list = entry;
    this.pending = null;
    this._played = new Set();
    if (takeFirstTrack) {
      this.select(0);
    } else {
      this.index = -1; // the playing track came from the old list; next starts this one
    }
  }
}

/** The last few stable moods of this session, newest first. */
export class MoodHistory {
  constructor(limit = 10) {
    this.limit = Math.max(1, limit);
    /** @type {{mood: string, at: number, locked: boolean}[]} */
    this.entries = [];
  }

  /** Records `mood` at time `at` (ms since the epoch); a repeat of the latest is not recorded. */
  add(mood, at, { locked = false } = {}) {
    if (!mood) return null;
    if (this.entries.length && this.entries[0].mood === mood) return null;
    const entry = { mood, at, locked };
    this.entries.unshift(entry);
    this.entries.length = Math.min(this.entries.length, this.limit);
    return entry;
  }
}

function makeEntry(mood, mode, playlist) {
  if (!mood || !playlist || !Array.isArray(playlist.tracks) || playlist.tracks.length === 0) return null;
  return {
    mood,
    mode,
    title: String(playlist.title ?? ""),
    description: String(playlist.description ?? ""),
    tracks: playlist.tracks,
  };
}

function sameEntry(a, b) {
  return Boolean(a && b && a.mood === b.mood && a.mode === b.mode);
}
