/**
 * A symlink swapped in between the path check and the write must not redirect the write:
 * `open` from node:fs/promises is wrapped so a test can change the file system at exactly that
 * moment — by default right before the temp file of an atomic write is created, the last open
 * before the rename.
 */
import { execFileSync } from "node:child_process";
import { mkdir, readdir, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

const hooks = vi.hoisted(() => ({
  beforeOpen: undefined as undefined | ((path: string) => Promise<void>),
  /** Which open the hook runs before. */
  when: (path: string) => path.includes(".opta-tmp-"),
}));

vi.mock("node:fs/promises", async (importOriginal) => {
  const original = await importOriginal<typeof import("node:fs/promises")>();
  const open: typeof original.open = async (path, ...rest) => {
    const hook = hooks.beforeOpen;
    if (hook && hooks.when(String(path))) {
      hooks.beforeOpen = undefined; // once
      await hook(String(path));
    }
    return original.open(path, ...rest);
  };
  return { ...original, open, default: { ...original, open } };
});

const { ToolError } = await import("../../src/tool/index.js");
const { openInWorkspace } = await import("../../src/tool/path.js");
const { fail, makeWorkspace, ok } = await import("./workspace.js");
type Workspace = Awaited<ReturnType<typeof makeWorkspace>>;

let ws: Workspace;
let secret: string;
beforeEach(async () => {
  ws = await makeWorkspace();
  secret = join(ws.outside, "secret.txt");
  await writeFile(secret, "top secret\n");
  hooks.beforeOpen = undefined;
  hooks.when = (path) => path.includes(".opta-tmp-");
});
afterEach(() => ws.cleanup());

describe("writes open the checked path without following a swapped-in symlink", () => {
  it("write_file refuses a symlink placed at the target after the check (new file)", async () => {
    hooks.beforeOpen = async () => {
      await symlink(secret, join(ws.cwd, "out.txt"));
    };
    const outcome = fail(await ws.call("write_file", { path: "out.txt", content: "pwned" }));
    expect(outcome.code).toBe("PATH_OUTSIDE_WORKSPACE");
    expect(outcome.error).toContain("symbolic link");
    expect(await readFile(secret, "utf8")).toBe("top secret\n");
  });

  it("write_file refuses a symlink swapped in for an existing file", async () => {
    const target = await ws.write("a.txt", "old");
    hooks.beforeOpen = async () => {
      await rm(target);
      await symlink(secret, target);
    };
    expect(fail(await ws.call("write_file", { path: "a.txt", content: "pwned" })).code).toBe("PATH_OUTSIDE_WORKSPACE");
    expect(await readFile(secret, "utf8")).toBe("top secret\n");
  });

  it("write_file refuses when a parent directory is swapped for a symlink out of the workspace", async () => {
    await mkdir(join(ws.cwd, "sub"));
    hooks.beforeOpen = async () => {
      await rename(join(ws.cwd, "sub"), join(ws.cwd, "sub-moved"));
      await symlink(ws.outside, join(ws.cwd, "sub"));
    };
    expect(fail(await ws.call("write_file", { path: "sub/secret.txt", content: "pwned" })).code).toBe(
      "PATH_OUTSIDE_WORKSPACE",
    );
    expect(await readFile(secret, "utf8")).toBe("top secret\n");
    // The temp file went into the directory that was opened (now sub-moved) and was removed again.
    expect(await readdir(ws.outside)).toEqual(["secret.txt"]);
    expect(await readdir(join(ws.cwd, "sub-moved"))).toEqual([]);
  });

  it("write_file creating a/b/c refuses a component swapped for a symlink while it walks, creating nothing outside", async () => {
    await mkdir(join(ws.cwd, "a"));
    let opens = 0;
    // The second open of a/b: right after the walk created it (the first found it missing).
    hooks.when = (path) => path.endsWith("/b") && ++opens === 2;
    hooks.beforeOpen = async () => {
      await rm(join(ws.cwd, "a", "b"), { recursive: true });
      await symlink(ws.outside, join(ws.cwd, "a", "b"));
    };
    const outcome = fail(await ws.call("write_file", { path: "a/b/c/file.txt", content: "pwned" }));
    expect(outcome.code).toBe("PATH_OUTSIDE_WORKSPACE");
    expect(outcome.error).toContain("symbolic link");
    expect(await readdir(ws.outside)).toEqual(["secret.txt"]);
  });

  it("edit_file refuses a file replaced by another regular file between its read and its write", async () => {
    const target = await ws.write("d.txt", "one\n");
    hooks.beforeOpen = async () => {
      await writeFile(`${target}.new`, "someone else's save\n");
      await rename(`${target}.new`, target);
    };
    const outcome = fail(await ws.call("edit_file", { path: "d.txt", old_string: "one", new_string: "two" }));
    expect(outcome.code).toBe("FILE_CHANGED");
    expect(await readFile(target, "utf8")).toBe("someone else's save\n");
  });

  it("edit_file refuses a symlink swapped in between its read and its write", async () => {
    const target = await ws.write("b.txt", "top secret\n");
    // After the read, before the temp file of the write.
    hooks.beforeOpen = async () => {
      await rm(target);
      await symlink(secret, target);
    };
    const outcome = fail(await ws.call("edit_file", { path: "b.txt", old_string: "top secret", new_string: "pwned" }));
    expect(outcome.code).toBe("PATH_OUTSIDE_WORKSPACE");
    expect(await readFile(secret, "utf8")).toBe("top secret\n");
  });

  it("edit_file refuses a symlink swapped in before its read", async () => {
    const target = await ws.write("c.txt", "x");
    hooks.when = (path) => path === target;
    hooks.beforeOpen = async () => {
      await rm(target);
      await symlink(secret, target);
    };
    const outcome = fail(await ws.call("edit_file", { path: "c.txt", old_string: "top", new_string: "pwned" }));
    expect(outcome.code).toBe("PATH_OUTSIDE_WORKSPACE");
    expect(await readFile(secret, "utf8")).toBe("top secret\n");
  });

  it("openInWorkspace refuses a symlink at the path even when it points inside, and non-regular files", async () => {
    const inside = await ws.write("inside.txt", "in");
    await symlink(inside, join(ws.cwd, "link.txt"));
    const error = await openInWorkspace(join(ws.cwd, "link.txt"), ws.ctx, "write").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ToolError);
    expect((error as InstanceType<typeof ToolError>).code).toBe("PATH_OUTSIDE_WORKSPACE");
    await mkdir(join(ws.cwd, "dir"));
    const directory = await openInWorkspace(join(ws.cwd, "dir"), ws.ctx, "read").catch((e: unknown) => e);
    expect((directory as InstanceType<typeof ToolError>).code).toBe("NOT_A_FILE");
    // A FIFO planted in the workspace fails at once instead of hanging the call.
    execFileSync("mkfifo", [join(ws.cwd, "fifo")]);
    expect(fail(await ws.call("write_file", { path: "fifo", content: "x" })).code).toBe("NOT_A_FILE");
    expect(fail(await ws.call("edit_file", { path: "fifo", old_string: "a", new_string: "b" })).code).toBe(
      "NOT_A_FILE",
    );
  });

  it("without interference, writes and edits still work, also through a symlink that stays inside", async () => {
    await ws.write("real.txt", "one");
    await symlink(join(ws.cwd, "real.txt"), join(ws.cwd, "alias.txt"));
    ok(await ws.call("write_file", { path: "alias.txt", content: "two" }));
    expect(await readFile(join(ws.cwd, "real.txt"), "utf8")).toBe("two");
    ok(await ws.call("edit_file", { path: "alias.txt", old_string: "two", new_string: "three" }));
    expect(await readFile(join(ws.cwd, "real.txt"), "utf8")).toBe("three");
    ok(await ws.call("write_file", { path: "real.txt", content: "short" }));
    expect(await readFile(join(ws.cwd, "real.txt"), "utf8")).toBe("short"); // truncated, not overlaid
  });
});
