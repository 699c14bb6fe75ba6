import { execFile } from "node:child_process";
import { access, constants } from "node:fs/promises";
import { delimiter, isAbsolute, join } from "node:path";
import { BWRAP_PROBE_ARGS } from "./bwrap.js";
import { SEATBELT_PROBE_ARGS } from "./seatbelt.js";

/** What contains commands on this machine, or why nothing does. */
export type SandboxSupport =
  | {
      available: true;
      /** bubblewrap (Linux) or Seatbelt's sandbox-exec (macOS). */
      kind: "bwrap" | "seatbelt";
      /** The program that wraps each command. */
      path: string;
      /** `bubblewrap 0.8.0`, when the program says. */
      version?: string;
    }
  | {
      available: false;
      kind: "none";
      /** Why no sandbox works, one sentence. */
      reason: string;
      /** What the user can do about it. */
      fix: string;
    };

/** What `detectSandbox` looks at; tests point `OPTA_SANDBOX_BWRAP` at a missing file to simulate a bare machine. */
export interface DetectOptions {
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
}

const PROBE_TIMEOUT_MS = 10_000;
const cache = new Map<string, Promise<SandboxSupport>>();

/**
 * Finds the sandbox this machine can use and proves it works by running `true` in it (a bwrap
 * binary is not enough: user namespaces may be disabled, or a container may forbid mounts). The
 * answer is cached per program path, so every command after the first pays nothing.
 * `OPTA_SANDBOX_BWRAP` names the bwrap binary (default: `bwrap` on PATH).
 */
export function detectSandbox(options: DetectOptions = {}): Promise<SandboxSupport> {
  const env = options.env ?? process.env;
  const platform = options.platform ?? process.platform;
  const key = `${platform}\0${env.OPTA_SANDBOX_BWRAP ?? ""}\0${env.PATH ?? ""}`;
  let found = cache.get(key);
  if (!found) {
    found = platform === "darwin" ? detectSeatbelt() : platform === "linux" ? detectBwrap(env) : unsupported(platform);
    cache.set(key, found);
  }
  return found;
}

/** Forgets cached answers (after installing bubblewrap, say); the next call probes again. */
export function resetSandboxDetection(): void {
  cache.clear();
}

async function unsupported(platform: string): Promise<SandboxSupport> {
  return {
    available: false,
    kind: "none",
    reason: `no command sandbox is implemented for ${platform}`,
    fix: "run Opta on Linux (bubblewrap) or macOS (sandbox-exec) to contain commands",
  };
}

async function findOnPath(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const directory of (env.PATH ?? "/usr/bin:/bin").split(delimiter)) {
    if (!isAbsolute(directory)) continue; // a relative PATH entry would follow the caller's cwd
    const candidate = join(directory, name);
    if (
      await access(candidate, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return candidate;
  }
  return undefined;
}

function run(file: string, args: readonly string[]): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile(
      file,
      [...args],
      { timeout: PROBE_TIMEOUT_MS, env: { PATH: "/usr/bin:/bin" }, encoding: "utf8" },
      (error, stdout, stderr) => resolve({ ok: !error, output: `${stdout}${stderr}`.trim() }),
    );
  });
}

const INSTALL_BWRAP = "install bubblewrap (apt install bubblewrap, dnf install bubblewrap)";

async function detectBwrap(env: NodeJS.ProcessEnv): Promise<SandboxSupport> {
  const configured = env.OPTA_SANDBOX_BWRAP;
  const path = configured ?? (await findOnPath("bwrap", env));
  if (!path)
    return { available: false, kind: "none", reason: "bubblewrap (bwrap) is not installed", fix: INSTALL_BWRAP };
  const executable = await access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
  if (!executable) {
    return {
      available: false,
      kind: "none",
      reason: `${path} (OPTA_SANDBOX_BWRAP) is not an executable`,
      fix: `${INSTALL_BWRAP}, or point OPTA_SANDBOX_BWRAP at bwrap`,
    };
  }
  const probe = await run(path, [...BWRAP_PROBE_ARGS, "--", "/bin/true"]);
  if (!probe.ok) {
    return {
      available: false,
      kind: "none",
      reason: `bubblewrap is installed but cannot create a sandbox here (${probe.output.split("\n")[0] || "it failed"})`,
      fix: "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu 24.04), or run the daemon where bwrap works",
    };
  }
  const version = await run(path, ["--version"]);
  return {
    available: true,
    kind: "bwrap",
    path,
    ...(version.ok && version.output ? { version: version.output } : {}),
  };
}

const SANDBOX_EXEC = "/usr/bin/sandbox-exec";

async function detectSeatbelt(): Promise<SandboxSupport> {
  const probe = await run(SANDBOX_EXEC, [...SEATBELT_PROBE_ARGS, "/usr/bin/true"]);
  if (!probe.ok) {
    return {
      available: false,
      kind: "none",
      reason: `${SANDBOX_EXEC} does not work here (${probe.output.split("\n")[0] || "it failed"})`,
      fix: "run the daemon as a normal macOS user process (sandbox-exec cannot nest inside another sandbox)",
    };
  }
  return { available: true, kind: "seatbelt", path: SANDBOX_EXEC };
}
