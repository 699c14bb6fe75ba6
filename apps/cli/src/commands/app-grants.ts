import { connect } from "../connection.js";
import { UsageError } from "../output/errors.js";
import { ago, print, table, truncate } from "../output/terminal.js";

/**
 * `opta app grants [--json]`: the Code Desktop windows signed in to this daemon (client grants),
 * which reconnect by themselves after a restart. Secrets are never shown; the daemon keeps only hashes.
 */
export async function grants(options: { json?: boolean } = {}): Promise<number> {
  const client = await connect();
  const { grants: list } = await client.clientGrants();
  if (options.json) {
    print(JSON.stringify(list, null, 2));
    return 0;
  }
  if (list.length === 0) {
    print("No signed-in Code Desktop windows. 'opta app' signs one in.");
    return 0;
  }
  table(
    ["ID", "SIGNED IN", "LAST USED", "BROWSER"],
    list.map((grant) => [grant.id, ago(grant.createdAt), ago(grant.lastUsedAt), browserName(grant.userAgent)]),
  );
  return 0;
}

/**
 * `opta app revoke ID | --all`: signs Code Desktop windows out. The daemon rotates its token as
 * well, so a revoked window loses the token it holds now; other windows and the CLI carry on.
 */
export async function revoke(id: string | undefined, options: { all?: boolean } = {}): Promise<number> {
  if (options.all && id) throw new UsageError("give a grant ID or --all, not both");
  if (!options.all && !id) throw new UsageError("which grant? give its ID (see 'opta app grants') or --all");
  const client = await connect();
  const result = await client.revokeClientGrants(options.all ? { all: true } : { id: id! });
  if (result.revoked.length === 0) {
    print("No signed-in Code Desktop windows to revoke.");
    return 0;
  }
  print(`Revoked ${result.revoked.join(", ")}.`);
  if (result.tokenRotated) print("The daemon token rotated: those windows must run 'opta app' to sign in again.");
  return 0;
}

const BROWSERS: Array<[RegExp, string]> = [
  [/Edg\/(\d+)/, "Edge"],
  [/OPR\/(\d+)/, "Opera"],
  [/HeadlessChrome\/(\d+)/, "HeadlessChrome"],
  [/Chrome\/(\d+)/, "Chrome"],
  [/Firefox\/(\d+)/, "Firefox"],
  [/Version\/(\d+)[^ ]* Safari\//, "Safari"],
];
const SYSTEMS: Array<[RegExp, string]> = [
  [/Windows/, "Windows"],
  [/Mac OS X|Macintosh/, "macOS"],
  [/Android/, "Android"],
  [/Linux|X11/, "Linux"],
];

/** "Chrome 131 on Linux" from a User-Agent; the raw string (shortened) when it is not a known browser. */
export function browserName(userAgent: string): string {
  const browser = BROWSERS.find(([pattern]) => pattern.test(userAgent));
  if (!browser) return truncate(userAgent, 60);
  const version = browser[0].exec(userAgent)?.[1];
  const system = SYSTEMS.find(([pattern]) => pattern.test(userAgent))?.[1];
  return `${browser[1]} ${version}${system ? ` on ${system}` : ""}`;
}
