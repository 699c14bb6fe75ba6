import type { GbnfJsonSchema, Llama, LlamaGrammar } from "node-llama-cpp";
import { LmxError } from "../server/errors.js";
import { normalizeJsonSchema } from "./json-schema.js";

const MAX_CACHED = 128;
const INTEGER_EXPONENT = /^(integer-number-rule ::= .*?)\s*\(\[eE\] [^\n]*\)\?$/m;

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
