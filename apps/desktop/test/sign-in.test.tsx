// @vitest-environment happy-dom
import { DaemonApiError } from "@opta/daemon-client";
import { act } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { eventFactory } from "./events.js";
import { type Mounted, mountApp, settle, setViewport } from "./harness.js";

let mounted: Mounted | undefined;
beforeEach(() => setViewport(1440));
afterEach(() => {
  mounted?.unmount();
  mounted = undefined;
  document.body.innerHTML = "";
});

describe("sign-in with a code from opta app", () => {
  it("trades #code= for the token, stores it and connects without a prompt", async () => {
    const exchangeCode = vi.fn(async () => "real-token");
    mounted = await mountApp({ token: undefined, code: "code-1", controller: { exchangeCode } });
    expect(exchangeCode).toHaveBeenCalledWith("http://127.0.0.1:9999", "code-1");
    expect(mounted.shell.readToken()).toBe("real-token");
    expect(mounted.controller.getState().auth).toBe("ok");
    expect(mounted.container.querySelector("[data-testid=auth-prompt]")).toBeNull();
    expect(mounted.client.subscribeAll).toHaveBeenCalledTimes(1);
  });

  it("says why when the code is spent and there is no token to fall back on", async () => {
    const exchangeCode = vi.fn(async () => {
      throw new DaemonApiError("INVALID_AUTH_CODE", "This sign-in code is unknown, expired or already used.", 401);
    });
    mounted = await mountApp({ token: undefined, code: "used", controller: { exchangeCode } });
    const prompt = mounted.container.querySelector("[data-testid=auth-prompt]");
    expect(prompt?.textContent).toContain("expired or already used");
    expect(mounted.client.subscribeAll).not.toHaveBeenCalled();
  });

  it("keeps the token it had when a spent code arrives", async () => {
    const exchangeCode = vi.fn(async () => {
      throw new DaemonApiError("INVALID_AUTH_CODE", "spent", 401);
    });
    mounted = await mountApp({ token: "stored", code: "used", controller: { exchangeCode } });
    expect(mounted.controller.getState().auth).toBe("ok");
    expect(mounted.client.subscribeAll).toHaveBeenCalledTimes(1);
    expect(mounted.container.querySelector("[data-testid=auth-prompt]")).toBeNull();
  });

  it("takes a code that arrives later (a new opta app URL in this tab) and reconnects", async () => {
    const exchangeCode = vi.fn(async () => "fresh-token");
    mounted = await mountApp({ token: "old", controller: { exchangeCode } });
    await act(async () => mounted!.shell.emit({ kind: "code", code: "code-2" }));
    await settle();
    expect(exchangeCode).toHaveBeenCalledWith("http://127.0.0.1:9999", "code-2");
    expect(mounted.shell.readToken()).toBe("fresh-token");
    expect(mounted.client.subscribeAll).toHaveBeenCalledTimes(2);
  });
});

describe("reconnecting", () => {
  it("resubscribes the open session after the last seq it received, queued events included", async () => {
    mounted = await mountApp();
    const { streams, client, flushFrames, controller } = mounted;
    expect(client.subscribe).toHaveBeenLastCalledWith("s-1", expect.objectContaining({ afterSeq: 0 }));
    const e = eventFactory("s-1");
    const stream = streams[0]!;
    stream.onEvent(e({ event: "session.start", title: "t", cwd: "/", mode: "chat", model: "m" }));
    stream.onEvent(
      e({ event: "turn.start", turnId: "t-1", role: "user", text: "x", mode: "chat", model: "m", permission: "safe" }),
    );
    flushFrames();
    // Two more arrive and are still queued for the next frame when the token changes.
    stream.onEvent(e({ event: "turn.token", turnId: "t-1", delta: "a", model: "m" }));
    stream.onEvent(e({ event: "turn.token", turnId: "t-1", delta: "b", model: "m" }));
    await act(async () => controller.setToken("rotated"));
    expect(client.subscribe).toHaveBeenCalledTimes(2);
    expect(client.subscribe).toHaveBeenLastCalledWith("s-1", expect.objectContaining({ afterSeq: 4 }));
    // Replayed duplicates from the new stream are dropped; the next event is applied once.
    const second = streams[1]!;
    const replayed = eventFactory("s-1");
    for (let index = 0; index < 4; index++) {
      second.onEvent(replayed({ event: "turn.token", turnId: "t-1", delta: "DUP", model: "m" }));
    }
    second.onEvent(replayed({ event: "turn.token", turnId: "t-1", delta: "c", model: "m" }));
    flushFrames();
    expect(mounted.container.querySelector(".markdown")?.textContent).toBe("abc");
  });

  it("restart from the panel takes the new token from the daemon and resumes both streams", async () => {
    mounted = await mountApp();
    const { client, controller } = mounted;
    await act(async () => controller.restartDaemon());
    expect(client.restartDaemon).toHaveBeenCalledTimes(1);
    expect(mounted.shell.readToken()).toBe("rotated");
    expect(controller.getState().auth).toBe("ok");
    expect(client.subscribeAll).toHaveBeenCalledTimes(2);
    expect(client.subscribe).toHaveBeenCalledTimes(2);
  });
});
