/**
 * Checkpoint overhead per step: what the daemon adds before and after a write_file/edit_file call
 * (resolve the path, hash and copy the file, append `checkpoint`, hash again, append
 * `checkpoint.written`), for a 100-file workspace and a real session store on disk. Baseline, same
 * run: a plain writeFile of the same content (the tool's own write also fsyncs, so costs more). Each step edits one of the 100
 * files (round robin), so every checkpoint stores new content, as a real edit does.
 *
 *   npm run bench:build && node bench/dist/bench/agent/checkpoint-overhead.js
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CheckpointBlobs, Checkpointer, GlobalFeed, Logger, SessionStore } from "@opta/daemon";
import { tempHome } from "../../packages/daemon/test/fixtures/daemon-harness.js";
import { percentile, report } from "../stats.js";

const FILES = Number(process.env.BENCH_FILES ?? 100);
const STEPS = Number(process.env.BENCH_STEPS ?? 500);
const FILE_BYTES = Number(process.env.BENCH_FILE_BYTES ?? 4096);

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
    const ctx = { cwd: work.home, signal: new AbortController().signal, home: home.home };
    const overhead: number[] = [];
    const writes: number[] = [];
    for (let step = 1; step <= STEPS; step++) {
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
      `checkpoint overhead: ${STEPS} steps, ${FILES}-file workspace, ${FILE_BYTES}-byte files (each step changes one file)`,
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
