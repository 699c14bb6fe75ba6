import { createLocalClient } from "@opta/daemon-client/node";
import { type DoctorCheck, describeCheck } from "@opta/protocol";
import { optaHome } from "../connection.js";
import { green, print, red, yellow } from "../output/terminal.js";
import { doctorReport } from "./doctor.js";

/** LMX and each provider, exactly as `opta doctor` checks them (by the daemon when it runs). */
export async function providerChecks(): Promise<DoctorCheck[]> {
  const report = await doctorReport();
  return report.checks.filter((check) => check.id === "lmx" || check.id.startsWith("provider:"));
}

/**
 * `opta status`: one line — daemon up or down, where, sessions, then LMX and each provider as
 * `opta doctor` checks them (the same function, the same words). Never starts the daemon.
 */
export async function status(): Promise<number> {
  const home = optaHome();
  const checks = providerChecks();
  let client: Awaited<ReturnType<typeof createLocalClient>> | undefined;
  try {
    client = await createLocalClient({ home, timeoutMs: 5_000 });
  } catch {
    client = undefined;
  }
  const parts: string[] = [];
  if (!client) parts.push(`daemon ${red("down")}`, "start it with `opta daemon start`");
  else {
    const info = await client.daemonStatus();
    parts.push(
      `daemon ${green("up")}`,
      `${client.baseUrl.replace(/^http:\/\//, "")}`,
      `pid ${info.pid}`,
      `v${info.version}`,
      `${info.sessions.total} session${info.sessions.total === 1 ? "" : "s"} (${info.sessions.active} active)`,
    );
  }
  parts.push(...(await checks).map(colored));
  print(parts.join(" · "));
  return 0;
}

function colored(check: DoctorCheck): string {
  const text = describeCheck(check);
  return check.status === "ok" ? green(text) : check.status === "warn" ? yellow(text) : red(text);
}
