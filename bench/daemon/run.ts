/**
 * Daemon benchmarks (issue: foundation). Build first (`npm run build`), then:
 *   node bench/dist/bench/daemon/run.js [relay|throughput|replay|startup]...
 * or `npm run bench:daemon`. Prints one line per figure; never part of `npm test`.
 */
import { relayLatency } from "./relay-latency.js";
import { replay } from "./replay.js";
import { startup } from "./startup.js";
import { throughput } from "./throughput.js";

const all: Record<string, () => Promise<void>> = { relay: relayLatency, throughput, replay, startup };
const chosen = process.argv.slice(2);
const names = chosen.length ? chosen : Object.keys(all);
console.log(`# opta daemon benchmarks · node ${process.version} · ${new Date().toISOString()}`);
for (const name of names) {
  const run = all[name];
  if (!run) throw new Error(`unknown benchmark '${name}'; choose from ${Object.keys(all).join(", ")}`);
  await run();
}
