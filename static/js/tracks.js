// How a track can be played, decided from its links alone (pure; no DOM).
//
//   audio    a same-origin file for <audio>
//   youtube  a YouTube video, embedded from youtube-nocookie.com
//   link     any other web link: opened in a new tab ("Open ↗")
//   none     nothing usable

/** Where YouTube embeds come from (the page's CSP frame-src allows it); their messages carry this origin. */
export const YOUTUBE_EMBED_ORIGIN = "https://www.youtube-nocookie.com";

const YOUTUBE_HOSTS = new Set(["youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"]);
const YOUTUBE_ID = /^[A-Za-z0-9_-]{11}$/;

/** The URL as a normalised string if it is an absolute http(s) link, else null. */
export function safeWebUrl(value) {
  if (typeof value !== "string" || !/^https?:\/\//i.test(value)) return null;
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** A same-origin path ("/music/sad/x.wav") for <audio>, else null. */
export function safeAudioPath(value) {
  if (typeof value !== "string" || !value.startsWith("/") || value.startsWith("//") || value.includes("\\")) {
    return null;
  }
  return value;
}

/** The video id of a YouTube watch link (youtube.com/watch?v=ID, youtu.be/ID), else null. */
export function youtubeId(value) {
  const href = safeWebUrl(value);
  if (!href) return null;
  const url = new URL(href);
  const host = url.hostname.toLowerCase();
  let id = null;
  if (YOUTUBE_HOSTS.has(host) && url.pathname === "/watch") id = url.searchParams.get("v");
  else if (host === "youtu.be") id = url.pathname.slice(1).replace(/\/$/, "");
  return id && YOUTUBE_ID.test(id) ? id : null;
}

/**
 * The embed URL for YouTube video `id`: it autoplays and, with enablejsapi, reports its state
 * to the page by postMessage (no YouTube script is loaded). `pageOrigin` (location.origin) is
 * passed as origin=, as YouTube asks; left out when it is not an http(s) origin.
 */
export function youtubeEmbedUrl(id, pageOrigin = null) {
  const url = new URL(`/embed/${encodeURIComponent(id)}`, YOUTUBE_EMBED_ORIGIN);
  url.searchParams.set("autoplay", "1");
  url.searchParams.set("enablejsapi", "1");
  const origin = safeWebUrl(pageOrigin) && new URL(pageOrigin).origin;
  if (origin) url.searchParams.set("origin", origin);
  return url.href;
}

/**
 * @param {{url?: string|null, audio?: string|null}} track
 * @param {{pageOrigin?: string|null}} [options]  the page's origin, for YouTube's embed URL
 * @returns {{kind: "audio", src: string, href: string|null}
 *         | {kind: "youtube", embedUrl: string, href: string}
 *         | {kind: "link", href: string} | {kind: "none"}}
 */
export function playbackFor(track, { pageOrigin = null } = {}) {
  const href = safeWebUrl(track?.url);
  const audio = safeAudioPath(track?.audio);
  if (audio) return { kind: "audio", src: audio, href };
  if (!href) return { kind: "none" };
  const video = youtubeId(href);
  if (video) return { kind: "youtube", embedUrl: youtubeEmbedUrl(video, pageOrigin), href };
  return { kind: "link", href };
}

/** Can it play inside the page (a file or a video), rather than only open elsewhere? */
export function playsInPage(track) {
  const kind = playbackFor(track).kind;
  return kind === "audio" || kind === "youtube";
}
