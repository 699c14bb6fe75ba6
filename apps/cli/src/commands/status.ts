import { createLocalClient } from "@opta/daemon-client/node";
import { optaHome } from "../connection.js";
import { green, print, red } from "../output/terminal.js";

/** `opta status`: one line — daemon up or down, where, sessions, provider health. Never starts it. */
export async function status(): Promise<number> {
  let client: Awaited<ReturnType<typeof createLocalClient>>;
  try {
    client = await createLocalClient({ home: optaHome(), timeoutMs: 5_000 });
  } catch {
    print(`daemon ${red("down")} · start it with \`opta daemon start\``);
    return 0;
  }
  const info = await client.daemonStatus();
  const providers = info.providers.map(
    (provider) =>
      `${provider.name} ${provider.healthy ? green("healthy") : red(`down${provider.error ? ` (${provider.error})` : ""}`)}`,
  );
  const parts = [
    `daemon ${green("up")}`,
    `${client.baseUrl.replace(/^http:\/\//, "")}`,
    `pid ${info.pid}`,
    `v${info.version}`,
    `${info.sessions.total} session${info.sessions.total === 1 ? "" : "s"} (${info.sessions.active} active)`,
    ...(providers.length > 0 ? providers : ["no providers"]),
  ];
  print(parts.join(" · "));
  return 0;
}
