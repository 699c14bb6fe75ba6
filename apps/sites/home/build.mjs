// Builds the home site (the bare <domain>) into dist/: one static page, the design system and three
// real Code Desktop screenshots from docs/screenshots/, re-encoded small. No script beyond theme.js.
// Budget: < 100 KB transferred for the page and everything it loads (checked by the all-sites
// browser test, measured by `npm run bench:sites`).
import { fileURLToPath } from "node:url";
import { compressScreenshots } from "../shared/screenshots.mjs";
import { escapeHtml, page, siteLink, writeSite } from "../shared/static-site.mjs";

const DIST = fileURLToPath(new URL("./dist/", import.meta.url));

const SHOTS = [
  {
    name: "timeline",
    alt: "Code Desktop: the session rail, a streamed answer with thinking, code and a table, and the telemetry panel",
    caption: "A session in Code Desktop: thinking, a streamed answer, telemetry beside it.",
  },
  {
    name: "approval",
    alt: "Code Desktop asking to approve a run_command tool call, with its risk and the rule that asks",
    caption: "An approval card: the tool, its arguments, why it asks.",
  },
  {
    name: "daemon-panel",
    alt: "Code Desktop's daemon panel with the daemon's state, its log and the restart button",
    caption: "The daemon panel: state, log, restart.",
  },
];

const APPS = [
  {
    title: "opta CLI and daemon",
    text: "The daemon is the hub: it owns sessions (append-only JSONL on disk), the agent loop, tools, the permission gate and the sandbox, and talks to the models. <code>opta</code> drives it from a terminal: <code>opta chat</code>, <code>opta do</code>, the full-screen <code>opta tui</code>.",
  },
  {
    title: "Opta LMX",
    text: "An OpenAI-compatible inference server for GGUF models on your own machine (node-llama-cpp), with a dashboard for load, unload and live throughput. Any other provider (OpenAI, Anthropic, an OpenAI-compatible server) works beside it.",
  },
  {
    title: "Code Desktop",
    text: "A window onto the daemon: every session, streamed as it happens, approvals, diffs, telemetry and the daemon panel. It runs no model and keeps no state of its own; close it and the work goes on.",
  },
  {
    title: "The platform",
    text: "<code>opta platform start</code> serves these sites from one process on your box: accounts with single sign-on and <code>opta account login</code>, an end-to-end encrypted vault sync, status, the LMX hosts you register, install, docs and the course.",
  },
];

async function build() {
  const shots = await compressScreenshots(SHOTS.map((shot) => shot.name));
  const figures = shots.map((shot, index) => {
    const meta = SHOTS[index];
    const loading = index === 0 ? "" : ' loading="lazy"';
    return `      <figure>
        <img src="/screenshots/${shot.file}" width="${shot.width}" height="${shot.height}" alt="${escapeHtml(meta.alt)}"${loading}>
        <figcaption>${escapeHtml(meta.caption)}</figcaption>
      </figure>`;
  });
  const apps = APPS.map(
    (app) => `        <section class="card" aria-labelledby="app-${app.title.replaceAll(/\W+/g, "-")}">
          <h3 id="app-${app.title.replaceAll(/\W+/g, "-")}">${app.title}</h3>
          <p>${app.text}</p>
        </section>`,
  ).join("\n");
  const body = `      <section class="hero">
        <h1>Opta: an AI coding agent that runs on your machine</h1>
        <p class="lead">A daemon that owns your coding sessions, models served from your own hardware or any
        provider you choose, and three ways to work with it — the terminal, a full-screen TUI and Code Desktop.
        Linux and macOS (on Windows all but <code>run_command</code>, which is not supported there yet); your code and keys stay with you.</p>
        <div class="actions">
          ${siteLink("init", "/", "Install Opta", ' class="button primary"')}
          ${siteLink("learn", "/", "Take the course", ' class="button"')}
          ${siteLink("help", "/", "Read the docs", ' class="button"')}
        </div>
      </section>
${figures[0]}
      <h2>The three apps and the platform</h2>
      <div class="grid">
${apps}
      </div>
      <h2>What it looks like</h2>
${figures.slice(1).join("\n")}
      <h2>Start</h2>
      <ol class="steps">
        <li>${siteLink("init", "/", "Install")} the <code>opta</code> command (Node ≥ 20.19) and run <code>opta doctor</code>.</li>
        <li>Point it at a model: <code>opta lmx</code> on this machine, or a provider key.</li>
        <li>Ask: <code>opta chat</code>, or <code>opta do "fix the failing test"</code>, and watch it in Code Desktop.</li>
        <li>Learn the layers, the modes and what to do when a session misbehaves: ${siteLink("learn", "/", "the course")}.</li>
      </ol>`;
  const files = {
    "index.html": page({
      site: "home",
      siteLabel: "",
      title: "Opta — a local-first AI coding agent",
      description: "Opta: the opta CLI and daemon, Opta LMX and Code Desktop — a local-first AI coding agent.",
      body,
    }),
  };
  for (const shot of shots) files[`screenshots/${shot.file}`] = shot.bytes;
  await writeSite(DIST, files);
  const total = Object.values(files).reduce((sum, content) => sum + Buffer.byteLength(content), 0);
  console.log(
    `home: ${Object.keys(files).length} files, ${(total / 1024).toFixed(1)} KB (+ opta.css, theme.js) → ${DIST}`,
  );
}

await build();
