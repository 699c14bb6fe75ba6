import { describe, expect, it } from "vitest";
import { diffLines, parseUnifiedDiff, unifiedDiff } from "../src/diff.js";

describe("line diff", () => {
  it("keeps common lines as context and numbers both sides", () => {
    const lines = diffLines("a\nb\nc\nd\n", "a\nB\nc\nd\ne\n");
    expect(lines.map((line) => `${line.kind[0]}${line.oldLine ?? "-"}/${line.newLine ?? "-"} ${line.text}`)).toEqual([
      "c1/1 a",
      "r2/- b",
      "a-/2 B",
      "c3/3 c",
      "c4/4 d",
      "a-/5 e",
    ]);
  });

  it("writes unified hunks with context that parse back to the same lines", () => {
    const before = Array.from({ length: 30 }, (_, index) => `line ${index + 1}`).join("\n");
    const after = before.replace("line 5", "line five").replace("line 25", "line twenty-five");
    const diff = unifiedDiff(before, after);
    expect(diff).toMatchObject({ added: 2, removed: 2, truncated: false });
    expect(diff.text.split("\n").filter((line) => line.startsWith("@@"))).toEqual([
      "@@ -2,7 +2,7 @@",
      "@@ -22,7 +22,7 @@",
    ]);
    const parsed = parseUnifiedDiff(diff.text);
    expect(parsed.filter((line) => line === null)).toHaveLength(1);
    expect(parsed.find((line) => line?.kind === "add")).toEqual({ kind: "add", text: "line five", newLine: 5 });
  });

  it("stays bounded: a cap truncates, a huge rewrite is a full replacement", () => {
    const before = Array.from({ length: 5000 }, (_, index) => `old ${index}`).join("\n");
    const after = Array.from({ length: 5000 }, (_, index) => `new ${index}`).join("\n");
    const diff = unifiedDiff(before, after, { maxChars: 1000 });
    expect(diff.truncated).toBe(true);
    expect(diff.text.length).toBeLessThanOrEqual(1000);
    expect(diff).toMatchObject({ added: 5000, removed: 5000 });
  });
});
