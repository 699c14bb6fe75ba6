/**
 * Where /proc is missing (macOS), writeFileAtomically walks by path and re-checks every step.
 * readlink of /proc/self/fd is made to fail so that this walk runs on Linux too.
 */
import { chmod, mkdir, readdir, readFile, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { reportFamily, type SecurityCase } from "../../../../scripts/security-family.js";

const hooks = vi.hoisted(() => ({
  beforeOpen: undefined as undefined | ((path: string) => Promise<void>),
  /** Called with each temp file's permission bits the moment it exists, before any content is in it. */
  created: undefined as undefined | ((mode: number) => void),
}));

vi.mock("node:fs/promises", async (importOriginal) => {
  const original = await importOriginal<typeof import("node:fs/promises")>();
  const readlink = (async (path: Parameters<typeof original.readlink>[0], ...rest: unknown[]) => {
    if (String(path).startsWith("/proc/self/fd/")) throw Object.assign(new Error("no /proc"), { code: "ENOENT" });
    return (original.readlink as (...args: unknown[]) => Promise<string>)(path, ...rest);
  }) as typeof original.readlink;
  const open: typeof original.open = async (path, ...rest) => {
    const hook = hooks.beforeOpen;
    if (hook && String(path).includes(".opta-tmp-")) {
      hooks.beforeOpen = undefined;
      await hook(String(path));
    }
    const handle = await original.open(path, ...rest);
    if (hooks.created && String(path).includes(".opta-tmp-")) hooks.created((await handle.stat()).mode & 0o777);
    return handle;
  };
  return { ...original, open, readlink, default: { ...original, open, readlink } };
});

const { fail, makeWorkspace, ok } = await import("./workspace.js");
type Workspace = Awaited<ReturnType<typeof makeWorkspace>>;

let ws: Workspace;
beforeEach(async () => {
  ws = await makeWorkspace();
  await writeFile(join(ws.outside, "secret.txt"), "top secret\n");
  hooks.beforeOpen = undefined;
  hooks.created = undefined;
});
afterEach(() => ws.cleanup());

describe("the path walk without /proc", () => {
  it("creates parents, replaces files atomically and keeps their mode", async () => {
    ok(await ws.call("write_file", { path: "a/b/c.txt", content: "one" }));
    const target = join(ws.cwd, "a/b/c.txt");
    await import("node:fs/promises").then(({ chmod }) => chmod(target, 0o640));
    ok(await ws.call("write_file", { path: "a/b/c.txt", content: "two" }));
    expect(await readFile(target, "utf8")).toBe("two");
    expect((await stat(target)).mode & 0o777).toBe(0o640);
    ok(await ws.call("edit_file", { path: "a/b/c.txt", old_string: "two", new_string: "three" }));
    expect(await readFile(target, "utf8")).toBe("three");
    expect(await readdir(join(ws.cwd, "a/b"))).toEqual(["c.txt"]);
  });

  it("never lets the new content of a private file be readable by others, even for a moment", async ({ task }) => {
    // A temp file created 0666 & umask holds the content until the chmod: another local user who
    // opens it meanwhile (or finds it after a crash) keeps reading what was meant to be 0600.
    const cases: SecurityCase[] = [];
    for (const tool of ["write_file", "edit_file"] as const) {
      const target = await ws.write(`${tool}.env`, "KEY=old\n");
      await chmod(target, 0o600);
      const modes: number[] = [];
      hooks.created = (mode) => modes.push(mode);
      const args =
        tool === "write_file"
          ? { path: `${tool}.env`, content: "KEY=new-secret\n" }
          : { path: `${tool}.env`, old_string: "old", new_string: "new-secret" };
      ok(await ws.call(tool, args));
      hooks.created = undefined;
      expect((await stat(target)).mode & 0o777).toBe(0o600);
      cases.push({
        attack: `${tool} of a 0600 file: temp file created ${modes.map((mode) => mode.toString(8)).join(", ")}`,
        refused: modes.length === 1 && modes.every((mode) => (mode & 0o077) === 0),
      });
    }
    expect(reportFamily(task, "crash-write", cases).through).toEqual([]);
  });

  it("refuses a parent swapped for a symlink out before the temp file, writing nothing outside", async () => {
    await mkdir(join(ws.cwd, "sub"));
    hooks.beforeOpen = async () => {
      await rename(join(ws.cwd, "sub"), join(ws.cwd, "sub-moved"));
      await symlink(ws.outside, join(ws.cwd, "sub"));
    };
    const outcome = fail(await ws.call("write_file", { path: "sub/secret.txt", content: "pwned" }));
    expect(outcome.code).toBe("PATH_OUTSIDE_WORKSPACE");
    expect(await readFile(join(ws.outside, "secret.txt"), "utf8")).toBe("top secret\n");
    // The temp file (created through the swapped path, outside) was removed again.
    expect(await readdir(ws.outside)).toEqual(["secret.txt"]);
    await rm(join(ws.cwd, "sub"));
  });
});
