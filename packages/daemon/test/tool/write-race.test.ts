/**
 * A symlink swapped in between the path check and the write must not redirect the write:
 * `open` from node:fs/promises is wrapped so a test can change the file system at exactly that moment.
 */
import { execFileSync } from "node:child_process";
import { mkdir, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

const hooks = vi.hoisted(() => ({ beforeOpen: undefined as undefined | ((path: string) => Promise<void>) }));

vi.mock("node:fs/promises", async (importOriginal) => {
  const original = await importOriginal<typeof import("node:fs/promises")>();
  const open: typeof original.open = async (path, ...rest) => {
    const hook = hooks.beforeOpen;
    hooks.beforeOpen = undefined; // once
    if (hook) await hook(String(path));
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
});
afterEach(() => ws.cleanup());

describe("writes open the checked path without following a swapped-in symlink", () => {
  it("write_file refuses a symlink placed at the target after the check (new file)", async () => {
    hooks.beforeOpen = async (path) => {
      expect(path).toBe(join(ws.cwd, "out.txt"));
      await symlink(secret, path);
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
  });

  it("edit_file refuses a symlink swapped in between its read and its write", async () => {
    const target = await ws.write("b.txt", "top secret\n");
    // The read opens first; swap before the write's open.
    hooks.beforeOpen = async () => {
      hooks.beforeOpen = async () => {
        await rm(target);
        await symlink(secret, target);
      };
    };
    const outcome = fail(await ws.call("edit_file", { path: "b.txt", old_string: "top secret", new_string: "pwned" }));
    expect(outcome.code).toBe("PATH_OUTSIDE_WORKSPACE");
    expect(await readFile(secret, "utf8")).toBe("top secret\n");
  });

  it("edit_file refuses a symlink swapped in before its read", async () => {
    const target = await ws.write("c.txt", "x");
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
