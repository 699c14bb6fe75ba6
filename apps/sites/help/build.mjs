#!/usr/bin/env node
// Builds help.<domain> from docs/*.md and docs/adr/*.md: one page per doc, a sidebar, a table of
// contents per page, prev/next, highlighted code and a prebuilt full-text search index. The docs are
// read at build time and never copied into this folder, so the site cannot drift from them.
//
//   node apps/sites/help/build.mjs [--docs DIR] [--out DIR]
//
// Exits 1 with HELP_BROKEN_LINK when a relative link or anchor between docs points at nothing.
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, posix, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import hljs from "highlight.js/lib/common";
import { Marked, Renderer } from "marked";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "../../..");

/** The guides in reading order; any other docs/*.md is appended alphabetically, so a new doc is never left out. */
const ORDER = [
  "architecture",
  "cli",
  "tui",
  "desktop",
  "agent",
  "tools",
  "permissions",
  "providers",
  "lmx",
  "mcp",
  "doctor",
  "api",
  "sdk",
  "platform",
  "security",
  "benchmarks",
];

/** Languages of fenced blocks as the docs write them, mapped to highlight.js's names. */
const LANGUAGE_ALIASES = { sh: "bash", shell: "bash", jsonc: "json", ts: "typescript", js: "javascript", yml: "yaml" };

const escapeHtml = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

const decodeEntities = (text) =>
  text
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&");

/** GitHub's heading anchors (github-slugger), so links written for GitHub hold here too. */
export function slugify(text) {
  return text
    .toLowerCase()
    .trim()
    .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

function parseArgs(argv) {
  const options = { docs: join(REPO, "docs"), out: join(HERE, "dist") };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if ((flag !== "--docs" && flag !== "--out") || value === undefined) {
      console.error(`error: unknown argument ${flag ?? ""} (usage: build.mjs [--docs DIR] [--out DIR]) [HELP_USAGE]`);
      process.exit(2);
    }
    options[flag.slice(2)] = resolve(value);
  }
  return options;
}

/** Every doc: its source path (relative to docs/), its page path (relative to the site root), and its group. */
async function listDocs(docsDir) {
  const guides = (await readdir(docsDir)).filter((name) => name.endsWith(".md")).map((name) => name.slice(0, -3));
  guides.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  let decisions = [];
  try {
    decisions = (await readdir(join(docsDir, "adr"))).filter((name) => name.endsWith(".md")).sort();
  } catch {
    // a docs folder without ADRs
  }
  return [
    ...guides.map((name) => ({ source: `${name}.md`, page: `${name}.html`, group: "Guides" })),
    ...decisions.map((name) => ({ source: `adr/${name}`, page: `adr/${name.slice(0, -3)}.html`, group: "Decisions" })),
  ];
}

function rank(name) {
  const index = ORDER.indexOf(name);
  return index === -1 ? ORDER.length : index;
}

/** A relative URL from one page of the site to another path of it. */
function hrefFrom(fromPage, toPath) {
  const rel = posix.relative(posix.dirname(fromPage), toPath);
  return rel === "" ? posix.basename(toPath) : rel;
}

/** Renders one doc. Collects its headings (toc), the links it makes to other pages and the assets it uses. */
function renderDoc(doc, markdown, context) {
  const headings = [];
  const slugCounts = new Map();
  const links = [];
  const docDir = posix.dirname(doc.source);
  const marked = new Marked({
    gfm: true,
    renderer: {
      heading({ tokens, depth }) {
        const inner = this.parser.parseInline(tokens);
        const plain = decodeEntities(this.parser.parseInline(tokens, this.parser.textRenderer));
        const base = slugify(plain);
        const seen = slugCounts.get(base) ?? 0;
        slugCounts.set(base, seen + 1);
        const id = seen === 0 ? base : `${base}-${seen}`;
        headings.push({ depth, id, text: plain });
        return `<h${depth} id="${escapeHtml(id)}"><a class="anchor" href="#${escapeHtml(id)}" aria-hidden="true" tabindex="-1">#</a>${inner}</h${depth}>\n`;
      },
      code({ text, lang }) {
        const words = (lang ?? "").trim().split(/\s+/).filter(Boolean);
        const name = words[0] ?? "";
        const language = LANGUAGE_ALIASES[name] ?? name;
        const runnable = words.includes("runnable");
        const body =
          language && hljs.getLanguage(language)
            ? hljs.highlight(text, { language, ignoreIllegals: true }).value
            : escapeHtml(text);
        const badge = runnable
          ? `<span class="runnable" title="This block runs in the test suite against a real daemon">tested</span>`
          : "";
        const cls = language ? ` language-${escapeHtml(language)}` : "";
        return `<div class="code-block">${badge}<pre><code class="hljs${cls}">${body}</code></pre></div>\n`;
      },
      // Raw HTML in the docs is text (`<domain>`, `<id>` are placeholders); comments are markers for tools.
      html({ text }) {
        return text.trim().startsWith("<!--") ? "" : escapeHtml(text);
      },
      table(token) {
        return `<div class="table-wrap">${Renderer.prototype.table.call(this, token)}</div>\n`;
      },
      link({ href, title, tokens }) {
        const inner = this.parser.parseInline(tokens);
        const target = resolveLink(href, doc, docDir, context);
        const titleAttr = title ? ` title="${escapeHtml(title)}"` : "";
        if (target.kind === "external") return `<a href="${escapeHtml(href)}"${titleAttr}>${inner}</a>`;
        if (target.kind === "repository")
          return `<span class="repo-path" title="${escapeHtml(`In the repository: ${target.path}`)}">${inner}</span>`;
        // A link to a file in docs/ (a screenshot) is checked with the assets, which are copied.
        if (target.kind !== "asset") links.push({ from: doc.source, href, page: target.page, anchor: target.anchor });
        const url = `${target.page === doc.page ? "" : hrefFrom(doc.page, target.page)}${target.anchor ? `#${target.anchor}` : ""}`;
        return `<a href="${escapeHtml(url || "#")}"${titleAttr}>${inner}</a>`;
      },
      image({ href, title, text }) {
        const target = resolveLink(href, doc, docDir, context);
        if (target.kind === "external") return `<img src="${escapeHtml(href)}" alt="${escapeHtml(text)}">`;
        if (target.kind !== "asset") return escapeHtml(text);
        const titleAttr = title ? ` title="${escapeHtml(title)}"` : "";
        return `<img src="${escapeHtml(hrefFrom(doc.page, target.page))}" alt="${escapeHtml(text)}" loading="lazy"${titleAttr}>`;
      },
    },
  });
  const tokens = marked.lexer(markdown);
  const html = marked.parser(tokens);
  const title = headings.find((heading) => heading.depth === 1)?.text ?? doc.source;
  return { html, headings, links, title, tokens };
}

/** What a link in a doc points at: another page (and anchor), an asset in docs/, the repository outside docs/, or the web. */
function resolveLink(href, doc, docDir, context) {
  if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith("//")) return { kind: "external" };
  const [pathPart, anchor] = href.split("#", 2);
  if (pathPart === "") return { kind: "page", page: doc.page, anchor };
  const docPath = posix.normalize(posix.join(docDir, decodeURI(pathPart)));
  if (docPath.startsWith("..")) return { kind: "repository", path: posix.normalize(posix.join("docs", docPath)) };
  const cleaned = docPath.replace(/\/$/, "");
  if (cleaned.endsWith(".md")) {
    const target = context.pagesBySource.get(cleaned);
    // An unknown .md still counts as a page link, so the link check reports it.
    return { kind: "page", page: target?.page ?? `${cleaned.slice(0, -3)}.html`, anchor };
  }
  if (context.directories.has(cleaned))
    return { kind: "page", page: "index.html", anchor: `group-${slugify(cleaned)}` };
  context.assets.add(cleaned);
  return { kind: "asset", page: cleaned };
}

const plainMarked = new Marked({ gfm: true });

/** Sections of a doc for the search index: the text under each heading (h1–h3), tags stripped. */
function searchSections(docIndex, rendered) {
  const sections = [];
  let headingIndex = 0;
  let current = null;
  for (const token of rendered.tokens) {
    if (token.type === "heading") {
      const heading = rendered.headings[headingIndex++];
      if (heading && heading.depth <= 3) {
        current = { d: docIndex, h: heading.text, a: heading.id, x: "" };
        sections.push(current);
        continue;
      }
    }
    if (!current) {
      current = { d: docIndex, h: rendered.title, a: "", x: "" };
      sections.push(current);
    }
    if (token.type === "html") continue;
    const text = decodeEntities(plainMarked.parser([token]).replace(/<[^>]+>/g, " "))
      .replace(/\s+/g, " ")
      .trim();
    if (text) current.x += (current.x ? " " : "") + text;
  }
  return sections.filter((section) => section.x || section.a);
}

function sidebar(docs, current) {
  const groups = [];
  for (const doc of docs) {
    let group = groups.find((g) => g.name === doc.group);
    if (!group) {
      group = { name: doc.group, docs: [] };
      groups.push(group);
    }
    group.docs.push(doc);
  }
  return groups
    .map(
      (group) =>
        // A label, not a heading: the sidebar comes before the page's h1, which must be the first heading.
        `<p class="group">${escapeHtml(group.name)}</p><ul>${group.docs
          .map((doc) => {
            const currentAttr = doc.page === current ? ' aria-current="page"' : "";
            return `<li><a href="${escapeHtml(hrefFrom(current, doc.page))}"${currentAttr}>${escapeHtml(doc.title)}</a></li>`;
          })
          .join("")}</ul>`,
    )
    .join("");
}

function toc(headings) {
  const items = headings.filter((heading) => heading.depth === 2 || heading.depth === 3);
  if (items.length === 0) return "";
  return `<aside class="toc" aria-labelledby="toc-title"><h2 id="toc-title">On this page</h2><ul>${items
    .map(
      (heading) =>
        `<li class="depth-${heading.depth}"><a href="#${escapeHtml(heading.id)}">${escapeHtml(heading.text)}</a></li>`,
    )
    .join("")}</ul></aside>`;
}

function pager(docs, index, page) {
  const previous = docs[index - 1];
  const next = docs[index + 1];
  const link = (doc, rel, label) =>
    doc
      ? `<a class="${rel}" rel="${rel}" href="${escapeHtml(hrefFrom(page, doc.page))}"><span>${label}</span>${escapeHtml(doc.title)}</a>`
      : "<span></span>";
  return `<nav class="pager" aria-label="Previous and next page">${link(previous, "prev", "Previous")}${link(next, "next", "Next")}</nav>`;
}

/** The page shell: landmarks, skip link, search, theme toggle. No inline script or style (the site's CSP). */
function layout({ page, title, nav, main, aside }) {
  const root = hrefFrom(page, "index.html").replace(/index\.html$/, "") || "./";
  return `<!doctype html>
<html lang="en" data-root="${escapeHtml(root)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="opta-site" content="help">
<meta name="color-scheme" content="dark light">
<title>${escapeHtml(title)} · Opta help</title>
<link rel="icon" href="${root}favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="${root}help.css">
<script src="${root}help.js"></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<a class="brand" href="${root}index.html">Opta <span class="site">help</span></a>
<button type="button" class="menu" id="menu-toggle" aria-controls="sidebar" aria-expanded="false">Menu</button>
<form class="search" role="search" action="${root}index.html">
<label for="search-input" class="visually-hidden">Search the docs</label>
<input id="search-input" name="q" type="search" placeholder="Search the docs (press /)" autocomplete="off" role="combobox" aria-expanded="false" aria-controls="search-results" aria-autocomplete="list">
<ul id="search-results" class="search-results" role="listbox" aria-label="Search results" hidden></ul>
<p id="search-status" class="visually-hidden" role="status" aria-live="polite"></p>
</form>
<button type="button" class="theme" id="theme-toggle" aria-label="Switch to light theme">Light</button>
</header>
<div class="layout">
<nav class="sidebar" id="sidebar" aria-label="Documentation">${nav}</nav>
<main id="main" tabindex="-1">${main}</main>
${aside}
</div>
<footer class="foot"><p>Built from <code>docs/</code> of this Opta checkout.</p></footer>
</body>
</html>
`;
}

export async function buildHelp({ docs: docsDir, out }) {
  const docs = await listDocs(docsDir);
  const context = {
    pagesBySource: new Map(docs.map((doc) => [doc.source, doc])),
    directories: new Set(["adr"]),
    assets: new Set(),
  };
  const rendered = [];
  for (const doc of docs) {
    const markdown = await readFile(join(docsDir, doc.source), "utf8");
    const result = renderDoc(doc, markdown, context);
    doc.title = result.title;
    rendered.push(result);
  }

  // Every link between docs must land on a page and an anchor that exist.
  const anchors = new Map(docs.map((doc, i) => [doc.page, new Set(rendered[i].headings.map((h) => h.id))]));
  anchors.set("index.html", new Set(["group-adr", "group-guides"]));
  const broken = [];
  for (const result of rendered)
    for (const link of result.links) {
      const ids = anchors.get(link.page);
      if (!ids) broken.push(`${link.from}: ${link.href} (no such doc)`);
      else if (link.anchor && !ids.has(link.anchor))
        broken.push(`${link.from}: ${link.href} (no heading #${link.anchor})`);
    }
  for (const asset of context.assets) {
    try {
      await readFile(join(docsDir, asset));
    } catch {
      broken.push(`${asset} (no such file in docs/)`);
    }
  }
  if (broken.length > 0) {
    const error = new Error(
      `broken links in the docs:\n  ${broken.join("\n  ")}\nFix the link or the heading it names.`,
    );
    error.code = "HELP_BROKEN_LINK";
    error.broken = broken;
    throw error;
  }

  await rm(out, { recursive: true, force: true });
  await mkdir(join(out, "adr"), { recursive: true });
  for (const [i, doc] of docs.entries()) {
    const result = rendered[i];
    const main = `<article class="doc">${result.html}</article>${pager(docs, i, doc.page)}`;
    await writeFile(
      join(out, doc.page),
      layout({ page: doc.page, title: result.title, nav: sidebar(docs, doc.page), main, aside: toc(result.headings) }),
    );
  }
  await writeFile(
    join(out, "index.html"),
    layout({
      page: "index.html",
      title: "Docs",
      nav: sidebar(docs, "index.html"),
      main: indexMain(docs, rendered),
      aside: "",
    }),
  );
  for (const asset of context.assets) {
    await mkdir(join(out, dirname(asset)), { recursive: true });
    await copyFile(join(docsDir, asset), join(out, asset));
  }
  const index = {
    docs: docs.map((doc) => ({ p: doc.page, t: doc.title })),
    sections: docs.flatMap((_doc, i) => searchSections(i, rendered[i])),
  };
  await writeFile(join(out, "search-index.json"), JSON.stringify(index));
  // The design system's colours first (shared/theme.css: styles.css reads its custom properties),
  // then the components, then help's own layout and light values.
  const theme = await readFile(join(HERE, "../shared/theme.css"), "utf8");
  const shared = await readFile(join(HERE, "../shared/styles.css"), "utf8");
  const own = await readFile(join(HERE, "src/help.css"), "utf8");
  await writeFile(join(out, "help.css"), `${theme}\n${shared}\n${own}`);
  await copyFile(join(HERE, "src/help.js"), join(out, "help.js"));
  await copyFile(join(HERE, "src/favicon.svg"), join(out, "favicon.svg"));
  return { pages: docs.length + 1, sections: index.sections.length, out };
}

function indexMain(docs, rendered) {
  const summary = (result) => {
    const paragraph = result.tokens.find((token) => token.type === "paragraph");
    const text = paragraph ? decodeEntities(plainMarked.parser([paragraph]).replace(/<[^>]+>/g, "")).trim() : "";
    return text.length > 220 ? `${text.slice(0, 217).replace(/\s+\S*$/, "")}…` : text;
  };
  const groups = ["Guides", "Decisions"];
  return `<article class="doc home"><h1>Opta help</h1>
<p class="lead">The documentation of Opta Local: the <code>opta</code> CLI and its daemon, Code Desktop, Opta LMX and the platform. Search with <kbd>/</kbd>.</p>
${groups
  .map((group) => {
    const id = group === "Guides" ? "group-guides" : "group-adr";
    const items = docs
      .map((doc, i) => ({ doc, result: rendered[i] }))
      .filter(({ doc }) => doc.group === group)
      .map(
        ({ doc, result }) =>
          `<li class="card"><a href="${escapeHtml(doc.page)}">${escapeHtml(doc.title)}</a><p>${escapeHtml(summary(result))}</p></li>`,
      )
      .join("");
    return `<h2 id="${id}">${group}</h2><ul class="cards">${items}</ul>`;
  })
  .join("\n")}
</article>`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const options = parseArgs(process.argv.slice(2));
  try {
    const result = await buildHelp(options);
    console.log(
      `help: ${result.pages} pages, ${result.sections} search sections → ${relative(process.cwd(), result.out) || "."}`,
    );
  } catch (error) {
    if (error.code === "HELP_BROKEN_LINK") {
      console.error(`error: ${error.message} [HELP_BROKEN_LINK]`);
      process.exit(1);
    }
    throw error;
  }
}
