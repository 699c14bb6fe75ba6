import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { type ChatWrapper, type LlamaModel, resolveChatWrapper } from "node-llama-cpp";

/**
 * node-llama-cpp picks a model's chat wrapper by rendering its Jinja template against every
 * specialized wrapper it knows and tokenizing the results: 0.6–0.8 s of synchronous work on the
 * test models, during which the event loop (and `/health`) stands still. So the choice is made in a
 * worker thread, on a vocabulary-only copy of the model, and only its outcome (a wrapper type and
 * its constructor options) comes back; the wrapper is then built here, which is cheap.
 */

/** What the worker decided. */
export type ChatWrapperPlan = {
  /** Key of node-llama-cpp's `chatWrappers` (`chatML`, `llama3.1`, `jinjaTemplate`, …). */
  type: string;
  /** The wrapper's own fields, as constructor options (functions dropped: their defaults apply). */
  options: Record<string, unknown>;
  /** `wrapperName` and `JSON.stringify(settings)` of the worker's wrapper, to check the rebuild. */
  wrapperName: string;
  settings: string;
};

// Runs in the worker (CommonJS eval, so the package is reached by dynamic import of its URL).
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
(async () => {
  const { getLlama, LlamaLogLevel, resolveChatWrapper, chatWrappers } = await import(workerData.module);
  const llama = await getLlama({ gpu: false, build: "never", usePrebuiltBinaries: true, maxThreads: 1, progressLogs: false, logLevel: LlamaLogLevel.error, logger: () => {} });
  const model = await llama.loadModel({ modelPath: workerData.path, vocabOnly: true, gpuLayers: 0 });
  try {
    const wrapper = resolveChatWrapper(model);
    const type = Object.entries(chatWrappers).find(([, Wrapper]) => wrapper.constructor === Wrapper)?.[0];
    const options = {};
    for (const [key, value] of Object.entries(wrapper)) {
      if (key === "settings" || key === "wrapperName" || typeof value === "function") continue;
      options[key] = value;
    }
    parentPort.postMessage({ type, options: type === "jinjaTemplate" ? {} : options, wrapperName: wrapper.wrapperName, settings: JSON.stringify(wrapper.settings) });
  } finally {
    await model.dispose();
    await llama.dispose();
  }
})().catch((error) => parentPort.postMessage({ error: String(error && error.message || error) }));
`;

const packageUrl = (() => {
  try {
    return pathToFileURL(createRequire(import.meta.url).resolve("node-llama-cpp")).href;
  } catch {
    return undefined;
  }
})();

/** Starts choosing the chat wrapper for the GGUF at `path` in a worker; `cancel` stops the worker. */
export function planChatWrapper(path: string): { plan: Promise<ChatWrapperPlan>; cancel(): void } {
  if (!packageUrl) {
    return { plan: Promise.reject(new Error("node-llama-cpp cannot be resolved for a worker")), cancel: () => {} };
  }
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module: packageUrl, path } });
  // Never keeps the process alive (a server closing mid-load).
  worker.unref();
  const plan = new Promise<ChatWrapperPlan>((resolve, reject) => {
    worker.once("message", (message: ChatWrapperPlan | { error: string }) => {
      if ("error" in message) reject(new Error(message.error));
      else if (!message.type) reject(new Error(`the worker chose a chat wrapper node-llama-cpp does not list`));
      else resolve(message);
    });
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`the chat-wrapper worker exited with code ${code}`)));
  });
  // A load that fails before it needs the plan cancels it; that rejection is nobody's to handle.
  plan.catch(() => undefined);
  return { plan, cancel: () => void worker.terminate() };
}

/**
 * The wrapper for `model`: rebuilt from the worker's plan when that reproduces the worker's wrapper
 * exactly (same name and settings), else resolved here (blocking, and logged as such).
 */
export async function chatWrapperFor(
  model: LlamaModel,
  plan: Promise<ChatWrapperPlan>,
  log: (line: Record<string, unknown>) => void,
): Promise<ChatWrapper> {
  let reason: string;
  try {
    const chosen = await plan;
    const rebuilt = resolveChatWrapper(model, {
      type: chosen.type as never,
      customWrapperSettings: { [chosen.type]: chosen.options } as never,
    });
    if (rebuilt.wrapperName === chosen.wrapperName && JSON.stringify(rebuilt.settings) === chosen.settings) {
      return rebuilt;
    }
    reason = `the rebuilt ${chosen.type} wrapper differs from the one the worker chose`;
  } catch (error) {
    reason = (error as Error).message;
  }
  log({ event: "chat_wrapper.inline", model: model.filename, reason });
  return resolveChatWrapper(model);
}
