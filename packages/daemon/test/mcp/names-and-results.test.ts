import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { exposedToolName } from "../../src/mcp/names.js";
import { toToolOutcome } from "../../src/mcp/result.js";
import { tempHome } from "../fixtures/daemon-harness.js";

describe("MCP tool names", () => {
  it("prefixes with the server, keeps names OpenAI-compatible, and stays unique when cut", () => {
    expect(exposedToolName("fs", "read_text_file")).toBe("fs__read_text_file");
    expect(exposedToolName(undefined, "browser_click")).toBe("browser_click");
    expect(exposedToolName("gh", "issues.create/v2")).toBe("gh__issues_create_v2");
    const long = exposedToolName("server", "x".repeat(80));
    expect(long).toHaveLength(64);
    expect(long).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(exposedToolName("server", `${"x".repeat(79)}y`)).not.toBe(long);
  });
});

describe("MCP results in tool.result", () => {
  it("keeps plain text as text, stores images as files, and turns isError into an error outcome", async () => {
    const { home, cleanup } = await tempHome("opta-mcp-media-");
    try {
      expect(
        await toToolOutcome(
          {
            content: [
              { type: "text", text: "a" },
              { type: "text", text: "b" },
            ],
          },
          home,
          "t",
        ),
      ).toEqual({ ok: true, result: "a\nb", summary: "a" });
      expect(await toToolOutcome({ content: [{ type: "text", text: "nope" }], isError: true }, home, "t")).toEqual({
        ok: false,
        code: "MCP_TOOL_ERROR",
        error: "nope",
      });
      const data = Buffer.from("not really a png");
      const outcome = await toToolOutcome(
        {
          content: [
            { type: "image", mimeType: "image/png", data: data.toString("base64") },
            { type: "resource_link", uri: "file:///tmp/x.png", name: "x.png" },
          ],
          structuredContent: { width: 1 },
        },
        home,
        "srv__shot",
      );
      expect(outcome).toMatchObject({ ok: true, summary: "1 image, 1 resource link" });
      const result = (outcome as { result: { content: Array<Record<string, unknown>>; structuredContent: unknown } })
        .result;
      expect(result.structuredContent).toEqual({ width: 1 });
      expect(result.content[0]).toMatchObject({ type: "image", mimeType: "image/png", bytes: data.length });
      expect(String(result.content[0]!.path)).toMatch(/srv__shot-.*\.png$/);
      expect(await readFile(String(result.content[0]!.path))).toEqual(data);
      expect(result.content[1]).toEqual({ type: "resource_link", uri: "file:///tmp/x.png", name: "x.png" });
    } finally {
      await cleanup();
    }
  });
});
