#!/usr/bin/env node
/**
 * Peekaboo over stdio: `node peekaboo-main.js --browser /usr/bin/chromium --output-dir DIR [--no-sandbox]`.
 * Chromium keeps its sandbox unless this runs as root, `--no-sandbox` is given or
 * OPTA_BROWSER_NO_SANDBOX=1 is set.
 * The daemon starts it when `mcp.peekaboo` is true; any other MCP client can start it the same way.
 * It exits when its stdin closes (the client went away), closing every browser first.
 */
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { resolveOptaHome } from "@opta/local";
import { checkBrowser } from "./check-browser.js";
import { createPeekabooServer } from "./peekaboo.js";

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const index = args.indexOf(name);
    return index === -1 ? undefined : args[index + 1];
  };
  let executablePath = flag("--browser");
  if (!executablePath) {
    const found = await checkBrowser();
    if (!found.available || !found.path) throw new Error(found.hint ?? "no browser found");
    executablePath = found.path;
  }
  const outputDir = flag("--output-dir") ?? `${resolveOptaHome()}/browser-snapshots`;
  const { server, close } = createPeekabooServer({
    executablePath,
    outputDir,
    ...(args.includes("--no-sandbox") ? { noSandbox: true } : {}),
  });
  const transport = new StdioServerTransport();
  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    await close().catch(() => {});
    process.exit(0);
  };
  process.stdin.on("end", () => void shutdown());
  process.stdin.on("close", () => void shutdown());
  process.once("SIGTERM", () => void shutdown());
  process.once("SIGINT", () => void shutdown());
  await server.connect(transport);
}

main().catch((error: Error) => {
  process.stderr.write(`peekaboo: ${error.message}\n`);
  process.exit(1);
});
