// The status page: everything on it comes from /summary.json on this host, so it works while the
// other sites are down (and shows the last summary the server or this browser could read).
const LABELS = {
  operational: "Operational",
  degraded: "Degraded performance",
  partial_outage: "Partial outage",
  major_outage: "Major outage",
};
const OVERALL = {
  operational: "All systems operational",
  degraded: "Some systems are slow",
  partial_outage: "Some systems are failing",
  major_outage: "Major outage",
};
const INCIDENT_LABELS = {
  investigating: "Investigating",
  identified: "Identified",
  monitoring: "Monitoring",
  resolved: "Resolved",
};
const STORE_KEY = "opta-status-summary";
const REFRESH_MS = 30_000;
let windowName = "90d";
let current;
/** Whether `current` is the browser's copy because the server could not be reached. */
let offline = false;

const $ = (id) => document.getElementById(id);

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  for (const child of children) node.append(child);
  return node;
}

const percent = (value) => (value === null ? "no data" : `${(value * 100).toFixed(value === 1 ? 0 : 2)}%`);
const when = (iso) => new Date(iso).toLocaleString();

function barClass(bar) {
  if (bar.uptime === null) return "bar none";
  if (bar.uptime >= 0.999) return "bar up";
  if (bar.uptime >= 0.95) return "bar partial";
  return "bar down";
}

function renderComponent(component) {
  const bars = element("div", { class: "bars", "aria-hidden": "true" });
  for (const bar of component.bars[windowName]) {
    bars.append(element("span", { class: barClass(bar), title: `${when(bar.start)}: ${percent(bar.uptime)}` }));
  }
  const label = component.maintenance ? `${LABELS[component.status]} · maintenance` : LABELS[component.status];
  return element(
    "li",
    { class: "component", "data-component": component.id, "data-status": component.status },
    element(
      "div",
      { class: "component-head" },
      element("span", { class: "name" }, component.name),
      element("span", { class: "state", "data-state": component.status }, label),
    ),
    bars,
    element(
      "p",
      { class: "uptime" },
      `Uptime ${windowName}: `,
      element("span", { class: "uptime-value", "data-window": windowName }, percent(component.uptime[windowName])),
      component.lastCheck?.error ? ` · last check: ${component.lastCheck.error}` : "",
    ),
  );
}

function renderIncident(incident, names) {
  const timeline = element("ol", { class: "timeline" });
  for (const update of [...incident.updates].reverse()) {
    timeline.append(
      element(
        "li",
        { "data-update-status": update.status },
        element("strong", {}, INCIDENT_LABELS[update.status]),
        ` — ${update.body} `,
        element("time", { datetime: update.at }, when(update.at)),
      ),
    );
  }
  const about = incident.componentId ? names.get(incident.componentId) : undefined;
  return element(
    "article",
    { class: "incident", id: incident.id, "data-incident": incident.id, "data-status": incident.status },
    element("h3", {}, incident.title),
    element(
      "p",
      { class: "incident-meta" },
      element("span", { class: "incident-status" }, INCIDENT_LABELS[incident.status]),
      about ? ` · ${about}` : "",
      ` · ${incident.impact} impact · opened ${when(incident.createdAt)}`,
      incident.resolvedAt ? ` · resolved ${when(incident.resolvedAt)}` : "",
    ),
    timeline,
  );
}

function render(summary, fromBrowser) {
  current = summary;
  offline = fromBrowser;
  const overall = $("overall");
  overall.dataset.status = summary.status;
  overall.textContent = OVERALL[summary.status];
  const stale = $("stale");
  stale.hidden = !(summary.stale || fromBrowser);
  stale.textContent = fromBrowser
    ? `The status server cannot be reached; this is what it said at ${when(summary.generatedAt)}.`
    : `The status database cannot be read; this is the last state known, from ${when(summary.generatedAt)}.`;
  $("components").replaceChildren(...summary.components.map(renderComponent));
  const names = new Map(summary.components.map((component) => [component.id, component.name]));
  $("incidents").replaceChildren(...summary.incidents.map((incident) => renderIncident(incident, names)));
  $("no-incidents").hidden = summary.incidents.length > 0;
  $("maintenance-section").hidden = summary.maintenance.length === 0;
  $("maintenance").replaceChildren(
    ...summary.maintenance.map((window) =>
      element(
        "li",
        { "data-maintenance": window.id },
        `${window.active ? "Now" : "Planned"}: ${window.title} (${when(window.startsAt)} – ${when(window.endsAt)})`,
      ),
    ),
  );
  $("generated").textContent = `Checked ${when(summary.generatedAt)}.`;
  document.body.dataset.generatedAt = summary.generatedAt;
}

async function refresh() {
  try {
    const answer = await fetch("/summary.json", { headers: { accept: "application/json" }, cache: "no-store" });
    if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
    const summary = await answer.json();
    render(summary, false);
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify(summary));
    } catch {
      // storage full or off: the page still works
    }
  } catch {
    const kept = localStorage.getItem(STORE_KEY);
    if (kept && !current) render(JSON.parse(kept), true);
    else if (current) render(current, true);
    else $("overall").textContent = "The status server cannot be reached right now.";
  }
}

for (const button of document.querySelectorAll("[data-window]")) {
  button.addEventListener("click", () => {
    windowName = button.dataset.window;
    for (const other of document.querySelectorAll("button[data-window]")) {
      other.setAttribute("aria-pressed", String(other === button));
    }
    if (current) render(current, offline);
  });
}

refresh();
setInterval(refresh, REFRESH_MS);
