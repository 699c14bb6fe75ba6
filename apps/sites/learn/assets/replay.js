// Plays back a recorded session (session.jsonl, the daemon's own event lines) the way a client
// would see it arrive: each event at its recorded pace (gaps capped, so a wait on an approval does
// not stall the page), the answer text folded from turn.token deltas. Idle until the user presses Play.
const SPEEDS = { 1: 1, 2: 0.5, 4: 0.25 };
const MAX_GAP_MS = 700;

function describe(event) {
  switch (event.event) {
    case "session.start":
      return `${event.title} · ${event.mode} · ${event.model}`;
    case "turn.start":
      return `${event.mode} · ${event.permission} · "${event.text}"`;
    case "turn.system":
      return `system prompt ${event.bytes} B · ${event.parts.map((part) => part.name).join(", ")}`;
    case "turn.thinking":
    case "turn.token":
      return JSON.stringify(event.delta);
    case "tool.call":
      return `${event.name} ${JSON.stringify(event.args)}`;
    case "permission.request":
      return `${event.name} · ${event.risk} · ${event.reason ?? ""}${event.sandbox ? ` · sandbox ${event.sandbox}` : ""}`;
    case "permission.resolved":
      return `${event.decision} by ${event.by}`;
    case "tool.result":
      return `${event.name} ${event.ok ? "ok" : "failed"} · ${event.summary ?? ""} · ${event.rule ?? `allowed by ${event.allowedBy}`}`;
    case "turn.done":
      return `${event.tokens} tokens · ${event.tokensPerSec} tok/s · ${event.toolCalls} tools · ${event.steps} steps · ${event.stopReason}`;
    default:
      return "";
  }
}

function start(root) {
  const list = root.querySelector(".events");
  const answer = root.querySelector("output");
  const button = root.querySelector("button[data-play]");
  const speed = root.querySelector("select");
  const status = root.querySelector("[data-replay-status]");
  let timer;

  function show(event) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "event-name";
    name.textContent = `#${event.seq} ${event.event}`;
    item.append(name, ` ${describe(event)}`);
    item.dataset.event = event.event;
    list.append(item);
    list.scrollTop = list.scrollHeight;
    if (event.event === "turn.token") answer.textContent += event.delta;
  }

  button.addEventListener("click", async () => {
    clearTimeout(timer);
    list.replaceChildren();
    answer.textContent = "";
    button.disabled = true;
    status.textContent = "Playing…";
    const response = await fetch(root.dataset.src);
    const events = (await response.text())
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => JSON.parse(line));
    const factor = SPEEDS[speed.value] ?? 1;
    let index = 0;
    const step = () => {
      const event = events[index];
      show(event);
      index += 1;
      if (index === events.length) {
        button.disabled = false;
        button.textContent = "Play again";
        status.textContent = `Done: ${events.length} events replayed.`;
        root.dataset.done = "true";
        return;
      }
      const gap = Date.parse(events[index].ts) - Date.parse(event.ts);
      timer = setTimeout(step, Math.min(MAX_GAP_MS, Math.max(0, gap)) * factor);
    };
    step();
  });
}

for (const root of document.querySelectorAll("[data-replay]")) start(root);
