// Added to the page by the browser tests (page.add_init_script): records, as the page shows
// them, every reading (headline and bars), every mood it commits, every playlist it queues or
// puts on, and when the fake camera's face changed (its corner marker, see conftest.py).
(() => {
  const record = { samples: [], commits: [], playlists: [], faces: [] };
  window.__moodtunes = record;

  function snapshot() {
    const bars = {};
    for (const row of document.querySelectorAll("#bars .bar")) {
      bars[row.dataset.emotion] = Number(row.querySelector(".bar-track").getAttribute("aria-valuenow"));
    }
    return { at: performance.now(), headline: document.getElementById("expression").textContent.trim(), bars };
  }

  function upNextMood() {
    const upNext = document.getElementById("up-next");
    const match = !upNext.hidden && /^Up next: (\w+)/.exec(upNext.textContent);
    return match ? match[1] : null;
  }

  function watch() {
    const body = document.body;
    // Runs once the page's own code for a frame has finished: headline and bars are that frame's.
    new MutationObserver((mutations) => {
      for (const mutation of mutations) {
        const name = mutation.attributeName;
        if (name === "data-frames") record.samples.push(snapshot());
        if (name === "data-stable-mood") record.commits.push({ mood: body.dataset.stableMood, ...snapshot() });
        if (name === "data-playlist-mood" && body.dataset.playlistMood) {
          record.playlists.push({ mood: body.dataset.playlistMood, how: "on", at: performance.now() });
        }
      }
    }).observe(body, { attributes: true, attributeFilter: ["data-frames", "data-stable-mood", "data-playlist-mood"] });
    new MutationObserver(() => {
      const mood = upNextMood();
      if (mood) record.playlists.push({ mood, how: "queued", at: performance.now() });
    }).observe(document.getElementById("up-next"), { attributes: true, childList: true, subtree: true, characterData: true });

    const video = document.getElementById("video");
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 4;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    setInterval(() => {
      if (!video.videoWidth) return;
      context.drawImage(video, 4, 4, 4, 4, 0, 0, 4, 4);
      const face = context.getImageData(1, 1, 1, 1).data[0] > 128 ? "happy" : "sad";
      if (record.faces.at(-1)?.face !== face) record.faces.push({ face, at: performance.now() });
    }, 20);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", watch);
  else watch();
})();
