/** @opta/daemon: the hub that owns sessions, turns, tools, permissions and provider routing. */

export { buildSystemPrompt, gitSnapshot } from "./agent/system-prompt/index.js";
export { CheckpointBlobs } from "./checkpoint/blobs.js";
export { Checkpointer } from "./checkpoint/checkpointer.js";
export { Daemon, type DaemonOptions, DEFAULT_PORT } from "./daemon.js";
export { Logger } from "./log/logger.js";
export { GlobalFeed } from "./session/global-feed.js";
export { SessionStore } from "./session/store.js";
export { DAEMON_VERSION } from "./version.js";
