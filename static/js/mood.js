// Turns the per-frame probabilities from /api/predict into a steady reading.
//
// Pure logic (no DOM, no timers): the caller passes the time of each frame,
// so tests can drive it with made-up clocks.
//
// Three layers, each slower than the one before:
//   1. probabilities  exponential moving average over frames (bars don't jump)
//   2. label          the top smoothed class, changed only once another class
//                     has led it by `labelMargin` for `labelHoldMs`: a face that sits
//                     between two expressions keeps one name instead of flickering
//   3. stableMood     the label, adopted only once it has held for `holdMs`
//                     with the face in view and frames arriving (the playlist
//                     changes only for a lasting mood, and never while nobody
//                     is looking or the page is not reading the camera)

export const EMOTIONS = Object.freeze(["angry", "happy", "neutral", "sad"]);

export class MoodSmoother {
  /**
   * @param {object} [options]
   * @param {number} [options.alpha=0.35]      weight of the newest frame in the moving average
   * @param {number} [options.holdMs=3000]     how long a label must hold before it becomes the mood
   * @param {number} [options.labelHoldMs=400] how long another class must lead before the label changes
   * @param {number} [options.labelMargin=0.15] by how much (smoothed probability) it must lead
   * @param {number} [options.noFaceMs=1000]   after this long without a face the reading is "no face"
   * @param {string[]} [options.labels]        class names, in order
   */
  constructor({
    alpha = 0.35, holdMs = 3000, labelHoldMs = 400, labelMargin = 0.15, noFaceMs = 1000, labels = EMOTIONS,
  } = {}) {
    if (!(alpha > 0 && alpha <= 1)) throw new RangeError("alpha must be in (0, 1]");
    this.alpha = alpha;
    this.holdMs = Math.max(0, holdMs);
    this.labelHoldMs = Math.max(0, labelHoldMs);
    this.labelMargin = Math.max(0, labelMargin);
    this.noFaceMs = Math.max(0, noFaceMs);
    this.labels = [...labels];
    this.stableMood = null;
    this.reset();
  }

  /** Forgets the current face (the stable mood is kept: it drives the music). */
  reset() {
    this._average = null; // smoothed probabilities, in label order; null = no face
    this._lastFaceAt = null;
    this._lastFrameAt = null; // with or without a face
    this._awaySince = null; // the first frame without the face, during a short gap
    this._label = null;
    this._labelSince = null; // when the current label first came out on top
    this._leader = null; // the label, or the class leading it by labelMargin
    this._leaderSince = null;
  }

  /** Takes `mood` as the stable mood without waiting (e.g. a photo was read). */
  adoptMood(mood) {
    this.stableMood = mood || null;
  }

  /**
   * One frame.
   * @param {Object<string, number>|null} probabilities  the main face's probabilities, or null when no face
   * @param {number} nowMs  the frame's time, in milliseconds (any monotonic clock)
   * @returns {{probabilities: Object<string, number>, label: string|null, confidence: number|null,
   *            faceVisible: boolean, stableMood: string|null, moodChanged: boolean,
   *            pendingMood: string|null, holdProgress: number}}
   */
  update(probabilities, nowMs) {
    const frame = this._vector(probabilities);
    let display;
    if (frame) {
      // No frame at all for noFaceMs (tab hidden, error back-off), even after a no-face
      // frame: nothing says the face was there, so start afresh as the no-face path would
      // have; the hold counts only time with frames arriving.
      if (this._average !== null && nowMs - this._lastFrameAt >= this.noFaceMs) this.reset();
      this._resumeClocks(nowMs);
      this._average = this._average === null
        ? frame
        : this._average.map((value, i) => value + this.alpha * (frame[i] - value));
      this._lastFaceAt = nowMs;
      this._updateLabel(nowMs);
      display = this._average;
    } else if (this._average !== null && nowMs - this._lastFaceAt < this.noFaceMs) {
      // A face missed for a moment: keep the label, let the bars fade out, pause the holds.
      this._awaySince ??= nowMs;
      const fade = 1 - (nowMs - this._lastFaceAt) / this.noFaceMs;
      display = this._average.map((value) => value * fade);
    } else {
      this.reset();
      display = this.labels.map(() => 0);
    }

    this._lastFrameAt = nowMs;

    let moodChanged = false;
    let pendingMood = null;
    let holdProgress = 0;
    if (this._label !== null && this._label !== this.stableMood) {
      const held = (frame ? nowMs : this._awaySince) - this._labelSince; // paused while the face is away
      if (frame && held >= this.holdMs) {
        this.stableMood = this._label;
        moodChanged = true;
      } else {
        pendingMood = this._label;
        holdProgress = this.holdMs > 0 ? Math.min(1, held / this.holdMs) : 1;
      }
    }

    const index = this._label === null ? -1 : this.labels.indexOf(this._label);
    return {
      probabilities: Object.fromEntries(this.labels.map((label, i) => [label, display[i]])),
      label: this._label,
      confidence: index < 0 ? null : display[index],
      faceVisible: frame !== null,
      stableMood: this.stableMood,
      moodChanged,
      pendingMood,
      holdProgress,
    };
  }

  /** The face is back after a short gap: the hold clocks skip the time it was away. */
  _resumeClocks(nowMs) {
    if (this._awaySince === null) return;
    const away = nowMs - this._awaySince;
    this._labelSince += away;
    this._leaderSince += away;
    this._awaySince = null;
  }

  _updateLabel(nowMs) {
    const leader = this._clearLeader();
    if (leader !== this._leader) {
      this._leader = leader;
      this._leaderSince = nowMs;
    }
    if (this._label === null) {
      this._label = leader; // a face just appeared: no earlier reading to protect
      this._labelSince = nowMs;
    } else if (leader !== this._label && nowMs - this._leaderSince >= this.labelHoldMs) {
      this._label = leader;
      this._labelSince = this._leaderSince; // the mood hold counts from when it took the lead
    }
  }

  _clearLeader() {
    const top = argmax(this._average);
    const current = this.labels.indexOf(this._label);
    if (current < 0 || this._average[top] - this._average[current] >= this.labelMargin) {
      return this.labels[top];
    }
    return this._label;
  }

  _vector(probabilities) {
    if (!probabilities || typeof probabilities !== "object") return null;
    const values = this.labels.map((label) => {
      const value = Number(probabilities[label]);
      return Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : 0;
    });
    return values.some((value) => value > 0) ? values : null;
  }
}

export function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i += 1) if (values[i] > values[best]) best = i;
  return best;
}
