import { open, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join, relative, resolve, sep } from "node:path";
import { writableByOthers } from "@opta/local";
import type { SystemPromptSource } from "@opta/protocol";
import { findRepository } from "../../repository/find.js";

/** Bytes of one instruction file that go into the prompt; the rest is cut with a note. */
export const INSTRUCTION_FILE_CAP = 32 * 1024;
/** Bytes of all instruction files together. */
export const INSTRUCTIONS_TOTAL_CAP = 64 * 1024;

/** The files read in each directory from the repository root down to the cwd, in this order. */
export const PROJECT_INSTRUCTION_FILES = ["AGENTS.md", "CLAUDE.md", join(".opta", "instructions.md")] as const;

/** One instruction file as it goes into the prompt. */
export interface InstructionFile extends SystemPromptSource {
  /** The text that goes in (empty when skipped), already cut to the caps with a note. */
  text: string;
}

/**
 * The instructions for a session: `$OPTA_HOME/AGENTS.md` (the user's), then for each directory from
 * the repository root down to the cwd its AGENTS.md, CLAUDE.md and .opta/instructions.md, so the
 * nearest (most specific) file comes last and wins where they disagree. Outside a repository only
 * the cwd's own files count: a folder above a stray cwd (/tmp, Downloads) is nobody's project.
 * A file another local user can write is skipped, as project policies are: it would let them steer
 * the agent. Each file is capped at 32 KiB and all of them at 64 KiB.
 */
export async function loadInstructions(options: { cwd: string; home: string }): Promise<InstructionFile[]> {
  const candidates: Array<{ path: string; scope: "user" | "project" }> = [
    { path: join(options.home, "AGENTS.md"), scope: "user" },
  ];
  for (const directory of await directoriesFromRoot(resolve(options.cwd))) {
    for (const name of PROJECT_INSTRUCTION_FILES) candidates.push({ path: join(directory, name), scope: "project" });
  }
  const files: InstructionFile[] = [];
  let budget = INSTRUCTIONS_TOTAL_CAP;
  for (const candidate of candidates) {
    const size = await fileSize(candidate.path);
    if (size === undefined) continue;
    const unsafe = await writableByOthers(candidate.path).catch(
      (error: Error) => `could not be checked (${error.message})`,
    );
    if (unsafe) {
      files.push({ ...candidate, bytes: 0, text: "", skipped: `${candidate.path} ${unsafe}` });
      continue;
    }
    if (budget <= 0) {
      files.push({
        ...candidate,
        bytes: 0,
        text: "",
        skipped: `the ${INSTRUCTIONS_TOTAL_CAP / 1024} KiB cap on all instruction files was reached`,
      });
      continue;
    }
    const cap = Math.min(INSTRUCTION_FILE_CAP, budget);
    const content = await readHead(candidate.path, cap);
    const cut = size > content.length;
    const text = cut
      ? `${content.toString("utf8")}\n[truncated: the first ${content.length} of ${size} bytes are shown; the cap is ${INSTRUCTION_FILE_CAP / 1024} KiB per file, ${INSTRUCTIONS_TOTAL_CAP / 1024} KiB in all]`
      : content.toString("utf8");
    budget -= content.length;
    files.push({ ...candidate, bytes: content.length, ...(cut ? { totalBytes: size } : {}), text });
  }
  return files;
}

/**
 * The repository root (the nearest directory at or above `cwd` holding `.git`, below the user's
 * home), then each directory down to `cwd`; only `cwd` outside a repository.
 */
async function directoriesFromRoot(cwd: string): Promise<string[]> {
  const repository = await findRepository(cwd, { ceiling: homedir() });
  if (!repository) return [cwd];
  const below = relative(repository.root, cwd);
  const directories = [repository.root];
  let current = repository.root;
  for (const segment of below === "" ? [] : below.split(sep)) {
    current = join(current, segment);
    directories.push(current);
  }
  return directories;
}

async function fileSize(path: string): Promise<number | undefined> {
  return stat(path).then(
    (info) => (info.isFile() ? info.size : undefined),
    () => undefined,
  );
}

/** The first `limit` bytes of a file, cut back to a whole UTF-8 character. */
async function readHead(path: string, limit: number): Promise<Buffer> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(limit);
    const { bytesRead } = await handle.read(buffer, 0, limit, 0);
    let end = bytesRead;
    if (end === limit) {
      // Step back over a character the cap split (continuation bytes are 10xxxxxx).
      let start = end - 1;
      while (start > 0 && start > end - 4 && (buffer[start]! & 0xc0) === 0x80) start -= 1;
      const lead = buffer[start]!;
      const width = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
      if (start + width > end) end = start;
    }
    return buffer.subarray(0, end);
  } finally {
    await handle.close();
  }
}
