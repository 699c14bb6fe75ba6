import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildNativeLlama,
  checkNativeBuildTools,
  hasNativeBuild,
  NativeBuildError,
  type NodeLlamaCppPaths,
  pathsUnder,
  removeNativeBuild,
} from "../src/engine/native-build.js";

// The real build takes 30–65 min: these tests run `buildNativeLlama` against a stand-in for
// node-llama-cpp's CLI (a script that records its arguments, prints cmake-like progress and
// writes what a build leaves in localBuilds), and fake tools on a PATH of their own.

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "opta-native-build-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A folder holding executables with these names (they do nothing). */
async function toolsFolder(name: string, tools: string[]): Promise<string> {
  const folder = join(dir, name);
  await mkdir(folder, { recursive: true });
  for (const tool of tools) {
    await writeFile(join(folder, tool), "#!/bin/sh\nexit 0\n");
    await chmod(join(folder, tool), 0o755);
  }
  return folder;
}

/**
 * A node-llama-cpp package folder: the bundle (unless `bundle: false`), the release record, and a
 * CLI that writes its argv to argv.json, prints progress, and (when `writes`) leaves a build.
 */
async function fakePackage(
  name: string,
  { bundle = true, exit = 0, writes = true }: { bundle?: boolean; exit?: number; writes?: boolean } = {},
): Promise<NodeLlamaCppPaths> {
  const root = join(dir, name);
  await mkdir(join(root, "llama"), { recursive: true });
  await mkdir(join(root, "dist", "cli"), { recursive: true });
  if (bundle) await writeFile(join(root, "llama", "gitRelease.bundle"), "bundle");
  await writeFile(join(root, "llama", "llama.cpp.info.json"), JSON.stringify({ tag: "v0.5.0" }));
  await writeFile(
    join(root, "dist", "cli", "cli.js"),
    `import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
const root = ${JSON.stringify(root)};
writeFileSync(join(root, "argv.json"), JSON.stringify(process.argv.slice(2)));
console.log("[ 50%] Building CXX object llama.cpp/src/llama.cpp.o");
console.error("[100%] Built target llama-addon");
console.log("\u001b[2K\u001b[1A\u001b[2K\u001b[GCloning ggml-org/llama.cpp (local bundle)   40%");
if (${writes}) {
  mkdirSync(join(root, "llama", "localBuilds", "linux-x64", "Release"), { recursive: true });
  writeFileSync(join(root, "llama", "localBuilds", "linux-x64", "Release", "llama-addon.node"), "addon");
}
if (${exit} !== 0) console.error("gmake: *** [Makefile:136: all] Error 2");
process.exit(${exit});
`,
  );
  return pathsUnder(root);
}

async function ranWith(paths: NodeLlamaCppPaths): Promise<string[] | undefined> {
  try {
    return JSON.parse(await readFile(join(paths.llamaDirectory, "..", "argv.json"), "utf8")) as string[];
  } catch {
    return undefined;
  }
}

const built = (paths: NodeLlamaCppPaths) => async () => (hasNativeBuild(paths) ? "localBuild" : "prebuilt");

describe("opta lmx build: preflight", () => {
  it("names the apt-get line for the missing tools before anything starts", async () => {
    const paths = await fakePackage("no-tools");
    const path = await toolsFolder("only-git", ["git", "make"]);
    const error = await buildNativeLlama({ paths, path, verify: built(paths) }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NativeBuildError);
    expect((error as NativeBuildError).code).toBe("LMX_BUILD_TOOLS_MISSING");
    expect((error as Error).message).toContain("missing: cmake, a C++ compiler.");
    expect((error as Error).message).toContain("sudo apt-get install cmake g++ (then run 'opta lmx build' again");
    expect(await ranWith(paths)).toBeUndefined();
  });

  it("accepts any C++ compiler it knows and reports where each tool is", async () => {
    const path = await toolsFolder("clang", ["cmake", "clang++", "ninja", "git"]);
    const found = await checkNativeBuildTools(path);
    expect(found).toEqual({
      cmake: join(path, "cmake"),
      "a C++ compiler": join(path, "clang++"),
      make: join(path, "ninja"),
      git: join(path, "git"),
    });
    await expect(checkNativeBuildTools(await toolsFolder("no-cmake", ["g++", "make", "git"]))).rejects.toThrow(
      /missing: cmake\. On Debian or Ubuntu: sudo apt-get install cmake \(/,
    );
  });

  it("refuses to build without the bundled source rather than fetch it from GitHub", async () => {
    const paths = await fakePackage("no-bundle", { bundle: false });
    const path = await toolsFolder("all", ["cmake", "g++", "make", "git"]);
    const error = await buildNativeLlama({ paths, path, verify: built(paths) }).catch((caught: unknown) => caught);
    expect((error as NativeBuildError).code).toBe("LMX_BUILD_NO_BUNDLE");
    expect(await ranWith(paths)).toBeUndefined();
  });
});

describe("opta lmx build: the build", () => {
  it("runs node-llama-cpp's source download of the bundled release, CPU only, and passes its progress on", async () => {
    const paths = await fakePackage("ok");
    const path = await toolsFolder("all", ["cmake", "g++", "make", "git"]);
    const lines: string[] = [];
    expect(hasNativeBuild(paths)).toBe(false);
    const result = await buildNativeLlama({ paths, path, verify: built(paths), onLine: (line) => lines.push(line) });
    expect(await ranWith(paths)).toEqual([
      "source",
      "download",
      "--release",
      "v0.5.0",
      "--gpu",
      "false",
      "--noUsageExample",
    ]);
    expect(lines).toContain("[ 50%] Building CXX object llama.cpp/src/llama.cpp.o");
    expect(lines).toContain("[100%] Built target llama-addon");
    expect(lines).toContain("Cloning ggml-org/llama.cpp (local bundle)   40%");
    expect(result).toMatchObject({ buildType: "localBuild", release: "v0.5.0", localBuilds: paths.localBuilds });
    expect(result.tools.cmake).toBe(join(path, "cmake"));
    expect(hasNativeBuild(paths)).toBe(true);

    // --remove: back to the prebuilt binary.
    expect(await removeNativeBuild(paths)).toBe(true);
    expect(hasNativeBuild(paths)).toBe(false);
    expect(await removeNativeBuild(paths)).toBe(false);
  });

  it("a failed build says so with its last lines, and leaves LMX on the prebuilt binary", async () => {
    const paths = await fakePackage("fails", { exit: 2, writes: false });
    const path = await toolsFolder("all", ["cmake", "g++", "make", "git"]);
    const error = await buildNativeLlama({ paths, path, verify: built(paths) }).catch((caught: unknown) => caught);
    expect((error as NativeBuildError).code).toBe("LMX_BUILD_FAILED");
    expect((error as Error).message).toContain("exited with 2");
    expect((error as Error).message).toContain("Error 2");
    expect(hasNativeBuild(paths)).toBe(false);
  });

  it("a build node-llama-cpp does not pick up is an error, not a success", async () => {
    const paths = await fakePackage("unused", { writes: false });
    const path = await toolsFolder("all", ["cmake", "g++", "make", "git"]);
    const error = await buildNativeLlama({ paths, path, verify: built(paths) }).catch((caught: unknown) => caught);
    expect((error as NativeBuildError).code).toBe("LMX_BUILD_NOT_USED");
    expect((error as Error).message).toContain("still loads its prebuilt binary");
  });
});
