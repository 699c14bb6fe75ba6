/**
 * `opta account login|whoami|logout`: the CLI signs in to the Opta platform through the browser with
 * the RFC 8628 device flow (better-auth's device-authorization plugin on accounts.<domain>). Nothing
 * listens on this machine, so it works over SSH. The token goes to the Opta vault (entry `platform`)
 * and never to stdout, config or logs; `platform-login.json` beside it holds only the URL and the user.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import { hostname } from "node:os";
import { join } from "node:path";
import { openVault, type Vault } from "@opta/local";
import { optaHome } from "../connection.js";
import { UsageError } from "../output/errors.js";
import { findOnPath } from "../output/notify.js";
import { dim, notice, print } from "../output/terminal.js";

/** The client id the platform knows the CLI by (its `DEVICE_CLIENTS`). */
export const CLI_CLIENT_ID = "opta-cli";
/** The vault entry that holds the platform token. */
export const PLATFORM_VAULT_ENTRY = "platform";
/** Where browsers and the CLI find the platform when nothing else says. */
export const DEFAULT_PLATFORM_URL = "http://opta.localhost:3000";
const LOGIN_FILE = "platform-login.json";

/** Exit codes of `opta account login`, so scripts can tell the outcomes apart. */
export const LOGIN_EXIT = { failed: 1, denied: 3, expired: 4 } as const;

/** A platform login that did not end with a token: one line, a code, what to do. */
export class PlatformLoginError extends Error {
  override readonly name = "PlatformLoginError";
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: number = LOGIN_EXIT.failed,
  ) {
    super(`${message} [${code}]`);
  }
}

interface LoginRecord {
  url: string;
  email?: string;
  name?: string;
  since: string;
}

/**
 * The accounts origin of a platform URL: `http://opta.localhost:3000` and
 * `http://accounts.opta.localhost:3000` both name `http://accounts.opta.localhost:3000`.
 */
export function accountsOrigin(platformUrl: string): string {
  let url: URL;
  try {
    url = new URL(platformUrl);
  } catch {
    throw new UsageError(`'${platformUrl}' is not a URL; pass the platform's address, e.g. ${DEFAULT_PLATFORM_URL}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new UsageError(`the platform URL must be http:// or https:// (got ${url.protocol})`);
  // An address (127.0.0.1) names no site; the platform answers it with unknown_host.
  const literal = /^[\d.]+$|^\[/.test(url.hostname);
  const host = url.hostname.startsWith("accounts.") || literal ? url.host : `accounts.${url.host}`;
  return `${url.protocol}//${host}`;
}

/**
 * This machine's name as the platform's approval page shows it ("… asks from build-box"), and as
 * the accounts site lists the device. Only a DNS-like name is sent; the server keeps nothing else.
 */
export function machineName(): string | undefined {
  const name = hostname().trim();
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/.test(name) ? name : undefined;
}

let cliVersion: string | undefined;

/**
 * The CLI's User-Agent on every platform call. The device token's session is created by the token
 * poll, so this is what the accounts site's device list reads to name the CLI and its host.
 */
function userAgent(): string {
  if (cliVersion === undefined) {
    try {
      cliVersion = (
        JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
      ).version;
    } catch {
      cliVersion = "0";
    }
  }
  const name = machineName();
  return `opta-cli/${cliVersion}${name ? ` (host ${name})` : ""}`;
}

/** A JSON answer of the platform. */
export interface HttpAnswer {
  status: number;
  body: Record<string, unknown>;
}

/**
 * One JSON request. node:http rather than fetch because `*.localhost` names loopback (RFC 6761) but
 * Node's resolver may not know it; here such names go to 127.0.0.1, the platform's default address.
 */
export function call(
  origin: string,
  path: string,
  options: { method?: "GET" | "POST" | "PUT"; json?: unknown; token?: string } = {},
): Promise<HttpAnswer> {
  const url = new URL(path, origin);
  const body = options.json === undefined ? undefined : JSON.stringify(options.json);
  const headers: Record<string, string> = { accept: "application/json", "user-agent": userAgent() };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  const loopback = url.hostname === "localhost" || url.hostname.endsWith(".localhost");
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: options.method ?? (body === undefined ? "GET" : "POST"),
        headers,
        timeout: 15_000,
        ...(loopback
          ? {
              lookup: ((_host, opts, done) =>
                opts.all
                  ? done(null, [{ address: "127.0.0.1", family: 4 }])
                  : done(null, "127.0.0.1", 4)) as LookupFunction,
            }
          : {}),
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => {
          text += chunk;
        });
        res.on("end", () => {
          let parsed: unknown = {};
          try {
            parsed = text ? JSON.parse(text) : {};
          } catch {
            parsed = {};
          }
          resolve({ status: res.statusCode ?? 0, body: (parsed ?? {}) as Record<string, unknown> });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer within 15 s")));
    req.on("error", (error) =>
      reject(
        new PlatformLoginError(
          "PLATFORM_UNREACHABLE",
          `cannot reach the platform at ${origin} (${error.message}); is it running (\`opta platform status\`), or pass --platform URL`,
        ),
      ),
    );
    req.end(body);
  });
}

/** `opta account login [--platform URL] [--no-browser]`. */
export async function login(options: { platform?: string; browser?: boolean } = {}): Promise<number> {
  const previous = await readLogin();
  const origin = accountsOrigin(
    options.platform ?? (process.env.OPTA_PLATFORM_URL || undefined) ?? previous?.url ?? DEFAULT_PLATFORM_URL,
  );
  const name = machineName();
  const started = await call(origin, "/api/auth/device/code", {
    json: { client_id: CLI_CLIENT_ID, ...(name ? { hostname: name } : {}) },
  });
  const grant = started.body as {
    device_code?: string;
    user_code?: string;
    verification_uri?: string;
    verification_uri_complete?: string;
    expires_in?: number;
    interval?: number;
  };
  if (started.status !== 200 || !grant.device_code || !grant.user_code || !grant.verification_uri) {
    throw new PlatformLoginError(
      "PLATFORM_LOGIN_START_FAILED",
      `the platform at ${origin} did not start a login (HTTP ${started.status}: ${describeError(started.body)}); is this an Opta platform server?`,
    );
  }
  const complete = grant.verification_uri_complete ?? grant.verification_uri;
  print(`To sign in, open ${grant.verification_uri} and enter the code ${grant.user_code}`);
  print(dim(`  or open: ${complete}`));
  if (options.browser !== false && openBrowser(complete)) notice(dim("(opened your browser)"));
  print(dim("Waiting for approval…"));

  // RFC 8628 §3.5: the interval the server gave (5 s when none), 5 s more after each slow_down.
  let intervalMs = Math.max(200, (grant.interval ?? 5) * 1000);
  for (;;) {
    await sleep(intervalMs);
    const answer = await call(origin, "/api/auth/device/token", {
      json: {
        grant_type: "urn:ietf:params:oauth:grant-type:device_code",
        device_code: grant.device_code,
        client_id: CLI_CLIENT_ID,
      },
    });
    const token = answer.body.access_token;
    if (answer.status === 200 && typeof token === "string" && token) {
      await finish(origin, token);
      return 0;
    }
    const error = typeof answer.body.error === "string" ? answer.body.error : "";
    if (error === "authorization_pending") continue;
    if (error === "slow_down") {
      intervalMs += 5000;
      continue;
    }
    if (error === "access_denied")
      throw new PlatformLoginError(
        "PLATFORM_LOGIN_DENIED",
        "the login was denied on the approval page; run `opta account login` again to retry",
        LOGIN_EXIT.denied,
      );
    if (error === "expired_token")
      throw new PlatformLoginError(
        "PLATFORM_LOGIN_EXPIRED",
        "the code expired before it was approved; run `opta account login` again for a new one",
        LOGIN_EXIT.expired,
      );
    throw new PlatformLoginError(
      "PLATFORM_LOGIN_FAILED",
      `the platform refused the login (HTTP ${answer.status}: ${describeError(answer.body)}); run \`opta account login\` again`,
    );
  }
}

/** Stores the token in the vault and says who is signed in (never the token). */
async function finish(origin: string, token: string): Promise<void> {
  const vault = await open();
  await vault.set(PLATFORM_VAULT_ENTRY, token);
  const session = await call(origin, "/api/auth/get-session", { token });
  const user = (session.body?.user ?? {}) as { email?: string; name?: string };
  await writeLogin({ url: origin, email: user.email, name: user.name, since: new Date().toISOString() });
  print(`Signed in to ${origin} as ${user.email ?? "(unknown user)"}; the token is in ${vault.location}`);
  // The seeds' vault.pull: a new device offers to bring the account's synced keys here.
  const { offerPull } = await import("./platform-sync.js");
  await offerPull(origin, token);
}

/** `opta account whoami [--json]`: the signed-in user, asked of the platform with the stored token. */
export async function whoami(options: { json?: boolean; platform?: string } = {}): Promise<number> {
  const { origin, token, source } = await credentials(options.platform);
  const session = await call(origin, "/api/auth/get-session", { token });
  const user = (session.body?.user ?? null) as { email?: string; name?: string; id?: string } | null;
  if (session.status !== 200 || !user) {
    throw new PlatformLoginError(
      "PLATFORM_TOKEN_REJECTED",
      `the platform at ${origin} does not accept the ${source} token (signed out, revoked or expired); run \`opta account login\``,
    );
  }
  if (options.json) print(JSON.stringify({ platform: origin, email: user.email, name: user.name, id: user.id }));
  else print(`${user.email} (${user.name ?? ""}) on ${origin}`);
  return 0;
}

/** `opta account logout`: ends the session on the server, then forgets the token here. */
export async function logout(options: { platform?: string } = {}): Promise<number> {
  const previous = await readLogin();
  const vault = await open();
  const token = await vault.get(PLATFORM_VAULT_ENTRY);
  if (!token) {
    print("Not signed in to a platform.");
    return 0;
  }
  const origin = accountsOrigin(options.platform ?? previous?.url ?? DEFAULT_PLATFORM_URL);
  let revoked = false;
  try {
    const answer = await call(origin, "/api/auth/sign-out", { json: {}, token });
    revoked = answer.status === 200;
  } catch {
    // unreachable: the token is still forgotten here, and the message says it may live on
  }
  await vault.delete(PLATFORM_VAULT_ENTRY);
  await rm(join(optaHome(), LOGIN_FILE), { force: true });
  if (revoked) print(`Signed out of ${origin}; the session is ended on the server and the token removed here.`);
  else
    notice(
      `Removed the token here, but ${origin} did not confirm the sign-out; end the session on its accounts page (Devices) [PLATFORM_LOGOUT_UNCONFIRMED]`,
    );
  return 0;
}

/** The platform's accounts origin and the token to send: OPTA_PLATFORM_TOKEN, else the stored one. */
export async function credentials(platform?: string): Promise<{ origin: string; token: string; source: string }> {
  const previous = await readLogin();
  const origin = accountsOrigin(
    platform ?? (process.env.OPTA_PLATFORM_URL || undefined) ?? previous?.url ?? DEFAULT_PLATFORM_URL,
  );
  // CI: a token from the environment, never written anywhere.
  if (process.env.OPTA_PLATFORM_TOKEN)
    return { origin, token: process.env.OPTA_PLATFORM_TOKEN, source: "OPTA_PLATFORM_TOKEN" };
  const token = await (await open()).get(PLATFORM_VAULT_ENTRY);
  if (!token)
    throw new PlatformLoginError("PLATFORM_NOT_SIGNED_IN", "not signed in to a platform; run `opta account login`");
  return { origin, token, source: "stored" };
}

/** The error code and message of a platform answer, for a one-line message. */
export function describeError(body: Record<string, unknown>): string {
  const code =
    typeof body.error === "string" ? body.error : typeof body.code === "string" ? body.code : "no error code";
  const detail =
    typeof body.error_description === "string"
      ? body.error_description
      : typeof body.message === "string"
        ? body.message
        : "";
  return detail ? `${code}, ${detail}` : code;
}

function open(): Promise<Vault> {
  return openVault({ home: optaHome() });
}

async function readLogin(): Promise<LoginRecord | undefined> {
  try {
    return JSON.parse(await readFile(join(optaHome(), LOGIN_FILE), "utf8")) as LoginRecord;
  } catch {
    return undefined;
  }
}

async function writeLogin(record: LoginRecord): Promise<void> {
  await mkdir(optaHome(), { recursive: true, mode: 0o700 });
  await writeFile(join(optaHome(), LOGIN_FILE), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
}

/** Opens the URL in a browser when there is one to open (a desktop session, not an SSH shell). */
function openBrowser(url: string): boolean {
  if (process.env.SSH_CONNECTION && !process.env.DISPLAY) return false;
  const command =
    process.platform === "darwin"
      ? "open"
      : process.platform === "win32"
        ? null
        : process.env.DISPLAY || process.env.WAYLAND_DISPLAY
          ? (findOnPath("xdg-open") ?? null)
          : null;
  if (!command) return false;
  try {
    const child = spawn(command, [url], { stdio: "ignore", detached: true });
    child.on("error", () => undefined);
    child.unref();
    return true;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
