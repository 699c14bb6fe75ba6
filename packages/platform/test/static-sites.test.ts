/**
 * The home and learn builds without a browser: every page within the CSP (no inline script or
 * style, only same-site files), its own bytes plus what it loads under the 100 KB budget, each
 * lesson of the course there; and the recorded session the explorer replays is a real session log:
 * every line parses as a daemon event of @opta/protocol, seq from 1 without gaps, one turn that ends.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { SessionEvent } from "@opta/protocol";
import { beforeAll, describe, expect, it } from "vitest";

const SITES_ROOT = fileURLToPath(new URL("../../../apps/sites/", import.meta.url));
const BUDGET = 100_000;
/** The home build re-encodes its screenshots in Chromium; without it they stay PNG, over budget. */
const hasChromium = existsSync(process.env.OPTA_CHROMIUM ?? "/usr/bin/chromium");

async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((entry) => (entry.isDirectory() ? files(join(dir, entry.name)) : [join(dir, entry.name)])),
  );
  return nested.flat();
}

/** A page's own size plus each same-site file it references (stylesheet, scripts, images). */
async function pageBytes(dist: string, page: string): Promise<number> {
  const html = await readFile(page, "utf8");
  const references = [...html.matchAll(/(?:src|href)="(\/[^"]*\.(?:css|js|webp|png))"/g)].map((match) => match[1]);
  let total = Buffer.byteLength(html);
  for (const reference of new Set(references)) total += (await stat(join(dist, reference ?? ""))).size;
  return total;
}

describe("the home and learn builds", () => {
  beforeAll(() => {
    for (const site of ["home", "learn"]) {
      const build = spawnSync(process.execPath, [join(SITES_ROOT, site, "build.mjs")], { encoding: "utf8" });
      if (build.status !== 0) throw new Error(`build of ${site} failed: ${build.stderr}`);
    }
  }, 120_000);

  for (const site of ["home", "learn"]) {
    it.skipIf(site === "home" && !hasChromium)(
      `${site}: every page keeps to the CSP and to ${BUDGET / 1000} KB with what it loads`,
      async () => {
        const dist = join(SITES_ROOT, site, "dist");
        const pages = (await files(dist)).filter((file) => file.endsWith(".html"));
        expect(pages.length).toBeGreaterThan(0);
        for (const page of pages) {
          const html = await readFile(page, "utf8");
          const name = relative(dist, page);
          expect(html, name).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
          expect(html, name).not.toMatch(/<style|\sstyle=|\son[a-z]+=/);
          expect(html, name).toMatch(/<main id="main"[^>]*>[\s\S]*<h1[\s>]/);
          expect(await pageBytes(dist, page), name).toBeLessThan(BUDGET);
        }
      },
    );
  }

  it("every link from home and learn to the help site names a page help builds", async () => {
    const help = join(SITES_ROOT, "help", "dist");
    if (!existsSync(join(help, "index.html"))) {
      const build = spawnSync(process.execPath, [join(SITES_ROOT, "help", "build.mjs")], { encoding: "utf8" });
      if (build.status !== 0) throw new Error(`build of help failed: ${build.stderr}`);
    }
    const targets = new Set<string>();
    for (const site of ["home", "learn"]) {
      for (const page of (await files(join(SITES_ROOT, site, "dist"))).filter((file) => file.endsWith(".html"))) {
        for (const match of (await readFile(page, "utf8")).matchAll(/href="http:\/\/help\.[^/"]+\/([^"#]*)/g))
          targets.add(match[1] ?? "");
      }
    }
    expect(targets.size).toBeGreaterThan(3);
    for (const target of targets) expect(existsSync(join(help, target || "index.html")), target).toBe(true);
  });

  it("learn has a page for each lesson of the course and the explorer", async () => {
    const dist = join(SITES_ROOT, "learn", "dist");
    for (const path of ["layers", "chat-and-do", "permissions", "triage", "recovery", "shortcuts", "explorer"])
      expect(existsSync(join(dist, path, "index.html")), path).toBe(true);
    const explorer = await readFile(join(dist, "explorer", "index.html"), "utf8");
    for (const group of ["TUI", "Daemon", "Intelligence", "Automation", "Security"])
      expect(explorer).toContain(`<h2 id="${group.toLowerCase()}">${group}</h2>`);
  });

  it.skipIf(!hasChromium)("home shows the docs' screenshots re-encoded small, each with alt text", async () => {
    const html = await readFile(join(SITES_ROOT, "home", "dist", "index.html"), "utf8");
    const images = [...html.matchAll(/<img src="\/screenshots\/([^"]+)"[^>]*alt="([^"]+)"/g)];
    expect(images.map((image) => image[1]?.replace(/\.\w+$/, ""))).toEqual(["timeline", "approval", "daemon-panel"]);
    for (const image of images) {
      const bytes = (await stat(join(SITES_ROOT, "home", "dist", "screenshots", image[1] ?? ""))).size;
      const original = (
        await stat(
          fileURLToPath(new URL(`../../../docs/screenshots/${image[1]?.replace(/\.\w+$/, "")}.png`, import.meta.url)),
        )
      ).size;
      expect(bytes).toBeLessThan(original / 2);
    }
  });

  it("the explorer's recorded session is a valid session log of @opta/protocol events", async () => {
    const text = await readFile(join(SITES_ROOT, "learn", "assets", "session.jsonl"), "utf8");
    const events = text
      .trim()
      .split("\n")
      .map((line) => SessionEvent.parse(JSON.parse(line)));
    expect(events.map((event) => event.seq)).toEqual(events.map((_event, index) => index + 1));
    expect(new Set(events.map((event) => event.sessionId)).size).toBe(1);
    expect(events[0]?.event).toBe("session.start");
    expect(events.at(-1)?.event).toBe("turn.done");
    const times = events.map((event) => Date.parse(event.ts));
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });
});
