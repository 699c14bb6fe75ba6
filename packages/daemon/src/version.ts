import { readFileSync } from "node:fs";

/** The daemon's version, from its package.json (read once at start). */
export const DAEMON_VERSION: string = (() => {
  try {
    const url = new URL("../package.json", import.meta.url);
    return (JSON.parse(readFileSync(url, "utf8")) as { version: string }).version;
  } catch {
    return "0.0.0";
  }
})();
