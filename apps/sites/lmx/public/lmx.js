// lmx.<domain>: the signed-in user's LMX hosts with the health the status checks last saw, and a
// link to each host's own dashboard. Same-origin calls only (the site's CSP allows no other).
const LABELS = {
  operational: "Operational",
  degraded: "Slow",
  partial_outage: "Failing",
  major_outage: "Down",
};
const REFRESH_MS = 15_000;
const $ = (id) => document.getElementById(id);
const say = (text) => {
  $("message").textContent = text;
};

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  for (const child of children) node.append(child);
  return node;
}

async function call(path, init = {}) {
  const answer = await fetch(path, {
    credentials: "same-origin",
    ...init,
    headers: { accept: "application/json", ...(init.body ? { "content-type": "application/json" } : {}) },
  });
  let body = {};
  if (answer.status !== 204) {
    try {
      body = await answer.json();
    } catch {
      body = {};
    }
  }
  if (answer.status === 401) {
    // Signed out (or the session ended): sign in on accounts, then come back here.
    location.assign(body.error?.signIn ?? "/");
    throw new Error("signed out");
  }
  return { ok: answer.ok, status: answer.status, body };
}

function lastCheck(host) {
  if (!host.lastCheck) return "not checked yet";
  const at = new Date(host.lastCheck.at).toLocaleString();
  return host.lastCheck.ok
    ? `answered in ${host.lastCheck.latencyMs} ms at ${at}`
    : `${host.lastCheck.error ?? "failed"} at ${at}`;
}

function renderHost(host) {
  const remove = element("button", { type: "button", class: "remove" }, "Remove");
  remove.addEventListener("click", async () => {
    if (!confirm(`Remove ${host.name}?`)) return;
    const answer = await call(`/api/hosts/${encodeURIComponent(host.id)}`, { method: "DELETE" });
    say(answer.ok ? `Removed ${host.name}.` : (answer.body.error?.message ?? `HTTP ${answer.status}`));
    await refresh();
  });
  const uptime = host.uptime24h === null ? "no data" : `${(host.uptime24h * 100).toFixed(1)}%`;
  return element(
    "li",
    { class: "host", "data-host": host.id, "data-status": host.status },
    element(
      "div",
      { class: "host-head" },
      element("span", { class: "name" }, host.name),
      element(
        "span",
        { class: "state", "data-state": host.status },
        host.lastCheck ? LABELS[host.status] : "Waiting for the first check",
      ),
    ),
    element("p", { class: "url" }, element("code", {}, host.url)),
    element("p", { class: "muted" }, `Last check: ${lastCheck(host)} · uptime 24 h: ${uptime}`),
    element(
      "p",
      {},
      element(
        "a",
        { href: host.dashboardUrl, class: "dashboard", rel: "noopener noreferrer", target: "_blank" },
        "Open dashboard",
      ),
      " ",
      remove,
    ),
  );
}

async function refresh() {
  const answer = await call("/api/hosts");
  if (!answer.ok) {
    say(answer.body.error?.message ?? `Could not read your hosts (HTTP ${answer.status}).`);
    return;
  }
  $("who").textContent = `Signed in as ${answer.body.user.email}`;
  $("hosts").replaceChildren(...answer.body.hosts.map(renderHost));
  $("empty").hidden = answer.body.hosts.length > 0;
}

$("add").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const answer = await call("/api/hosts", {
    method: "POST",
    body: JSON.stringify({ name: form.elements.name.value, url: form.elements.url.value }),
  });
  if (answer.ok) {
    say(`Added ${answer.body.name}; its first check runs within a minute.`);
    form.reset();
    await refresh();
  } else say(answer.body.error?.message ?? `HTTP ${answer.status}`);
});

refresh().catch((error) => say(`The page failed: ${error.message}`));
setInterval(() => refresh().catch(() => undefined), REFRESH_MS);
