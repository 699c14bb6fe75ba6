// Opta LMX dashboard: plain ES module, no build step, no dependencies. Reads the server-sent event
// stream /dashboard/api/events with fetch() (EventSource cannot send the Authorization header, and
// the API key must never ride in a URL), and updates the page in place, so that keyboard focus
// survives every snapshot.

const KEY_STORAGE = "opta.lmx.dashboard.key";
const RECONNECT_MS = 2000;

const $ = (id) => document.getElementById(id);

/** The API key, kept for this tab only (sessionStorage: gone when the tab closes, never a cookie). */
let apiKey = sessionStorage.getItem(KEY_STORAGE) ?? "";
let stream;
let reconnectTimer;
/** Model id → "load" | "unload" while the page waits for that call. */
const pending = new Map();
/** Model id → its row's cells and button. */
const rows = new Map();
/** Pull key → its list item. */
const pullItems = new Map();

function authHeaders(extra = {}) {
  return apiKey ? { ...extra, Authorization: `Bearer ${apiKey}` } : extra;
}

function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "–";
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  return `${bytes} B`;
}

function formatRate(value) {
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

/** Sets text only when it changed (no needless DOM mutations for assistive technology to announce). */
function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

function setConnection(state, text) {
  const element = $("connection");
  element.dataset.state = state;
  setText(element, text);
}

function showAlert(text) {
  const alert = $("alert");
  setText(alert, text);
  alert.hidden = false;
}

function clearAlert() {
  $("alert").hidden = true;
}

/** An error body from LMX ({"error":{"code","message"}}) as one sentence with its code. */
async function errorText(response) {
  try {
    const body = await response.json();
    if (body?.error?.message) return `${body.error.code}: ${body.error.message}`;
  } catch {
    // Not JSON: fall through to the status line.
  }
  return `HTTP ${response.status} ${response.statusText}`;
}

function showKeyPanel(reason) {
  $("key-panel").hidden = false;
  if (reason) setText($("key-reason"), reason);
  setConnection("locked", "Key required");
  $("key-input").focus();
}

// --- models ---------------------------------------------------------------------------------

const COLUMNS = [
  ["id", "Model"],
  ["size", "Size"],
  ["quantization", "Quantisation"],
  ["context", "Context"],
  ["state", "State"],
  ["estimate", "Memory (estimate)"],
  ["measured", "Memory (measured)"],
  ["kv", "KV cache in use"],
  ["actions", "Actions"],
];

function createRow(id) {
  const tr = document.createElement("tr");
  tr.dataset.model = id;
  const cells = {};
  for (const [key, label] of COLUMNS) {
    const td = document.createElement(key === "id" ? "th" : "td");
    if (key === "id") {
      td.scope = "row";
      td.className = "model-id";
    }
    td.dataset.label = label;
    tr.append(td);
    cells[key] = td;
  }
  const stateText = document.createElement("span");
  stateText.className = "state";
  const progress = document.createElement("progress");
  progress.max = 1;
  progress.hidden = true;
  progress.setAttribute("aria-label", `Loading ${id}`);
  stateText.append(document.createElement("span"), progress);
  cells.state.append(stateText);
  const button = document.createElement("button");
  button.type = "button";
  button.className = "button small";
  // aria-disabled, not disabled: a disabled button drops keyboard focus to <body> mid-action.
  button.addEventListener("click", () => {
    if (button.getAttribute("aria-disabled") !== "true") void act(id, button.dataset.action);
  });
  cells.actions.append(button);
  setText(cells.id, id);
  const row = { tr, cells, stateText, progress, button };
  rows.set(id, row);
  return row;
}

function renderModel(model) {
  const row = rows.get(model.id) ?? createRow(model.id);
  const { cells, stateText, progress, button } = row;
  setText(cells.size, formatBytes(model.size_bytes));
  setText(cells.quantization, model.quantization ?? "–");
  const context = model.context_size
    ? `${model.context_size.toLocaleString("en")}${model.parallel ? ` × ${model.parallel}` : ""}`
    : "–";
  setText(
    cells.context,
    model.train_context_size ? `${context} (trained ${model.train_context_size.toLocaleString("en")})` : context,
  );
  const action = pending.get(model.id);
  const state = action === "load" && model.state !== "loaded" ? "loading" : model.state;
  stateText.dataset.state = state;
  let label = { loaded: "loaded", loading: "loading", "not-loaded": "not loaded", invalid: "invalid" }[state] ?? state;
  if (state === "loading" && model.load_progress !== null) label = `loading ${Math.round(model.load_progress * 100)}%`;
  if (action === "unload" && model.state === "loaded") label = "unloading";
  setText(stateText.firstChild, label);
  progress.hidden = state !== "loading";
  if (state === "loading") progress.value = model.load_progress ?? 0;
  if (model.error) stateText.title = model.error;
  setText(
    cells.estimate,
    model.fits === false
      ? `${formatBytes(model.memory_estimate_bytes)} (does not fit)`
      : formatBytes(model.memory_estimate_bytes),
  );
  cells.estimate.classList.toggle("nofit", model.fits === false);
  setText(cells.measured, formatBytes(model.memory_measured_bytes));
  setText(
    cells.kv,
    model.kv_used_tokens === null
      ? "–"
      : `${model.kv_used_tokens.toLocaleString("en")} tokens · ${formatBytes(model.kv_used_bytes)}`,
  );
  const next = model.state === "loaded" ? "unload" : "load";
  button.dataset.action = next;
  setText(
    button,
    action === "load" ? "Loading…" : action === "unload" ? "Unloading…" : next === "load" ? "Load" : "Unload",
  );
  button.setAttribute("aria-label", `${next === "load" ? "Load" : "Unload"} ${model.id}`);
  const unavailable = action !== undefined || model.state === "invalid" || model.state === "loading";
  button.setAttribute("aria-disabled", String(unavailable));
  return row.tr;
}

function renderModels(snapshot) {
  const body = $("models-body");
  const seen = new Set();
  let previous = null;
  for (const model of snapshot.models) {
    seen.add(model.id);
    const tr = renderModel(model);
    // Keep the listing's order without re-inserting rows that are already in place.
    const expected = previous ? previous.nextSibling : body.firstChild;
    if (expected !== tr) body.insertBefore(tr, expected);
    previous = tr;
  }
  for (const [id, row] of rows) {
    if (seen.has(id)) continue;
    row.tr.remove();
    rows.delete(id);
  }
  $("models-empty").hidden = snapshot.models.length > 0;
  $("models-table").hidden = snapshot.models.length === 0;
  setText($("models-dir"), `Directory: ${snapshot.models_dir}`);
}

/** Loads or unloads a model; the stream shows its progress, this call its outcome. */
async function act(id, action) {
  if (pending.has(id)) return;
  pending.set(id, action);
  const row = rows.get(id);
  if (row) {
    row.button.setAttribute("aria-disabled", "true");
    setText(row.button, action === "load" ? "Loading…" : "Unloading…");
  }
  try {
    const response = await fetch(`/dashboard/api/models/${action}`, {
      method: "POST",
      headers: authHeaders({ "Content-Type": "application/json" }),
      body: JSON.stringify({ model: id }),
    });
    if (!response.ok) showAlert(`Could not ${action} ${id}: ${await errorText(response)}`);
    else clearAlert();
  } catch (error) {
    showAlert(`Could not ${action} ${id}: LMX did not answer (${error.message}). Is it still running?`);
  } finally {
    pending.delete(id);
    await refresh();
  }
}

/** One snapshot outside the stream, after an action (the stream's next tick may be up to 1 s away). */
async function refresh() {
  try {
    const response = await fetch("/dashboard/api/state", { headers: authHeaders(), cache: "no-store" });
    if (response.ok) render(await response.json());
  } catch {
    // The stream reconnects by itself; nothing to add here.
  }
}

// --- pulls ----------------------------------------------------------------------------------

function renderPulls(pulls) {
  const list = $("pulls");
  const seen = new Set();
  for (const pull of pulls) {
    const key = `${pull.pid}|${pull.startedAt}|${pull.source}`;
    seen.add(key);
    let item = pullItems.get(key);
    if (!item) {
      item = document.createElement("li");
      item.className = "pull";
      const source = document.createElement("span");
      source.className = "source";
      source.textContent = pull.files.length > 0 ? pull.files.join(", ") : pull.source;
      const progress = document.createElement("progress");
      progress.max = 1;
      progress.setAttribute("aria-label", `Download of ${pull.source}`);
      const figures = document.createElement("span");
      figures.className = "muted small";
      item.append(source, progress, figures);
      list.append(item);
      pullItems.set(key, item);
    }
    const [source, progress, figures] = item.children;
    if (pull.files.length > 0) setText(source, pull.files.join(", "));
    if (pull.fraction === null) progress.removeAttribute("value");
    else progress.value = pull.fraction;
    const percent = pull.fraction === null ? "" : ` (${Math.floor(pull.fraction * 100)}%)`;
    setText(
      figures,
      `${formatBytes(pull.downloadedBytes)} of ${pull.totalBytes ? formatBytes(pull.totalBytes) : "?"}${percent} · ${pull.source}`,
    );
  }
  for (const [key, item] of pullItems) {
    if (seen.has(key)) continue;
    item.remove();
    pullItems.delete(key);
  }
  $("pulls-empty").hidden = pulls.length > 0;
}

// --- snapshot -------------------------------------------------------------------------------

function render(snapshot) {
  setText($("version"), `v${snapshot.version}`);
  const { metrics } = snapshot;
  setText($("metric-tokens"), formatRate(metrics.tokens_per_second));
  setText($("metric-requests"), formatRate(metrics.requests_per_second));
  setText($("metric-queue"), String(metrics.queue_depth));
  setText($("metric-active"), String(metrics.active_sequences));
  setText($("metric-memory"), formatBytes(metrics.process_memory_bytes));
  setText($("metric-served"), metrics.requests_served.toLocaleString("en"));
  renderModels(snapshot);
  renderPulls(snapshot.pulls);
}

function handleEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  if (name === "snapshot" && data.length > 0) render(JSON.parse(data.join("\n")));
}

function scheduleReconnect() {
  clearTimeout(reconnectTimer);
  reconnectTimer = setTimeout(() => void connect(), RECONNECT_MS);
}

async function connect() {
  stream?.abort();
  const controller = new AbortController();
  stream = controller;
  setConnection("connecting", "Connecting…");
  let response;
  try {
    response = await fetch("/dashboard/api/events", {
      headers: authHeaders({ Accept: "text/event-stream" }),
      cache: "no-store",
      signal: controller.signal,
    });
  } catch {
    if (stream !== controller) return;
    setConnection("offline", "Offline, retrying…");
    scheduleReconnect();
    return;
  }
  if (response.status === 401) {
    // A stored key that no longer works (LMX restarted with another): drop it and ask again.
    apiKey = "";
    sessionStorage.removeItem(KEY_STORAGE);
    showKeyPanel(`${await errorText(response)}. Enter the key LMX was started with (--api-key).`);
    return;
  }
  if (!response.ok) {
    showAlert(`The dashboard feed was refused: ${await errorText(response)}`);
    setConnection("offline", "Refused");
    return;
  }
  $("key-panel").hidden = true;
  $("forget-key").hidden = !apiKey;
  setConnection("live", "Live");
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end = buffer.indexOf("\n\n");
      while (end >= 0) {
        handleEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf("\n\n");
      }
    }
  } catch {
    // The connection dropped (LMX restarted, the network went away): reconnect below.
  }
  if (stream !== controller) return;
  setConnection("offline", "Disconnected, retrying…");
  scheduleReconnect();
}

/**
 * /health is open and says whether a key is needed, so a page without one asks for it at once
 * instead of first drawing a refused request (and a console error) from the feed.
 */
async function start() {
  try {
    const health = await (await fetch("/health", { cache: "no-store" })).json();
    if (health.auth_required && !apiKey) {
      showKeyPanel();
      return;
    }
  } catch {
    // LMX unreachable: connect() below reports it and retries.
  }
  void connect();
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  apiKey = $("key-input").value.trim();
  $("key-input").value = "";
  if (apiKey) sessionStorage.setItem(KEY_STORAGE, apiKey);
  void connect();
});

$("forget-key").addEventListener("click", () => {
  apiKey = "";
  sessionStorage.removeItem(KEY_STORAGE);
  stream?.abort();
  stream = undefined;
  $("forget-key").hidden = true;
  showKeyPanel();
});

void start();
