import type { Token } from "node-llama-cpp";
import type { LmxApp, RequestScope } from "../server/context.js";
import { LmxError } from "../server/errors.js";
import { parseRequest } from "../server/validate.js";
import { EmbeddingRequest } from "./schemas.js";

/** `POST /v1/embeddings`: one vector per input, as floats or base64 little-endian float32. */
export async function embeddings(app: LmxApp, scope: RequestScope, body: unknown): Promise<unknown> {
  const request = parseRequest(EmbeddingRequest, body);
  const inputs: (string | number[])[] =
    typeof request.input === "string"
      ? [request.input]
      : typeof request.input[0] === "number"
        ? [request.input as number[]]
        : (request.input as (string | number[])[]);
  return app.registry.use(request.model, async (model) =>
    model.withEmbeddingContext(async (context) => {
      const data: { object: "embedding"; index: number; embedding: number[] | string }[] = [];
      let promptTokens = 0;
      for (const [index, input] of inputs.entries()) {
        if (scope.signal.aborted) throw scope.signal.reason;
        const tokens = typeof input === "string" ? model.model.tokenize(input) : (input as Token[]);
        if (tokens.length === 0) {
          throw new LmxError("invalid_request", `input[${index}] is empty`, { param: "input" });
        }
        if (tokens.some((token) => token >= model.vocabularySize)) {
          throw new LmxError("invalid_request", `input[${index}] has a token id outside the vocabulary`, {
            param: "input",
          });
        }
        if (context.calculateInputLength(tokens) > model.embeddingContextSize) {
          throw new LmxError(
            "context_length_exceeded",
            `input[${index}] is ${tokens.length} tokens; the embedding context of '${model.id}' holds ${model.embeddingContextSize}`,
            { param: "input" },
          );
        }
        promptTokens += tokens.length;
        const vector = (await context.getEmbeddingFor(tokens)).vector;
        if (request.dimensions !== undefined && request.dimensions !== vector.length) {
          throw new LmxError(
            "unsupported_parameter",
            `dimensions: '${model.id}' produces ${vector.length}-dimensional embeddings and cannot shorten them`,
            { param: "dimensions" },
          );
        }
        const embedding =
          request.encoding_format === "base64"
            ? Buffer.from(Float32Array.from(vector).buffer).toString("base64")
            : Array.from(vector);
        data.push({ object: "embedding", index, embedding });
      }
      app.log({
        event: "embeddings.done",
        requestId: scope.requestId,
        model: model.id,
        inputs: inputs.length,
        promptTokens,
      });
      return {
        object: "list",
        data,
        model: model.id,
        usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
      };
    }),
  );
}
