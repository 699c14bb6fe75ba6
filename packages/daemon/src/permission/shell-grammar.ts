import { createRequire } from "node:module";
import { Language, Parser } from "web-tree-sitter";

/**
 * The tree-sitter-bash grammar, loaded once per process. Loading is asynchronous (WebAssembly) but
 * the permission gate is synchronous, so the daemon awaits `loadShellGrammar()` at start (and
 * `loadPolicies` awaits it too); until it has finished, every command is uncertain and asks.
 */
let parser: Parser | undefined;
let loading: Promise<void> | undefined;

/** Loads the bash grammar; resolves at once when it is already loaded. A failed load can be retried. */
export function loadShellGrammar(): Promise<void> {
  loading ??= (async () => {
    const wasm = createRequire(import.meta.url).resolve("tree-sitter-bash/tree-sitter-bash.wasm");
    await Parser.init();
    const language = await Language.load(wasm);
    const created = new Parser();
    created.setLanguage(language);
    parser = created;
  })().catch((error: unknown) => {
    loading = undefined; // let a later call try again
    throw error;
  });
  return loading;
}

/** The loaded parser, or undefined while `loadShellGrammar()` has not finished. */
export function shellParser(): Parser | undefined {
  return parser;
}
