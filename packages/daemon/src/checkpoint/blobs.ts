import { createHash, randomBytes } from "node:crypto";
import { copyFile, link, mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";

/** sha256 of some bytes, hex: the name a checkpointed file's content is stored under. */
export function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Content-addressed copies of checkpointed files, one directory per session under the daemon's
 * sessions directory (`$OPTA_HOME/sessions/checkpoints/<id>/<sha256>`). The sandbox hides that
 * directory from commands, so a model cannot rewrite what a rewind puts back. A file whose content
 * is already stored costs one stat.
 */
export class CheckpointBlobs {
  constructor(private readonly dir: string) {}

  /** The directory holding one session's copies. */
  dirOf(sessionId: string): string {
    return join(this.dir, sessionId);
  }

  /** Stores `bytes` (if not yet stored) and returns their sha256. Written to a temp name, fsynced, renamed. */
  async put(sessionId: string, bytes: Buffer): Promise<string> {
    const hash = sha256(bytes);
    const target = join(this.dirOf(sessionId), hash);
    if (await exists(target)) return hash;
    await mkdir(this.dirOf(sessionId), { recursive: true, mode: 0o700 });
    const temp = `${target}.${randomBytes(4).toString("hex")}.tmp`;
    const handle = await open(temp, "wx", 0o600);
    try {
      await handle.writeFile(bytes);
      // Durable before the agent's write replaces the original: otherwise a power cut could lose both.
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
    return hash;
  }

  /** The stored content with that hash; throws when it is missing or does not match its name. */
  async get(sessionId: string, hash: string): Promise<Buffer> {
    const bytes = await readFile(join(this.dirOf(sessionId), hash));
    if (sha256(bytes) !== hash) throw new Error(`checkpoint copy ${hash} is damaged`);
    return bytes;
  }

  /** Makes the copies `hashes` of one session available to another (a fork): hard links, else copies. */
  async share(fromSession: string, toSession: string, hashes: Iterable<string>): Promise<void> {
    const unique = new Set(hashes);
    if (unique.size === 0) return;
    await mkdir(this.dirOf(toSession), { recursive: true, mode: 0o700 });
    for (const hash of unique) {
      const from = join(this.dirOf(fromSession), hash);
      const to = join(this.dirOf(toSession), hash);
      if (!(await exists(from)) || (await exists(to))) continue;
      await link(from, to).catch(() => copyFile(from, to));
    }
  }

  /** Removes one session's copies (the session was deleted). */
  async remove(sessionId: string): Promise<void> {
    await rm(this.dirOf(sessionId), { recursive: true, force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
