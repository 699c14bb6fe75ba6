import { randomBytes } from "node:crypto";
import { readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * A pull's progress as it shows on LMX's dashboard. `opta lmx pull` downloads in its own process,
 * not in LMX's, so the two meet in the models directory: the pull writes this record into the
 * staging directory (`<modelsDir>/.pull/`), and LMX reads every record there when it builds a
 * dashboard snapshot. The file goes away when the pull ends, whichever way.
 */
export type PullProgress = {
  /** What was asked for (`hf:…` or the URL). */
  source: string;
  /** File names being downloaded (more than one for a split model). */
  files: string[];
  downloadedBytes: number;
  /** 0 until the server has said how large the download is. */
  totalBytes: number;
  /** ISO time the pull started. */
  startedAt: string;
  /** ISO time of the last update. */
  updatedAt: string;
  /** The pulling process; a record whose process is gone is an interrupted pull and is not shown. */
  pid: number;
};

const SUFFIX = ".progress.json";
/** At most this often on disk: the downloader reports every chunk. */
const WRITE_INTERVAL_MS = 250;

/** Writes one pull's progress record, throttled, each write a temp file and a rename. */
export class PullProgressWriter {
  private readonly path: string;
  private readonly record: PullProgress;
  private lastWrite = 0;
  private writing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(staging: string, source: string) {
    this.path = join(staging, `${process.pid}-${randomBytes(4).toString("hex")}${SUFFIX}`);
    const now = new Date().toISOString();
    this.record = {
      source,
      files: [],
      downloadedBytes: 0,
      totalBytes: 0,
      startedAt: now,
      updatedAt: now,
      pid: process.pid,
    };
  }

  /** Records new figures; they reach the file within {@link WRITE_INTERVAL_MS}. */
  update(figures: Partial<Pick<PullProgress, "files" | "downloadedBytes" | "totalBytes">>): void {
    if (this.closed) return;
    Object.assign(this.record, figures, { updatedAt: new Date().toISOString() });
    const wait = this.lastWrite + WRITE_INTERVAL_MS - Date.now();
    if (wait <= 0) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), wait).unref();
  }

  private flush(): void {
    this.timer = undefined;
    this.lastWrite = Date.now();
    const text = JSON.stringify(this.record);
    this.writing = this.writing.then(async () => {
      if (this.closed) return;
      const temp = `${this.path}.${randomBytes(4).toString("hex")}.tmp`;
      // A progress record is a courtesy: a full disk or a vanished staging directory must not fail the pull.
      await writeFile(temp, text)
        .then(() => rename(temp, this.path))
        .catch(() => rm(temp, { force: true }));
    });
  }

  /** Removes the record (the pull ended); waits for a write in flight so that none lands after. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.writing;
    await rm(this.path, { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The pulls running now into `modelsDir`, from their progress records (oldest first). */
export async function readPullProgress(modelsDir: string): Promise<PullProgress[]> {
  const staging = join(modelsDir, ".pull");
  let names: string[];
  try {
    names = await readdir(staging);
  } catch {
    return [];
  }
  const records: PullProgress[] = [];
  for (const name of names) {
    if (!name.endsWith(SUFFIX)) continue;
    try {
      const record = JSON.parse(await readFile(join(staging, name), "utf8")) as PullProgress;
      if (typeof record.pid === "number" && alive(record.pid)) records.push(record);
    } catch {
      // Removed between readdir and read (the pull ended), or not ours: skip it.
    }
  }
  return records.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}
