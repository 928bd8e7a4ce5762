// The webcam: checks, start/stop, and grabbing one frame as a JPEG Blob.

// Plain values are preferences ("ideal"), so other cameras still work.
const CONSTRAINTS = { video: { width: 640, height: 480, facingMode: "user" } };
const MAX_FRAME_WIDTH = 640;
const JPEG_QUALITY = 0.8;

/** "ok", or why the camera can't be used here at all: "insecure" | "absent". */
export function cameraSupport(win = globalThis) {
  if (win.isSecureContext === false) return "insecure";
  const devices = win.navigator && win.navigator.mediaDevices;
  if (!devices || typeof devices.getUserMedia !== "function") return "absent";
  return "ok";
}

/** getUserMedia's error → the page's camera state. */
export function cameraErrorState(error) {
  switch (error && error.name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
    case "SecurityError":
      return "refused";
    case "NotFoundError":
    case "DevicesNotFoundError":
    case "OverconstrainedError":
      return "absent";
    default:
      return "error";
  }
}

/** True when the browser says camera permission is already granted; false when unknown. */
export async function cameraPermissionGranted(nav = globalThis.navigator) {
  try {
    if (!nav || !nav.permissions || typeof nav.permissions.query !== "function") return false;
    const status = await nav.permissions.query({ name: "camera" });
    return status.state === "granted";
  } catch {
    return false; // e.g. browsers that don't know the "camera" permission name
  }
}

export class Camera {
  /** @param {HTMLVideoElement} video */
  constructor(video, { onEnded = () => {} } = {}) {
    this.video = video;
    this.onEnded = onEnded;
    this.stream = null;
    this._canvas = null;
  }

  get live() {
    return this.stream !== null;
  }

  /** Resolves when the video shows the camera; rejects with getUserMedia's error. */
  async start() {
    if (this.stream) return;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(CONSTRAINTS);
    } catch (error) {
      if (error && error.name !== "OverconstrainedError") throw error;
      stream = await navigator.mediaDevices.getUserMedia({ video: true });
    }
    this.stream = stream;
    for (const track of stream.getVideoTracks()) {
      track.addEventListener("ended", () => {
        if (this.stream === stream) {
          this.stop();
          this.onEnded();
        }
      });
    }
    this.video.srcObject = stream;
    await waitForMetadata(this.video);
    try {
      await this.video.play();
    } catch {
      // autoplay + muted normally plays; if not, frames still come once it does
    }
  }

  stop() {
    const stream = this.stream;
    this.stream = null;
    if (stream) for (const track of stream.getTracks()) track.stop();
    this.video.srcObject = null;
  }

  /** The current frame as {blob, width, height} (max 640 wide), or null if no picture yet. */
  async captureFrame() {
    const video = this.video;
    if (!this.stream || video.readyState < 2 || !video.videoWidth || !video.videoHeight) return null;
    const scale = Math.min(1, MAX_FRAME_WIDTH / video.videoWidth);
    const width = Math.round(video.videoWidth * scale);
    const height = Math.round(video.videoHeight * scale);
    if (!this._canvas) this._canvas = document.createElement("canvas");
    const canvas = this._canvas;
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== height) canvas.height = height;
    canvas.getContext("2d", { alpha: false }).drawImage(video, 0, 0, width, height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
    return blob ? { blob, width, height } : null;
  }
}

function waitForMetadata(video) {
  if (video.readyState >= 1 && video.videoWidth) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      video.removeEventListener("loadedmetadata", done);
      resolve();
    };
    video.addEventListener("loadedmetadata", done);
    setTimeout(done, 3000);
  });
}
