/**
 * Cached-token ratio over a 10-turn Do session: a real daemon (its own process) → a real Opta LMX
 * (node-llama-cpp, CPU, a generated model: random weights, so the text is noise, but the prompts,
 * the chat template and the KV cache are the real ones) — how much of each turn's prompt LMX reused
 * from its KV cache instead of evaluating it again. The goal is ≥ 0.9 from turn 2 on; the session's
 * turn 1 is the baseline measured in the same run (cold in the first session; later sessions find
 * the shared system prompt and tools already cached). Three sessions: the workspace unchanged; a new
 * file before each turn (what the agent's write_file does to git status); a tool call forced at
 * every step, so follow-up requests carry calls and results.
 *
 * Every figure comes from two places that must agree: `turn.done.promptTokens`/`cachedTokens` (the
 * last request of each turn, as the daemon records it) and LMX's own `chat.done` log lines (every
 * request). Tools are offered, as in any Do turn; `max-output-tokens` is small so a turn is quick.
 *
 *   npm run bench:build && node bench/dist/bench/agent/prompt-cache.js   (or npm run bench:agent: both agent benchmarks)
 *
 * Env: BENCH_TURNS (10), BENCH_MAX_OUTPUT (16), BENCH_MODEL_SIZE (tiny), BENCH_THREADS (1),
 * BENCH_PARALLEL (2, LMX's sequences), BENCH_CONTEXT (8192 tokens per sequence), BENCH_TOOL_OUTPUT (64),
 * BENCH_TOOL_STEPS (3).
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
// The forced-tool-call session: room for a call's arguments, and steps per turn.
const TOOL_OUTPUT = Number(process.env.BENCH_TOOL_OUTPUT ?? 64);
const TOOL_STEPS = Number(process.env.BENCH_TOOL_STEPS ?? 3);

type Event = Record<string, unknown> & { event: string; seq: number };
interface ChatDone {
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
  finish: string;
}

export async function promptCache(): Promise<void> {
  const models = await tempHome("opta-bench-models-");
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
  const daemons: Array<Awaited<ReturnType<typeof spawnDaemon>>> = [];
  const homes: Array<{ cleanup: () => Promise<void> }> = [];
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
    // One daemon per configuration (its own Opta home), all on the same LMX.
    const startDaemon = async (config: string) => {
      const own = await tempHome("opta-bench-home-");
      homes.push(own);
      await mkdir(own.home, { recursive: true });
      await writeFile(join(own.home, "config.yaml"), config);
      const daemon = await spawnDaemon(own.home, { OPTA_LMX_HOST: `127.0.0.1:${lmx.port}` });
      daemons.push(daemon);
      return api(daemon);
    };
    const callDefault = await startDaemon(`max-output-tokens: ${MAX_OUTPUT}\n`);

    console.log(
      `prompt cache: ${TURNS}-turn Do sessions, daemon → LMX (${SIZE} generated model, ${THREADS} thread(s), ${PARALLEL} sequences of ${CONTEXT} tokens, CPU), max-output-tokens ${MAX_OUTPUT}, tools offered`,
    );
    const runSession = async (
      label: string,
      options: { between?: (turn: number) => Promise<void>; call?: typeof callDefault; maxSteps?: number } = {},
    ) => {
      const { between } = options;
      const call = options.call ?? callDefault;
      console.log(`# ${label}`);
      const session = (await (
        await call("/v3/sessions", { method: "POST", json: { cwd: workspace, mode: "do" } })
      ).json()) as { id: string };
      const rows: Array<{ turn: number; prompt: number; cached: number; steps: number; stop: string }> = [];
      // Every step's request of turns 2 on (a tool call's follow-up is one), and apart from them the
      // summary requests of automatic compactions (a different prompt by design: the old turns to summarise).
      const laterRequests: ChatDone[] = [];
      const compactions: ChatDone[] = [];
      let seen = 0;
      for (let turn = 1; turn <= TURNS; turn++) {
        if (turn > 1) await between?.(turn);
        const before = lmxDone.length;
        const submitted = await call(`/v3/sessions/${session.id}/turns`, {
          method: "POST",
          json: {
            text: `Step ${turn}: look at README.md and tell me what to improve next.`,
            interactive: false,
            ...(options.maxSteps ? { maxSteps: options.maxSteps } : {}),
          },
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
        // A compaction runs before the turn's first step: the requests beyond the step count come first.
        const summaries = requests.slice(0, requests.length - row.steps);
        compactions.push(...summaries);
        if (turn > 1) laterRequests.push(...requests.slice(summaries.length));
        console.log(
          `turn ${String(turn).padStart(2)}: prompt ${String(row.prompt).padStart(5)} tokens, cached ${String(row.cached).padStart(5)}, ratio ${fmt(row.cached / row.prompt, 3)}` +
            ` (${row.steps} step(s), stop ${row.stop}; LMX requests, cached/prompt: ${requests.map((r, index) => `${index < summaries.length ? "compaction " : ""}${r.cachedTokens}/${r.promptTokens}`).join(", ")})`,
        );
      }
      const prompt = laterRequests.reduce((sum, request) => sum + request.promptTokens, 0);
      const cached = laterRequests.reduce((sum, request) => sum + request.cachedTokens, 0);
      const worst = Math.min(...laterRequests.map((request) => request.cachedTokens / request.promptTokens));
      const first = rows[0]!;
      report({
        name: `${label}: cached-token ratio, turns 2–${TURNS} (cached/prompt, summed over their ${laterRequests.length} requests)`,
        value: cached / prompt,
        unit: "",
        baseline: { label: "turn 1", value: first.cached / first.prompt },
        target: "≥ 0.9",
        met: cached / prompt >= 0.9,
      });
      report({
        name: `${label}: cached-token ratio, worst step of turns 2–${TURNS}`,
        value: worst,
        unit: "",
        target: "≥ 0.9",
        met: worst >= 0.9,
      });
      if (compactions.length) {
        const tokens = compactions.reduce((sum, request) => sum + request.promptTokens, 0);
        console.log(
          `${label}: ${compactions.length} automatic compaction(s) (the window is ${CONTEXT} tokens), ${tokens} prompt tokens, not counted above`,
        );
      }
      console.log(`${label}: prompt tokens evaluated, turns 2–${TURNS}: ${prompt - cached} of ${prompt}`);
    };

    await runSession("workspace unchanged between turns");
    // What an agent's write_file does to the next turn's prompt: git status gains a path.
    await runSession("a new file in the workspace before each turn", {
      between: async (turn) => {
        await writeFile(join(workspace, `notes-${turn}.md`), `turn ${turn}\n`);
      },
    });
    // Turns of several steps: the (random) model is made to call a tool at every step, so each
    // follow-up request carries the call and its result (a read runs; writes and commands are denied,
    // nobody being there to approve; arguments the cap cuts off come back as INVALID_ARGS).
    const callTools = await startDaemon(`max-output-tokens: ${TOOL_OUTPUT}\ntool-choice: required\n`);
    await runSession(`tool calls forced, up to ${TOOL_STEPS} steps a turn`, { call: callTools, maxSteps: TOOL_STEPS });
  } finally {
    for (const daemon of daemons) await daemon.stop();
    for (const own of homes) await own.cleanup();
    await lmx.close();
    await models.cleanup();
    await work.cleanup();
  }
}

await promptCache();
