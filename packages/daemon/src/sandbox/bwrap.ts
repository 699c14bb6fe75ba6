import type { SandboxPlan } from "./plan.js";

/**
 * The isolation every bwrap sandbox starts from: the host file system read-only, a minimal /dev,
 * a /proc of the sandbox's own PID namespace (so neither the daemon's environ nor any other host
 * process is visible), a private /tmp, every namespace unshared (no network), no capabilities (a
 * root daemon's bwrap would keep them, and with them umount/mount), the sandbox killed
 * with the daemon, and a new session (no TIOCSTI into a terminal). Also the detection probe.
 */
export const BWRAP_PROBE_ARGS: readonly string[] = [
  "--ro-bind",
  "/",
  "/",
  "--dev",
  "/dev",
  "--proc",
  "/proc",
  "--tmpfs",
  "/tmp",
  "--unshare-all",
  "--cap-drop",
  "ALL",
  "--die-with-parent",
  "--new-session",
];

/**
 * bwrap's arguments for a plan, up to and including `--` (the command follows). Later mounts lie
 * on top of earlier ones, so the order is: host read-only, private /tmp, the roots, then the
 * read-only policy directories and the hidden Opta home over them.
 */
export function bwrapArguments(plan: SandboxPlan): string[] {
  const args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"];
  // The roots are bound even when read-only: a workspace under /tmp would otherwise vanish under the private /tmp.
  for (const root of plan.roots) args.push(plan.writable ? "--bind" : "--ro-bind", root, root);
  for (const path of plan.protect) args.push("--ro-bind", path, path);
  // An empty tmpfs, then remounted read-only: nothing can be created in it, and nothing under it is readable.
  for (const path of [...plan.block, ...plan.hide]) args.push("--tmpfs", path, "--remount-ro", path);
  // Run as root, bwrap keeps every capability in the sandbox's namespaces: CAP_SYS_ADMIN there
  // unmounts the tmpfs hiding the Opta home or the read-only .opta bind, and remounts / writable.
  args.push("--unshare-all", "--cap-drop", "ALL");
  if (plan.network) args.push("--share-net");
  args.push("--die-with-parent", "--new-session", "--chdir", plan.cwd, "--");
  return args;
}
