import { createHash } from "node:crypto";

/** Longest function name OpenAI-compatible servers accept. */
const MAX_NAME = 64;

/**
 * The name the model sees for an MCP tool: `<server>__<tool>`, or the tool's own name for a server
 * whose tools are offered unprefixed (peekaboo's `browser_*`). Characters outside `[A-Za-z0-9_-]`
 * become `_`, and a name over 64 characters is cut and suffixed with a short hash so it stays unique.
 */
export function exposedToolName(server: string | undefined, tool: string): string {
  const raw = server === undefined ? tool : `${server}__${tool}`;
  const clean = raw.replace(/[^A-Za-z0-9_-]/g, "_");
  if (clean.length <= MAX_NAME) return clean;
  const hash = createHash("sha256").update(raw).digest("hex").slice(0, 8);
  return `${clean.slice(0, MAX_NAME - 9)}_${hash}`;
}
