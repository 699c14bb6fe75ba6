import { readFileSync } from "node:fs";

/** True when a process with this pid exists. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Whether a live pid runs the platform server, from its command line where the OS shows it (Linux
 * /proc): a pid left in a stale state file may since belong to another program, which must never
 * be signalled. Elsewhere the answer is yes.
 */
export function looksLikePlatform(pid: number): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return /platform[\\/](dist|src)[\\/]main\.[jt]s/.test(cmdline) || cmdline.includes("@opta/platform");
  } catch {
    return process.platform !== "linux";
  }
}
