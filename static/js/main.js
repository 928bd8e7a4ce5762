// The page: wires the camera, the frame loop, the mood smoother, the player,
// the photo upload and the settings together. Logic lives in the modules it
// imports; this file only connects them to the DOM.

import { ApiError, fetchPlaylistSet, fetchPlaylists, predict } from "./api.js";
import { Camera, cameraErrorState, cameraPermissionGranted, cameraSupport } from "./camera.js";
import { FrameLoop } from "./frameloop.js";
import { EMOTIONS, MoodSmoother } from "./mood.js";
import { Player } from "./player.js";
import { photoToSend } from "./photo.js";
import { MoodHistory } from "./queue.js";
import { loadModes, loadVolume, saveModes, saveVolume } from "./settings.js";
import {
  emotionName, percent, renderBoxes, renderEmotionRows, renderHistory, renderReading, scrollBehavior,
} from "./view.js";

const body = document.body;
const $ = (id) => document.getElementById(id);
renderEmotionRows(); // the bars and match/lift rows, before anything looks them up

const CAMERA_MESSAGES = {
  idle: "Camera is off. Press “Start camera” to read your expression and start the music.",
  starting: "Starting the camera… allow access when your browser asks.",
  live: "Camera on: reading your expression. Frames are analysed, never stored.",
  refused: "Camera access was refused. Allow the camera for this site in your browser settings and press “Start camera” again — or use a photo instead.",
  absent: "No camera was found on this device. You can use a photo instead.",
  insecure: "The camera only works on a secure page (https:// or localhost), and this one isn't. Open MoodTunes over https — or use a photo instead.",
  error: "The camera couldn't start; another app may be using it. Close it and try again — or use a photo instead.",
};
const FALLBACK_STATES = new Set(["refused", "absent", "insecure", "error"]);

const smoother = new MoodSmoother();
const history = new MoodHistory(10);
const player = new Player({ volume: loadVolume() });
const playlists = createPlaylistStore();
const modes = loadModes();
let resultsReceived = 0;
let moodRequest = 0;

// ---- camera -----------------------------------------------------------------

const video = $("video");
const overlay = $("overlay");
const stage = $("stage");
const camera = new Camera(video, {
  onEnded: () => {
    loop.stop();
    clearLive();
    setCameraState("error", "The camera stopped (it was unplugged or another app took it). Press “Start camera” to try again.");
  },
});
const loop = new FrameLoop({
  capture: () => camera.captureFrame(),
  send: (frame) => predict(frame.blob, { filename: "frame.jpg" }),
  onResult: showLiveResult,
  onError: showLiveError,
});

function setCameraState(state, message = CAMERA_MESSAGES[state]) {
  body.dataset.camera = state;
  const status = $("camera-status");
  status.textContent = message;
  status.classList.toggle("is-problem", FALLBACK_STATES.has(state));
  const live = state === "live";
  // One button, never disabled or hidden, so it keeps the keyboard's focus: it reads
  // "Stop camera" while live, and is marked inert while the camera starts.
  const toggle = $("camera-toggle");
  toggle.setAttribute("aria-disabled", String(state === "starting"));
  toggle.classList.toggle("is-live", live);
  toggle.textContent = live ? "Stop camera" : "Start camera";
  stage.classList.toggle("is-live", live);
  $("upload-card").classList.toggle("is-suggested", FALLBACK_STATES.has(state));
}

async function startCamera() {
  const support = cameraSupport(window);
  if (support !== "ok") {
    setCameraState(support);
    return;
  }
  if (camera.live || body.dataset.camera === "starting") return;
  setCameraState("starting");
  try {
    await camera.start();
  } catch (error) {
    const state = cameraErrorState(error);
    setCameraState(state);
    return;
  }
  smoother.reset();
  setCameraState("live");
  fitStageToVideo();
  loop.start();
  if (document.hidden) loop.pause();
}

function stopCamera(message = CAMERA_MESSAGES.idle) {
  loop.stop();
  camera.stop();
  clearLive();
  setCameraState("idle", message);
}

function clearLive() {
  overlay.replaceChildren();
  smoother.reset();
  renderReading(smoother.update(null, performance.now()));
  renderMoodLine(null);
}

/** The stage takes the video's shape, so face boxes can be placed in percentages. */
function fitStageToVideo() {
  if (video.videoWidth && video.videoHeight) stage.style.aspectRatio = `${video.videoWidth} / ${video.videoHeight}`;
}

function showLiveResult(result, frame) {
  countResult();
  playlists.remember(result.playlist);
  const faces = Array.isArray(result.faces) ? result.faces : [];
  const probabilities = result.probabilities || (faces[0] && faces[0].probabilities) || null;
  const reading = smoother.update(result.emotion === null ? null : probabilities, performance.now());
  renderReading(reading);
  renderBoxes(overlay, faces, validSize(result.image) || frame, {
    mirror: true, mainLabel: reading.label, mainConfidence: reading.confidence,
  });
  renderMoodLine(reading);
  if (body.dataset.camera === "live" && $("camera-status").classList.contains("is-problem")) setCameraState("live");
  if (reading.moodChanged) moodIsNow(reading.stableMood);
}

function toggleCamera() {
  if (body.dataset.camera === "starting") return;
  if (camera.live) {
    stopCamera();
    return;
  }
  player.armAutoplay(); // this click is the user's go-ahead for sound: the music starts with the first mood
  startCamera();
}

function showLiveError(error) {
  if (error && error.name === "AbortError") return;
  const status = $("camera-status");
  const text = `${error instanceof ApiError ? error.message : "Something went wrong reading the frame."} Retrying…`;
  // A live region: replaced text is read out again, so each retry saying the same is left alone.
  if (status.textContent !== text) status.textContent = text;
  status.classList.add("is-problem");
  // A frame that could not be read counts as one without a face: the last reading fades out
  // instead of staying on screen, as if live, while the server is unreachable.
  overlay.replaceChildren();
  const reading = smoother.update(null, performance.now());
  renderReading(reading);
  renderMoodLine(reading);
}

function renderMoodLine(reading) {
  const line = $("mood-status");
  const list = player.queue.list;
  if (player.locked && list) {
    line.textContent = `Playlist locked on ${emotionName(list.mood).toLowerCase()}`;
  } else if (reading && reading.pendingMood) {
    const left = Math.max(0, Math.ceil(((1 - reading.holdProgress) * smoother.holdMs) / 1000));
    line.textContent = `${reading.stableMood ? "Changing" : "Choosing"} music for ${emotionName(reading.pendingMood).toLowerCase()} in ${left} s…`;
  } else if (smoother.stableMood) {
    line.textContent = `Music for: ${emotionName(smoother.stableMood).toLowerCase()}`;
  } else {
    line.textContent = `Music follows your expression once it holds for ${Math.round(smoother.holdMs / 1000)} s.`;
  }
  const progress = $("mood-progress");
  progress.style.width = reading && reading.pendingMood && !player.locked ? percent(reading.holdProgress) : "0%";
}

// ---- mood → playlist ----------------------------------------------------------

async function moodIsNow(mood, knownSet = null) {
  const request = ++moodRequest;
  history.add(mood, Date.now(), { locked: player.locked });
  renderHistory($("mood-history"), history.entries);
  body.dataset.stableMood = mood; // what was committed; the page's colour follows the playlist playing
  playlists.remember(knownSet);
  const set = await playlists.get(mood);
  if (request !== moodRequest || !set) return; // a newer mood arrived meanwhile, or no catalog
  const mode = modes[mood];
  player.offerMood(mood, mode, set[mode]);
}

function createPlaylistStore() {
  const sets = {};
  let all = null;
  return {
    remember(set) {
      if (set && typeof set === "object" && EMOTIONS.includes(set.emotion)) sets[set.emotion] = set;
    },
    loadAll() {
      all ||= fetchPlaylists().then((found) => {
        for (const [emotion, set] of Object.entries(found)) if (!sets[emotion]) sets[emotion] = { emotion, ...set };
      }).catch(() => {
        all = null; // try again later, one emotion at a time
      });
      return all;
    },
    async get(emotion) {
      if (sets[emotion]) return sets[emotion];
      try {
        this.remember(await fetchPlaylistSet(emotion));
      } catch (error) {
        $("player-message").textContent = `Couldn't load the playlist: ${error.message}`;
        $("player-message").hidden = false;
      }
      return sets[emotion] || null;
    },
  };
}

// ---- settings -------------------------------------------------------------------

for (const emotion of EMOTIONS) {
  const select = $(`mode-${emotion}`);
  if (!select) continue;
  select.value = modes[emotion];
  select.addEventListener("change", async () => {
    modes[emotion] = select.value === "lift" ? "lift" : "match";
    saveModes(modes);
    const set = await playlists.get(emotion);
    if (set) player.changeMode(emotion, modes[emotion], set[modes[emotion]]);
  });
}

$("lock-mood").addEventListener("click", () => {
  // Unlocking: catch up with the mood the camera settled on meanwhile.
  if (!player.locked && smoother.stableMood && smoother.stableMood !== (player.queue.list || {}).mood) {
    const mood = smoother.stableMood;
    playlists.get(mood).then((set) => {
      if (set && !player.locked && smoother.stableMood === mood) player.offerMood(mood, modes[mood], set[modes[mood]]);
    });
  }
  renderMoodLine(null);
});

// ---- photo upload -----------------------------------------------------------------

const uploadInput = $("upload-input");
const uploadResult = $("upload-result");
const uploadStatus = $("upload-status"); // role=status: progress and results
const uploadAlert = $("upload-alert"); // role=alert: problems
let photoUrl = null;
let uploadRequest = 0;

$("upload-form").addEventListener("submit", (event) => {
  event.preventDefault();
  analysePhoto();
});
uploadInput.addEventListener("change", () => analysePhoto());
$("use-photo").addEventListener("click", (event) => {
  event.preventDefault();
  $("upload-card").scrollIntoView({ behavior: scrollBehavior(window), block: "center" });
  uploadInput.focus();
});

async function analysePhoto() {
  const file = uploadInput.files && uploadInput.files[0];
  if (!file) {
    showUploadMessage("Choose a photo first.", true);
    return;
  }
  const request = ++uploadRequest;
  showUploadMessage("Reading the photo…", false);
  body.dataset.upload = "busy";
  let result;
  try {
    result = await predict(await photoToSend(file), { filename: file.name || "photo" });
  } catch (error) {
    if (request !== uploadRequest) return; // a newer photo was chosen meanwhile
    body.dataset.upload = "error";
    uploadResult.replaceChildren();
    // Emptied, so that choosing the same photo again (to try again) is a change the page hears.
    uploadInput.value = "";
    showUploadMessage(error instanceof ApiError ? error.message : "Something went wrong sending the photo.", true);
    return;
  }
  countResult();
  if (request !== uploadRequest) return;
  if (camera.live) stopCamera("Camera paused to show your photo. Press “Start camera” to go live again.");
  else if (FALLBACK_STATES.has(body.dataset.camera)) setCameraState("idle", "Showing your photo's mood. Press “Start camera” to go live.");
  showPhoto(file, result);
  const faces = Array.isArray(result.faces) ? result.faces : [];
  smoother.reset();
  renderReading({ probabilities: result.probabilities, label: result.emotion, confidence: result.confidence },
    "No face found in the photo");
  showUploadMessage(photoSummary(faces), false);
  body.dataset.upload = "done";
  if (result.emotion) {
    smoother.adoptMood(result.emotion);
    await moodIsNow(result.emotion, result.playlist);
  }
  renderMoodLine(null);
}

function showPhoto(file, result) {
  if (photoUrl) URL.revokeObjectURL(photoUrl);
  photoUrl = URL.createObjectURL(file);
  const figure = document.createElement("figure");
  figure.className = "photo";
  const frame = document.createElement("div");
  frame.className = "photo-frame";
  const image = document.createElement("img");
  image.alt = "Your photo";
  image.src = photoUrl;
  const layer = document.createElement("div");
  layer.className = "box-layer";
  frame.append(image, layer);
  figure.append(frame);
  uploadResult.replaceChildren(figure);
  const faces = Array.isArray(result.faces) ? result.faces : [];
  const size = validSize(result.image);
  if (size) renderBoxes(layer, faces, size);
  else image.addEventListener("load", () => renderBoxes(layer, faces, { width: image.naturalWidth, height: image.naturalHeight }), { once: true });
}

function photoSummary(faces) {
  if (!faces.length) return "No face found in this photo. Try one where the face is well lit and facing the camera.";
  const parts = faces.map((face) => `${emotionName(face.emotion).toLowerCase()} (${percent(face.confidence)})`);
  return faces.length === 1 ? `One face: ${parts[0]}.` : `${faces.length} faces: ${parts.join(", ")}. The largest sets the music.`;
}

/** Two fixed live regions: screen readers announce a changed role on an existing node unreliably. */
function showUploadMessage(text, problem) {
  uploadStatus.textContent = problem ? "" : text;
  uploadAlert.textContent = problem ? text : "";
}

// ---- helpers ------------------------------------------------------------------------

function countResult() {
  resultsReceived += 1;
  body.dataset.frames = String(resultsReceived);
}

function validSize(size) {
  return size && Number(size.width) > 0 && Number(size.height) > 0 ? size : null;
}

// ---- start ----------------------------------------------------------------------------

$("camera-toggle").addEventListener("click", toggleCamera);
$("volume").addEventListener("change", () => saveVolume(player.volume));
document.addEventListener("keydown", (event) => {
  // Space plays and pauses, as in media players, unless a control has the focus (it needs Space).
  if (event.key !== " " || event.repeat || event.ctrlKey || event.altKey || event.metaKey) return;
  if (event.target.closest("button, a, input, select, textarea, [contenteditable]")) return;
  event.preventDefault();
  player.togglePlay();
});
video.addEventListener("loadedmetadata", fitStageToVideo);
video.addEventListener("resize", fitStageToVideo);
document.addEventListener("visibilitychange", () => {
  body.dataset.paused = String(document.hidden);
  if (document.hidden) loop.pause();
  else {
    smoother.reset(); // the face seen before the tab was hidden says nothing about now
    loop.resume();
  }
});
window.addEventListener("pagehide", () => {
  if (camera.live) stopCamera(); // the camera light goes off with the page
});

renderHistory($("mood-history"), history.entries);
renderReading(smoother.update(null, performance.now()));
renderMoodLine(null);
body.dataset.frames = "0";
playlists.loadAll();

const support = cameraSupport(window);
if (support !== "ok") {
  setCameraState(support);
} else {
  setCameraState("idle");
  cameraPermissionGranted().then((granted) => {
    if (granted && body.dataset.camera === "idle") startCamera();
  });
}
