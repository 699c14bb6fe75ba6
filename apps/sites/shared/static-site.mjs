// What the static sites' build scripts share (home/build.mjs, learn/build.mjs): the page frame
// (skip link, header with the cross-site nav and the theme toggle, main, footer), the one CSS file
// made of the design system, Markdown rendered at build time, and writing dist/ so that the
// platform server serves it (it serves a site's dist/ once it has index.html). No inline script or
// style anywhere: the sites' CSP forbids both.
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import json from "highlight.js/lib/languages/json";
import yaml from "highlight.js/lib/languages/yaml";
import { Marked } from "marked";

const SHARED = dirname(fileURLToPath(import.meta.url));

hljs.registerLanguage("bash", bash);
hljs.registerLanguage("sh", bash);
hljs.registerLanguage("json", json);
hljs.registerLanguage("yaml", yaml);

/** The sites a visitor moves between; the header links them (theme.js points them at this domain). */
export const NAV = [
  { site: "home", label: "Opta" },
  { site: "init", label: "Install" },
  { site: "learn", label: "Learn" },
  { site: "help", label: "Docs" },
  { site: "status", label: "Status" },
  { site: "accounts", label: "Account" },
];

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text) {
  return String(text)
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

/** A link to another site; the href works on the default domain before theme.js rewrites it. */
export function siteLink(site, path, text, attributes = "") {
  const host = site === "home" ? "opta.localhost" : `${site}.opta.localhost`;
  return `<a data-site="${site}" href="http://${host}${path}"${attributes}>${text}</a>`;
}

const marked = new Marked({
  renderer: {
    code({ text, lang }) {
      const language = lang && hljs.getLanguage(lang) ? lang : undefined;
      const html = language ? hljs.highlight(text, { language }).value : escapeHtml(text);
      return `<pre><code${language ? ` class="hljs language-${language}"` : ""}>${html}</code></pre>\n`;
    },
  },
});

/**
 * Markdown to HTML. `[text](site:learn/triage/)` links to another site of the platform; key names
 * written `<kbd>…</kbd>` pass through (marked keeps inline HTML, and the sources are ours).
 */
export function renderMarkdown(source) {
  const html = marked.parse(source, { async: false });
  return html.replace(/href="site:([a-z]+)(\/[^"]*)?"/g, (_match, site, path = "/") => {
    const host = site === "home" ? "opta.localhost" : `${site}.opta.localhost`;
    return `data-site="${site}" href="http://${host}${path}"`;
  });
}

/**
 * One HTML page. `site` marks the current site in the nav; `scripts` are extra same-site script
 * files (deferred); the body goes inside <main id="main">.
 */
export function page({ site, siteLabel, title, description, body, scripts = [] }) {
  const nav = NAV.map(({ site: target, label }) =>
    siteLink(target, "/", label, target === site ? ' aria-current="page"' : ""),
  ).join("\n        ");
  const extra = scripts.map((src) => `\n    <script src="${src}" defer></script>`).join("");
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="opta-site" content="${site}">
    <meta name="description" content="${escapeHtml(description)}">
    <title>${escapeHtml(title)}</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="/opta.css">
    <script src="/theme.js"></script>${extra}
  </head>
  <body>
    <a class="skip" href="#main">Skip to content</a>
    <header class="top">
      ${siteLink("home", "/", `Opta${siteLabel ? ` <span class="site">${escapeHtml(siteLabel)}</span>` : ""}`, ' class="brand"')}
      <nav class="nav" aria-label="Opta sites">
        ${nav}
        <span class="spacer"></span>
        <button type="button" class="theme-toggle" data-theme-toggle hidden>Light</button>
      </nav>
    </header>
    <main id="main" class="page">
${body}
    </main>
    <footer class="bottom">Opta Local — local-first AI coding: the opta CLI and daemon, Opta LMX, Code Desktop. MIT licensed.</footer>
  </body>
</html>
`;
}

/** The design system as one stylesheet: theme tokens, the shared components, the static layout. */
export async function designSystemCss() {
  const parts = [];
  for (const name of ["theme.css", "styles.css", "site.css"]) {
    const text = await readFile(join(SHARED, name), "utf8");
    parts.push(text.replace(/^@import[^;]+;\n/m, ""));
  }
  return parts.join("\n");
}

/** Empties `dist`, writes the design system (opta.css, theme.js) and the given files into it. */
export async function writeSite(dist, files) {
  await rm(dist, { recursive: true, force: true });
  await mkdir(dist, { recursive: true });
  await writeFile(join(dist, "opta.css"), await designSystemCss());
  await writeFile(join(dist, "theme.js"), await readFile(join(SHARED, "theme.js")));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dist, path)), { recursive: true });
    await writeFile(join(dist, path), content);
  }
}
