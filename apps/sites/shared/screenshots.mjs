// Screenshots from docs/screenshots/ for a static site, re-encoded small at build time: a 1440 px
// PNG is 100–180 KB, over a page's whole budget, while the same view as a 960 px WebP is a fraction
// of it. Chromium (the one the browser tests use) does the encoding through a canvas, so no image
// library is added. Without Chromium the PNG is copied as it is, and the build says so: the page
// then works but misses its budget (the all-sites browser test, which needs Chromium, would fail).
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const DOCS_SCREENSHOTS = fileURLToPath(new URL("../../../docs/screenshots/", import.meta.url));
const CHROMIUM = process.env.OPTA_CHROMIUM ?? "/usr/bin/chromium";

/**
 * Each named PNG of docs/screenshots/ as `{ name, file, bytes, width, height }`, `file` being the
 * name to write (`timeline.webp`, or the PNG's own name without Chromium).
 */
export async function compressScreenshots(names, { width = 960, quality = 0.62 } = {}) {
  const sources = await Promise.all(names.map((name) => readFile(join(DOCS_SCREENSHOTS, `${name}.png`))));
  if (!existsSync(CHROMIUM)) {
    console.warn(`[sites build] ${CHROMIUM} not found: screenshots copied as PNG, over the page budget`);
    return names.map((name, index) => ({
      name,
      file: `${name}.png`,
      bytes: sources[index],
      ...pngSize(sources[index]),
    }));
  }
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
  try {
    const page = await browser.newPage();
    const out = [];
    for (const [index, name] of names.entries()) {
      const encoded = await page.evaluate(
        async ({ data, width, quality }) => {
          const image = new Image();
          image.src = `data:image/png;base64,${data}`;
          await image.decode();
          const scale = Math.min(1, width / image.naturalWidth);
          const canvas = document.createElement("canvas");
          canvas.width = Math.round(image.naturalWidth * scale);
          canvas.height = Math.round(image.naturalHeight * scale);
          const context = canvas.getContext("2d");
          context.imageSmoothingQuality = "high";
          context.drawImage(image, 0, 0, canvas.width, canvas.height);
          const url = canvas.toDataURL("image/webp", quality);
          return { data: url.slice(url.indexOf(",") + 1), width: canvas.width, height: canvas.height };
        },
        { data: sources[index].toString("base64"), width, quality },
      );
      out.push({
        name,
        file: `${name}.webp`,
        bytes: Buffer.from(encoded.data, "base64"),
        width: encoded.width,
        height: encoded.height,
      });
    }
    return out;
  } finally {
    await browser.close();
  }
}

function pngSize(buffer) {
  return { width: buffer.readUInt32BE(16), height: buffer.readUInt32BE(20) };
}
