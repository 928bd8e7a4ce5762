// Turns the per-frame probabilities from /api/predict into a steady reading.
//
// Pure logic (no DOM, no timers): the caller passes the time of each frame,
// so tests can drive it with made-up clocks.
//
// Three layers, each slower than the one before:
//   1. probabilities  exponential moving average over frames (bars don't jump)
//   2. label          what the headline names: the top bar while it is at least
//                     `unsureBelow` likely; otherwise null ("not sure"), so the headline
//                     never contradicts the bars. A class the headline does not name yet
//                     (after "not sure", which is also how one class hands over to another)
//                     is named only once it has led the runner-up by `labelMargin` for
//                     `labelHoldMs`, so a face between two expressions settles on "not sure"
//                     instead of flickering. A face that just appeared is named at once.
//                     The class the headline already names keeps its name while it stays the
//                     top bar and at least `unsureBelow - keepMargin` likely, so a calm face
//                     hovering at the line does not flap between its name and "not sure".
//                     keepMargin 0.05 is the smallest that stops a face at 0.5 ± 0.04 a frame
//                     flapping; a wider one keeps names longer for no gain there.
//   3. stableMood     the label, adopted once the headline has named it without a break
//                     for `holdMs` with the face in view and frames arriving. The hold
//                     runs from when the headline first named it, and the mood is taken
//                     from the same reading the page shows, so the music never follows
//                     a mood the page is not showing.

export const EMOTIONS = Object.freeze(["angry", "happy", "neutral", "sad"]);

// Below this smoothed probability the headline says "not sure" rather than a low percentage.
// Calibrated on the shipped model: of 800 FER+ test faces, those whose top class scored under
// 0.5 were right 48% of the time (97 faces), as likely wrong as right; above it, 79%.
export const UNSURE_BELOW = 0.5;

export class MoodSmoother {
  /**
   * @param {object} [options]
   * @param {number} [options.alpha=0.5]        weight of the newest frame in the moving average
   * @param {number} [options.holdMs=1200]     how long the headline must name a mood before it is adopted
   * @param {number} [options.labelHoldMs=300] how long a class must lead before the headline names it anew
   * @param {number} [options.labelMargin=0.15] by how much (smoothed probability) it must lead the runner-up
   * @param {number} [options.unsureBelow=UNSURE_BELOW] a top class less likely than this is "not sure"
   * @param {number} [options.keepMargin=0.05] how far under unsureBelow the named class may fall and keep its name
   * @param {number} [options.noFaceMs=1000]   after this long without a face the reading is "no face"
   * @param {number} [options.staleMs=10000]   a face seen this long ago, with no frame since, is forgotten
   * @param {string[]} [options.labels]        class names, in order
   */
  constructor({
    alpha = 0.5, holdMs = 1200, labelHoldMs = 300, labelMargin = 0.15, unsureBelow = UNSURE_BELOW,
    keepMargin = 0.05, noFaceMs = 1000, staleMs = 10000, labels = EMOTIONS,
  } = {}) {
    if (!(alpha > 0 && alpha <= 1)) throw new RangeError("alpha must be in (0, 1]");
    this.alpha = alpha;
    this.holdMs = Math.max(0, holdMs);
    this.labelHoldMs = Math.max(0, labelHoldMs);
    this.labelMargin = Math.max(0, labelMargin);
    this.unsureBelow = Math.max(0, unsureBelow);
    this.keepMargin = Math.max(0, keepMargin);
    this.noFaceMs = Math.max(0, noFaceMs);
    this.staleMs = Math.max(this.noFaceMs, staleMs);
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
    this._label = null; // what the headline names; null with a face = not sure
    this._labelSince = null; // when the headline started naming it (or saying "not sure"); null until this face is first named
    this._clearTop = null; // the top class while it leads the runner-up by labelMargin
    this._clearSince = null;
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
   *            unsure: boolean, faceVisible: boolean, stableMood: string|null, moodChanged: boolean,
   *            pendingMood: string|null, holdProgress: number}}
   */
  update(probabilities, nowMs) {
    const frame = this._vector(probabilities);
    let display;
    if (frame) {
      // No frame at all for staleMs (a tab hidden long; the page also resets on its return),
      // even after a no-face frame: nothing says the face was there, so start afresh. Frames
      // a few seconds apart (a slow server) still count: each one saw the face.
      if (this._average !== null && nowMs - this._lastFrameAt >= this.staleMs) this.reset();
      this._resumeClocks(nowMs);
      const fresh = this._average === null;
      this._average = fresh ? frame : this._average.map((value, i) => value + this.alpha * (frame[i] - value));
      this._lastFaceAt = nowMs;
      this._updateLabel(nowMs, fresh);
      display = this._average;
    } else if (this._average !== null && nowMs - this._lastFaceAt < this.noFaceMs) {
      // A face missed for a moment: keep the label, let the bars fade out (all alike, so the
      // top bar stays the top), pause the holds.
      this._awaySince ??= nowMs;
      const fade = 1 - (nowMs - this._lastFaceAt) / this.noFaceMs;
      display = this._average.map((value) => value * fade);
    } else {
      this.reset();
      display = this.labels.map(() => 0);
    }
    this._lastFrameAt = nowMs;

    const hold = this._hold(frame !== null, nowMs);
    const index = this._label === null ? -1 : this.labels.indexOf(this._label);
    return {
      probabilities: Object.fromEntries(this.labels.map((label, i) => [label, display[i]])),
      label: this._label,
      confidence: index < 0 ? null : display[index],
      unsure: this._average !== null && this._label === null,
      faceVisible: frame !== null,
      stableMood: this.stableMood,
      ...hold,
    };
  }

  /** The stable mood becomes the label once the headline has named it for holdMs. */
  _hold(faceVisible, nowMs) {
    const idle = { moodChanged: false, pendingMood: null, holdProgress: 0 };
    if (this._label === null || this._label === this.stableMood) return idle;
    const held = (faceVisible ? nowMs : this._awaySince) - this._labelSince; // paused while the face is away
    if (faceVisible && held >= this.holdMs) {
      this.stableMood = this._label;
      return { ...idle, moodChanged: true };
    }
    return { ...idle, pendingMood: this._label, holdProgress: this.holdMs > 0 ? Math.min(1, held / this.holdMs) : 1 };
  }

  /** The face is back after a short gap: the hold clocks skip the time it was away. */
  _resumeClocks(nowMs) {
    if (this._awaySince === null) return;
    const away = nowMs - this._awaySince;
    if (this._labelSince !== null) this._labelSince += away;
    if (this._clearSince !== null) this._clearSince += away;
    this._awaySince = null;
  }

  /** @param {boolean} fresh  the face just appeared: no earlier reading to protect */
  _updateLabel(nowMs, fresh) {
    const top = argmax(this._average);
    const topLabel = this.labels[top];
    const clear = this._lead(top) >= this.labelMargin;
    if (!clear || topLabel !== this._clearTop) this._clearSince = clear ? nowMs : null;
    this._clearTop = clear ? topLabel : null;
    const ledLongEnough = this._clearSince !== null && nowMs - this._clearSince >= this.labelHoldMs;
    const kept = this._label === topLabel;
    const likely = this._average[top] >= this.unsureBelow - (kept ? this.keepMargin : 0);
    const named = likely && (kept || fresh || ledLongEnough);
    const label = named ? topLabel : null;
    if (label !== this._label) {
      this._label = label;
      this._labelSince = nowMs;
    }
  }

  /** How far class `index` is ahead of the runner-up. */
  _lead(index) {
    const others = this._average.filter((_, i) => i !== index);
    return this._average[index] - Math.max(0, ...others);
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
