/** Browser automation (peekaboo). Importing this entry point loads no Playwright: `checkBrowser` is cheap. */
import { fileURLToPath } from "node:url";

export { type BrowserCheck, browserCandidates, checkBrowser, findBrowser } from "./check-browser.js";
export { CHROMIUM_ARGS, chromiumLaunchArgs, type NoSandboxReason, noSandboxReason } from "./sandbox.js";

/** The peekaboo MCP server's entry script (run it with node; it speaks MCP on stdio). */
export const PEEKABOO_MAIN = fileURLToPath(new URL("./peekaboo-main.js", import.meta.url));
