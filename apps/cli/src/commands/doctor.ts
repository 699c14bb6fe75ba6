import { CHECK_WORDS, type CheckStatus, runDoctor } from "@opta/daemon/doctor";
import { optaHome } from "../connection.js";
import { bold, dim, green, print, red, yellow } from "../output/terminal.js";

const MARK: Record<CheckStatus, (text: string) => string> = {
  ok: (text) => green(text),
  warn: (text) => yellow(text),
  fail: (text) => red(text),
};
const SYMBOL: Record<CheckStatus, string> = { ok: "✓", warn: "!", fail: "✗" };

/**
 * `opta doctor [--policy] [--json]`: checks the daemon, LMX, providers and their keys, the vault,
 * config, policy files and the home's permissions. Exit 0 when nothing fails (warnings allowed).
 * Never starts the daemon: a doctor that changed what it examines would hide problems.
 */
export async function doctor(options: { policy?: boolean; json?: boolean } = {}): Promise<number> {
  const report = await runDoctor({ home: optaHome(), cwd: process.cwd(), policyOnly: options.policy ?? false });
  if (options.json) {
    print(JSON.stringify(report, null, 2));
    return report.ok ? 0 : 1;
  }
  const width = Math.max(...report.checks.map((check) => check.title.length));
  for (const check of report.checks) {
    const mark = MARK[check.status](`${SYMBOL[check.status]} ${CHECK_WORDS[check.status].padEnd(7)}`);
    print(`${mark}  ${bold(check.title.padEnd(width))}  ${check.detail}`);
    const indent = " ".repeat(width + 13);
    for (const problem of check.problems ?? []) print(`${indent}${problem}`);
    if (check.fix && check.status !== "ok") print(`${indent}${dim("fix:")} ${check.fix}`);
  }
  const { ok, warn, fail } = report.counts;
  print();
  print(`${ok} ok · ${warn} warning${warn === 1 ? "" : "s"} · ${fail} failed`);
  return report.ok ? 0 : 1;
}
