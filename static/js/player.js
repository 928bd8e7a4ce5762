// The player on the page: renders PlayQueue's state and plays its current
// track in <audio>, an embedded YouTube/Spotify player, or as an "Open ↗" link.
// What plays next is decided by queue.js; this file only carries it out.
//
// A YouTube embed reports its state by postMessage (YouTube's iframe protocol, no
// YouTube script loaded): "listening" is posted to the frame once it loads; once the
// frame answers, the page subscribes to its state changes and errors, as YouTube's own
// iframe API does. Ended plays the next track, as <audio>'s "ended" does; paused and
// playing set the page's state; a video that can't play is reported, or hands over to
// a queued mood's playlist. Spotify's embed reports nothing: it counts as playing until
// the user presses Pause.

import { PlayQueue } from "./queue.js";
import { YOUTUBE_EMBED_ORIGIN, playbackFor } from "./tracks.js";
import { emotionName } from "./view.js";

const MODE_NAMES = { match: "matches your mood", lift: "lifts your mood" };
const KIND_NAMES = { audio: "Audio", youtube: "YouTube", spotify: "Spotify", link: "Link", none: "" };

// YouTube's player states (its iframe API's PlayerState); -1 unstarted, 3 buffering and 5 cued change nothing here.
const YT_ENDED = 0;
const YT_PLAYING = 1;
const YT_PAUSED = 2;
// The embed's events the page subscribes to once the frame answers.
const YT_EVENTS = ["onStateChange", "onError"];
// The embed ignores "listening" until its own script is ready, so it is repeated until the frame answers.
const LISTEN_EVERY_MS = 250;
const LISTEN_TRIES = 40;
// A YouTube frame still silent this long after it was added (YouTube unreachable or blocked)
// cannot play, though the page would otherwise count it as playing forever.
const ANSWER_WITHIN_MS = 15000;

export class Player {
  constructor({ queue = new PlayQueue() } = {}) {
    this.queue = queue;
    const $ = (id) => document.getElementById(id);
    this.el = {
      card: $("player"),
      title: $("playlist-title"),
      description: $("playlist-description"),
      list: $("playlist"),
      nowPlaying: $("now-playing"),
      audio: $("player-audio"),
      playPause: $("play-pause"),
      next: $("next"),
      prev: $("prev"),
      lock: $("lock-mood"),
      upNext: $("up-next"),
      embed: $("player-embed"),
      seek: $("seek"),
      time: $("track-time"),
      message: $("player-message"),
    };
    this._renderedList = undefined; // the list entry the <ol> was built for
    this._renderedNowPlaying = undefined; // what the now-playing line was built to say
    this._audioTrack = null; // the track whose file is in <audio>
    this._embedTrack = null; // the track whose player is in the iframe
    this._embed = null; // that iframe: {frame, kind, id, state, failed, heard, tries, timer}
    this._embedCount = 0;
    this._seeking = false;
    this._bind();
    this.render();
  }

  // ---- called by the page -------------------------------------------------

  /** The stable mood changed (or a photo gave one). */
  offerMood(mood, mode, playlist) {
    const outcome = this.queue.setMood(mood, mode, playlist);
    if (outcome === "replaced") this._stopEmbed();
    this.render();
    return outcome;
  }

  /** The user switched match/lift for `mood`. */
  changeMode(mood, mode, playlist) {
    const outcome = this.queue.changeMode(mood, mode, playlist);
    if (outcome === "replaced" && !this.queue.playing) this._stopEmbed();
    this.render();
    return outcome;
  }

  get locked() {
    return this.queue.locked;
  }

  setLocked(locked) {
    this.queue.setLocked(locked);
    this.render();
  }

  togglePlay() {
    const queue = this.queue;
    if (!queue.current && !queue.select(0)) return;
    const track = queue.current;
    const playback = playbackFor(track);
    if (playback.kind === "audio") {
      if (this._audioTrack === track && !this.el.audio.paused) this.el.audio.pause();
      else this._play(track, { userAction: true });
    } else if (playback.kind === "youtube" || playback.kind === "spotify") {
      const embed = this._embedTrack === track ? this._embed : null;
      if (!embed) this._play(track, { userAction: true });
      else if (queue.playing) this._stopEmbed();
      else if (embed.state === YT_PAUSED && !embed.failed) {
        this._postToEmbed(embed, { event: "command", func: "playVideo", args: [] }); // it reports playing
      } else {
        this._stopEmbed(); // it failed: try it afresh
        this._play(track, { userAction: true });
      }
    } else {
      this._play(track, { userAction: true });
    }
    this.render();
  }

  next({ auto = false } = {}) {
    const track = this.queue.next();
    if (track) this._play(track, { userAction: false, auto });
    this.render();
  }

  prev() {
    const audio = this.el.audio;
    // Like most players: "previous" a few seconds into a track restarts it.
    if (this._audioTrack && this._audioTrack === this.queue.current && audio.currentTime > 3) {
      audio.currentTime = 0;
      return;
    }
    const track = this.queue.prev();
    if (track) this._play(track, { userAction: false });
    this.render();
  }

  playIndex(index) {
    const track = this.queue.select(index);
    if (track) this._play(track, { userAction: true });
    this.render();
  }

  // ---- playing ------------------------------------------------------------

  _play(track, { userAction, auto = false }) {
    const playback = playbackFor(track, { pageOrigin: globalThis.window?.location?.origin });
    this._showMessage("");
    if (playback.kind !== "audio" && !this.el.audio.paused) this.el.audio.pause();
    if (playback.kind !== "youtube" && playback.kind !== "spotify") this._stopEmbed();

    if (playback.kind === "audio") {
      const audio = this.el.audio;
      if (this._audioTrack !== track) {
        this._audioTrack = track;
        audio.src = playback.src;
      }
      const started = audio.play();
      if (started && typeof started.catch === "function") {
        started.catch((error) => {
          if (error && error.name === "AbortError") return; // replaced by another track
          this._showMessage(error && error.name === "NotAllowedError"
            ? "Press play to start the music."
            : `Can't play “${track.title}”.`);
          this._setPlaying(false);
        });
      }
    } else if (playback.kind === "youtube" || playback.kind === "spotify") {
      this._mountEmbed(track, playback);
      this._setPlaying(true); // until a YouTube embed reports otherwise (Spotify's never does)
    } else if (playback.kind === "link") {
      this._setPlaying(false);
      if (userAction && !auto) window.open(playback.href, "_blank", "noopener,noreferrer");
      else this._showMessage("This track plays on another site: use Open ↗.");
    } else {
      this._setPlaying(false);
      this._showMessage("This track has no playable link.");
    }
  }

  _mountEmbed(track, playback) {
    if (this._embedTrack === track && this._embed.state !== YT_ENDED) return; // an ended one starts again
    this._stopEmbed();
    const frame = document.createElement("iframe");
    frame.src = playback.embedUrl;
    frame.title = `${playback.kind === "youtube" ? "YouTube" : "Spotify"} player: ${track.title} — ${track.artist}`;
    frame.allow = "autoplay; encrypted-media; picture-in-picture; fullscreen";
    frame.referrerPolicy = "strict-origin-when-cross-origin"; // YouTube refuses embeds without a referrer
    frame.className = `embed embed-${playback.kind}${playback.embedUrl.includes("/embed/track/") ? " embed-compact" : ""}`;
    this._embedCount += 1;
    const embed = {
      frame, kind: playback.kind, id: this._embedCount, state: null, failed: false, heard: false, tries: 0, timer: null,
      deadline: null,
    };
    if (playback.kind === "youtube") {
      frame.addEventListener("load", () => this._listenTo(embed));
      embed.deadline = setTimeout(() => this._onEmbedSilent(embed), ANSWER_WITHIN_MS);
    }
    this.el.embed.replaceChildren(frame);
    this.el.embed.hidden = false;
    this._embedTrack = track;
    this._embed = embed;
  }

  _stopEmbed() {
    if (!this._embedTrack) return;
    clearInterval(this._embed.timer);
    clearTimeout(this._embed.deadline);
    this.el.embed.replaceChildren();
    this.el.embed.hidden = true;
    this._embedTrack = null;
    this._embed = null;
    if (this.el.audio.paused) this._setPlaying(false);
  }

  /** The YouTube frame (re)loaded: ask it for its state until it answers. */
  _listenTo(embed) {
    clearInterval(embed.timer);
    embed.heard = false;
    embed.tries = 0;
    const listen = () => {
      if (embed.heard || this._embed !== embed || embed.tries >= LISTEN_TRIES) {
        clearInterval(embed.timer);
        return;
      }
      embed.tries += 1;
      this._postToEmbed(embed, { event: "listening" });
    };
    listen();
    embed.timer = setInterval(listen, LISTEN_EVERY_MS);
  }

  _onEmbedSilent(embed) {
    if (this._embed !== embed || embed.heard) return;
    embed.failed = true;
    this._cannotPlay(`YouTube did not answer for “${this._embedTrack.title}”: check the connection, or use Open ↗.`);
  }

  _postToEmbed(embed, message) {
    const target = embed.frame.contentWindow;
    // Only to YouTube's origin: if the frame is anything else by now, the browser drops it.
    if (target) target.postMessage(JSON.stringify({ ...message, id: embed.id, channel: "widget" }), YOUTUBE_EMBED_ORIGIN);
  }

  /** A window message: acted on only if it is the current YouTube frame's, from YouTube's origin. */
  _onEmbedMessage(event) {
    const embed = this._embed;
    if (!embed || embed.kind !== "youtube" || event.origin !== YOUTUBE_EMBED_ORIGIN) return;
    if (!embed.frame.contentWindow || event.source !== embed.frame.contentWindow) return;
    const data = parseMessage(event.data);
    if (!data) return;
    if (!embed.heard) {
      embed.heard = true;
      for (const name of YT_EVENTS) this._postToEmbed(embed, { event: "command", func: "addEventListener", args: [name] });
    }
    if (data.event === "onError") {
      embed.failed = true; // e.g. the owner does not allow embedding: nothing plays
      this._cannotPlay(`YouTube can't play “${this._embedTrack.title}” here: use Open ↗.`);
      return;
    }
    const state = reportedState(data);
    if (state === null || state === embed.state) return; // the state comes twice: onStateChange and infoDelivery
    embed.state = state;
    if (state === YT_ENDED) this.next({ auto: true });
    else if (state === YT_PLAYING) {
      embed.failed = false;
      this._setPlaying(true);
    } else if (state === YT_PAUSED) this._setPlaying(false); // paused in the frame: a mood change may now replace it
  }

  /** The current track can't play: a queued mood's playlist takes over, as at a track's end; else say so. */
  _cannotPlay(message) {
    if (this.queue.upNext) {
      this.next({ auto: true });
      return;
    }
    this._showMessage(message);
    this._setPlaying(false);
  }

  _setPlaying(playing) {
    if (this.queue.playing === playing) return;
    this.queue.setPlaying(playing);
    this.render();
  }

  _showMessage(text) {
    if (this.el.message) {
      this.el.message.textContent = text;
      this.el.message.hidden = !text;
    }
  }

  _bind() {
    const { audio, playPause, next, prev, lock, list, seek } = this.el;
    globalThis.window?.addEventListener("message", (event) => this._onEmbedMessage(event));
    playPause.addEventListener("click", () => this.togglePlay());
    next.addEventListener("click", () => this.next());
    prev.addEventListener("click", () => this.prev());
    lock.addEventListener("click", () => this.setLocked(!this.queue.locked));
    list.addEventListener("click", (event) => {
      const button = event.target.closest("button.track-play");
      if (button) this.playIndex(Number(button.closest("li").dataset.index));
    });
    audio.addEventListener("play", () => this._setPlaying(true));
    audio.addEventListener("pause", () => this._setPlaying(Boolean(this._embedTrack)));
    audio.addEventListener("ended", () => this.next({ auto: true }));
    audio.addEventListener("error", () => {
      if (!audio.getAttribute("src")) return;
      this._cannotPlay(`Can't play “${this._audioTrack ? this._audioTrack.title : "this track"}”.`);
    });
    for (const type of ["timeupdate", "durationchange", "loadedmetadata", "emptied"]) {
      audio.addEventListener(type, () => this._renderProgress());
    }
    if (seek) {
      seek.addEventListener("input", () => {
        this._seeking = true;
        if (Number.isFinite(audio.duration)) audio.currentTime = (Number(seek.value) / 1000) * audio.duration;
      });
      seek.addEventListener("change", () => {
        this._seeking = false;
      });
    }
  }

  // ---- rendering ----------------------------------------------------------

  render() {
    const { queue, el } = this;
    const list = queue.list;
    if (list !== this._renderedList) this._renderList(list);
    el.list.querySelectorAll("li.track").forEach((row) => {
      const current = Number(row.dataset.index) === queue.index && list !== null;
      row.classList.toggle("is-current", current);
      if (current) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
    });

    this._renderNowPlaying();
    const playingHere = queue.playing;
    const label = el.playPause.querySelector(".button-label") || el.playPause;
    label.textContent = playingHere ? "Pause" : "Play";
    el.playPause.setAttribute("aria-label", playingHere ? "Pause" : "Play");
    el.playPause.classList.toggle("is-playing", playingHere);
    el.playPause.disabled = !list && !queue.current;
    el.next.disabled = !list;
    el.prev.disabled = !list;

    el.lock.setAttribute("aria-pressed", String(queue.locked)); // the label stays "Lock mood"

    const upNext = queue.upNext;
    el.upNext.textContent = upNext ? `Up next: ${emotionName(upNext.mood).toLowerCase()} playlist — ${upNext.title}` : "";
    el.upNext.hidden = !upNext;

    document.body.dataset.playing = String(playingHere);
    document.body.dataset.playlistMood = list ? list.mood : "";
    this._renderProgress();
  }

  _renderList(list) {
    const { el } = this;
    this._renderedList = list;
    if (!list) {
      el.title.textContent = "Your playlist";
      el.description.textContent = "It appears once your expression has held steady for a few seconds.";
      el.list.replaceChildren();
      delete el.card.dataset.mood;
      return;
    }
    el.title.textContent = list.title;
    el.description.textContent = `${list.description} · ${emotionName(list.mood)}: ${MODE_NAMES[list.mode] || list.mode}`;
    el.card.dataset.mood = list.mood;
    el.list.replaceChildren(...list.tracks.map((track, index) => trackRow(track, index)));
  }

  _renderNowPlaying() {
    const { queue, el } = this;
    const track = queue.current;
    const box = el.nowPlaying;
    const status = !track ? "Nothing playing"
      : queue.playing ? "Playing" : this._audioTrack === track || this._embedTrack === track ? "Paused" : "Ready";
    const playback = playbackFor(track);
    const link = playback.kind === "audio" ? null : playback.href;
    // A live region: rebuilt only when what it says changes, so each change is announced once.
    const says = [status, track?.title, track?.artist, link].join("\n");
    if (says === this._renderedNowPlaying) return;
    this._renderedNowPlaying = says;
    box.dataset.state = track ? status.toLowerCase() : "empty";
    const state = document.createElement("span");
    state.className = "np-state";
    state.textContent = status;
    box.replaceChildren(state);
    if (!track) return;
    const name = document.createElement("span");
    name.className = "np-track";
    name.textContent = `${track.title} — ${track.artist}`;
    box.append(" ", name);
    if (link) box.append(openLink(link, track));
  }

  _renderProgress() {
    const { audio, seek, time } = this.el;
    if (!seek) return;
    const active = this._audioTrack !== null && this._audioTrack === this.queue.current && Number.isFinite(audio.duration);
    seek.disabled = !active;
    if (!this._seeking) seek.value = active && audio.duration > 0 ? String(Math.round((audio.currentTime / audio.duration) * 1000)) : "0";
    const [at, length] = [clock(audio.currentTime), clock(audio.duration)];
    if (active) seek.setAttribute("aria-valuetext", `${at} of ${length}`); // not "537" of 1000
    else seek.removeAttribute("aria-valuetext");
    if (time) time.textContent = active ? `${at} / ${length}` : "";
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

function trackRow(track, index) {
  const playback = playbackFor(track);
  const row = document.createElement("li");
  row.className = "track";
  row.dataset.index = String(index);
  row.dataset.kind = playback.kind;

  const button = document.createElement("button");
  button.type = "button";
  button.className = "track-play";
  const title = document.createElement("span");
  title.className = "track-title";
  title.textContent = track.title;
  const artist = document.createElement("span");
  artist.className = "track-artist";
  artist.textContent = ` — ${track.artist}`;
  button.append(title, artist);
  button.setAttribute("aria-label", `${playback.kind === "link" ? "Open" : "Play"} ${track.title} by ${track.artist}`);
  row.append(button);

  if (KIND_NAMES[playback.kind] && playback.kind !== "link") {
    const kind = document.createElement("span");
    kind.className = "track-kind";
    kind.textContent = KIND_NAMES[playback.kind];
    row.append(kind);
  }
  if (playback.href) row.append(openLink(playback.href, track));
  return row;
}

function openLink(href, track) {
  const link = document.createElement("a");
  link.className = "open-link";
  link.href = href;
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  link.textContent = "Open ↗";
  link.setAttribute("aria-label", `Open ${track.title} by ${track.artist} in a new tab`);
  return link;
}

function clock(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "0:00";
  const whole = Math.floor(seconds);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

/** The mood history list, newest first. */
export function renderHistory(listElement, entries) {
  if (!entries.length) {
    const empty = document.createElement("li");
    empty.className = "history-empty";
    empty.textContent = "No mood yet.";
    listElement.replaceChildren(empty);
    return;
  }
  listElement.replaceChildren(...entries.map((entry) => {
    const item = document.createElement("li");
    item.dataset.mood = entry.mood;
    const time = document.createElement("time");
    const date = new Date(entry.at);
    time.dateTime = date.toISOString();
    time.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    const mood = document.createElement("span");
    mood.className = "history-mood";
    mood.textContent = emotionName(entry.mood) + (entry.locked ? " (playlist locked)" : "");
    item.append(time, mood);
    return item;
  }));
}
