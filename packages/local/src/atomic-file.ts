import { randomBytes } from "node:crypto";
import { chmod, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * Replaces `path` through a temp file and a rename, so a reader (the daemon, another CLI) sees the
 * old file or the new one, never half of either. Private by default (0600, parent 0700): every file
 * here is the user's config, trust list or keys.
 */
export async function writeFileAtomic(path: string, content: string, mode = 0o600): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // A random name: two writers in one process (or two processes) never share a temp file.
  const temporary = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await writeFile(temporary, content, { mode });
    // writeFile's mode is filtered by the umask; the file must be exactly `mode`.
    await chmod(temporary, mode);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
