import { optaPaths, readTrustedDirectories, trustDirectory, untrustDirectory } from "@opta/local";
import { optaHome } from "../connection.js";
import { CliError, UsageError } from "../output/errors.js";
import { dim, print, table } from "../output/terminal.js";

/**
 * `opta trust [DIR] [--list] [--remove DIR] [--json]`: the directories whose `.opta/policy.yaml`
 * may govern sessions below them even though they are not a repository root (docs/permissions.md,
 * "Which project policy applies"). The daemon reads the same `$OPTA_HOME/trusted.json` when it
 * loads a session's policies, so a change applies from the next turn.
 */
export async function trust(
  directory: string | undefined,
  options: { list?: boolean; remove?: string; json?: boolean } = {},
): Promise<number> {
  const home = optaHome();
  if (options.remove !== undefined) {
    if (directory !== undefined) throw new UsageError("give either DIR or --remove DIR, not both");
    if (!(await untrustDirectory(home, options.remove)))
      throw new CliError(`${options.remove} is not trusted (see \`opta trust --list\`)`);
    print(`No longer trusted: ${options.remove}`);
    return 0;
  }
  if (directory !== undefined) {
    if (options.list) throw new UsageError("give either DIR or --list, not both");
    let entry: Awaited<ReturnType<typeof trustDirectory>>;
    try {
      entry = await trustDirectory(home, directory);
    } catch (error) {
      throw new CliError((error as Error).message);
    }
    print(`Trusted ${entry.path}: its .opta/policy.yaml now applies to sessions below it`);
    print(dim("# the file must still be yours and not writable by other users; undo with `opta trust --remove DIR`"));
    return 0;
  }
  const { directories, problem } = await readTrustedDirectories(home);
  if (options.json) {
    print(JSON.stringify({ file: optaPaths(home).trusted, directories, ...(problem ? { problem } : {}) }, null, 2));
    return problem ? 1 : 0;
  }
  if (problem) throw new CliError(problem);
  if (directories.length === 0) print("No trusted directories. Trust one with `opta trust DIR`.");
  else
    table(
      ["DIRECTORY", "TRUSTED"],
      directories.map((entry) => [entry.path, entry.trustedAt]),
    );
  print(dim(`# ${optaPaths(home).trusted}`));
  return 0;
}
