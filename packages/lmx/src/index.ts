/**
 * Opta LMX: an OpenAI-compatible inference server for GGUF models on node-llama-cpp.
 *
 * - {@link startLmx} serves a models directory on loopback (or beyond, with an API key).
 * - {@link writeTestModel} writes a small deterministic Llama GGUF for tests and benchmarks.
 */
export {
  type Advertisement,
  advertiseLmx,
  type DiscoveredLmx,
  discoverLmx,
  LMX_SERVICE_TYPE,
} from "./discovery/mdns.js";
export {
  buildNativeLlama,
  checkNativeBuildTools,
  hasNativeBuild,
  NativeBuildError,
  type NativeBuildErrorCode,
  type NativeBuildOptions,
  type NativeBuildResult,
  type NodeLlamaCppPaths,
  nodeLlamaCppPaths,
  pathsUnder,
  removeNativeBuild,
} from "./engine/native-build.js";
export { defaultThreads, physicalCoreCount } from "./engine/threads.js";
export { type InspectedModel, inspectModelFile } from "./gguf/inspect.js";
export { TEST_MODEL_PRESETS, type TestModelOptions, type TestModelSize, writeTestModel } from "./gguf/test-model.js";
export { PullError, type PulledModel, type PullOptions, pullModel } from "./models/pull.js";
export { listModelFiles, type ModelFile } from "./models/registry.js";
export type { ModelStatus } from "./models/routes.js";
export { LMX_ERRORS, LmxError, type LmxErrorBody, type LmxErrorCode } from "./server/errors.js";
export { LMX_VERSION, type LmxOptions, type LmxServer, startLmx } from "./server/start.js";
