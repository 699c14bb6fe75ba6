// @vitest-environment happy-dom
import { DaemonApiError, type DaemonClientOptions, DaemonConnectionError } from "@opta/daemon-client";
import { act } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fakeClient, type Mounted, mountApp, settle, setViewport } from "./harness.js";

let mounted: Mounted | undefined;
beforeEach(() => setViewport(1440));
afterEach(() => {
  mounted?.unmount();
  mounted = undefined;
  document.body.innerHTML = "";
});

/** Mounts with a client factory that keeps the options, so the test can call the token source as the SDK does. */
async function mountWithGrant(tradeGrant: (baseUrl: string, key: string) => Promise<string>, grantKey = "key-1") {
  const fake = fakeClient();
  const made: DaemonClientOptions[] = [];
  mounted = await mountApp({
    fake,
    token: "old-token",
    controller: {
      tradeGrant,
      createClient: (options) => {
        made.push(options);
        return fake.client as never;
      },
    },
  });
  mounted.shell.writeGrantKey(grantKey);
  const token = () => (made.at(-1)!.token as () => Promise<string>)();
  return { ...mounted, token };
}

describe("client grant: reconnecting after the token rotated", () => {
  it("trades the grant for the current token when the SDK asks again (401 or reconnect), and stores it", async () => {
    const trade = vi.fn(async () => "new-token");
    const { token, shell } = await mountWithGrant(trade);
    expect(await token()).toBe("new-token");
    expect(trade).toHaveBeenCalledWith("http://127.0.0.1:9999", "key-1");
    expect(shell.readToken()).toBe("new-token");
  });

  it("makes at most one trade at a time: concurrent 401s and reconnects share it", async () => {
    let release!: (token: string) => void;
    const trade = vi.fn(() => new Promise<string>((resolve) => (release = resolve)));
    const { token, controller } = await mountWithGrant(trade);
    const before = controller.grantTrades;
    const waiting = [token(), token(), token(), token()];
    release("new-token");
    expect(await Promise.all(waiting)).toEqual(["new-token", "new-token", "new-token", "new-token"]);
    expect(controller.grantTrades - before).toBe(1);
  });

  it("while the daemon is down, falls back to the stored token and keeps the grant for the next try", async () => {
    const trade = vi.fn(async () => {
      throw new DaemonConnectionError("Could not reach the Opta daemon");
    });
    const { token, shell } = await mountWithGrant(trade);
    expect(await token()).toBe("old-token");
    expect(shell.readGrantKey()).toBe("key-1");
  });

  it("a refused grant is forgotten (never retried), and a 401 then shows the prompt and stops the streams", async () => {
    const trade = vi.fn(async () => {
      throw new DaemonApiError("INVALID_CLIENT_GRANT", "This app's sign-in was revoked, expired or never made.", 401);
    });
    const { token, shell, client, feeds, container, controller } = await mountWithGrant(trade);
    await act(async () => controller.selectSession("s-1"));
    expect(await token()).toBe("old-token");
    expect(shell.readGrantKey()).toBeUndefined();
    expect(await token()).toBe("old-token");
    expect(trade).toHaveBeenCalledTimes(1);

    const globalClose = client.subscribeAll.mock.results.at(-1)!.value.close as ReturnType<typeof vi.fn>;
    const sessionClose = client.subscribe.mock.results.at(-1)!.value.close as ReturnType<typeof vi.fn>;
    client.health.mockRejectedValueOnce(new DaemonApiError("UNAUTHORIZED", "wrong token", 401));
    await act(async () => {
      feeds.at(-1)!.onStatus?.("reconnecting");
      await Promise.resolve();
    });
    await settle();
    const prompt = container.querySelector("[data-testid=auth-prompt]");
    expect(prompt?.textContent).toContain("revoked");
    // No dead token in a loop: both streams are closed until a new credential arrives.
    expect(globalClose).toHaveBeenCalled();
    expect(sessionClose).toHaveBeenCalled();
    const opened = client.subscribeAll.mock.calls.length;
    await act(async () => controller.setToken("fresh"));
    expect(client.subscribeAll.mock.calls.length).toBe(opened + 1);
    expect(client.subscribe).toHaveBeenLastCalledWith("s-1", expect.objectContaining({ afterSeq: 0 }));
  });

  it("signing in keeps the grant key the daemon returns, and sends the old one to be replaced", async () => {
    const exchangeCode = vi.fn(async () => ({ token: "real-token", grantKey: "key-2" }));
    mounted = await mountApp({ token: undefined, code: "code-1", controller: { exchangeCode } });
    await settle();
    expect(mounted.shell.readGrantKey()).toBe("key-2");
    expect(mounted.shell.readToken()).toBe("real-token");
    await act(async () => mounted!.controller.signIn("code-2"));
    expect(exchangeCode).toHaveBeenLastCalledWith("http://127.0.0.1:9999", "code-2", "key-2");
  });
});
