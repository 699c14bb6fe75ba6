import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { Logger } from "../../src/log/logger.js";
import { GlobalFeed } from "../../src/session/global-feed.js";
import { SessionStore } from "../../src/session/store.js";

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * Index saves that overlap (a delete while another delete, the 500 ms timer or shutdown is saving)
 * once shared one temp file, and the later rename failed with ENOENT, failing the request or the
 * daemon's shutdown.
 */
it("overlapping index saves all succeed, and the index ends up with what is left", async () => {
  dir = await mkdtemp(join(tmpdir(), "opta-index-"));
  const logger = new Logger({ file: join(dir, "daemon.log"), secrets: () => [] });
  const store = new SessionStore(join(dir, "sessions"), logger, new GlobalFeed());
  await store.init();
  const ids = Array.from({ length: 12 }, (_, index) =>
    store.create({ cwd: dir!, mode: "chat", model: "m", title: `s${index}` }),
  ).map((record) => record.id);
  const [kept, ...removed] = ids;
  await Promise.all([...removed.map((id) => store.remove(id, { purge: true })), store.close()]);
  const index = JSON.parse(await readFile(join(dir, "sessions", "index.json"), "utf8")) as {
    sessions: Array<{ id: string }>;
  };
  expect(index.sessions.map((session) => session.id)).toEqual([kept]);
});
