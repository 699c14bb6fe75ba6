import { mkdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resolveInWorkspace, ToolError } from "../../src/tool/index.js";
import { fail, makeWorkspace, ok, type Workspace } from "./workspace.js";

let ws: Workspace;
beforeEach(async () => {
  ws = await makeWorkspace();
  await writeFile(join(ws.outside, "secret.txt"), "top secret\n");
});
afterEach(() => ws.cleanup());

async function refused(path: string, extraRoots?: string[]) {
  const error = await resolveInWorkspace(path, { cwd: ws.cwd, extraRoots }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ToolError);
  expect((error as ToolError).code).toBe("PATH_OUTSIDE_WORKSPACE");
  return error as ToolError;
}

describe("resolveInWorkspace", () => {
  it("resolves relative, nested and not-yet-existing paths inside the workspace", async () => {
    await ws.write("src/a.ts", "x");
    expect(await resolveInWorkspace("src/a.ts", ws.ctx)).toBe(join(ws.cwd, "src/a.ts"));
    expect(await resolveInWorkspace("./src/../src/a.ts", ws.ctx)).toBe(join(ws.cwd, "src/a.ts"));
    expect(await resolveInWorkspace(join(ws.cwd, "src/a.ts"), ws.ctx)).toBe(join(ws.cwd, "src/a.ts"));
    expect(await resolveInWorkspace("new/dir/file.ts", ws.ctx)).toBe(join(ws.cwd, "new/dir/file.ts"));
    expect(await resolveInWorkspace(".", ws.ctx)).toBe(ws.cwd);
  });

  it("refuses ../ escapes and absolute paths outside", async () => {
    const error = await refused("../outside/secret.txt");
    expect(error.message).toContain("outside the workspace");
    await refused("/etc/passwd");
    await refused("..");
    await refused("~/anything");
  });

  it("refuses a symlink pointing outside, and a path through a symlinked parent", async () => {
    await symlink(join(ws.outside, "secret.txt"), join(ws.cwd, "link.txt"));
    await symlink(ws.outside, join(ws.cwd, "linkdir"));
    await refused("link.txt");
    await refused("linkdir/secret.txt");
    await refused("linkdir/new-file.txt"); // does not exist yet: resolved through its parent
    await refused("linkdir");
  });

  it("refuses a dangling symlink whose target would be created outside", async () => {
    await symlink(join(ws.outside, "created-by-write.txt"), join(ws.cwd, "dangling"));
    await refused("dangling");
    const outcome = await ws.call("write_file", { path: "dangling", content: "pwned" });
    expect(fail(outcome).code).toBe("PATH_OUTSIDE_WORKSPACE");
    await expect(stat(join(ws.outside, "created-by-write.txt"))).rejects.toThrow();
  });

  it("accepts symlinks that stay inside and returns the real path", async () => {
    await ws.write("real/file.txt", "hi");
    await symlink(join(ws.cwd, "real"), join(ws.cwd, "alias"));
    expect(await resolveInWorkspace("alias/file.txt", ws.ctx)).toBe(join(ws.cwd, "real/file.txt"));
  });

  it("allows extra roots granted by policy", async () => {
    expect(await resolveInWorkspace(join(ws.outside, "secret.txt"), { cwd: ws.cwd, extraRoots: [ws.outside] })).toBe(
      join(ws.outside, "secret.txt"),
    );
    await symlink(ws.outside, join(ws.cwd, "linkdir"));
    expect(await resolveInWorkspace("linkdir/secret.txt", { cwd: ws.cwd, extraRoots: [ws.outside] })).toBe(
      join(ws.outside, "secret.txt"),
    );
    await refused("/etc/passwd", [ws.outside]);
    // a root that is a prefix by characters only does not count
    await mkdir(`${ws.outside}-other`);
    await refused(`${ws.outside}-other/x`, [ws.outside]);
  });

  it("every file tool refuses paths outside the workspace", async () => {
    await symlink(ws.outside, join(ws.cwd, "linkdir"));
    const attempts: Array<[string, Record<string, unknown>]> = [
      ["read_file", { path: "../outside/secret.txt" }],
      ["read_file", { path: "linkdir/secret.txt" }],
      ["list_dir", { path: "/etc" }],
      ["search_files", { pattern: "*", path: "linkdir" }],
      ["grep", { pattern: "secret", path: "../outside" }],
      ["write_file", { path: "../outside/x.txt", content: "x" }],
      ["write_file", { path: "linkdir/x.txt", content: "x" }],
      ["edit_file", { path: "linkdir/secret.txt", old_string: "top", new_string: "bottom" }],
      ["run_command", { command: "pwd", cwd: "../outside" }],
    ];
    for (const [tool, args] of attempts) {
      const outcome = await ws.call(tool, args);
      expect(fail(outcome).code, `${tool} ${JSON.stringify(args)}`).toBe("PATH_OUTSIDE_WORKSPACE");
    }
    expect(await readFile(join(ws.outside, "secret.txt"), "utf8")).toBe("top secret\n");
  });

  it("grep does not follow a symlinked file out of the workspace", async () => {
    await ws.write("inside.txt", "secret inside\n");
    await symlink(join(ws.outside, "secret.txt"), join(ws.cwd, "leak.txt"));
    const { result } = ok(await ws.call("grep", { pattern: "secret" }));
    expect(result.matches).toEqual([{ file: "inside.txt", line: 1, text: "secret inside" }]);
    expect(result.skipped).toMatchObject({ outsideWorkspace: 1 });
  });
});
