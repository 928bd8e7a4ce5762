// The capture → send → show cycle, one frame at a time.
//
// Never more than one request in flight: the next frame is scheduled only after
// the previous answer (or error) arrived, `intervalMs` after the previous frame
// started. Failures back off (doubling, up to `maxBackoffMs`). No DOM here: the
// page injects `capture` and `send`; tests inject fakes and their own clock.

export class FrameLoop {
  /**
   * @param {object} options
   * @param {() => Promise<any>} options.capture   a frame, or null to skip this turn
   * @param {(frame: any) => Promise<any>} options.send
   * @param {(result: any, frame: any) => void} [options.onResult]
   * @param {(error: any, frame: any) => void} [options.onError]
   * @param {number} [options.intervalMs=200]
   * @param {number} [options.maxBackoffMs=5000]
   */
  constructor({
    capture, send, onResult = () => {}, onError = () => {},
    intervalMs = 200, maxBackoffMs = 5000,
    now = () => performance.now(), setTimer = (fn, ms) => setTimeout(fn, ms), clearTimer = (id) => clearTimeout(id),
  }) {
    Object.assign(this, { capture, send, onResult, onError, intervalMs, maxBackoffMs, now, setTimer, clearTimer });
    this.running = false;
    this.paused = false;
    this.busy = false; // a frame is being captured or sent
    this.failures = 0;
    this._timer = null;
    this._generation = 0; // bumps on stop, so a late answer from an old run is dropped
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.failures = 0;
    this._schedule(0);
  }

  stop() {
    this.running = false;
    this._generation += 1;
    this._cancelTimer();
  }

  /** Hidden tab: no new frames; a frame already in flight finishes. */
  pause() {
    this.paused = true;
    this._cancelTimer();
  }

  resume() {
    this.paused = false;
    this._schedule(0);
  }

  _schedule(delayMs) {
    if (!this.running || this.paused || this.busy || this._timer !== null) return;
    this._timer = this.setTimer(() => {
      this._timer = null;
      this._tick();
    }, Math.max(0, delayMs));
  }

  _cancelTimer() {
    if (this._timer !== null) this.clearTimer(this._timer);
    this._timer = null;
  }

  async _tick() {
    if (!this.running || this.paused || this.busy) return;
    const generation = this._generation;
    const startedAt = this.now();
    this.busy = true;
    let frame = null;
    try {
      frame = await this.capture();
      if (frame != null && generation === this._generation) {
        const result = await this.send(frame);
        if (generation === this._generation) {
          this.failures = 0;
          this.onResult(result, frame);
        }
      }
    } catch (error) {
      if (generation === this._generation) {
        this.failures += 1;
        this.onError(error, frame);
      }
    } finally {
      this.busy = false;
    }
    if (generation !== this._generation) {
      this._schedule(0); // stopped (and maybe restarted) while this frame was in flight
      return;
    }
    const delay = this.failures > 0
      ? Math.min(this.maxBackoffMs, this.intervalMs * 2 ** this.failures)
      : this.intervalMs - (this.now() - startedAt);
    this._schedule(delay);
  }
}
