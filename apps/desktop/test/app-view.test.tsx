// @vitest-environment happy-dom
import { DaemonApiError } from "@opta/daemon-client";
import { act } from "react";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { eventFactory } from "./events.js";
import { button, type Mounted, mountApp, settle, setValue, setViewport } from "./harness.js";

let mounted: Mounted | undefined;
beforeEach(() => setViewport(1440));
afterEach(() => {
  mounted?.unmount();
  mounted = undefined;
  document.body.innerHTML = "";
});

async function mount(...args: Parameters<typeof mountApp>) {
  mounted = await mountApp(...args);
  return mounted;
}

describe("App", () => {
  it("lists sessions, streams the selected one and resolves an approval from its card", async () => {
    const { container, streams, client, flushFrames } = await mount();
    expect(container.querySelector(".rail-title")?.textContent).toBe("refactor auth");
    expect(client.subscribe).toHaveBeenCalledWith("s-1", expect.objectContaining({ afterSeq: 0 }));
    const stream = streams[0]!;
    const e = eventFactory("s-1");
    stream.onEvent(
      e({
        event: "turn.start",
        turnId: "t-1",
        role: "user",
        text: "write it",
        mode: "chat",
        model: "m",
        permission: "safe",
      }),
    );
    stream.onEvent(e({ event: "turn.token", turnId: "t-1", delta: "On ", model: "m" }));
    stream.onEvent(e({ event: "turn.token", turnId: "t-1", delta: "it.", model: "m" }));
    stream.onEvent(
      e({ event: "tool.call", turnId: "t-1", callId: "c-1", name: "write_file", args: { path: "a.txt" } }),
    );
    stream.onEvent(
      e({
        event: "permission.request",
        turnId: "t-1",
        requestId: "p-1",
        callId: "c-1",
        name: "write_file",
        args: { path: "a.txt" },
        risk: "write",
      }),
    );
    flushFrames();

    expect(container.querySelector(".user-text")?.textContent).toBe("write it");
    expect(container.querySelector(".markdown")?.textContent).toBe("On it.");
    const card = container.querySelector<HTMLElement>("[data-testid=tool-card]")!;
    expect(card.dataset.status).toBe("awaiting");
    expect(card.querySelector(".tool-header")?.getAttribute("aria-expanded")).toBe("false");
    const approval = container.querySelector<HTMLElement>("[data-testid=approval]")!;
    expect(approval.textContent).toContain("write_file");
    // Cancel is offered while the turn runs.
    expect([...container.querySelectorAll("button")].some((item) => item.textContent?.includes("Cancel"))).toBe(true);

    await act(async () => button(approval, "Allow").click());
    expect(client.resolvePermission).toHaveBeenCalledWith("s-1", "p-1", "allow");

    stream.onEvent(e({ event: "permission.resolved", turnId: "t-1", requestId: "p-1", decision: "allow", by: "user" }));
    stream.onEvent(
      e({
        event: "tool.result",
        turnId: "t-1",
        callId: "c-1",
        name: "write_file",
        ok: true,
        result: { bytes: 1 },
        elapsedMs: 12,
      }),
    );
    stream.onEvent(
      e({
        event: "turn.done",
        turnId: "t-1",
        tokens: 2,
        thinkingTokens: 0,
        elapsed: 0.4,
        tokensPerSec: 5,
        toolCalls: 1,
        steps: 2,
        stopReason: "stop",
      }),
    );
    flushFrames();
    expect(container.querySelector("[data-testid=approval]")).toBeNull();
    expect(card.dataset.status).toBe("ok");
    expect(container.querySelector("[data-testid=turn-stats]")?.textContent).toContain("2 tokens");

    // Tool cards expand to the full payload; aria-controls names the body only while it exists.
    const header = card.querySelector<HTMLButtonElement>(".tool-header")!;
    expect(header.hasAttribute("aria-controls")).toBe(false);
    await act(async () => header.click());
    expect(card.querySelector(".tool-body")?.textContent).toContain('"bytes": 1');
    const controls = header.getAttribute("aria-controls");
    expect(controls && document.getElementById(controls)).toBe(card.querySelector(".tool-body"));
  });

  it("asks for a new token when the daemon refuses the old one, and reconnects with the new one", async () => {
    const { container, client, feeds, controller } = await mount({ token: "old-token" });
    client.health.mockRejectedValueOnce(new DaemonApiError("UNAUTHORIZED", "wrong token", 401));
    await act(async () => {
      feeds[0]!.onStatus?.("reconnecting");
      await Promise.resolve();
    });
    expect(container.querySelector("[data-testid=connection]")?.textContent).toBe("Disconnected");
    const prompt = container.querySelector("[data-testid=auth-prompt]");
    expect(prompt?.textContent).toContain("opta app");

    await setValue(prompt!.querySelector<HTMLInputElement>("#token-input")!, "new-token");
    await act(async () => prompt!.querySelector<HTMLFormElement>("form")!.requestSubmit());
    expect(container.querySelector("[data-testid=auth-prompt]")).toBeNull();
    expect(controller.shell.readToken()).toBe("new-token");
    // Both streams were reopened at once with the new token, the session one resuming where it was.
    expect(client.subscribeAll).toHaveBeenCalledTimes(2);
    expect(client.subscribe).toHaveBeenCalledTimes(2);
  });

  it("shows a turn's system prompt collapsed, and its parts and instruction files when opened", async () => {
    const { container, streams, flushFrames } = await mount();
    const e = eventFactory("s-1");
    const stream = streams[0]!;
    stream.onEvent(
      e({ event: "turn.start", turnId: "t-1", role: "user", text: "go", mode: "do", model: "m", permission: "safe" }),
    );
    stream.onEvent(
      e({
        event: "turn.system",
        turnId: "t-1",
        parts: [
          { name: "tools", bytes: 900 },
          { name: "instructions", bytes: 300 },
        ],
        sources: [
          { path: "/repo/AGENTS.md", scope: "project", bytes: 200 },
          { path: "/repo/big/AGENTS.md", scope: "project", bytes: 32768, totalBytes: 50000 },
        ],
        bytes: 1201,
        hash: "0123456789abcdef",
      }),
    );
    flushFrames();
    const section = container.querySelector<HTMLElement>("[data-testid=system-prompt]")!;
    expect(section.textContent).toContain("System prompt");
    expect(section.textContent).toContain("2 instruction files");
    expect(section.textContent).not.toContain("/repo/AGENTS.md");
    await act(async () => button(section, /System prompt/).click());
    expect(section.textContent).toContain("/repo/AGENTS.md");
    expect(section.textContent).toContain("(truncated)");
    expect(section.textContent).toContain("hash 0123456789abcdef");
  });

  it("shows a help overlay with every shortcut", async () => {
    const { container } = await mount();
    await act(async () => {
      window.dispatchEvent(new KeyboardEvent("keydown", { key: "?", code: "Slash", shiftKey: true }));
    });
    const overlay = container.querySelector("[data-testid=help-overlay]");
    expect(overlay?.textContent).toContain("Toggle Chat / Do");
    expect(overlay?.textContent).toContain("Open the daemon panel");
    expect(overlay?.textContent).toContain("Always allow (on a focused approval card)");
    await act(async () => {
      window.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", code: "Escape" }));
    });
    expect(container.querySelector("[data-testid=help-overlay]")).toBeNull();
  });

  it("shows the 'not answering' banner as one message", async () => {
    const { container, feeds } = await mount();
    await act(async () => feeds[0]!.onStatus?.("disconnected"));
    await settle();
    const banner = container.querySelector(".banner-warn")!;
    expect(banner.children).toHaveLength(1);
    expect(banner.children[0]!.tagName).toBe("SPAN");
    expect(banner.textContent).toContain("opta daemon start");
  });
});
