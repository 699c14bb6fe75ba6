import type { SandboxPlan } from "./plan.js";

/** A Seatbelt profile and the `-D NAME=VALUE` parameters its paths are passed in (no quoting in the profile). */
export interface SeatbeltProfile {
  profile: string;
  params: Record<string, string>;
}

/** Devices a shell writes to without meaning to write a file. */
const WRITABLE_DEVICES = [
  '(literal "/dev/null")',
  '(literal "/dev/zero")',
  '(literal "/dev/tty")',
  '(subpath "/dev/fd")',
];

/**
 * The macOS equivalent of the bwrap plan, for `sandbox-exec -p PROFILE -D …`. Later rules win in
 * SBPL, so: allow everything, deny every write, allow writes to the roots and the temp
 * directories, deny writes to the policy directories again, deny reading the Opta home, and deny
 * the network unless the level is `network`. Paths travel as parameters so no path can break out
 * of a string literal. `tempDirs` are the real paths of /tmp and $TMPDIR.
 */
export function seatbeltProfile(plan: SandboxPlan, tempDirs: readonly string[]): SeatbeltProfile {
  const params: Record<string, string> = {};
  const param = (prefix: string, values: readonly string[]) =>
    values.map((value, index) => {
      params[`${prefix}_${index}`] = value;
      return `(subpath (param "${prefix}_${index}"))`;
    });
  const lines = ["(version 1)", "(allow default)", "(deny file-write*)"];
  const writable = [
    ...(plan.writable ? param("ROOT", plan.roots) : []),
    ...param("TMP", tempDirs),
    ...WRITABLE_DEVICES,
  ];
  lines.push(`(allow file-write* ${writable.join(" ")})`);
  const locked = param("POLICY", [...plan.protect, ...plan.block]);
  if (locked.length > 0) lines.push(`(deny file-write* ${locked.join(" ")})`);
  const hidden = param("HIDE", plan.hide);
  if (hidden.length > 0) lines.push(`(deny file-read* file-write* ${hidden.join(" ")})`);
  if (!plan.network) lines.push("(deny network*)");
  return { profile: `${lines.join("\n")}\n`, params };
}

/** The arguments of `sandbox-exec` before the command. */
export function seatbeltArguments(profile: SeatbeltProfile): string[] {
  const args = ["-p", profile.profile];
  for (const [name, value] of Object.entries(profile.params)) args.push("-D", `${name}=${value}`);
  return args;
}

/** What the detection probe runs, built like a real profile, so a profile macOS rejects shows up as "no sandbox". */
export const SEATBELT_PROBE_ARGS: readonly string[] = seatbeltArguments(
  seatbeltProfile(
    {
      level: "workspace-write",
      cwd: "/private/tmp",
      roots: ["/private/tmp/opta-probe"],
      writable: true,
      protect: ["/private/tmp/opta-probe/.opta"],
      block: [],
      hide: ["/private/var/empty"],
      network: false,
    },
    ["/private/tmp"],
  ),
);
