// Builds the learn site (learn.<domain>) into dist/: the course's lessons from course/*.md rendered
// at build time, the feature explorer from features.mjs, and a recorded session replayed by one
// small script. Every page is static HTML; the only scripts are theme.js and, on the explorer,
// replay.js. Budget: < 100 KB transferred per page (checked by the all-sites browser test).
import { copyFile, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Marked } from "marked";
import { escapeHtml, page, renderMarkdown, siteLink, writeSite } from "../shared/static-site.mjs";
import { FEATURE_GROUPS } from "./features.mjs";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const DIST = join(HERE, "dist");
const inline = new Marked();

/** Each lesson's name in the course nav (its title is longer). */
const SHORT = {
  layers: "Three layers",
  "chat-and-do": "Chat and Do",
  permissions: "Permissions and sandbox",
  triage: "Session triage",
  recovery: "Recovery runbook",
  shortcuts: "Keyboard shortcuts",
};

/** What the course index says of each lesson (by its file's slug). */
const SUMMARIES = {
  layers: "Clients, the daemon and inference: what each holds, and which one to restart.",
  "chat-and-do": "A conversation that asks, or the agent loop that executes — and how to switch.",
  permissions: "The gate that allows, asks or denies each tool call, and the sandbox commands run in.",
  triage: "Five steps to run, in order, when a session does something unexpected.",
  recovery: "Capture, contain, reconnect, replay, write it down.",
  shortcuts: "The keys of opta tui and Code Desktop.",
};

async function lessons() {
  const files = (await readdir(join(HERE, "course"))).filter((name) => name.endsWith(".md")).sort();
  return Promise.all(
    files.map(async (file) => {
      const source = await readFile(join(HERE, "course", file), "utf8");
      const slug = file.replace(/^\d+-/, "").replace(/\.md$/, "");
      const title = /^# (.+)$/m.exec(source)?.[1] ?? slug;
      return { slug, title, html: renderMarkdown(source), summary: SUMMARIES[slug] ?? "" };
    }),
  );
}

function courseNav(all, current) {
  const items = [{ slug: "", title: "Overview" }, ...all, { slug: "explorer", title: "Feature explorer" }]
    .map(({ slug, title }) => {
      const href = slug === "" ? "/" : `/${slug}/`;
      const mark = slug === current ? ' aria-current="page"' : "";
      return `<li><a href="${href}"${mark}>${escapeHtml(SHORT[slug] ?? title)}</a></li>`;
    })
    .join("\n          ");
  return `<nav aria-label="Course">
        <ol>
          ${items}
        </ol>
      </nav>`;
}

function pager(all, index) {
  const previous = index === 0 ? { slug: "", title: "Overview" } : all[index - 1];
  const next = index === all.length - 1 ? { slug: "explorer", title: "Feature explorer" } : all[index + 1];
  return `<nav class="pager" aria-label="Previous and next lesson">
          <a href="${previous.slug ? `/${previous.slug}/` : "/"}">← ${escapeHtml(previous.title)}</a>
          <a href="/${next.slug}/">${escapeHtml(next.title)} →</a>
        </nav>`;
}

function coursePage(all, current, title, article, scripts) {
  return page({
    site: "learn",
    siteLabel: "learn",
    title: `${title} · Learn Opta`,
    description: `Learn Opta: ${title}`,
    scripts,
    body: `      <div class="course">
      ${courseNav(all, current)}
      <article>
${article}
      </article>
      </div>`,
  });
}

function overview(all) {
  const cards = all
    .map(
      (lesson, index) => `          <section class="card">
            <h3><a href="/${lesson.slug}/">${index + 1}. ${escapeHtml(lesson.title)}</a></h3>
            <p>${escapeHtml(lesson.summary)}</p>
          </section>`,
    )
    .join("\n");
  return `        <h1>Learn Opta</h1>
        <p class="lead">A short course on working with Opta day to day: how its parts fit, how the agent
        acts and what it may touch, and what to do — in order — when a session goes wrong.</p>
        <h2>Lessons</h2>
        <div class="grid">
${cards}
          <section class="card">
            <h3><a href="/explorer/">${all.length + 1}. Feature explorer</a></h3>
            <p>Every feature by group — TUI, daemon, intelligence, automation, security — and a recorded session replayed event by event.</p>
          </section>
        </div>
        <p>New here? ${siteLink("init", "/", "Install Opta")} first; the full reference is in ${siteLink("help", "/", "the docs")}.</p>`;
}

function explorer(eventCount) {
  const groups = FEATURE_GROUPS.map(
    ({ group, features }) => `        <h2 id="${group.toLowerCase()}">${group}</h2>
        <div class="explorer">
${features
  .map(
    (feature) => `          <details>
            <summary>${escapeHtml(feature.name)}</summary>
            <p>${inline.parseInline(feature.what, { async: false })}</p>
            <p class="muted">Reach it: ${inline.parseInline(feature.how, { async: false })} · details: ${siteLink("help", `/${feature.doc.replace(/\.md$/, ".html")}`, feature.doc)}</p>
          </details>`,
  )
  .join("\n")}
        </div>`,
  ).join("\n");
  return `        <h1>Feature explorer</h1>
        <p class="lead">What Opta can do, in five groups. Open a feature for what it does and where to reach it.</p>
        <h2 id="replay-heading">A session, replayed</h2>
        <p>A Do turn as the daemon records it: the JSONL lines of one session (the same objects the
        WebSocket sends to Code Desktop and the TUI), played back at their recorded pace. Watch the
        reads run without asking, the edit and the command wait for approval, and the answer stream in.</p>
        <section class="replay" data-replay data-src="/session.jsonl" aria-labelledby="replay-heading">
          <div class="row">
            <button type="button" data-play class="primary">Play</button>
            <label class="check">Speed
              <select name="speed">
                <option value="1">1×</option>
                <option value="2">2×</option>
                <option value="4">4×</option>
              </select>
            </label>
            <span data-replay-status class="muted" role="status">${eventCount} events, ready.</span>
          </div>
          <ol class="events" aria-label="Events"></ol>
          <output aria-label="The answer, as it streams"></output>
        </section>
        <p class="muted"><a href="/session.jsonl">Download the session (JSONL)</a></p>
${groups}`;
}

async function build() {
  const all = await lessons();
  const recorded = await readFile(join(HERE, "assets", "session.jsonl"), "utf8");
  const eventCount = recorded.split("\n").filter((line) => line.trim() !== "").length;
  const files = {
    "index.html": coursePage(all, "", "Learn Opta", overview(all), []),
    "explorer/index.html": coursePage(all, "explorer", "Feature explorer", explorer(eventCount), ["/replay.js"]),
  };
  all.forEach((lesson, index) => {
    files[`${lesson.slug}/index.html`] = coursePage(
      all,
      lesson.slug,
      lesson.title,
      `${lesson.html}\n        ${pager(all, index)}`,
      [],
    );
  });
  await writeSite(DIST, files);
  await copyFile(join(HERE, "assets", "session.jsonl"), join(DIST, "session.jsonl"));
  await copyFile(join(HERE, "assets", "replay.js"), join(DIST, "replay.js"));
  console.log(`learn: ${Object.keys(files).length} pages → ${DIST}`);
}

await build();
