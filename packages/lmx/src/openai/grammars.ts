import type { GbnfJsonSchema, Llama, LlamaGrammar } from "node-llama-cpp";
import { LmxError } from "../server/errors.js";
import { sanitizeSchema } from "./messages.js";

const MAX_CACHED = 128;
const INTEGER_EXPONENT = /^(integer-number-rule ::= .*?)\s*\(\[eE\] [^\n]*\)\?$/m;

/**
 * Grammars for `response_format` and tool parameters, built once per distinct schema. Building one
 * is also how a schema is validated: an unsupported schema is a 400 before any sequence is taken.
 */
export class GrammarCache {
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();

  constructor(private readonly llama: Llama) {}

  /** Any JSON value (for `response_format: json_object`). */
  json(): Promise<LlamaGrammar> {
    return this.cached("json", () => this.llama.getGrammarFor("json"), "response_format");
  }

  /** JSON matching `schema`; `param` names the request field for errors. */
  forSchema(schema: unknown, param: string): Promise<LlamaGrammar> {
    const clean = sanitizeSchema(schema);
    return this.cached(
      `schema:${JSON.stringify(clean)}`,
      // The schema is the client's, checked by the grammar builder itself (which throws on what it cannot express).
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
