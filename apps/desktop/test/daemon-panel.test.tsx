// @vitest-environment happy-dom
import { DaemonApiError, DaemonConnectionError } from "@opta/daemon-client";
import type { LogLine } from "@opta/protocol";
import { act } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { button, fakeClient, type Mounted, mountApp, settle, setViewport } from "./harness.js";

let mounted: Mounted | undefined;
beforeEach(() => setViewport(1440));
afterEach(() => {
  mounted?.unmount();
  mounted = undefined;
  vi.useRealTimers();
  vi.restoreAllMocks();
  document.body.innerHTML = "";
});

const lines: LogLine[] = [
  { ts: "2026-03-06T14:00:00.000Z", level: "info", scope: "server", message: "Listening" },
  { ts: "2026-03-06T14:00:01.000Z", level: "warn", scope: "provider", message: "Slow answer" },
  { ts: "2026-03-06T14:00:02.000Z", level: "error", scope: "tools", message: "Tool failed" },
];

async function openDaemonPanel(fake = fakeClient(), options: Parameters<typeof mountApp>[0] = {}) {
  mounted = await mountApp({ fake, ...options });
  await act(async () => mounted!.container.querySelector<HTMLButtonElement>("[data-testid=daemon-tab]")!.click());
  await settle();
  const stream = () => fake.logStreams.at(-1)!;
  await act(async () => stream().options.onBacklog(lines));
  return { ...mounted, stream };
}

const shownLines = (container: HTMLElement) =>
  [...container.querySelectorAll(".log-line")].map((line) => line.textContent ?? "");

describe("daemon panel: the log streams", () => {
  it("shows the backlog and each new line from the log stream, without polling", async () => {
    const { container, client, stream } = await openDaemonPanel();
    expect(client.subscribeLogs).toHaveBeenCalledTimes(1);
    expect(stream().options).toMatchObject({ level: "info", backlog: 1000 });
    expect(shownLines(container)).toHaveLength(3);
    await act(async () => stream().options.onLine({ ...lines[0]!, message: "Session s-2 created" }));
    expect(shownLines(container).at(-1)).toContain("Session s-2 created");
    // A reconnect replaces the lines with the new backlog: nothing doubled.
    await act(async () => stream().options.onBacklog(lines.slice(0, 2)));
    expect(shownLines(container)).toHaveLength(2);
    expect(client.logs).not.toHaveBeenCalled();
  });

  it("filters by level: the chips, and the stream's level is the lowest one shown", async () => {
    const { container, client, stream } = await openDaemonPanel();
    const chip = (label: string) => button(container.querySelector(".log-filters")!, label);
    await act(async () => chip("ERROR").click());
    expect(chip("ERROR").getAttribute("aria-pressed")).toBe("false");
    expect(shownLines(container).some((line) => line.includes("Tool failed"))).toBe(false);
    expect(client.subscribeLogs).toHaveBeenCalledTimes(1);
    await act(async () => chip("INFO").click());
    // Info hidden: the daemon sends only warn and above now.
    expect(client.subscribeLogs).toHaveBeenCalledTimes(2);
    expect(stream().options.level).toBe("warn");
    await act(async () => stream().options.onBacklog(lines.slice(1)));
    expect(shownLines(container)).toEqual([expect.stringContaining("Slow answer")]);
    await act(async () => chip("WARN").click());
    expect(container.querySelector(".log-view")?.textContent).toContain("No log lines at these levels.");
  });

  it("opens wide, as a full-width drawer, and closes with Escape", async () => {
    const { container } = await openDaemonPanel();
    expect(container.querySelector("[data-testid=log-drawer]")).toBeNull();
    await act(async () => container.querySelector<HTMLButtonElement>("[data-testid=log-wide]")!.click());
    const drawer = container.querySelector("[data-testid=log-drawer]");
    expect(drawer?.querySelector("[data-testid=log-view]")).not.toBeNull();
    expect(drawer?.className).toBe("log-drawer");
    await act(async () => {
      window.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    });
    expect(container.querySelector("[data-testid=log-drawer]")).toBeNull();
  });

  it("follows new lines only while scrolled to the end", async () => {
    const { container, stream } = await openDaemonPanel();
    const log = container.querySelector<HTMLElement>("[data-testid=log-view]")!;
    // happy-dom does no layout: give the viewer a geometry (each line 20 px, 100 px tall).
    Object.defineProperty(log, "clientHeight", { configurable: true, get: () => 100 });
    Object.defineProperty(log, "scrollHeight", {
      configurable: true,
      get: () => log.querySelectorAll(".log-line").length * 20,
    });
    const add = (message: string) => act(async () => stream().options.onLine({ ...lines[0]!, message }));
    for (let index = 0; index < 6; index++) await add(`filler ${index}`);
    expect(log.scrollTop).toBe(log.scrollHeight);
    log.scrollTop = 20;
    log.dispatchEvent(new Event("scroll"));
    await add("while reading");
    expect(log.scrollTop).toBe(20);
    log.scrollTop = log.scrollHeight - 100;
    log.dispatchEvent(new Event("scroll"));
    await add("at the end again");
    expect(log.scrollTop).toBe(log.scrollHeight);
  });
});

describe("daemon panel: lifecycle", () => {
  it("after Stop shows Start with the command to copy, and no frozen uptime or memory", async () => {
    const { container, client, shell } = await openDaemonPanel();
    expect(container.querySelector("[data-testid=daemon-uptime]")?.textContent).toMatch(/^\d+(\.\d)? s$/);
    expect(container.querySelector("[data-testid=start-daemon]")).toBeNull();
    await act(async () => button(container, "■ Stop").click());
    expect(client.stopDaemon).not.toHaveBeenCalled();
    await act(async () => button(container, "Stop the daemon").click());
    await settle();
    expect(client.stopDaemon).toHaveBeenCalledTimes(1);
    expect(container.querySelector("[data-testid=daemon-facts]")?.textContent).toContain("Stopped");
    expect(container.querySelector("[data-testid=daemon-uptime]")?.textContent).toBe("stopped");
    expect(container.querySelector("[data-testid=daemon-memory]")?.textContent).toBe("stopped");
    expect(button(container, /Restart/).disabled).toBe(true);
    expect(button(container, "■ Stop").disabled).toBe(true);
    const start = container.querySelector("[data-testid=start-daemon]");
    expect(start?.textContent).toContain("opta daemon start");
    expect(start?.textContent).toContain("native");
    await act(async () => button(container, "Copy opta daemon start").click());
    expect(shell.copyText).toHaveBeenLastCalledWith("opta daemon start");
    expect(button(container, "Copied")).toBeDefined();
    await act(async () => container.querySelector<HTMLButtonElement>("[data-testid=start-button]")!.click());
    expect(shell.copyText).toHaveBeenCalledTimes(2);
    expect(container.textContent).toContain("paste it in a terminal");
  });

  it("says 'not answering' when the daemon is gone without a Stop, and Start goes when it is back", async () => {
    const fake = fakeClient();
    const { container, controller, client } = await openDaemonPanel(fake);
    client.daemonStatus.mockRejectedValueOnce(new DaemonConnectionError("Could not reach the Opta daemon."));
    await act(async () => controller.heartbeat());
    expect(container.querySelector("[data-testid=daemon-uptime]")?.textContent).toBe("not answering");
    expect(container.querySelector("[data-testid=start-daemon]")).not.toBeNull();
    await act(async () => controller.heartbeat());
    expect(container.querySelector("[data-testid=daemon-uptime]")?.textContent).toMatch(/^\d+(\.\d)? s$/);
    expect(container.querySelector("[data-testid=start-daemon]")).toBeNull();
  });

  it("a stopped daemon (the daemon.stop event, e.g. opta daemon stop) reads as Stopped", async () => {
    const { container, controller, client, feeds } = await openDaemonPanel();
    client.daemonStatus.mockRejectedValue(new DaemonConnectionError("Could not reach the Opta daemon."));
    await act(async () =>
      feeds[0]!.onFrame({ event: "daemon.stop", ts: new Date().toISOString(), reason: "cli", cursor: "c" }),
    );
    await act(async () => controller.heartbeat());
    expect(container.querySelector("[data-testid=daemon-uptime]")?.textContent).toBe("stopped");
  });

  it("copies the CLI handoff for the open session", async () => {
    const { container, shell, controller } = await openDaemonPanel();
    await act(async () => controller.selectSession(undefined));
    expect(container.querySelector("[data-testid=cli-handoff]")).toBeNull();
    await act(async () => controller.selectSession("s-1"));
    const handoff = container.querySelector("[data-testid=cli-handoff]")!;
    expect(handoff.textContent).toContain("opta tui --session s-1");
    await act(async () => button(handoff, "Copy opta tui --session s-1").click());
    expect(shell.copyText).toHaveBeenLastCalledWith("opta tui --session s-1");
  });
});

describe("the 'Could not reach the daemon' banner", () => {
  it("appears when the daemon stops answering and clears itself when it is back", async () => {
    mounted = await mountApp();
    const { container, controller, client, feeds } = mounted;
    const banner = () => container.querySelector(".banner-error")?.textContent ?? "";
    client.daemonStatus.mockRejectedValue(
      new DaemonConnectionError("Could not reach the Opta daemon at http://127.0.0.1:9999 (ECONNREFUSED)."),
    );
    await act(async () => controller.heartbeat());
    expect(banner()).toContain("Could not reach the Opta daemon");
    // Once per outage: the next failing beats do not bring a dismissed banner back.
    await act(async () => controller.heartbeat());
    expect(banner()).toContain("Could not reach the Opta daemon");
    // Back: the stream reconnects (or the next beat answers) and the banner goes, no reload.
    client.daemonStatus.mockReset();
    client.daemonStatus.mockResolvedValue({
      pid: 2,
      port: 9999,
      version: "0.1.0",
      startedAt: new Date().toISOString(),
      uptime: 1,
      sessions: { total: 1, active: 0 },
      providers: [],
      rss: 1e8,
    });
    await act(async () => feeds[0]!.onStatus?.("connected"));
    expect(banner()).toBe("");
  });

  it("still appears when the first failing beat was the daemon saying it is stopping (503)", async () => {
    mounted = await mountApp();
    const { container, controller, client } = mounted;
    client.daemonStatus.mockRejectedValueOnce(
      new DaemonApiError("DAEMON_STOPPING", "The daemon is shutting down.", 503),
    );
    await act(async () => controller.heartbeat());
    expect(container.querySelector(".banner-error")).toBeNull();
    client.daemonStatus.mockRejectedValueOnce(new DaemonConnectionError("Could not reach the Opta daemon."));
    await act(async () => controller.heartbeat());
    expect(container.querySelector(".banner-error")?.textContent).toContain("Could not reach the Opta daemon");
  });

  it("keeps an error that is not about reaching the daemon", async () => {
    mounted = await mountApp();
    const { container, controller, client, feeds } = mounted;
    client.createSession.mockRejectedValueOnce(new Error("The session could not be created."));
    await act(async () => controller.createSession());
    await act(async () => feeds[0]!.onStatus?.("connected"));
    await act(async () => controller.heartbeat());
    expect(container.querySelector(".banner-error")?.textContent).toContain("could not be created");
  });
});
