// The player on the page: renders PlayQueue's state and plays its current track in <audio>,
// an embedded YouTube player (youtube.js), or as an "Open ↗" link. What plays next is decided
// by queue.js; this file only carries it out.
//
// The page says "Playing" only once the track is heard: <audio>'s "playing" event, or the
// embed's own report. A video that can't play, or whose frame stays silent (YouTube
// unreachable), is skipped to the next track that can play here.

import { MediaSessionBridge } from "./mediasession.js";
import { PlayQueue } from "./queue.js";
import { clock, openLink, trackRow } from "./tracklist.js";
import { playbackFor, playsInPage } from "./tracks.js";
import { emotionName } from "./view.js";
import { YT_ENDED, YT_PAUSED, YT_PLAYING, YouTubeEmbed } from "./youtube.js";

const MODE_NAMES = { match: "matches your mood", lift: "lifts your mood" };

export class Player {
  constructor({ queue = new PlayQueue(), volume = 1 } = {}) {
    this.queue = queue;
    const $ = (id) => document.getElementById(id);
    this.el = Object.fromEntries(Object.entries({
      card: "player", title: "playlist-title", description: "playlist-description", list: "playlist",
      nowPlaying: "now-playing", audio: "player-audio", playPause: "play-pause", next: "next", prev: "prev",
      lock: "lock-mood", shuffle: "shuffle", volume: "volume", upNext: "up-next", embed: "player-embed",
      seek: "seek", time: "track-time", message: "player-message",
    }).map(([name, id]) => [name, $(id)]));
    this.loading = false; // a track was started and is not heard yet
    this._audioTrack = null; // the track whose file is in <audio>
    this._embed = null; // {track, player: YouTubeEmbed}
    this._embedCount = 0;
    this._failed = new Set(); // tracks that could not play this session
    this._youtubeDown = false; // a frame stayed silent: skip videos until one answers
    this._autoplay = false;
    this._renderedList = undefined;
    this._renderedNowPlaying = undefined;
    this._seeking = false;
    this.media = new MediaSessionBridge({
      play: () => this.busy || this.togglePlay(), pause: () => this.busy && this.togglePlay(),
      next: () => this.next(), prev: () => this.prev(),
    });
    this.setVolume(volume);
    this._bind();
    this.render();
  }

  // ---- called by the page -------------------------------------------------

  /** The stable mood changed (or a photo gave one). */
  offerMood(mood, mode, playlist) {
    return this._changeQueue(() => this.queue.setMood(mood, mode, playlist), this._autoplay);
  }

  /** The user switched match/lift for `mood`. */
  changeMode(mood, mode, playlist) {
    return this._changeQueue(() => this.queue.changeMode(mood, mode, playlist), false);
  }

  /** The user asked for music (the Start-camera click): play once a playlist arrives. */
  armAutoplay() {
    this._autoplay = true;
    if (this.queue.list && !this.busy) this._autoStart();
  }

  get locked() {
    return this.queue.locked;
  }

  /** Playing, or starting to: what the play/pause button and the media keys act on. */
  get busy() {
    return this.queue.playing || this.loading;
  }

  setLocked(locked) {
    this.queue.setLocked(locked);
    this.render();
  }

  setVolume(volume) {
    this.volume = Math.min(1, Math.max(0, Number(volume) || 0));
    this.el.audio.volume = this.volume;
    if (this.el.volume) this.el.volume.value = String(Math.round(this.volume * 100));
    this._embed?.player.setVolume(this.volume);
  }

  togglePlay() {
    const queue = this.queue;
    if (!queue.current && !queue.select(0)) return;
    const track = queue.current;
    const kind = playbackFor(track).kind;
    const embed = this._embed?.track === track ? this._embed.player : null;
    if (this.busy) this._pause();
    else if (kind === "audio" && this._audioTrack === track) this._playAudio(track);
    else if (embed && embed.state === YT_PAUSED) embed.play(); // it reports playing
    else this._play(track, { userAction: true });
    this.render();
  }

  next({ auto = false } = {}) {
    const track = this.queue.next((candidate) => this._canPlay(candidate));
    if (track) this._play(track, { userAction: !auto });
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
    if (track) this._play(track, { userAction: true });
    this.render();
  }

  playIndex(index) {
    const track = this.queue.select(index);
    if (track) this._play(track, { userAction: true });
    this.render();
  }

  // ---- playing ------------------------------------------------------------

  _canPlay(track) {
    if (!playsInPage(track) || this._failed.has(track)) return false;
    return !(this._youtubeDown && playbackFor(track).kind === "youtube");
  }

  /** Applies `change` to the queue. A list it replaced starts at once when `autoplay` is armed,
   *  or when a track was started and not heard yet (loading): the user's music carries on. */
  _changeQueue(change, autoplay) {
    const starting = this.loading;
    const outcome = change();
    if (outcome === "replaced") {
      this._stopAll();
      if (autoplay || starting) this._autoStart();
    }
    this.render();
    return outcome;
  }

  _autoStart() {
    this._autoplay = false;
    const track = this._canPlay(this.queue.current) ? this.queue.current : this.queue.next((t) => this._canPlay(t));
    if (track && this._canPlay(track)) this._play(track, { userAction: false });
  }

  _play(track, { userAction }) {
    const playback = playbackFor(track, { pageOrigin: globalThis.window?.location?.origin });
    this._showMessage("");
    if (playback.kind !== "audio") this._stopAudio();
    if (playback.kind !== "youtube") this._stopEmbed();
    if (playback.kind === "audio") this._playAudio(track, playback.src);
    else if (playback.kind === "youtube") this._mountEmbed(track, playback);
    else if (playback.kind === "link") {
      this._setPlaying(false);
      if (userAction) globalThis.window?.open(playback.href, "_blank", "noopener,noreferrer");
      else this._showMessage("This track plays on another site: use Open ↗.");
    } else {
      this._setPlaying(false);
      this._showMessage("This track has no playable link.");
    }
  }

  _playAudio(track, src = null) {
    const audio = this.el.audio;
    if (src && this._audioTrack !== track) {
      this._audioTrack = track;
      audio.src = src;
    }
    this.loading = true;
    const started = audio.play();
    if (started && typeof started.catch === "function") {
      started.catch((error) => {
        if (error && error.name === "AbortError") return; // replaced by another track
        this.loading = false;
        if (error && error.name === "NotAllowedError") this._showMessage("Press play to start the music.");
        else this._cannotPlay(track, `Can't play “${track.title}”.`);
        this._setPlaying(false);
      });
    }
  }

  _mountEmbed(track, playback) {
    if (this._embed?.track === track && this._embed.player.state !== YT_ENDED && !this._embed.player.failed) return;
    this._stopEmbed();
    this._embedCount += 1;
    const player = new YouTubeEmbed({
      embedUrl: playback.embedUrl,
      title: `YouTube player: ${track.title} — ${track.artist}`,
      id: this._embedCount,
      onState: (state) => this._onEmbedState(state),
      onFail: (reason) => this._onEmbedFail(track, reason),
      volume: this.volume,
    });
    this._embed = { track, player };
    this.el.embed.replaceChildren(player.frame);
    this.el.embed.hidden = false;
    this.loading = true;
    this._setPlaying(false);
  }

  _onEmbedState(state) {
    this._youtubeDown = false;
    if (state === YT_ENDED) this.next({ auto: true });
    else if (state === YT_PLAYING) {
      this.loading = false;
      this._setPlaying(true);
    } else if (state === YT_PAUSED) {
      this.loading = false;
      this._setPlaying(false); // paused in the frame: a mood change may now replace it
    }
  }

  _onEmbedFail(track, reason) {
    if (reason === "silent") this._youtubeDown = true;
    const why = reason === "silent" ? "YouTube didn't answer" : "YouTube can't play it here";
    this._cannotPlay(track, `Skipped “${track.title}”: ${why}. Open ↗ plays it on YouTube.`);
  }

  /** The current track can't play: on to the next one that can, or say so and stop. */
  _cannotPlay(track, message) {
    this._failed.add(track);
    this.loading = false;
    this._setPlaying(false);
    const list = this.queue.list;
    const next = this.queue.pending || list.tracks.some((t) => this._canPlay(t));
    if (next) this.next({ auto: true });
    else this._stopEmbed();
    // The message is about this list: a queued list taking over starts with none.
    if (this.queue.list === list) this._showMessage(next ? message : `${message} Nothing else in this playlist plays here.`);
  }

  _pause() {
    this.loading = false;
    this._stopAudio();
    const embed = this._embed?.player;
    if (embed && embed.heard && !embed.failed) embed.pause();
    else this._stopEmbed();
    this._setPlaying(false);
  }

  _stopAudio() {
    if (!this.el.audio.paused) this.el.audio.pause();
  }

  _stopEmbed() {
    if (!this._embed) return;
    this._embed.player.destroy();
    this._embed = null;
    this.el.embed.replaceChildren();
    this.el.embed.hidden = true;
  }

  _stopAll() {
    this._stopAudio();
    this._stopEmbed();
    this.loading = false;
    this._setPlaying(false);
  }

  _setPlaying(playing) {
    if (this.queue.playing === playing) return;
    this.queue.setPlaying(playing);
    this.render();
  }

  _showMessage(text) {
    this.el.message.textContent = text;
    this.el.message.hidden = !text;
  }

  _bind() {
    const { audio, playPause, next, prev, lock, shuffle, volume, list, seek } = this.el;
    globalThis.window?.addEventListener("message", (event) => this._embed?.player.handleMessage(event));
    playPause.addEventListener("click", () => this.togglePlay());
    next.addEventListener("click", () => this.next());
    prev.addEventListener("click", () => this.prev());
    lock.addEventListener("click", () => this.setLocked(!this.queue.locked));
    shuffle?.addEventListener("click", () => {
      this.queue.shuffle = !this.queue.shuffle;
      this.render();
    });
    volume?.addEventListener("input", () => this.setVolume(Number(volume.value) / 100));
    list.addEventListener("click", (event) => {
      const button = event.target.closest("button.track-play");
      if (button) this.playIndex(Number(button.closest("li").dataset.index));
    });
    audio.addEventListener("playing", () => {
      this.loading = false;
      this._setPlaying(true);
    });
    audio.addEventListener("pause", () => {
      this.loading = false;
      this._setPlaying(false);
    });
    audio.addEventListener("ended", () => this.next({ auto: true }));
    audio.addEventListener("error", () => {
      if (audio.getAttribute("src") && this._audioTrack) this._cannotPlay(this._audioTrack, `Can't play “${this._audioTrack.title}”.`);
    });
    for (const type of ["timeupdate", "durationchange", "loadedmetadata", "emptied"]) {
      audio.addEventListener(type, () => this._renderProgress());
    }
    seek.addEventListener("input", () => {
      this._seeking = true;
      if (Number.isFinite(audio.duration)) audio.currentTime = (Number(seek.value) / 1000) * audio.duration;
    });
    seek.addEventListener("change", () => {
      this._seeking = false;
    });
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
    const busy = this.busy;
    const label = el.playPause.querySelector(".button-label") || el.playPause;
    label.textContent = busy ? "Pause" : "Play";
    el.playPause.setAttribute("aria-label", busy ? "Pause" : "Play");
    el.playPause.classList.toggle("is-playing", busy);
    el.playPause.disabled = !list && !queue.current;
    el.next.disabled = !list;
    el.prev.disabled = !list;
    el.lock.setAttribute("aria-pressed", String(queue.locked)); // the label stays "Lock mood"
    el.shuffle?.setAttribute("aria-pressed", String(queue.shuffle));

    const upNext = queue.upNext;
    el.upNext.textContent = upNext ? `Up next: ${emotionName(upNext.mood).toLowerCase()} — ${upNext.title}` : "";
    el.upNext.hidden = !upNext;

    document.body.dataset.playing = String(queue.playing);
    document.body.dataset.playlistMood = list ? list.mood : "";
    this.media.show(queue.current, { playing: queue.playing, album: list ? list.title : "" });
    this._renderProgress();
  }

  _renderList(list) {
    const { el } = this;
    this._renderedList = list;
    this._showMessage(""); // a skipped track's message belongs to the list it was in
    if (!list) {
      el.title.textContent = "Your playlist";
      el.description.textContent = "It appears once your expression has held steady for a moment.";
      el.list.replaceChildren();
      return;
    }
    el.title.textContent = list.title;
    el.description.textContent = `${list.description} · ${emotionName(list.mood)}: ${MODE_NAMES[list.mode] || list.mode}`;
    el.list.replaceChildren(...list.tracks.map((track, index) => trackRow(track, index)));
  }

  _renderNowPlaying() {
    const { queue, el } = this;
    const track = queue.current;
    const here = this._audioTrack === track || this._embed?.track === track;
    const status = !track ? "Nothing playing"
      : queue.playing ? "Playing" : this.loading ? "Loading" : here ? "Paused" : "Ready";
    const playback = playbackFor(track);
    const link = playback.kind === "audio" ? null : playback.href;
    // A live region: rebuilt only when what it says changes, so each change is announced once.
    const says = [status, track?.title, track?.artist, link].join("\n");
    if (says === this._renderedNowPlaying) return;
    this._renderedNowPlaying = says;
    const box = el.nowPlaying;
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
    const active = this._audioTrack !== null && this._audioTrack === this.queue.current && Number.isFinite(audio.duration);
    seek.disabled = !active;
    if (!this._seeking) seek.value = active && audio.duration > 0 ? String(Math.round((audio.currentTime / audio.duration) * 1000)) : "0";
    const [at, length] = [clock(audio.currentTime), clock(audio.duration)];
    if (active) seek.setAttribute("aria-valuetext", `${at} of ${length}`); // not "537" of 1000
    else seek.removeAttribute("aria-valuetext");
    time.textContent = active ? `${at} / ${length}` : "";
  }
}
