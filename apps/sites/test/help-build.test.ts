/**
 * help.<domain>'s static build (apps/sites/help/build.mjs) from the real docs/: a page per doc,
 * every internal link and anchor resolving, nothing the site's strict CSP would refuse, the search
 * index pointing at real sections, and the bundle budget (docs/platform.md, "Help site").
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, posix, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const BUILD = join(REPO, "apps/sites/help/build.mjs");
const DOCS = join(REPO, "docs");

/** The budget the docs state: a doc page with its CSS and JS, and the landing page with them. */
const PAGE_BUDGET = 128 * 1024;
const INDEX_BUDGET = 100 * 1024;

async function htmlFiles(dir: string, base = dir): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await htmlFiles(path, base)));
    else if (entry.name.endsWith(".html")) found.push(relative(base, path).split("\\").join("/"));
  }
  return found.sort();
}

const idsOf = (html: string) => new Set([...html.matchAll(/\sid="([^"]+)"/g)].map((match) => match[1]));

let out: string;
let pages: string[];
const html = new Map<string, string>();

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), "opta-help-build-"));
  await run(process.execPath, [BUILD, "--out", out]);
  pages = await htmlFiles(out);
  for (const page of pages) html.set(page, await readFile(join(out, page), "utf8"));
}, 60_000);

afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

describe("the help site's build", () => {
  it("has one page per doc and per ADR, each listed in every page's sidebar, plus the index", async () => {
    const guides = (await readdir(DOCS))
      .filter((name) => name.endsWith(".md"))
      .map((name) => name.replace(/\.md$/, ".html"));
    const adrs = (await readdir(join(DOCS, "adr")))
      .filter((name) => name.endsWith(".md"))
      .map((name) => `adr/${name.replace(/\.md$/, ".html")}`);
    expect(pages).toEqual([...guides, ...adrs, "index.html"].sort());
    const sidebar = html.get("architecture.html")?.match(/<nav class="sidebar"[\s\S]*?<\/nav>/)?.[0] ?? "";
    for (const page of [...guides, ...adrs]) expect(sidebar, page).toContain(`href="${page}"`);
    // The source is docs/ itself: a sentence of lmx.md is on lmx.html.
    const lmx = await readFile(join(DOCS, "lmx.md"), "utf8");
    const heading = lmx.match(/^## (.+)$/m)?.[1] ?? "";
    expect(html.get("lmx.html")).toContain(heading.replace(/`/g, "").split(" ")[0]);
  });

  it("every internal link, anchor and asset resolves", () => {
    const broken: string[] = [];
    for (const [page, text] of html) {
      for (const match of text.matchAll(/\s(?:href|src)="([^"]*)"/g)) {
        const url = (match[1] ?? "").replace(/&amp;/g, "&");
        if (/^[a-z]+:/i.test(url) || url.startsWith("//")) continue;
        const [path, anchor] = url.split("#", 2) as [string, string | undefined];
        const target = path === "" ? page : posix.normalize(posix.join(posix.dirname(page), path.split("?")[0] ?? ""));
        if (!existsSync(join(out, target))) {
          broken.push(`${page}: ${url} (no file)`);
          continue;
        }
        if (anchor && target.endsWith(".html") && !idsOf(html.get(target) ?? "").has(anchor))
          broken.push(`${page}: ${url} (no #${anchor})`);
      }
    }
    expect(broken).toEqual([]);
  });

  it("renders relative .md links as links to the built pages (across docs/ and docs/adr/)", () => {
    const architecture = html.get("architecture.html") ?? "";
    expect(architecture).not.toMatch(/href="[^"#]*\.md[#"]/);
    const adr = [...html.entries()].find(
      ([page]) => page.startsWith("adr/") && /href="\.\.\/[a-z-]+\.html/.test(html.get(page) ?? ""),
    );
    expect(adr, "an ADR linking to a guide").toBeDefined();
  });

  it("has nothing the strict CSP refuses: no inline script, style, handler or javascript: URL", () => {
    const offences: string[] = [];
    for (const [page, text] of html) {
      if (/<script(?![^>]*\ssrc=)[^>]*>/i.test(text)) offences.push(`${page}: inline <script>`);
      if (/<style[\s>]/i.test(text)) offences.push(`${page}: <style>`);
      if (/<[a-z][^>]*\sstyle=/i.test(text)) offences.push(`${page}: style attribute`);
      if (/<[a-z][^>]*\son[a-z]+=/i.test(text)) offences.push(`${page}: event handler attribute`);
      if (/\s(?:href|src)="javascript:/i.test(text)) offences.push(`${page}: javascript: URL`);
    }
    expect(offences).toEqual([]);
  });

  it("highlights code and marks runnable blocks", () => {
    expect(html.get("sdk.html")).toMatch(/<span class="hljs-keyword">import<\/span>/);
    expect(html.get("api.html")).toContain('<span class="runnable"');
  });

  it("has landmarks, a skip link, a labelled search and a theme toggle on every page", () => {
    for (const [page, text] of html) {
      expect(text, page).toContain('<a class="skip" href="#main">');
      expect(text, page).toMatch(/<main id="main"/);
      expect(text, page).toMatch(/<nav class="sidebar" id="sidebar" aria-label="Documentation">/);
      expect(text, page).toContain('<label for="search-input"');
      expect(text, page).toContain('id="theme-toggle"');
      expect(text, page).toMatch(/<html lang="en"/);
    }
  });

  it("ships a search index whose every section opens a heading that exists", async () => {
    const index = JSON.parse(await readFile(join(out, "search-index.json"), "utf8")) as {
      docs: { p: string; t: string }[];
      sections: { d: number; h: string; a: string; x: string }[];
    };
    expect(index.docs.map((doc) => doc.p).sort()).toEqual(pages.filter((page) => page !== "index.html"));
    for (const section of index.sections) {
      const page = index.docs[section.d]?.p ?? "";
      if (section.a) expect(idsOf(html.get(page) ?? "").has(section.a), `${page}#${section.a}`).toBe(true);
    }
    const lmxSections = index.sections.filter((section) => index.docs[section.d]?.p === "lmx.html");
    expect(lmxSections.length).toBeGreaterThan(5);
    expect(lmxSections.some((section) => section.x.length > 200)).toBe(true);
  });

  it("keeps within the bundle budget: a page with its CSS and JS < 128 KB, the index page < 100 KB, as served", async () => {
    const assets = (await stat(join(out, "help.css"))).size + (await stat(join(out, "help.js"))).size;
    const over: string[] = [];
    for (const page of pages) {
      const total = (await stat(join(out, page))).size + assets;
      const budget = page === "index.html" ? INDEX_BUDGET : PAGE_BUDGET;
      if (total >= budget) over.push(`${page}: ${total} B ≥ ${budget} B`);
    }
    expect(over).toEqual([]);
  });

  it("fails the build, naming the link, when a doc links to a missing doc or heading", async () => {
    const docs = await mkdtemp(join(tmpdir(), "opta-help-docs-"));
    try {
      await mkdir(join(docs, "adr"));
      await writeFile(join(docs, "one.md"), "# One\n\nSee [two](two.md#no-such-heading) and [three](three.md).\n");
      await writeFile(join(docs, "two.md"), "# Two\n\n## A heading\n\nBack to [one](one.md#one).\n");
      const result = await run(process.execPath, [BUILD, "--docs", docs, "--out", join(docs, "dist")]).then(
        () => ({ code: 0, stderr: "" }),
        (error: { code: number; stderr: string }) => error,
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("HELP_BROKEN_LINK");
      expect(result.stderr).toContain("one.md: two.md#no-such-heading (no heading #no-such-heading)");
      expect(result.stderr).toContain("one.md: three.md (no such doc)");
      expect(existsSync(join(docs, "dist"))).toBe(false);
      // Fixed, it builds.
      await writeFile(join(docs, "one.md"), "# One\n\nSee [two](two.md#a-heading).\n");
      await run(process.execPath, [BUILD, "--docs", docs, "--out", join(docs, "dist")]);
      expect(await readFile(join(docs, "dist", "one.html"), "utf8")).toContain('href="two.html#a-heading"');
    } finally {
      await rm(docs, { recursive: true, force: true });
    }
  });
});
