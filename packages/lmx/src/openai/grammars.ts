import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import type { GbnfJsonSchema, Llama, LlamaGrammar } from "node-llama-cpp";
import { LmxError } from "../server/errors.js";
import { normalizeJsonSchema } from "./json-schema.js";

const MAX_CACHED = 128;
const INTEGER_EXPONENT = /^(integer-number-rule ::= .*?)\s*\(\[eE\] [^\n]*\)\?$/m;

/** node-llama-cpp 3.x's number rule, as GbnfNumber writes it: 16-digit exponents ("1e9999999"). */
const STOCK_NUMBER = '"-"? ("0" | [1-9] [0-9]{0,15})';
/**
 * The number rule LMX generates instead. Without a bound, "1e400" parses to Infinity (and goes
 * back out as null); with at most two exponent digits every number JSON.parse reads is finite
 * (16 digits and e+99 stay below 1.8e308). Integers get no fraction and no exponent at all:
 * "1e-5" is a number, not an integer.
 */
export function boundedNumberRule(allowFractional: boolean): string {
  if (!allowFractional) return STOCK_NUMBER;
  return `${STOCK_NUMBER} ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?`;
}

let numbersBounded: Promise<boolean> | undefined;

/**
 * Replaces node-llama-cpp's number terminal with {@link boundedNumberRule}, for every grammar it
 * builds: `response_format` schemas and the tool-call grammars LlamaChat builds internally, which
 * no public option reaches. The terminal is a module-private class, patched once per process, and
 * only when its output is exactly the stock rule this was written against (else it is left alone,
 * and `false` says so).
 */
export function boundGrammarNumbers(): Promise<boolean> {
  numbersBounded ??= (async () => {
    try {
      const entry = createRequire(import.meta.url).resolve("node-llama-cpp");
      const url = new URL("./utils/gbnfJson/terminals/GbnfNumber.js", pathToFileURL(entry));
      const { GbnfNumber } = (await import(url.href)) as {
        GbnfNumber: { new (options: { allowFractional: boolean }): { getGrammar(): string } };
      };
      const stock = new GbnfNumber({ allowFractional: false }).getGrammar();
      if (!stock.startsWith(STOCK_NUMBER) || !stock.includes("[eE]")) return false;
      GbnfNumber.prototype.getGrammar = function (this: { allowFractional: boolean }) {
        return boundedNumberRule(this.allowFractional);
      };
      return true;
    } catch {
      return false;
    }
  })();
  return numbersBounded;
}

/**
 * Grammars for `response_format` and tool parameters, built once per distinct schema. The schema is
 * checked first ({@link normalizeJsonSchema}): an unsupported one is a 400 naming the keyword,
 * before any sequence is taken, rather than a grammar that silently means something else.
 */
export class GrammarCache {
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();

  constructor(private readonly llama: Llama) {}

  /** Any JSON value (for `response_format: json_object`). */
  json(): Promise<LlamaGrammar> {
    return this.cached("json", () => this.llama.getGrammarFor("json"), "response_format");
  }

  /** JSON matching `schema`; `param` names the request field in errors. */
  async forSchema(schema: unknown, param: string): Promise<LlamaGrammar> {
    const clean = normalizeJsonSchema(schema, param);
    return this.cached(
      `schema:${JSON.stringify(clean)}`,
      async () => {
        const generated = await this.llama.createGrammarForJsonSchema(clean as GbnfJsonSchema as never);
        // node-llama-cpp's integer rule allows an exponent ("1e-5"), which is not an integer; drop it.
        const grammar = generated.grammar.replace(INTEGER_EXPONENT, "$1");
        if (grammar === generated.grammar) return generated;
        return this.llama.createGrammar({
          grammar,
          stopGenerationTriggers: generated.stopGenerationTriggers,
          trimWhitespaceSuffix: generated.trimWhitespaceSuffix,
        });
      },
      param,
    );
  }

  private cached(key: string, create: () => Promise<LlamaGrammar>, param: string): Promise<LlamaGrammar> {
    let grammar = this.grammars.get(key);
    if (!grammar) {
      grammar = (async () => {
        try {
          return await create();
        } catch (error) {
          this.grammars.delete(key);
          throw new LmxError("invalid_request", `${param}: unsupported JSON schema: ${(error as Error).message}`, {
            param,
          });
        }
      })();
      if (this.grammars.size >= MAX_CACHED) this.grammars.delete(this.grammars.keys().next().value!);
      this.grammars.set(key, grammar);
    }
    return grammar;
  }
}
