/** Chromium flags and the sandbox choice; no Playwright here, so the daemon can import it cheaply. */

/** Flags every peekaboo Chromium starts with: headless and nothing phoning home. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
] as const;

/** Why Chromium's sandbox is switched off, or undefined when it stays on. */
export type NoSandboxReason = "root" | "OPTA_BROWSER_NO_SANDBOX";

/**
 * Whether Chromium must run without its sandbox. The model drives arbitrary pages, so the sandbox
 * stays on unless it cannot work: Chromium refuses to start as root with it ("Running as root
 * without --no-sandbox is not supported"), and `OPTA_BROWSER_NO_SANDBOX=1` is the way out where
 * the sandbox itself cannot start (a container without user namespaces, say).
 */
export function noSandboxReason(
  options: { uid?: number | undefined; env?: NodeJS.ProcessEnv } = {},
): NoSandboxReason | undefined {
  const uid = "uid" in options ? options.uid : process.getuid?.();
  const env = options.env ?? process.env;
  if (uid === 0) return "root";
  const flag = env.OPTA_BROWSER_NO_SANDBOX?.trim().toLowerCase();
  if (flag && !["0", "false", "no", "off"].includes(flag)) return "OPTA_BROWSER_NO_SANDBOX";
  return undefined;
}

/**
 * The sandbox part of Playwright's launch options. Playwright itself adds `--no-sandbox` unless
 * `chromiumSandbox` is true, so both are always set explicitly.
 */
export function chromiumLaunchArgs(noSandbox: boolean): { args: string[]; chromiumSandbox: boolean } {
  return noSandbox
    ? { args: [...CHROMIUM_ARGS, "--no-sandbox"], chromiumSandbox: false }
    : { args: [...CHROMIUM_ARGS], chromiumSandbox: true };
}
