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
    list.map((grant) => [grant.id, ago(grant.createdAt), ago(grant.lastUsedAt), truncate(grant.userAgent, 60)]),
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
