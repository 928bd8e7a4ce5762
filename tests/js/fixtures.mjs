// Test data shared by the JavaScript unit tests.

/** A playlist of `count` local tracks named after `name`, as /api/playlists gives them. */
export function playlist(name, count = 3) {
  return {
    title: `${name} list`,
    description: `music for ${name}`,
    tracks: Array.from({ length: count }, (_, i) => ({
      title: `${name} ${i + 1}`, artist: "Artist", url: null, audio: `/music/${name}/${i + 1}.wav`, source: "library",
    })),
  };
}

/** A playlist of `count` YouTube tracks, as the catalog has them (video ids like "happy_____1"). */
export function youtubePlaylist(name, count = 3) {
  return {
    title: `${name} videos`,
    description: `videos for ${name}`,
    tracks: Array.from({ length: count }, (_, i) => ({
      title: `${name} video ${i + 1}`, artist: "Artist",
      url: `https://www.youtube.com/watch?v=${name.padEnd(10, "_").slice(0, 10)}${i + 1}`, audio: null, source: "catalog",
    })),
  };
}
