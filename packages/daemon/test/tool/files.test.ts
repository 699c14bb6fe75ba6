import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  builtinTools,
  executeTool,
  GREP_MAX_FILE_BYTES,
  getBuiltinTool,
  READ_DEFAULT_LIMIT,
  READ_MAX_LINE_CHARS,
} from "../../src/tool/index.js";
import { RegexWorker } from "../../src/tool/regex-worker.js";
import { fail, makeWorkspace, ok, type Workspace } from "./workspace.js";

let ws: Workspace;
beforeEach(async () => {
  ws = await makeWorkspace();
});
afterEach(() => ws.cleanup());

const lines = (count: number, prefix = "line") =>
  Array.from({ length: count }, (_, i) => `${prefix} ${i + 1}`).join("\n");

describe("registry and executeTool", () => {
  it("offers the seven built-in tools with object JSON schemas, kinds and risks", () => {
    expect(builtinTools.map((tool) => tool.name)).toEqual([
      "read_file",
      "list_dir",
      "search_files",
      "grep",
      "write_file",
      "edit_file",
      "run_command",
    ]);
    for (const tool of builtinTools) {
      expect(tool.inputSchema.type).toBe("object");
      expect(tool.inputSchema).not.toHaveProperty("$schema");
      expect(tool.description.length).toBeGreaterThan(20);
    }
    expect(getBuiltinTool("read_file")?.kind).toBe("read");
    expect(getBuiltinTool("edit_file")?.risk).toBe("write");
    expect(getBuiltinTool("run_command")?.kind).toBe("execute");
    expect(getBuiltinTool("nope")).toBeUndefined();
    expect([...(getBuiltinTool("edit_file")!.inputSchema.required as string[])].sort()).toEqual([
      "new_string",
      "old_string",
      "path",
    ]);
  });

  it("turns bad arguments into readable INVALID_ARGS outcomes, never throwing", async () => {
    const read = getBuiltinTool("read_file")!;
    const missing = fail(await executeTool(read, {}, ws.ctx));
    expect(missing.code).toBe("INVALID_ARGS");
    expect(missing.error).toContain("path");
    expect(fail(await executeTool(read, { path: "a", offset: 0 }, ws.ctx)).error).toContain("offset");
    expect(fail(await executeTool(read, "{not json", ws.ctx)).code).toBe("INVALID_ARGS");
    expect(fail(await executeTool(read, [1, 2], ws.ctx)).code).toBe("INVALID_ARGS");
    await ws.write("a.txt", "hello\n");
    expect(ok(await executeTool(read, JSON.stringify({ path: "a.txt" }), ws.ctx)).summary).toBe("1 line");
  });

  it("catches a tool that throws and reports an aborted signal", async () => {
    const broken = { ...getBuiltinTool("read_file")!, run: async () => Promise.reject(new Error("boom")) };
    expect(fail(await executeTool(broken, {}, ws.ctx))).toEqual({ code: "TOOL_FAILED", error: "boom" });
    const controller = new AbortController();
    controller.abort();
    expect(
      fail(await executeTool(getBuiltinTool("list_dir")!, {}, { ...ws.ctx, signal: controller.signal })).code,
    ).toBe("ABORTED");
  });
});

describe("read_file", () => {
  it("returns numbered lines with offset and limit", async () => {
    await ws.write("a.txt", lines(10));
    const all = ok(await ws.call("read_file", { path: "a.txt" }));
    expect(all.summary).toBe("10 lines");
    expect(all.result).toMatchObject({ path: "a.txt", startLine: 1, endLine: 10, totalLines: 10 });
    expect((all.result.content as string).split("\n")[0]).toBe("     1\tline 1");
    const page = ok(await ws.call("read_file", { path: "a.txt", offset: 4, limit: 3 }));
    expect(page.result).toMatchObject({ startLine: 4, endLine: 6, truncated: true, nextOffset: 7 });
    expect(page.result.content).toBe("     4\tline 4\n     5\tline 5\n     6\tline 6");
    expect(page.summary).toBe("lines 4–6 of 10");
  });

  it("caps lines per call, long lines and total output", async () => {
    await ws.write("long.txt", lines(READ_DEFAULT_LIMIT + 500));
    const first = ok(await ws.call("read_file", { path: "long.txt" }));
    expect(first.result).toMatchObject({
      endLine: READ_DEFAULT_LIMIT,
      truncated: true,
      nextOffset: READ_DEFAULT_LIMIT + 1,
    });
    await ws.write("wide.txt", `${"x".repeat(READ_MAX_LINE_CHARS + 100)}\nshort`);
    const wide = ok(await ws.call("read_file", { path: "wide.txt" }));
    expect(wide.result.content).toContain("[line truncated, 100 more characters]");
    await ws.write("big.txt", Array.from({ length: 1500 }, () => "y".repeat(1000)).join("\n"));
    const big = ok(await ws.call("read_file", { path: "big.txt" }));
    expect((big.result.content as string).length).toBeLessThanOrEqual(100_000);
    expect(big.result.truncated).toBe(true);
    expect(big.result.endLine as number).toBeLessThan(1500);
  });

  it("fails clearly on missing files, directories, binary files and a past-the-end offset", async () => {
    expect(fail(await ws.call("read_file", { path: "nope.txt" }))).toMatchObject({ code: "NOT_FOUND" });
    await ws.write("dir/x", "");
    expect(fail(await ws.call("read_file", { path: "dir" })).code).toBe("NOT_A_FILE");
    await ws.write("bin.dat", Buffer.from([1, 2, 0, 3]));
    expect(fail(await ws.call("read_file", { path: "bin.dat" })).code).toBe("BINARY_FILE");
    await ws.write("a.txt", lines(3));
    expect(fail(await ws.call("read_file", { path: "a.txt", offset: 9 })).error).toContain("past the end");
  });

  it("reads an empty file", async () => {
    await ws.write("empty.txt", "");
    expect(ok(await ws.call("read_file", { path: "empty.txt" })).summary).toBe("empty file");
  });
});

describe("list_dir", () => {
  it("lists directories first, then files with sizes", async () => {
    await ws.write("b.txt", "12345");
    await ws.write("a.txt", "");
    await ws.write("sub/c.txt", "");
    const { result, summary } = ok(await ws.call("list_dir", {}));
    expect(result.entries).toEqual([
      { name: "sub", type: "dir" },
      { name: "a.txt", type: "file", size: 0 },
      { name: "b.txt", type: "file", size: 5 },
    ]);
    expect(summary).toBe("3 entries");
    expect(fail(await ws.call("list_dir", { path: "b.txt" })).code).toBe("NOT_A_DIRECTORY");
    expect(fail(await ws.call("list_dir", { path: "missing" })).code).toBe("NOT_FOUND");
  });
});

describe("search_files", () => {
  it("matches globs, skips node_modules and .git, and caps results", async () => {
    await ws.write("src/a.ts", "");
    await ws.write("src/deep/b.ts", "");
    await ws.write("src/c.js", "");
    await ws.write("node_modules/pkg/index.ts", "");
    await ws.write(".git/HEAD.ts", "");
    await ws.write(".hidden/d.ts", "");
    const all = ok(await ws.call("search_files", { pattern: "*.ts" }));
    expect(all.result.files).toEqual([".hidden/d.ts", "src/a.ts", "src/deep/b.ts"]);
    const scoped = ok(await ws.call("search_files", { pattern: "deep/**", path: "src" }));
    expect(scoped.result.files).toEqual(["src/deep/b.ts"]);
    const capped = ok(await ws.call("search_files", { pattern: "**/*", limit: 2 }));
    expect(capped.result).toMatchObject({ truncated: true });
    expect(capped.result.files).toHaveLength(2);
    expect(capped.summary).toBe("2+ files");
    expect(ok(await ws.call("search_files", { pattern: "*.py" })).summary).toBe("0 files");
  });
});

describe("grep", () => {
  it("returns file/line matches with regex and case options", async () => {
    await ws.write("src/a.ts", "const verbose = false;\nfunction main() {}\nVERBOSE mode\n");
    await ws.write("src/b.md", "verbose docs\n");
    const found = ok(await ws.call("grep", { pattern: "verbose", glob: "*.ts" }));
    expect(found.result.matches).toEqual([{ file: "src/a.ts", line: 1, text: "const verbose = false;" }]);
    const ci = ok(await ws.call("grep", { pattern: "^verbose|VERBOSE", ignore_case: true }));
    expect((ci.result.matches as unknown[]).length).toBe(3);
    expect(ci.summary).toBe("3 matches in 2 files");
    const single = ok(await ws.call("grep", { pattern: "main\\(", path: "src/a.ts" }));
    expect(single.result.matches).toEqual([{ file: "src/a.ts", line: 2, text: "function main() {}" }]);
  });

  it("skips binary files, big files, node_modules and .git, and caps matches", async () => {
    await ws.write("bin.dat", Buffer.concat([Buffer.from("needle\n"), Buffer.from([0, 1, 2])]));
    await ws.write("huge.txt", `needle\n${"z".repeat(GREP_MAX_FILE_BYTES)}`);
    await ws.write("node_modules/x/needle.txt", "needle\n");
    await ws.write(".git/needle", "needle\n");
    await ws.write("many.txt", lines(50, "needle"));
    const { result, summary } = ok(await ws.call("grep", { pattern: "needle", max_results: 10 }));
    expect((result.matches as Array<{ file: string }>).every((match) => match.file === "many.txt")).toBe(true);
    expect(result.matches).toHaveLength(10);
    expect(result.truncated).toBe(true);
    expect(result.skipped).toEqual({ binary: 1, tooLarge: 1, outsideWorkspace: 0 });
    expect(summary).toBe("10+ matches in 1 file");
  });

  it("runs the regex off the main thread and gives up on a runaway pattern", async () => {
    // 2^40 backtracking steps: far beyond any budget, however fast or slow the machine.
    const worker = new RegexWorker("^(a+)+$", "", 1000);
    try {
      expect(await worker.match(["aaa", "b", "a"], "x.txt", ws.ctx.signal)).toEqual([0, 2]);
      const runaway = worker.match([`${"a".repeat(40)}!`], "evil.txt", ws.ctx.signal);
      await expect(runaway).rejects.toThrow(/took more than 1s on evil.txt/);
    } finally {
      await worker.close();
    }
  });

  it("does not count the worker's start-up against the regex budget", async () => {
    // Fake timers make "start-up took longer than the budget" certain: the whole budget elapses
    // before the worker thread can even report that it is ready. Once it is, the fake clock stands
    // still, so the match itself is never timed out either.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const worker = new RegexWorker("needle", "", 50);
    try {
      const hits = worker.match(["hay", "needle"], "x.txt", ws.ctx.signal);
      vi.advanceTimersByTime(10_000);
      expect(await hits).toEqual([1]);
    } finally {
      vi.useRealTimers();
      await worker.close();
    }
  });

  it("reports an invalid regex", async () => {
    expect(fail(await ws.call("grep", { pattern: "(unclosed" })).code).toBe("INVALID_REGEX");
  });
});

describe("write_file", () => {
  it("creates parent directories and overwrites", async () => {
    const created = ok(await ws.call("write_file", { path: "a/b/c.txt", content: "héllo" }));
    expect(created.result).toEqual({ path: "a/b/c.txt", bytes: 6, created: true });
    expect(await readFile(join(ws.cwd, "a/b/c.txt"), "utf8")).toBe("héllo");
    const replaced = ok(await ws.call("write_file", { path: "a/b/c.txt", content: "bye" }));
    expect(replaced.result).toMatchObject({ created: false, bytes: 3 });
    expect(fail(await ws.call("write_file", { path: "a", content: "x" })).code).toBe("NOT_A_FILE");
  });
});

describe("edit_file", () => {
  it("replaces a unique exact match", async () => {
    await ws.write("cli.ts", "const a = 1;\nconst b = 2;\n");
    const { result, summary } = ok(
      await ws.call("edit_file", { path: "cli.ts", old_string: "const b = 2;", new_string: "const b = 3;" }),
    );
    expect(result).toEqual({ path: "cli.ts", replacements: 1, line: 2 });
    expect(summary).toBe("1 replacement in cli.ts");
    expect(await readFile(join(ws.cwd, "cli.ts"), "utf8")).toBe("const a = 1;\nconst b = 3;\n");
  });

  it("fails clearly on a missing match, a non-unique match, and no change", async () => {
    await ws.write("x.ts", "foo\nbar\nfoo\n");
    const missing = fail(await ws.call("edit_file", { path: "x.ts", old_string: "baz", new_string: "q" }));
    expect(missing.code).toBe("NO_MATCH");
    expect(missing.error).toContain("not found");
    const ambiguous = fail(await ws.call("edit_file", { path: "x.ts", old_string: "foo", new_string: "q" }));
    expect(ambiguous.code).toBe("NOT_UNIQUE");
    expect(ambiguous.error).toContain("2 times");
    expect(ambiguous.error).toContain("lines 1, 3");
    expect(ambiguous.error).toContain("replace_all");
    expect(fail(await ws.call("edit_file", { path: "x.ts", old_string: "foo", new_string: "foo" })).code).toBe(
      "NO_CHANGE",
    );
    expect(fail(await ws.call("edit_file", { path: "x.ts", old_string: "", new_string: "q" })).code).toBe(
      "INVALID_ARGS",
    );
    expect(fail(await ws.call("edit_file", { path: "nope.ts", old_string: "a", new_string: "b" })).code).toBe(
      "NOT_FOUND",
    );
    expect(await readFile(join(ws.cwd, "x.ts"), "utf8")).toBe("foo\nbar\nfoo\n");
  });

  it("replaces every occurrence with replace_all", async () => {
    await ws.write("x.ts", "foo\nbar\nfoo\n");
    const { result } = ok(
      await ws.call("edit_file", { path: "x.ts", old_string: "foo", new_string: "qux", replace_all: true }),
    );
    expect(result.replacements).toBe(2);
    expect(await readFile(join(ws.cwd, "x.ts"), "utf8")).toBe("qux\nbar\nqux\n");
    expect((await stat(join(ws.cwd, "x.ts"))).isFile()).toBe(true);
  });
});
