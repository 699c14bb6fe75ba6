import type { LogLine } from "@opta/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DaemonProcess, spawnDaemon, tempHome } from "../../daemon/test/fixtures/daemon-harness.js";
import {
  createLocalClient,
  DaemonApiError,
  type DaemonClient,
  type SubscriptionStatus,
  signInWithCode,
  tradeClientGrant,
} from "../src/node.js";

function until(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (predicate()) resolve();
      else if (Date.now() > deadline) reject(new Error("timed out waiting"));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

/** A fetch that speaks as a page of the daemon's own origin, carrying the cookies it was given (a tiny cookie jar). */
function browserFetch(origin: string) {
  const jar = new Map<string, string>();
  const fetchImpl: typeof fetch = async (input, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set("origin", origin);
    if (jar.size > 0) headers.set("cookie", [...jar].map(([name, value]) => `${name}=${value}`).join("; "));
    const response = await fetch(input, { ...init, headers });
    const set = response.headers.get("set-cookie");
    if (set) {
      const [pair] = set.split(";");
      const [name, value] = pair!.split("=") as [string, string];
      jar.set(name, value);
    }
    return response;
  };
  return { fetch: fetchImpl, jar };
}

describe("SDK: client grants and the log stream", () => {
  let home: { home: string; cleanup: () => Promise<void> };
  let daemon: DaemonProcess;
  let client: DaemonClient;

  beforeAll(async () => {
    home = await tempHome("opta-sdk-grants-");
    daemon = await spawnDaemon(home.home, { OPTA_LMX_HOST: "127.0.0.1:9" });
    client = await createLocalClient({ home: home.home });
  });
  afterAll(async () => {
    await daemon?.stop();
    await home?.cleanup();
  });

  it("signInWithCode returns a grant key from the daemon's origin; tradeClientGrant gets the token after a restart", async () => {
    const browser = browserFetch(daemon.url);
    const { code } = await client.createAuthCode();
    const signedIn = await signInWithCode(daemon.url, code, { fetch: browser.fetch });
    expect(signedIn.token).toBe(daemon.token);
    expect(signedIn.grantKey).toBeDefined();
    expect(browser.jar.size).toBe(1);
    const { token } = (await client.restartDaemon()) as { token: string };
    expect(await tradeClientGrant(daemon.url, signedIn.grantKey!, { fetch: browser.fetch })).toBe(token);
    expect((await client.clientGrants()).grants).toHaveLength(1);

    // Without the page's origin (a script), the daemon refuses: 403, typed.
    const error = await tradeClientGrant(daemon.url, signedIn.grantKey!).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DaemonApiError);
    expect((error as DaemonApiError).code).toBe("FORBIDDEN_ORIGIN");

    const revoked = await client.revokeClientGrants({ all: true });
    expect(revoked.tokenRotated).toBe(true);
    const dead = await tradeClientGrant(daemon.url, signedIn.grantKey!, { fetch: browser.fetch }).catch(
      (caught: unknown) => caught,
    );
    expect((dead as DaemonApiError).code).toBe("INVALID_CLIENT_GRANT");
    // This client re-reads the rotated token on its 401 and carries on.
    expect((await client.health()).ok).toBe(true);
  });

  it("subscribeLogs: a backlog per connection, then live lines; a restart reconnects with a fresh backlog", async () => {
    const backlogs: LogLine[][] = [];
    const live: LogLine[] = [];
    const statuses: SubscriptionStatus[] = [];
    const subscription = client.subscribeLogs({
      level: "info",
      backlog: 20,
      onBacklog: (lines) => backlogs.push(lines),
      onLine: (line) => live.push(line),
      onStatus: (status) => statuses.push(status),
      backoff: { initialDelayMs: 20, maxDelayMs: 200 },
    });
    try {
      await until(() => backlogs.length === 1);
      expect(backlogs[0]!.length).toBeGreaterThan(0);
      expect(backlogs[0]!.length).toBeLessThanOrEqual(20);
      await client.createSession({ title: "logged" });
      await until(() => live.some((line) => line.message.includes("created")));
      await client.restartDaemon();
      await until(() => backlogs.length === 2);
      expect(backlogs[1]!.some((line) => line.message.startsWith("Restarting"))).toBe(true);
      expect(statuses).toContain("reconnecting");
    } finally {
      subscription.close();
    }
  });
});
