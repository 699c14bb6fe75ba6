/**
 * The thinking keys of config.yaml as `opta config set` and the daemon's loader see them: a bad
 * `thinking-budget` or a misplaced `providers.<name>.api` is refused with a message that names the
 * key and says what is allowed.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, setConfigValue } from "../src/index.js";

describe("thinking-budget", () => {
  it("takes whole token counts from 1024 to 128000", () => {
    expect(setConfigValue({}, "thinking-budget", "1024")).toEqual({ "thinking-budget": 1024 });
    expect(setConfigValue({}, "thinking-budget", "128000")).toEqual({ "thinking-budget": 128_000 });
  });

  it("refuses what Anthropic would refuse, a fraction, or a word, saying why", () => {
    const refusal = (value: string) => {
      try {
        setConfigValue({}, "thinking-budget", value);
        return "accepted";
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
    };
    expect(refusal("512")).toBe(
      "cannot set 'thinking-budget' to '512': must be at least 1024 tokens (Anthropic's smallest thinking budget)",
    );
    expect(refusal("200000")).toBe("cannot set 'thinking-budget' to '200000': must be at most 128000 tokens");
    expect(refusal("2048.5")).toBe("cannot set 'thinking-budget' to '2048.5': must be a whole number of tokens");
    expect(refusal("lots")).toMatch(/^cannot set 'thinking-budget' to 'lots': .*expected number/);
  });

  it("is reported with its key and the fix when config.yaml holds a bad one", () => {
    expect(() => parseConfig("thinking-budget: 10\n", "/home/me/config.yaml")).toThrow(
      "/home/me/config.yaml: 'thinking-budget' must be at least 1024 tokens (Anthropic's smallest thinking budget). Fix it with 'opta config set thinking-budget <value>'",
    );
  });
});

describe("providers.<name>.api", () => {
  it("chooses the Responses API or Chat Completions for an openai provider", () => {
    const config = setConfigValue({ providers: { openai: { type: "openai" } } }, "providers.openai.api", "chat");
    expect(config.providers?.openai).toEqual({ type: "openai", api: "chat" });
    expect(() => setConfigValue(config, "providers.openai.api", "completions")).toThrow(
      /cannot set 'providers\.openai\.api' to 'completions': .*"responses"\|"chat"/,
    );
  });

  it("is refused on a provider that is not OpenAI's", () => {
    expect(() =>
      setConfigValue({ providers: { claude: { type: "anthropic" } } }, "providers.claude.api", "responses"),
    ).toThrow(
      "cannot set 'providers.claude.api' to 'responses': applies only to providers of type openai (the Responses API is OpenAI's); remove it",
    );
  });
});
