import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { ToolOutcome } from "../tool/index.js";

/** One content block of an MCP result as it is stored in `tool.result` (binary data lives in a file). */
export type StoredContent =
  | { type: "text"; text: string }
  | { type: "image" | "audio"; mimeType: string; path: string; bytes: number }
  | { type: "resource_link"; uri: string; name?: string; mimeType?: string }
  | { type: "resource"; uri: string; mimeType?: string; text?: string; path?: string; bytes?: number };

const EXTENSIONS: Record<string, string> = {
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/gif": "gif",
  "image/webp": "webp",
  "image/svg+xml": "svg",
  "audio/wav": "wav",
  "audio/mpeg": "mp3",
  "audio/ogg": "ogg",
};

/**
 * Turns an MCP `CallToolResult` into a tool outcome. A result of plain text becomes that text (what
 * the model reads best); anything else becomes `{content, structuredContent?}`, with images, audio
 * and binary resources written to `mediaDir` and referenced by path, so neither the session log nor
 * the model's context fills with base64. `isError` results become `{ok: false, code: MCP_TOOL_ERROR}`.
 */
export async function toToolOutcome(result: CallToolResult, mediaDir: string, label: string): Promise<ToolOutcome> {
  const blocks = Array.isArray(result.content) ? result.content : [];
  const texts = blocks.flatMap((block) => (block.type === "text" ? [block.text] : []));
  if (result.isError) {
    return { ok: false, code: "MCP_TOOL_ERROR", error: texts.join("\n").trim() || "the MCP tool reported an error" };
  }
  const stored: StoredContent[] = [];
  for (const [index, block] of blocks.entries()) {
    switch (block.type) {
      case "text":
        stored.push({ type: "text", text: block.text });
        break;
      case "image":
      case "audio": {
        const saved = await saveMedia(mediaDir, label, index, block.mimeType, block.data);
        stored.push({ type: block.type, mimeType: block.mimeType, ...saved });
        break;
      }
      case "resource_link":
        stored.push({
          type: "resource_link",
          uri: block.uri,
          ...(block.name ? { name: block.name } : {}),
          ...(block.mimeType ? { mimeType: block.mimeType } : {}),
        });
        break;
      case "resource": {
        const resource = block.resource;
        const base = {
          type: "resource" as const,
          uri: resource.uri,
          ...(resource.mimeType ? { mimeType: resource.mimeType } : {}),
        };
        if ("text" in resource && typeof resource.text === "string") stored.push({ ...base, text: resource.text });
        else if ("blob" in resource && typeof resource.blob === "string") {
          stored.push({
            ...base,
            ...(await saveMedia(
              mediaDir,
              label,
              index,
              resource.mimeType ?? "application/octet-stream",
              resource.blob,
            )),
          });
        } else stored.push(base);
        break;
      }
    }
  }
  const onlyText = stored.every((block) => block.type === "text") && result.structuredContent === undefined;
  const summary = summarize(stored);
  if (onlyText) return { ok: true, result: texts.join("\n"), summary };
  return {
    ok: true,
    result: {
      content: stored,
      ...(result.structuredContent !== undefined ? { structuredContent: result.structuredContent } : {}),
    },
    summary,
  };
}

async function saveMedia(
  directory: string,
  label: string,
  index: number,
  mimeType: string,
  base64: string,
): Promise<{ path: string; bytes: number }> {
  const data = Buffer.from(base64, "base64");
  await mkdir(directory, { recursive: true });
  const extension = EXTENSIONS[mimeType] ?? "bin";
  const name = `${label.replace(/[^A-Za-z0-9_-]/g, "_")}-${Date.now()}-${randomBytes(3).toString("hex")}-${index}.${extension}`;
  const path = join(directory, name);
  await writeFile(path, data, { mode: 0o600 });
  return { path, bytes: data.length };
}

function summarize(blocks: readonly StoredContent[]): string {
  if (blocks.length === 0) return "no content";
  const counts = new Map<string, number>();
  for (const block of blocks) counts.set(block.type, (counts.get(block.type) ?? 0) + 1);
  const firstText = blocks.find((block) => block.type === "text") as { text: string } | undefined;
  if (counts.size === 1 && firstText) {
    const line = firstText.text.trim().split("\n")[0] ?? "";
    return line.length > 80 ? `${line.slice(0, 77)}…` : line || "empty text";
  }
  return [...counts].map(([type, count]) => `${count} ${type.replace("_", " ")}${count > 1 ? "s" : ""}`).join(", ");
}
