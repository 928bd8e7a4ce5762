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
