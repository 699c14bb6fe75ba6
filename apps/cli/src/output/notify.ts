/** Desktop notifications for `--watch`: `notify-send` when it is installed, else the terminal bell. */
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** The full path of an executable on PATH, if there is one. */
export function findOnPath(command: string): string | undefined {
  for (const directory of (process.env.PATH ?? "").split(delimiter)) {
    if (!directory) continue;
    const candidate = join(directory, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Shows `title`/`body` as a desktop notification. Without `notify-send` (or when it fails) the
 * terminal bell rings on stderr instead. Never throws; waits at most two seconds.
 */
export async function notifyDesktop(title: string, body: string): Promise<void> {
  const notifySend = findOnPath("notify-send");
  const sent =
    notifySend !== undefined &&
    (await new Promise<boolean>((resolve) => {
      const child = spawn(notifySend, [title, body], { stdio: "ignore" });
      const timer = setTimeout(() => resolve(true), 2000);
      child.on("error", () => {
        clearTimeout(timer);
        resolve(false);
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        resolve(code === 0);
      });
    }));
  if (!sent) process.stderr.write("\u0007");
}
