// A chosen photo as the page sends it. A phone's photo can be 50 megapixels and 20 MB: more
// than the server takes (8 MB) and slow to send over a phone's uplink, while the model reads
// 48-px face crops. So a large photo goes as a JPEG copy at most MAX_SIDE pixels long,
// turned upright as the browser shows it (its EXIF orientation applied).

const SHRINK_ABOVE_BYTES = 1_500_000;
const MAX_SIDE = 2048;
const JPEG_QUALITY = 0.92;

/** The file itself, or a smaller JPEG copy of it; the file when the browser cannot read it
 *  (the server then says what is wrong with it). */
export async function photoToSend(file) {
  if (file.size <= SHRINK_ABOVE_BYTES || typeof createImageBitmap !== "function") return file;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    return file;
  }
  try {
    const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const copy = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
    return copy && copy.size < file.size ? copy : file;
  } finally {
    bitmap.close();
  }
}
