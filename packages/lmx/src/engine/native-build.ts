import { spawn } from "node:child_process";
import { constants, existsSync, readdirSync, readFileSync } from "node:fs";
import { access, rm } from "node:fs/promises";
import { delimiter, dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** Why `opta lmx build` did not produce a native llama.cpp; the code is what a script switches on. */
export type NativeBuildErrorCode =
  | "LMX_BUILD_TOOLS_MISSING"
  | "LMX_BUILD_NO_BUNDLE"
  | "LMX_BUILD_FAILED"
  | "LMX_BUILD_NOT_USED";

/** A native build that cannot start or did not work; the message says what to do. */
export class NativeBuildError extends Error {
  override readonly name = "NativeBuildError";
  constructor(
    readonly code: NativeBuildErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/** Where node-llama-cpp keeps its bundled llama.cpp source, its CLI and its local builds. */
export type NodeLlamaCppPaths = {
  /** node-llama-cpp's `llama/` folder. */
  llamaDirectory: string;
  /** Its CLI (`node-llama-cpp source download` builds from here). */
  cli: string;
  /** The git bundle of the llama.cpp release it was published with: the source, with no download. */
  bundle: string;
  /** Native builds; node-llama-cpp prefers one found here over its prebuilt binaries. */
  localBuilds: string;
  /** The llama.cpp release tag of the bundle (`llama.cpp.info.json`). */
  release: string | undefined;
};

/** The paths of the node-llama-cpp that LMX itself loads. */
export function nodeLlamaCppPaths(): NodeLlamaCppPaths {
  // dist/index.js → the package root.
  const root = dirname(dirname(fileURLToPath(import.meta.resolve("node-llama-cpp"))));
  return pathsUnder(root);
}

/** The same paths under a node-llama-cpp package folder `root`. */
export function pathsUnder(root: string): NodeLlamaCppPaths {
  const llamaDirectory = join(root, "llama");
  let release: string | undefined;
  try {
    release = (JSON.parse(readFileSync(join(llamaDirectory, "llama.cpp.info.json"), "utf8")) as { tag?: string }).tag;
  } catch {
    release = undefined;
  }
  return {
    llamaDirectory,
    cli: join(root, "dist", "cli", "cli.js"),
    bundle: join(llamaDirectory, "gitRelease.bundle"),
    localBuilds: join(llamaDirectory, "localBuilds"),
    release,
  };
}

/** A tool the build needs, and the Debian package that brings it. */
type Tool = { role: string; names: string[]; debianPackage: string };

/**
 * What node-llama-cpp's build runs: cmake (found on PATH; without one it would download cmake
 * with xpm, which this command never lets it do), a C++ compiler and make for cmake's Unix
 * Makefiles generator, and git to clone the bundle.
 */
const TOOLS: Tool[] = [
  { role: "cmake", names: ["cmake"], debianPackage: "cmake" },
  { role: "a C++ compiler", names: ["g++", "c++", "clang++"], debianPackage: "g++" },
  { role: "make", names: ["make", "ninja"], debianPackage: "make" },
  { role: "git", names: ["git"], debianPackage: "git" },
];

async function onPath(name: string, path: string): Promise<string | undefined> {
  for (const folder of path.split(delimiter)) {
    if (!folder) continue;
    const candidate = join(folder, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

/**
 * Checks that cmake, a C++ compiler, make and git are on `path` before an hour-long build starts;
 * returns where each is. Throws LMX_BUILD_TOOLS_MISSING naming the apt-get line that installs
 * what is missing.
 */
export async function checkNativeBuildTools(path = process.env.PATH ?? ""): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  const missing: Tool[] = [];
  for (const tool of TOOLS) {
    let at: string | undefined;
    for (const name of tool.names) {
      at = await onPath(name, path);
      if (at) break;
    }
    if (at) found[tool.role] = at;
    else missing.push(tool);
  }
  if (missing.length > 0) {
    throw new NativeBuildError(
      "LMX_BUILD_TOOLS_MISSING",
      `building llama.cpp natively needs cmake, a C++ compiler, make and git on PATH; missing: ${missing.map((tool) => tool.role).join(", ")}. On Debian or Ubuntu: sudo apt-get install ${missing.map((tool) => tool.debianPackage).join(" ")} (then run 'opta lmx build' again; nothing is downloaded). Without a native build LMX keeps using node-llama-cpp's prebuilt binary.`,
    );
  }
  return found;
}

/** Whether a native build is there for node-llama-cpp to prefer (its `localBuilds` folder holds an addon). */
export function hasNativeBuild(paths: NodeLlamaCppPaths = nodeLlamaCppPaths()): boolean {
  return existsSync(paths.localBuilds) && findAddon(paths.localBuilds);
}

function findAddon(folder: string): boolean {
  // localBuilds/<build folder>/Release/llama-addon.node
  try {
    return readdirSync(folder).some((name) => existsSync(join(folder, name, "Release", "llama-addon.node")));
  } catch {
    return false;
  }
}

/** `text` without terminal control sequences (colours, cursor moves, line clears). */
function plainText(text: string): string {
  return text.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, "").trim();
}

/** Options of {@link buildNativeLlama}; everything but `onLine` is for tests. */
export type NativeBuildOptions = {
  /** Each line the build prints (cmake's `[ 42%] Building …` lines are its progress). */
  onLine?: (line: string) => void;
  /** node-llama-cpp's paths (default: the one LMX loads). */
  paths?: NodeLlamaCppPaths;
  /** PATH to find the tools on (default: this process's). */
  path?: string;
  /** Confirms that node-llama-cpp now loads the native build; default: `getLlama` says `localBuild`. */
  verify?: () => Promise<string>;
  signal?: AbortSignal;
};

/** What a finished build reports. */
export type NativeBuildResult = {
  /** node-llama-cpp's build type after the build (`localBuild`). */
  buildType: string;
  /** Where the build lies. */
  localBuilds: string;
  /** The llama.cpp release built. */
  release: string | undefined;
  /** The tools used. */
  tools: Record<string, string>;
  seconds: number;
};

async function loadedBuildType(): Promise<string> {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  const llama = await getLlama({
    gpu: false,
    build: "never",
    usePrebuiltBinaries: true,
    logLevel: LlamaLogLevel.error,
  });
  const type = llama.buildType;
  await llama.dispose();
  return type;
}

/**
 * Builds llama.cpp natively (CPU only: `-march=native` and OpenMP, which node-llama-cpp's prebuilt
 * binaries lack) from the source node-llama-cpp bundles, with its own `source download --gpu false`:
 * that clones the local git bundle instead of GitHub when the bundle is there, which is checked
 * first, as are the tools (so it never falls back to downloading cmake or the source). node-llama-cpp
 * then prefers the build over its prebuilt binary with no flag. Takes 30–65 min on 2 cores.
 */
export async function buildNativeLlama(options: NativeBuildOptions = {}): Promise<NativeBuildResult> {
  const paths = options.paths ?? nodeLlamaCppPaths();
  const tools = await checkNativeBuildTools(options.path);
  if (!existsSync(paths.bundle) || paths.release === undefined) {
    throw new NativeBuildError(
      "LMX_BUILD_NO_BUNDLE",
      `node-llama-cpp's bundled llama.cpp source (${paths.bundle}) is not there, and this command does not download it from GitHub; reinstall node-llama-cpp (npm install), or keep using the prebuilt binary`,
    );
  }
  const started = performance.now();
  const args = [paths.cli, "source", "download", "--release", paths.release, "--gpu", "false", "--noUsageExample"];
  const tail: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, ...(options.path !== undefined ? { PATH: options.path } : {}), NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on("line", (raw) => {
        // node-llama-cpp draws spinners and progress bars with terminal escapes even when piped.
        const line = plainText(raw);
        if (line === "") return;
        tail.push(line);
        if (tail.length > 20) tail.shift();
        options.onLine?.(line);
      });
    }
    child.on("error", reject);
    child.on("close", resolve);
  });
  if (code !== 0) {
    throw new NativeBuildError(
      "LMX_BUILD_FAILED",
      `node-llama-cpp's build exited with ${code}; LMX keeps using the prebuilt binary. Its last lines: ${tail.slice(-5).join(" | ")}`,
    );
  }
  const buildType = await (options.verify ?? loadedBuildType)();
  if (buildType !== "localBuild") {
    throw new NativeBuildError(
      "LMX_BUILD_NOT_USED",
      `the build finished but node-llama-cpp still loads its ${buildType} binary; see ${paths.localBuilds}, and run 'opta lmx build' again`,
    );
  }
  return {
    buildType,
    localBuilds: paths.localBuilds,
    release: paths.release,
    tools,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * Removes the native build (and the source clone and build record node-llama-cpp keeps beside it),
 * so LMX goes back to the prebuilt binary. Returns whether there was one.
 */
export async function removeNativeBuild(paths: NodeLlamaCppPaths = nodeLlamaCppPaths()): Promise<boolean> {
  const had = hasNativeBuild(paths);
  await rm(paths.localBuilds, { recursive: true, force: true });
  await rm(join(paths.llamaDirectory, "llama.cpp"), { recursive: true, force: true });
  await rm(join(paths.llamaDirectory, "lastBuild.json"), { force: true });
  return had;
}
