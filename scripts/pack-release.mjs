#!/usr/bin/env node
import { execFileSync } from "node:child_process";
// Packs what `install.sh` installs: one `npm pack` tarball per workspace package the `opta` command
// needs at run time, plus manifest.json (name, version, file, sha256, size of each), into one folder
// that the platform serves on `init.<domain>/packages/…`.
//
// Why staged copies instead of `npm pack` in each workspace: a workspace's own pack runs its
// lifecycle scripts (@opta/daemon-client's prepack refuses on purpose) and takes its package.json
// as written for development (devDependencies, scripts, Code Desktop's bundled-in dependencies).
// Each package is copied to a temp folder with the files its `files` field names (no source maps,
// no build info), a package.json for installing (no scripts or devDependencies), and then all are
// packed by one `npm pack`. The @opta/* dependencies stay as they are ("0.1.0"): install.sh
// installs every tarball of one release together, so npm finds each of them among its siblings.
// The platform's tarball also carries each site's served files under sites/, since an installed
// package has no apps/sites/ beside it.
//
// Usage: node scripts/pack-release.mjs [--out DIR]   (default: release/ of this checkout)
// Expects a built checkout (`npm run build`); prints the manifest's path on its last line.
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Workspace folders packed, in dependency order; apps/desktop is the Code Desktop the daemon serves. */
export const RELEASE_PACKAGES = [
  "packages/protocol",
  "packages/local",
  "packages/daemon-client",
  "packages/daemon",
  "packages/lmx",
  "packages/platform",
  "apps/desktop",
  "apps/cli",
];

/** The eight sites, as packages/platform/src/sites/registry.ts names them. */
const SITES = ["home", "accounts", "admin", "status", "lmx", "init", "help", "learn"];

/** A refusal with a code; thrown so the temp folders are removed on the way out. */
class ReleaseError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

function fail(code, message) {
  throw new ReleaseError(code, message);
}

const readJson = (path) => JSON.parse(readFileSync(path, "utf8"));

/** Source maps point at src/, which is not shipped; build info is the compiler's cache. */
const shipped = (path) => statSync(path).isDirectory() || !/\.(map|tsbuildinfo)$/.test(path);

/** The package.json that goes into the tarball: what installing and running need, nothing else. */
function releaseManifest(pkg, folder) {
  const keep = ["name", "version", "description", "type", "license", "main", "types", "exports", "bin", "files"];
  const manifest = Object.fromEntries(keep.filter((key) => pkg[key] !== undefined).map((key) => [key, pkg[key]]));
  manifest.engines = { node: ">=20.19" };
  // Vite bundles Code Desktop's dependencies into dist/: installing them again would only cost time.
  if (folder !== "apps/desktop" && pkg.dependencies) manifest.dependencies = pkg.dependencies;
  if (pkg.peerDependencies) manifest.peerDependencies = pkg.peerDependencies;
  if (pkg.peerDependenciesMeta) manifest.peerDependenciesMeta = pkg.peerDependenciesMeta;
  if (folder === "packages/platform") manifest.files = [...(pkg.files ?? []), "sites"];
  return manifest;
}

/** Copies one workspace package into `stage`; returns its name and version. */
function stagePackage(folder, stage) {
  const source = join(repo, folder);
  const pkg = readJson(join(source, "package.json"));
  for (const entry of pkg.files ?? []) {
    const from = join(source, entry);
    if (!existsSync(from)) {
      fail(
        "RELEASE_NOT_BUILT",
        `${pkg.name} has no ${entry}/ yet: run 'npm run build' in the repository first, then 'npm run release'`,
      );
    }
    cpSync(from, join(stage, entry), { recursive: true, filter: shipped });
  }
  if (folder === "apps/desktop" && !existsSync(join(stage, "dist", "index.html"))) {
    fail("RELEASE_NOT_BUILT", "Code Desktop is not built: run 'npm run build' in the repository first");
  }
  if (folder === "packages/platform") {
    // Each site's served folder, as the server picks it in a checkout: its build, else its public/.
    for (const site of SITES) {
      const built = join(repo, "apps/sites", site, "dist");
      const from = existsSync(join(built, "index.html")) ? built : join(repo, "apps/sites", site, "public");
      cpSync(from, join(stage, "sites", site, "public"), { recursive: true, filter: shipped });
    }
  }
  writeFileSync(join(stage, "package.json"), `${JSON.stringify(releaseManifest(pkg, folder), null, 2)}\n`);
  const readme = join(source, "README.md");
  if (existsSync(readme)) cpSync(readme, join(stage, "README.md"));
  return { name: pkg.name, version: pkg.version };
}

/** sha256 (hex) and size of a file. */
function digest(path) {
  const body = readFileSync(path);
  return { sha256: createHash("sha256").update(body).digest("hex"), size: body.length };
}

function main() {
  const argv = process.argv.slice(2);
  const outFlag = argv.indexOf("--out");
  if (outFlag >= 0 && !argv[outFlag + 1]) fail("RELEASE_USAGE", "--out needs a folder");
  const out = resolve(outFlag >= 0 ? argv[outFlag + 1] : join(repo, "release"));
  const version = readJson(join(repo, "package.json")).version;

  const work = mkdtempSync(join(tmpdir(), "opta-release-"));
  let packed;
  try {
    const staged = RELEASE_PACKAGES.map((folder, index) => {
      const stage = join(work, String(index));
      mkdirSync(stage);
      return { stage, ...stagePackage(folder, stage) };
    });
    // Packed beside the destination, so the final rename never crosses file systems.
    mkdirSync(dirname(out), { recursive: true });
    packed = mkdtempSync(join(dirname(out), `.${basename(out)}-`));
    // One npm for all: a fresh npm per package costs a second or two each on a small machine.
    const output = execFileSync(
      "npm",
      ["pack", "--json", "--ignore-scripts", "--pack-destination", packed, ...staged.map((entry) => entry.stage)],
      { cwd: work, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
    );
    const results = JSON.parse(output);
    const packages = staged.map((entry) => {
      const result = results.find((candidate) => candidate.name === entry.name);
      if (!result) fail("RELEASE_PACK_FAILED", `npm pack wrote no tarball for ${entry.name}`);
      return {
        name: entry.name,
        version: entry.version,
        file: result.filename,
        ...digest(join(packed, result.filename)),
      };
    });
    const manifest = { schema: 1, version, createdAt: new Date().toISOString(), packages };
    writeFileSync(join(packed, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);

    // Replace the whole folder at once, so a platform serving it never mixes two releases' files.
    const previous = `${out}.old-${process.pid}`;
    if (existsSync(out)) renameSync(out, previous);
    renameSync(packed, out);
    rmSync(previous, { recursive: true, force: true });
    for (const entry of packages) console.log(`${entry.file}  ${(entry.size / 1024).toFixed(0)} KiB  ${entry.sha256}`);
    console.log(join(out, "manifest.json"));
  } finally {
    rmSync(work, { recursive: true, force: true });
    if (packed && existsSync(packed)) rmSync(packed, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (error) {
    if (!(error instanceof ReleaseError)) throw error;
    process.stderr.write(`error: ${error.message} [${error.code}]\n`);
    process.exit(1);
  }
}
