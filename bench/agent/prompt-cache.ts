/**
 * Cached-token ratio over a 10-turn Do session: a real daemon (its own process) → a real Opta LMX
 * (node-llama-cpp, CPU, a generated model: random weights, so the text is noise, but the prompts,
 * the chat template and the KV cache are the real ones) — how much of each turn's prompt LMX reused
 * from its KV cache instead of evaluating it again. The goal is ≥ 0.9 from turn 2 on; turn 1, which
 * nothing precedes, is the baseline measured in the same run (its prefix is cold).
 *
 * Every figure comes from two places that must agree: `turn.done.promptTokens`/`cachedTokens` (the
 * last request of each turn, as the daemon records it) and LMX's own `chat.done` log lines (every
 * request). Tools are offered, as in any Do turn; `max-output-tokens` is small so a turn is quick.
 *
 *   npm run bench:build && node bench/dist/bench/agent/prompt-cache.js
 *
 * Env: BENCH_TURNS (10), BENCH_MAX_OUTPUT (16), BENCH_MODEL_SIZE (tiny), BENCH_THREADS (1),
 * BENCH_PARALLEL (2, LMX's sequences), BENCH_CONTEXT (8192 tokens per sequence).
 */
import { execFileSync } from "node:child_process";
import { mkdir, realpath, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startLmx, writeTestModel } from "@opta/lmx";
import { api, spawnDaemon, tempHome, waitFor } from "../../packages/daemon/test/fixtures/daemon-harness.js";
import { fmt, report } from "../stats.js";

const TURNS = Number(process.env.BENCH_TURNS ?? 10);
const MAX_OUTPUT = Number(process.env.BENCH_MAX_OUTPUT ?? 16);
const SIZE = (process.env.BENCH_MODEL_SIZE ?? "tiny") as "tiny" | "mid";
const THREADS = Number(process.env.BENCH_THREADS ?? 1);
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 2);
// The generated models' byte-level vocabularies (512 tokens for tiny) spend about one token per
// 2–3 bytes, so the system prompt and tool schemas alone pass the 4096 tokens they were "trained" on.
const CONTEXT = Number(process.env.BENCH_CONTEXT ?? 8192);

type Event = Record<string, unknown> & { event: string; seq: number };
interface ChatDone {
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
  finish: string;
}

export async function promptCache(): Promise<void> {
  const models = await tempHome("opta-bench-models-");
  const home = await tempHome("opta-bench-home-");
  const work = await tempHome("opta-bench-work-");
  const lmxDone: ChatDone[] = [];
  const lmx = await startLmx({
    port: 0,
    modelsDir: models.home,
    threads: THREADS,
    parallel: PARALLEL,
    contextSize: CONTEXT,
    log: (line) => {
      const entry = line as Partial<ChatDone> & { event?: string };
      if (entry.event === "chat.done") lmxDone.push(entry as ChatDone);
    },
  });
  let daemon: Awaited<ReturnType<typeof spawnDaemon>> | undefined;
  try {
    await writeTestModel(join(models.home, "bench.gguf"), { size: SIZE, seed: 7 });
    // A small git repository, so the prompt's environment part carries a real git line.
    const workspace = await realpath(work.home);
    await writeFile(join(workspace, "README.md"), "# demo\n\nA small project the agent works on.\n");
    await writeFile(join(workspace, "AGENTS.md"), "Run `npm test` before you say you are done.\n");
    const git = (...args: string[]) => execFileSync("git", args, { cwd: workspace, stdio: "ignore" });
    git("init", "-q", "-b", "main");
    git("add", "-A");
    git("-c", "user.email=bench@example.invalid", "-c", "user.name=bench", "commit", "-q", "-m", "init");
    await mkdir(home.home, { recursive: true });
    await writeFile(join(home.home, "config.yaml"), `max-output-tokens: ${MAX_OUTPUT}\n`);
    daemon = await spawnDaemon(home.home, { OPTA_LMX_HOST: `127.0.0.1:${lmx.port}` });
    const call = api(daemon);

    console.log(
      `prompt cache: ${TURNS}-turn Do sessions, daemon → LMX (${SIZE} generated model, ${THREADS} thread(s), ${PARALLEL} sequences of ${CONTEXT} tokens, CPU), max-output-tokens ${MAX_OUTPUT}, tools offered`,
    );
    const runSession = async (label: string, between?: (turn: number) => Promise<void>) => {
      console.log(`# ${label}`);
      const session = (await (
        await call("/v3/sessions", { method: "POST", json: { cwd: workspace, mode: "do" } })
      ).json()) as { id: string };
      const rows: Array<{ turn: number; prompt: number; cached: number; steps: number; stop: string }> = [];
      let seen = 0;
      for (let turn = 1; turn <= TURNS; turn++) {
        if (turn > 1) await between?.(turn);
        const before = lmxDone.length;
        const submitted = await call(`/v3/sessions/${session.id}/turns`, {
          method: "POST",
          json: { text: `Step ${turn}: look at README.md and tell me what to improve next.`, interactive: false },
        });
        if (submitted.status !== 202) {
          throw new Error(`turn ${turn} refused: ${submitted.status} ${await submitted.text()}`);
        }
        const done = await waitFor(async () => {
          const all = (
            (await (await call(`/v3/sessions/${session.id}/events?afterSeq=${seen}`)).json()) as {
              events: Event[];
            }
          ).events;
          return all.find((event) => event.event === "turn.done" || event.event === "turn.error");
        }, 300_000);
        seen = done.seq;
        if (done.event !== "turn.done") throw new Error(`turn ${turn} failed: ${JSON.stringify(done)}`);
        if (done.promptTokens === undefined || done.cachedTokens === undefined) {
          throw new Error(`turn ${turn}: turn.done carries no promptTokens/cachedTokens: ${JSON.stringify(done)}`);
        }
        const requests = lmxDone.slice(before);
        const last = requests.at(-1);
        // The daemon's figure is LMX's, passed through: if they differ, the wiring is wrong, not the cache.
        if (!last || last.promptTokens !== done.promptTokens || last.cachedTokens !== done.cachedTokens) {
          throw new Error(`turn ${turn}: turn.done ${JSON.stringify(done)} disagrees with LMX ${JSON.stringify(last)}`);
        }
        const row = {
          turn,
          prompt: done.promptTokens as number,
          cached: done.cachedTokens as number,
          steps: done.steps as number,
          stop: String(done.stopReason),
        };
        rows.push(row);
        console.log(
          `turn ${String(turn).padStart(2)}: prompt ${String(row.prompt).padStart(5)} tokens, cached ${String(row.cached).padStart(5)}, ratio ${fmt(row.cached / row.prompt, 3)}` +
            ` (${row.steps} step(s), stop ${row.stop}; LMX requests: ${requests.map((r) => `${r.cachedTokens}/${r.promptTokens}`).join(", ")})`,
        );
      }
      const later = rows.slice(1);
      const prompt = later.reduce((sum, row) => sum + row.prompt, 0);
      const cached = later.reduce((sum, row) => sum + row.cached, 0);
      const worst = Math.min(...later.map((row) => row.cached / row.prompt));
      const first = rows[0]!;
      report({
        name: `${label}: cached-token ratio, turns 2–${TURNS} (cached/prompt, summed)`,
        value: cached / prompt,
        unit: "",
        baseline: { label: "turn 1", value: first.cached / first.prompt },
        target: "≥ 0.9",
        met: cached / prompt >= 0.9,
      });
      report({
        name: `${label}: cached-token ratio, worst of turns 2–${TURNS}`,
        value: worst,
        unit: "",
        target: "≥ 0.9",
        met: worst >= 0.9,
      });
      console.log(`${label}: prompt tokens evaluated, turns 2–${TURNS}: ${prompt - cached} of ${prompt}`);
    };

    await runSession("workspace unchanged between turns");
    // What an agent's write_file does to the next turn's prompt: git status gains a path.
    await runSession("a new file in the workspace before each turn", async (turn) => {
      await writeFile(join(workspace, `notes-${turn}.md`), `turn ${turn}\n`);
    });
  } finally {
    await daemon?.stop();
    await lmx.close();
    await models.cleanup();
    await home.cleanup();
    await work.cleanup();
  }
}

await promptCache();
