import type { LlamaChatResponseChunk } from "node-llama-cpp";
import { describe, expect, it } from "vitest";
import { thoughtText } from "../src/openai/generate.js";

// The generated test models never open a thought segment, so the chunk → delta mapping is checked
// on the chunks node-llama-cpp emits for a reasoning model (segment start, text, end; then the answer).
const segment = (text: string, extra: Partial<LlamaChatResponseChunk> = {}): LlamaChatResponseChunk =>
  ({ type: "segment", segmentType: "thought", text, tokens: [], ...extra }) as LlamaChatResponseChunk;

describe("reasoning segments", () => {
  it("turns thought segments into reasoning deltas and nothing else", () => {
    const chunks: LlamaChatResponseChunk[] = [
      segment("", { segmentStartTime: new Date() } as Partial<LlamaChatResponseChunk>),
      segment("The user wants "),
      segment("a greeting."),
      segment("", { segmentEndTime: new Date() } as Partial<LlamaChatResponseChunk>),
      { type: "segment", segmentType: "comment", text: "aside", tokens: [] } as unknown as LlamaChatResponseChunk,
      { type: undefined, segmentType: undefined, text: "Hello!", tokens: [] } as unknown as LlamaChatResponseChunk,
    ];
    expect(chunks.map(thoughtText).filter((text) => text !== undefined)).toEqual(["The user wants ", "a greeting."]);
  });
});
