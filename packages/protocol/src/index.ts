/** @opta/protocol: the one place where Opta's wire shapes are defined. No I/O. */
export * from "./common.js";
export * from "./diff.js";
export * from "./doctor.js";
export * from "./errors.js";
export * from "./events.js";
export * from "./hooks.js";
export * from "./ids.js";
export * from "./mcp.js";
export * from "./rest.js";

/** Protocol version spoken by the daemon's HTTP API. */
export const API_VERSION = "v3";
export * from "./config.js";
export * from "./vault-sync.js";
