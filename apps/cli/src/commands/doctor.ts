import { execFile } from "node:child_process";
import { createLocalClient } from "@opta/daemon-client/node";
import { CHECK_WORDS, type CheckStatus, DoctorReport } from "@opta/protocol";
import { daemonEntry, optaHome } from "../connection.js";
import { CliError } from "../output/errors.js";
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
 * A running daemon answers (`GET /v3/doctor`): its environment, config and vault are the ones turns
 * use. Otherwise the same checks run once in a child process (the daemon's entry, `doctor` mode)
 * that serves nothing. Never starts the daemon: a doctor that changed what it examines would hide problems.
 */
export async function doctor(options: { policy?: boolean; json?: boolean } = {}): Promise<number> {
  const policy = options.policy ?? false;
  const report = await doctorReport(policy);
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
  const by =
    report.checkedBy === "daemon" ? dim(" · checked by the running daemon (its environment, config and vault)") : "";
  print(`${ok} ok · ${warn} warning${warn === 1 ? "" : "s"} · ${fail} failed${by}`);
  return report.ok ? 0 : 1;
}

/** The doctor's report: from the running daemon when one answers, else from a one-off local run. */
export async function doctorReport(policy = false): Promise<DoctorReport> {
  return (await askDaemon(policy)) ?? (await runLocally(policy));
}

/** The running daemon's report, or undefined when none answers (not running, hung, an older daemon). */
async function askDaemon(policy: boolean): Promise<DoctorReport | undefined> {
  try {
    const client = await createLocalClient({ home: optaHome(), timeoutMs: 10_000 });
    const started = performance.now();
    await client.health();
    const latencyMs = Math.round((performance.now() - started) * 10) / 10;
    const report = await client.doctor({ cwd: process.cwd(), policy });
    // The daemon describes itself; how long this CLI took to reach it is ours to add.
    for (const check of report.checks) {
      if (check.id === "daemon" && check.status === "ok")
        Object.assign(check, { latencyMs, detail: `${check.detail} · ${latencyMs} ms` });
    }
    return report;
  } catch {
    // Whatever went wrong, the local run's daemon check says it (stale state, no answer, a 401).
    return undefined;
  }
}

/** Runs the checks once in a child process, `node <daemon entry> doctor`, and reads its JSON report. */
async function runLocally(policy: boolean): Promise<DoctorReport> {
  const args = [daemonEntry(), "doctor", "--cwd", process.cwd(), ...(policy ? ["--policy"] : [])];
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      { env: { ...process.env, OPTA_HOME: optaHome() }, maxBuffer: 8 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new CliError(`The doctor's checks could not run: ${stderr.trim() || error.message}`));
        else resolve(stdout);
      },
    );
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(output.trim().split("\n").at(-1) ?? "");
  } catch {
    parsed = undefined;
  }
  const report = DoctorReport.safeParse(parsed);
  if (!report.success) throw new CliError(`The doctor's checks printed no report: ${output.trim().slice(0, 200)}`);
  return report.data;
}
