import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  api,
  type DaemonProcess,
  spawnDaemon,
  tempHome,
} from "../../../../packages/daemon/test/fixtures/daemon-harness.js";
import { runCli } from "../fixtures/run-cli.js";

/** Signs a "browser" in the way Code Desktop does: a code traded from the daemon's own origin. */
async function signInBrowser(daemon: DaemonProcess, userAgent: string): Promise<{ cookie: string; grantKey: string }> {
  const { code } = (await (await api(daemon)("/v3/auth/codes", { method: "POST" })).json()) as { code: string };
  return post(daemon, "/v3/auth/exchange", { origin: daemon.url, "user-agent": userAgent }, { code }).then(
    (answer) => ({
      cookie: String(answer.setCookie).split(";")[0]!,
      grantKey: answer.body.grantKey as string,
    }),
  );
}

function post(
  daemon: DaemonProcess,
  path: string,
  headers: Record<string, string>,
  body: unknown,
): Promise<{ status: number; setCookie: string | string[] | undefined; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port: daemon.port,
        path,
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
      },
      (res) => {
        let data = "";
        res.on("data", (chunk) => {
          data += chunk;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, setCookie: res.headers["set-cookie"], body: JSON.parse(data) }),
        );
      },
    );
    req.on("error", reject);
    req.end(text);
  });
}

describe("opta app grants / opta app revoke", () => {
  let home: { home: string; cleanup: () => Promise<void> };
  let daemon: DaemonProcess;
  const opta = (args: string[]) => runCli(args, { home: home.home });

  beforeAll(async () => {
    home = await tempHome("opta-app-grants-");
    daemon = await spawnDaemon(home.home, { OPTA_LMX_HOST: "127.0.0.1:9" });
  });
  afterAll(async () => {
    await daemon?.stop();
    await home?.cleanup();
  });

  it("lists signed-in windows, revokes one by id (its grant stops working), then all", async () => {
    expect((await opta(["app", "grants"])).stdout).toContain("No signed-in Code Desktop windows");
    const first = await signInBrowser(daemon, "Mozilla/5.0 FirstBrowser");
    const second = await signInBrowser(daemon, "Mozilla/5.0 SecondBrowser");

    const listed = await opta(["app", "grants"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain("FirstBrowser");
    expect(listed.stdout).toContain("SecondBrowser");
    const { browserName } = await import("../../src/commands/app-grants.js");
    expect(
      browserName(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
      ),
    ).toBe("HeadlessChrome 131 on Linux");
    const json = JSON.parse((await opta(["app", "grants", "--json"])).stdout) as Array<{
      id: string;
      userAgent: string;
    }>;
    const firstId = json.find((grant) => grant.userAgent.includes("FirstBrowser"))!.id;
    expect(first.cookie).toContain(firstId);

    const revoked = await opta(["app", "revoke", firstId]);
    expect(revoked).toMatchObject({ code: 0 });
    expect(revoked.stdout).toContain(`Revoked ${firstId}.`);
    expect(revoked.stdout).toContain("token rotated");
    const trade = (browser: { cookie: string; grantKey: string }) =>
      post(
        daemon,
        "/v3/auth/grant/token",
        { origin: daemon.url, cookie: browser.cookie },
        { grantKey: browser.grantKey },
      );
    expect((await trade(first)).status).toBe(401);
    const still = await trade(second);
    expect(still.status).toBe(200);
    expect(still.body.token).toBe(await daemon.readToken());
    // The CLI itself carries on after the rotation: it reads the token file.
    expect((await opta(["app", "grants"])).stdout).not.toContain("FirstBrowser");

    const all = await opta(["app", "revoke", "--all"]);
    expect(all.stdout).toMatch(/Revoked g-/);
    expect((await trade(second)).status).toBe(401);
    expect((await opta(["app", "grants"])).stdout).toContain("No signed-in Code Desktop windows");
  });

  it("says what to do for an unknown id, and for neither an id nor --all", async () => {
    const unknown = await opta(["app", "revoke", "g-0000000000000"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("opta app grants");
    const neither = await opta(["app", "revoke"]);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain("--all");
  });
});
