import { readFile, realpath, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { writeFileAtomic } from "./atomic-file.js";
import { optaPaths } from "./home.js";

/** One directory the user trusted with `opta trust DIR`. */
export interface TrustedDirectory {
  /** Absolute real path (symlinks resolved when it was trusted). */
  path: string;
  /** When it was trusted (ISO 8601). */
  trustedAt: string;
}

/** What `$OPTA_HOME/trusted.json` holds, or why it was not used. */
export interface TrustedDirectories {
  /** The trusted directories, in the order they were added. */
  directories: TrustedDirectory[];
  /** Set when the file exists but was ignored (unreadable, broken, or writable by another user). */
  problem?: string;
}

/**
 * Reads the trusted directories. The daemon and the CLI both read this one file. A file that
 * another user could have written (not owned by the current user or root, or group/world
 * writable) is ignored as a whole: trusting a directory is what lets its policy govern sessions,
 * so the list must be the user's own.
 */
export async function readTrustedDirectories(home: string): Promise<TrustedDirectories> {
  const file = optaPaths(home).trusted;
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { directories: [] };
    return { directories: [], problem: `could not read ${file}: ${(error as Error).message}` };
  }
  const unsafe = await writableByOthers(file);
  if (unsafe) return { directories: [], problem: `${file} was ignored: it ${unsafe}` };
  try {
    const parsed = JSON.parse(text) as { directories?: unknown };
    const list = Array.isArray(parsed.directories) ? parsed.directories : [];
    const directories = list.filter(
      (entry): entry is TrustedDirectory =>
        typeof entry === "object" &&
        entry !== null &&
        typeof (entry as TrustedDirectory).path === "string" &&
        typeof (entry as TrustedDirectory).trustedAt === "string",
    );
    return { directories };
  } catch (error) {
    return {
      directories: [],
      problem: `${file} is not valid JSON (${(error as Error).message}); fix it or remove it and run \`opta trust DIR\` again`,
    };
  }
}

/** Adds `directory` (resolved to its real path; it must exist) and returns the stored entry. */
export async function trustDirectory(home: string, directory: string): Promise<TrustedDirectory> {
  const path = await realDirectory(directory);
  const { directories, problem } = await readTrustedDirectories(home);
  if (problem) throw new Error(problem);
  const existing = directories.find((entry) => entry.path === path);
  if (existing) return existing;
  const entry = { path, trustedAt: new Date().toISOString() };
  await writeTrusted(home, [...directories, entry]);
  return entry;
}

/** Removes `directory` (matched as given, resolved, or by real path); false when it was not trusted. */
export async function untrustDirectory(home: string, directory: string): Promise<boolean> {
  const { directories, problem } = await readTrustedDirectories(home);
  if (problem) throw new Error(problem);
  const candidates = new Set([directory, resolve(directory)]);
  const real = await realpath(directory).catch(() => undefined);
  if (real) candidates.add(real);
  const kept = directories.filter((entry) => !candidates.has(entry.path));
  if (kept.length === directories.length) return false;
  await writeTrusted(home, kept);
  return true;
}

async function realDirectory(directory: string): Promise<string> {
  const path = await realpath(resolve(directory)).catch(() => undefined);
  if (!path || !(await stat(path)).isDirectory()) throw new Error(`${directory} is not a directory`);
  return path;
}

/** Writes through a temp file and a rename (never a half-written list), mode 0600. */
async function writeTrusted(home: string, directories: TrustedDirectory[]): Promise<void> {
  await writeFileAtomic(optaPaths(home).trusted, `${JSON.stringify({ version: 1, directories }, null, 2)}\n`);
}

/**
 * Why another local user could have written `path` (`is owned by…`, `is writable by…`: owned by someone other than the current user
 * or root, or group/world writable), or undefined. With `allowSticky`, a group/world-writable
 * directory with the sticky bit (like /tmp) passes: others may add entries there but not rename or
 * remove ours. Always undefined where POSIX owners do not apply.
 */
export async function writableByOthers(
  path: string,
  options: { allowSticky?: boolean } = {},
): Promise<string | undefined> {
  if (typeof process.getuid !== "function") return undefined;
  const info = await stat(path);
  const me = process.getuid();
  if (info.uid !== me && info.uid !== 0) return `is owned by uid ${info.uid}, not by you (uid ${me}) or root`;
  const mode = info.mode & 0o7777;
  if (mode & 0o022) {
    const sticky = options.allowSticky === true && info.isDirectory() && (mode & 0o1000) !== 0;
    if (!sticky)
      return `is writable by other users (mode ${(mode & 0o777).toString(8).padStart(4, "0")}); run \`chmod go-w ${path}\``;
  }
  return undefined;
}
