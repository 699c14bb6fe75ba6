import { execFile } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { join } from "node:path";

/** Whether a Chromium-family browser that peekaboo can drive is installed. */
export interface BrowserCheck {
  /** True when an executable was found. */
  available: boolean;
  /** The executable peekaboo would start. */
  path?: string;
  /** `Chromium 156.0.8078.79 …`, when `version: true` was asked and the browser answered. */
  version?: string;
  /** Where the path came from: `OPTA_BROWSER` or the list of well-known locations. */
  source?: "OPTA_BROWSER" | "system";
  /** What to do when none was found, or why `OPTA_BROWSER` is unusable. */
  hint?: string;
}

/** Well-known Chromium and Chrome locations, in order of preference. Never a downloaded browser. */
export function browserCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  if (process.platform === "darwin") {
    return [
      "/Applications/Chromium.app/Contents/MacOS/Chromium",
      "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    ];
  }
  if (process.platform === "win32") {
    const roots = [env.PROGRAMFILES, env["PROGRAMFILES(X86)"], env.LOCALAPPDATA].filter(Boolean) as string[];
    return roots.flatMap((root) => [
      join(root, "Chromium", "Application", "chrome.exe"),
      join(root, "Google", "Chrome", "Application", "chrome.exe"),
    ]);
  }
  return [
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/snap/bin/chromium",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
  ];
}

function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The browser peekaboo would start, found without running anything (see `checkBrowser`). */
export function findBrowser(env: NodeJS.ProcessEnv = process.env): BrowserCheck {
  if (env.OPTA_BROWSER) {
    return isExecutable(env.OPTA_BROWSER)
      ? { available: true, path: env.OPTA_BROWSER, source: "OPTA_BROWSER" }
      : {
          available: false,
          path: env.OPTA_BROWSER,
          source: "OPTA_BROWSER",
          hint: `OPTA_BROWSER=${env.OPTA_BROWSER} is not an executable file`,
        };
  }
  const path = browserCandidates(env).find(isExecutable);
  if (path) return { available: true, path, source: "system" };
  return {
    available: false,
    hint:
      process.platform === "linux"
        ? "no Chromium found: install it (Debian/Ubuntu: sudo apt-get install chromium) or set OPTA_BROWSER to a Chrome/Chromium executable"
        : "no Chromium or Google Chrome found: install one or set OPTA_BROWSER to its executable",
  };
}

/**
 * Whether browser automation can run here: `OPTA_BROWSER` if set, else the first well-known
 * location that holds an executable. With `version: true` it also asks the browser for its
 * version (at most 5 s). `opta doctor` calls this.
 */
export async function checkBrowser(
  options: { env?: NodeJS.ProcessEnv; version?: boolean } = {},
): Promise<BrowserCheck> {
  const found = findBrowser(options.env ?? process.env);
  if (found.available && options.version && found.path) {
    const version = await browserVersion(found.path);
    if (version) found.version = version;
  }
  return found;
}

function browserVersion(path: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(path, ["--version"], { timeout: 5000, env: { ...process.env, LANG: "C" } }, (error, stdout) => {
      if (error) return resolve(undefined);
      const line = stdout
        .split("\n")
        .map((each) => each.trim())
        .find((each) => /\d+\.\d+/.test(each));
      resolve(line);
    });
  });
}
