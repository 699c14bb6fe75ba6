/**
 * The agent's overhead per step for a 100-file workspace (a git repository with the files
 * committed), in one run:
 *
 * - Checkpoints: what the daemon adds before and after a write_file/edit_file call (resolve the
 *   path, hash and copy the file, append `checkpoint`, hash again, append `checkpoint.written`), with
 *   a real session store on disk. Baseline, same run: a plain writeFile of the same content (the
 *   tool's own write also fsyncs, so costs more). Each step edits one of the 100 files (round robin),
 *   so every checkpoint stores new content, as a real edit does.
 * - The system prompt (agent/system-prompt): built once per turn, not per step, every
 *   BENCH_TURN_STEPS (10) steps here, so the working tree it describes has the edits so far. A
 *   session's first turn runs `git status`; later turns reuse the git snapshot the first recorded.
 *   Baseline, same run: the bare `git status` the first turn runs.
 *
 *   npm run bench:build && node bench/dist/bench/agent/checkpoint-overhead.js   (or npm run bench:agent: both agent benchmarks)
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buildSystemPrompt, CheckpointBlobs, Checkpointer, GlobalFeed, Logger, SessionStore } from "@opta/daemon";
import { tempHome } from "../../packages/daemon/test/fixtures/daemon-harness.js";
import { fmt, percentile, report } from "../stats.js";

const FILES = Number(process.env.BENCH_FILES ?? 100);
const STEPS = Number(process.env.BENCH_STEPS ?? 500);
const FILE_BYTES = Number(process.env.BENCH_FILE_BYTES ?? 4096);
const TURN_STEPS = Number(process.env.BENCH_TURN_STEPS ?? 10);

/** The `git status` the system prompt's environment part runs (same flags), timed alone. */
function bareGitStatus(cwd: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(
      "git",
      ["--no-pager", "-c", "core.fsmonitor=false", "status", "--porcelain=v1", "--branch", "--untracked-files=normal"],
      { cwd, env: { ...process.env, GIT_OPTIONAL_LOCKS: "0", LC_ALL: "C" } },
      (error) => (error ? reject(error) : resolve()),
    ),
  );
}

export async function checkpointOverhead(): Promise<void> {
  const home = await tempHome("opta-bench-home-");
  const work = await tempHome("opta-bench-work-");
  try {
    const store = new SessionStore(join(home.home, "sessions"), new Logger(), new GlobalFeed());
    await store.init();
    const checkpointer = new Checkpointer(store, new CheckpointBlobs(store.checkpointsDir()));
    const session = store.create({ cwd: work.home, mode: "do", model: "bench" });
    const turnId = "t-bench";
    store.append(session.id, {
      event: "turn.start",
      turnId,
      role: "user",
      text: "edit every file",
      mode: "do",
      model: "bench",
      permission: "unrestricted",
    });
    const line = "x".repeat(63);
    for (let index = 0; index < FILES; index++) {
      const dir = join(work.home, `pkg${index % 10}`);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, `file${index}.ts`), `${line}\n`.repeat(FILE_BYTES / 64));
    }
    const git = (...args: string[]) => execFileSync("git", args, { cwd: work.home, stdio: "ignore" });
    git("init", "-q", "-b", "main");
    git("add", "-A");
    git("-c", "user.email=bench@example.invalid", "-c", "user.name=bench", "commit", "-q", "-m", "100 files");
    const promptOptions = {
      cwd: work.home,
      home: home.home,
      mode: "do" as const,
      maxSteps: 20,
      sandbox: "workspace-write" as const,
    };
    const firstTurn: number[] = [];
    const laterTurn: number[] = [];
    const bareGit: number[] = [];
    let snapshot: string | undefined;
    const buildPrompts = async () => {
      // A session's first turn (git runs), then a later turn of the same session (the snapshot), then git alone.
      let started = performance.now();
      const prompt = await buildSystemPrompt(promptOptions);
      firstTurn.push(performance.now() - started);
      snapshot ??= prompt.git;
      started = performance.now();
      await buildSystemPrompt({ ...promptOptions, git: snapshot });
      laterTurn.push(performance.now() - started);
      started = performance.now();
      await bareGitStatus(work.home);
      bareGit.push(performance.now() - started);
    };
    const ctx = { cwd: work.home, signal: new AbortController().signal, home: home.home };
    const overhead: number[] = [];
    const writes: number[] = [];
    for (let step = 1; step <= STEPS; step++) {
      if ((step - 1) % TURN_STEPS === 0) await buildPrompts();
      const index = step % FILES;
      const path = `pkg${index % 10}/file${index}.ts`;
      const content = `// step ${step}\n${`${line}\n`.repeat(FILE_BYTES / 64)}`;
      const started = performance.now();
      const after = await checkpointer.before({
        sessionId: session.id,
        turnId,
        callId: `c-${step}`,
        step,
        tool: "write_file",
        args: { path, content },
        ctx,
      });
      const checkpointed = performance.now();
      await writeFile(join(work.home, path), content);
      const wrote = performance.now();
      await after?.();
      const finished = performance.now();
      overhead.push(checkpointed - started + (finished - wrote));
      writes.push(wrote - checkpointed);
    }
    await store.close();
    const median = percentile(overhead, 50);
    const p95 = percentile(overhead, 95);
    console.log(
      `agent overhead: ${STEPS} steps, ${FILES}-file git workspace, ${FILE_BYTES}-byte files (each step changes one file); the system prompt is built once per turn (every ${TURN_STEPS} steps here, ${firstTurn.length} turns), not per step`,
    );
    const firstMedian = percentile(firstTurn, 50);
    report({
      name: "system prompt build per turn, a session's first turn (runs git status), median",
      value: firstMedian,
      unit: "ms",
      baseline: { label: "bare git status", value: percentile(bareGit, 50) },
      target: "< 5 ms",
      met: firstMedian < 5,
    });
    report({
      name: "system prompt build per turn, first turn, p95",
      value: percentile(firstTurn, 95),
      unit: "ms",
      baseline: { label: "bare git status p95", value: percentile(bareGit, 95) },
      target: "< 5 ms",
      met: percentile(firstTurn, 95) < 5,
    });
    const laterMedian = percentile(laterTurn, 50);
    report({
      name: "system prompt build per turn, later turns (git snapshot), median",
      value: laterMedian,
      unit: "ms",
      target: "< 5 ms",
      met: laterMedian < 5,
    });
    report({
      name: "system prompt build per turn, later turns, p95",
      value: percentile(laterTurn, 95),
      unit: "ms",
      target: "< 5 ms",
      met: percentile(laterTurn, 95) < 5,
    });
    console.log(
      `system prompt per step, amortised over a ${TURN_STEPS}-step turn (median; first turn / later turns): ${fmt(firstMedian / TURN_STEPS)} / ${fmt(laterMedian / TURN_STEPS)} ms`,
    );
    report({
      name: "checkpoint overhead per step (median)",
      value: median,
      unit: "ms",
      baseline: { label: "plain writeFile", value: percentile(writes, 50) },
      target: "< 5 ms",
      met: median < 5,
    });
    report({ name: "checkpoint overhead per step (p95)", value: p95, unit: "ms", target: "< 5 ms", met: p95 < 5 });
  } finally {
    await home.cleanup();
    await work.cleanup();
  }
}

await checkpointOverhead();
