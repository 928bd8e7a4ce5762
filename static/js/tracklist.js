// The player's rows and links, built with textContent only (CSP-safe, no HTML strings).

import { playbackFor } from "./tracks.js";

const KIND_NAMES = { audio: "Audio", youtube: "YouTube" };

/** One row per track, one Tab stop: the track's button (its Open ↗ link is for the mouse). */
export function trackRow(track, index) {
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

  if (KIND_NAMES[playback.kind]) {
    const kind = document.createElement("span");
    kind.className = "track-kind";
    kind.textContent = KIND_NAMES[playback.kind];
    row.append(kind);
  }
  if (playback.href) {
    const link = openLink(playback.href, track);
    link.tabIndex = -1;
    row.append(link);
  }
  return row;
}

export function openLink(href, track) {
  const link = document.createElement("a");
  link.className = "open-link";
  link.href = href;
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  link.textContent = "Open ↗";
  link.setAttribute("aria-label", `Open ${track.title} by ${track.artist} in a new tab`);
  return link;
}

export function clock(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "0:00";
  const whole = Math.floor(seconds);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}
