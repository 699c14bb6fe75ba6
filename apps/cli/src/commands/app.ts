import { spawn } from "node:child_process";
import { DaemonClient } from "@opta/daemon-client";
import { ensureDaemon } from "@opta/daemon-client/node";
import { daemonEntry, optaHome } from "../connection.js";
import { findOnPath } from "../output/notify.js";
import { notice, print } from "../output/terminal.js";

/**
 * The URL that opens Code Desktop already signed in. It carries a single-use sign-in code (valid
 * 60 s), never the token: the URL ends up in the browser's command line and history, and the app
 * trades the code for the token (`POST /v3/auth/exchange`) and removes it from the address bar.
 */
export function appUrl(baseUrl: string, code: string): string {
  return `${baseUrl}/#code=${encodeURIComponent(code)}`;
}

/** The platform's "open this URL" command, if one is installed. */
function opener(url: string): { command: string; args: string[] } | undefined {
  if (process.platform === "darwin") return { command: "open", args: [url] };
  // `start` is a cmd built-in; the empty string is the window title it would otherwise take from the URL.
  if (process.platform === "win32") return { command: "cmd", args: ["/c", "start", '""', url] };
  const xdg = findOnPath("xdg-open");
  return xdg ? { command: xdg, args: [url] } : undefined;
}

/** Launches the browser detached; resolves false when the opener could not be started. */
function launch(url: string): Promise<boolean> {
  const command = opener(url);
  if (!command) return Promise.resolve(false);
  return new Promise((resolve) => {
    const child = spawn(command.command, command.args, {
      stdio: "ignore",
      detached: true,
      windowsVerbatimArguments: process.platform === "win32",
    });
    child.once("error", () => resolve(false));
    child.once("spawn", () => {
      child.unref();
      resolve(true);
    });
  });
}

/**
 * `opta app [--print-url]`: starts the daemon if needed and opens Code Desktop at
 * `http://127.0.0.1:<port>/#code=<code>`, a single-use code the app trades for the token. An already
 * open tab picks up the new token too (it shares the browser's storage), which is how it recovers
 * after a daemon restart by another client.
 */
export async function app(options: { printUrl?: boolean } = {}): Promise<number> {
  const result = await ensureDaemon({ home: optaHome(), entry: daemonEntry() });
  if (result.started) notice(`Started the Opta daemon on ${result.connection.baseUrl} (pid ${result.pid})`);
  const { baseUrl, token } = result.connection;

  // A daemon whose checkout has no built app answers 503 at `/`: say so rather than open an error page.
  const probe = await fetch(`${baseUrl}/`, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
  if (probe?.status === 503) {
    notice("Code Desktop is not built. Run 'npm run build' in the Opta repository, then 'opta app' again.");
    return 1;
  }

  let code: string;
  try {
    ({ code } = await new DaemonClient({ baseUrl, token, timeoutMs: 10_000 }).createAuthCode());
  } catch (error) {
    notice(`Could not get a sign-in code from the daemon: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
  const url = appUrl(baseUrl, code);

  if (options.printUrl) {
    print(url);
    return 0;
  }
  if (await launch(url)) {
    notice(`Opened Code Desktop at ${baseUrl}/`);
    return 0;
  }
  notice("Could not start a browser on this machine. Open this URL within 60 seconds (it signs in once):");
  print(url);
  return 0;
}
