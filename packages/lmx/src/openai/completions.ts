import { LlamaCompletion, TokenMeter } from "node-llama-cpp";
import { affinityTo, rememberHeldText } from "../models/prompt-affinity.js";
import type { LmxApp, RequestScope } from "../server/context.js";
import { STREAMED } from "../server/context.js";
import { toLmxError } from "../server/errors.js";
import { SseStream } from "../server/sse.js";
import { parseRequest } from "../server/validate.js";
import { contextExceeded, newId } from "./generate.js";
import { finishReason, samplingOptions, tokenBiasFor } from "./sampling.js";
import { CompletionRequest } from "./schemas.js";

/** `POST /v1/completions`: raw text continuation, no chat template. */
export async function completions(app: LmxApp, scope: RequestScope, body: unknown): Promise<unknown> {
  const request = parseRequest(CompletionRequest, body);
  const prompt = typeof request.prompt === "string" ? request.prompt : request.prompt[0]!;
  const sampling = samplingOptions(request);
  // OpenAI's default for this endpoint is 16 tokens (capped at the window below).
  const stream = request.stream === true;
  const includeUsage = stream && request.stream_options?.include_usage === true;
  const id = newId("cmpl");
  const created = Math.floor(Date.now() / 1000);

  // Raw prompts are keyed apart from chat prompts (which begin with the template's text).
  const promptKey = `\u0000raw\u0000${prompt}`;
  const lease = await app.registry.acquire(request.model, scope.signal, () => affinityTo(promptKey));
  rememberHeldText(lease.sequence, promptKey);
  const sse = stream ? new SseStream(scope.response) : undefined;
  const completion = new LlamaCompletion({ contextSequence: lease.sequence });
  try {
    const { model } = lease;
    // Tokenized once: LlamaCompletion takes the tokens as they are (it tokenizes a string itself,
    // with the same options, after prepending BOS).
    const hasBos = model.model.tokens.bos != null;
    const tokens = model.model.tokenize(prompt, false, hasBos ? "trimLeadingSpace" : undefined);
    const promptTokens = tokens.length + (hasBos ? 1 : 0);
    if (promptTokens >= model.contextSize) throw contextExceeded(model, promptTokens, "prompt");
    // Never past the window: a larger max_tokens ends at the context's end, with finish "length".
    const maxTokens = Math.min(request.max_tokens ?? 16, model.contextSize - promptTokens);
    const chunk = (text: string, finish: string | null = null) => ({
      id,
      object: "text_completion",
      created,
      model: model.id,
      system_fingerprint: `lmx-${app.version}`,
      choices: [{ text, index: 0, logprobs: null, finish_reason: finish }],
      ...(includeUsage ? { usage: null } : {}),
    });
    let firstTokenAt: number | undefined;
    const markFirstToken = () => {
      if (firstTokenAt !== undefined) return;
      firstTokenAt = performance.now();
      app.metrics.recordTimeToFirstToken((firstTokenAt - scope.receivedAt) / 1000);
    };
    sse?.open();
    const meterBefore = lease.sequence.tokenMeter.getState();
    const result = await completion.generateCompletionWithMeta(tokens, {
      ...sampling,
      maxTokens,
      signal: lease.signal,
      stopOnAbortSignal: false,
      tokenBias: tokenBiasFor(model.model.tokenizer, model.vocabularySize, request.logit_bias),
      onToken: markFirstToken,
      onTextChunk: (text) => {
        if (text !== "") sse?.send(chunk(text));
      },
    });
    const finishedAt = performance.now();
    const completionTokens = TokenMeter.diff(lease.sequence.tokenMeter, meterBefore).usedOutputTokens;
    rememberHeldText(lease.sequence, promptKey + result.response);
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    };
    const finish = finishReason(result.metadata.stopReason, false);
    app.metrics.recordGeneration(
      model.id,
      promptTokens,
      completionTokens,
      (finishedAt - (firstTokenAt ?? finishedAt)) / 1000,
    );
    app.log({
      event: "completion.done",
      requestId: scope.requestId,
      model: model.id,
      promptTokens,
      completionTokens,
      finish,
    });
    if (sse) {
      sse.send(chunk("", finish));
      if (includeUsage) {
        sse.send({
          id,
          object: "text_completion",
          created,
          model: model.id,
          system_fingerprint: `lmx-${app.version}`,
          choices: [],
          usage,
        });
      }
      sse.end();
      return STREAMED;
    }
    return {
      id,
      object: "text_completion",
      created,
      model: model.id,
      system_fingerprint: `lmx-${app.version}`,
      choices: [{ text: result.response, index: 0, logprobs: null, finish_reason: finish }],
      usage,
    };
  } catch (error) {
    if (scope.signal.aborted) return STREAMED;
    const failure = lease.model.unloadSignal.aborted ? toLmxError(lease.model.unloadSignal.reason) : toLmxError(error);
    if (sse?.isOpen) {
      sse.fail(failure);
      return STREAMED;
    }
    throw failure;
  } finally {
    completion.dispose({ disposeSequence: false });
    lease.release();
  }
}
