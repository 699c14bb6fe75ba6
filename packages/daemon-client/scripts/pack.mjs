#!/usr/bin/env node
// Packs @opta/daemon-client as a self-contained tarball a third party can `npm install`.
//
// Why not a plain `npm pack`: the SDK imports @opta/protocol, a workspace package that is not on
// the registry, so the tarball of the SDK alone cannot be installed. `bundleDependencies` does not
// help in an npm workspace (the hoisted, symlinked @opta/protocol is silently left out of the
// tarball). So this script stages a copy of the package instead: the SDK's built dist, with
// @opta/protocol's built dist vendored under dist/vendor/protocol and every "@opta/protocol"
// import (in .js and .d.ts alike) rewritten to that relative path, and a package.json that no
// longer names @opta/protocol but carries its registry dependencies (zod). The workspace itself is
// never modified, so the CLI, the daemon and Code Desktop keep sharing one protocol module.
//
// Usage: node scripts/pack.mjs [--pack-destination DIR]   (default: the current directory)
// Prints the tarball's absolute path on its last line.
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const sdkDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const protocolDir = resolve(sdkDir, "../protocol");
const VENDOR = join("dist", "vendor", "protocol");

const argv = process.argv.slice(2);
const destinationFlag = argv.indexOf("--pack-destination");
const destination = resolve(destinationFlag >= 0 && argv[destinationFlag + 1] ? argv[destinationFlag + 1] : ".");

// Build first, so the tarball is what the sources say (a no-op when dist is up to date).
const require = createRequire(import.meta.url);
const tsc = join(dirname(require.resolve("typescript/package.json")), require("typescript/package.json").bin.tsc);
execFileSync(process.execPath, [tsc, "-b", sdkDir], { stdio: "inherit" });

const readJson = (path) => JSON.parse(readFileSync(path, "utf8"));
const sdk = readJson(join(sdkDir, "package.json"));
const protocol = readJson(join(protocolDir, "package.json"));

const stage = mkdtempSync(join(tmpdir(), "opta-sdk-pack-"));
try {
  // Declarations, JavaScript and nothing else: source maps point at src/, which is not shipped.
  const shipped = (path) => statSync(path).isDirectory() || /\.(js|d\.ts)$/.test(path);
  cpSync(join(sdkDir, "dist"), join(stage, "dist"), { recursive: true, filter: shipped });
  cpSync(join(protocolDir, "dist"), join(stage, VENDOR), { recursive: true, filter: shipped });

  for (const file of walk(join(stage, "dist"))) {
    const text = readFileSync(file, "utf8");
    let target = relative(dirname(file), join(stage, VENDOR, "index.js"))
      .split(sep)
      .join("/");
    if (!target.startsWith(".")) target = `./${target}`;
    const rewritten = text
      .replace(/(["'])@opta\/protocol\1/g, `$1${target}$1`)
      .replace(/^\/\/# sourceMappingURL=.*$/m, "");
    if (rewritten !== text) writeFileSync(file, rewritten);
  }

  const { "@opta/protocol": _workspace, ...dependencies } = sdk.dependencies;
  for (const [name, range] of Object.entries(protocol.dependencies ?? {})) dependencies[name] ??= range;
  const manifest = {
    name: sdk.name,
    version: sdk.version,
    description: sdk.description,
    type: sdk.type,
    license: sdk.license,
    engines: { node: ">=20.19" },
    main: sdk.main,
    types: sdk.types,
    exports: sdk.exports,
    files: ["dist"],
    dependencies,
  };
  writeFileSync(join(stage, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  cpSync(resolve(sdkDir, "../../docs/sdk.md"), join(stage, "README.md"));

  const output = execFileSync("npm", ["pack", "--json", "--pack-destination", destination], {
    cwd: stage,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [{ filename }] = JSON.parse(output);
  console.log(join(destination, filename));
} finally {
  rmSync(stage, { recursive: true, force: true });
}

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else yield path;
  }
}
