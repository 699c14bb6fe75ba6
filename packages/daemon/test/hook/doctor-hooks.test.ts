import { mkdir, realpath, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { checkHooks } from "../../src/doctor/index.js";
import { tempHome } from "../fixtures/daemon-harness.js";

describe("opta doctor's hooks check", () => {
  let home: { home: string; cleanup: () => Promise<void> };
  let work: { home: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    home = await tempHome("opta-home-");
    work = await tempHome("opta-work-");
  });
  afterEach(async () => {
    await home.cleanup();
    await work.cleanup();
  });

  it("names the hooks that run, and warns about an untrusted project hooks file with the fix", async () => {
    const project = await realpath(work.home);
    await writeFile(join(home.home, "hooks.yaml"), "turn_end:\n  - command: 'true'\n");
    expect(await checkHooks(home.home, project)).toMatchObject({
      status: "ok",
      detail: `1 hook from ${join(home.home, "hooks.yaml")}`,
    });
    await mkdir(join(project, ".opta"));
    await mkdir(join(project, "sub"));
    await writeFile(join(project, ".opta", "hooks.yaml"), "pre_tool:\n  - command: 'exit 2'\n");
    const below = await checkHooks(home.home, join(project, "sub"));
    expect(below.status).toBe("warn");
    expect(below.problems?.[0]).toContain(`opta trust ${project}`);
    expect(below.fix).toContain("opta trust DIR");
  });
});
