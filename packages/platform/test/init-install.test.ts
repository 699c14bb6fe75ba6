/**
 * init.<domain>: the release scripts/pack-release.mjs builds, the install.sh and install.ps1 the
 * platform generates, and the install itself: the served install.sh, run by dash as `curl … | sh`
 * runs it, into a clean temp prefix with a temp HOME, then `opta --version` from there. Slow by
 * nature (npm installs the tarballs and their third-party dependencies, from npm's cache when it
 * has them: npm_config_prefer_offline), so its timeouts are generous. Needs a built checkout
 * (`npm run build`: the packages' dist/ and Code Desktop's build).
 */
import { execFile, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { appendFile, chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../scripts/security-family.js";
import { mountInitRoutes } from "../src/init/routes.js";
import { defaultReleaseDir } from "../src/init/scripts.js";
import { createPlatformApp } from "../src/server/app.js";
import { startPlatform } from "../src/server.js";
import { defaultSitesRoot } from "../src/sites/assets.js";
import { listen, memoryLogger, send } from "./fixtures/http.js";

const DOMAIN = "opta.localhost";
const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const VERSION = (JSON.parse(await readFile(join(REPO, "package.json"), "utf8")) as { version: string }).version;
const SLOW = 600_000;
const CHROMIUM = "/usr/bin/chromium";
/** dash's own path: a run may have a PATH without it (the "no Node.js" case). */
const DASH = execFileSync("sh", ["-c", "command -v dash"], { encoding: "utf8" }).trim();

interface Manifest {
  schema: number;
  version: string;
  packages: { name: string; version: string; file: string; sha256: string; size: number }[];
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let work: string;
let releaseDir: string;
let manifest: Manifest;

/** The npm settings of this machine (cache, registry, CA) carried into a run whose HOME is a temp folder. */
function npmEnvironment(): Record<string, string> {
  const env: Record<string, string> = {
    npm_config_cache: execFileSync("npm", ["config", "get", "cache"], { encoding: "utf8" }).trim(),
    npm_config_prefer_offline: "true",
    npm_config_update_notifier: "false",
  };
  const userConfig = join(homedir(), ".npmrc");
  if (existsSync(userConfig)) env.npm_config_userconfig = userConfig;
  return env;
}

/** Pipes `script` into dash, as `curl -fsSL …/install.sh | sh` does, with only the given environment. */
function runInstaller(script: string, env: Record<string, string>, timeoutMs = SLOW): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(DASH, ["-s"], { env, stdio: ["pipe", "pipe", "pipe"], timeout: timeoutMs });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(script);
  });
}

/** A clean HOME and prefix, and the environment of a user with only Node.js on PATH. */
async function cleanUser(name: string) {
  const root = await mkdtemp(join(work, `${name}-`));
  const home = join(root, "home");
  const prefix = join(root, "prefix");
  await mkdir(home);
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    OPTA_PREFIX: prefix,
    LANG: "C.UTF-8",
    ...npmEnvironment(),
  };
  return { root, home, prefix, env };
}

/** An init site on its own loopback port (the platform's app without a database), serving `dir` as its release. */
const serveRelease = (dir: string | undefined) =>
  listen((port) =>
    createPlatformApp({
      address: { scheme: "http", domain: DOMAIN, port },
      sitesRoot: defaultSitesRoot(),
      logger: memoryLogger().logger,
      health: () => ({ version: "test", pid: process.pid, uptimeS: 0, database: { kind: "pglite", migrations: 0 } }),
      routes: {
        init: (app) => mountInitRoutes(app, { origin: `http://init.${DOMAIN}:${port}`, releaseDir: dir }),
      },
    }),
  );

/** The install script a site serves. */
const script = async (target: { port: number }, name = "install.sh") =>
  (await send(target.port, `init.${DOMAIN}:${target.port}`, `/${name}`)).body;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "opta-init-"));
  releaseDir = join(work, "release");
  await new Promise<void>((resolve, reject) =>
    execFile(
      process.execPath,
      [join(REPO, "scripts/pack-release.mjs"), "--out", releaseDir],
      { timeout: 180_000 },
      (error, _stdout, stderr) => (error ? reject(new Error(`pack-release failed: ${stderr}`)) : resolve()),
    ),
  );
  manifest = JSON.parse(await readFile(join(releaseDir, "manifest.json"), "utf8")) as Manifest;
}, 240_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe("the release (scripts/pack-release.mjs)", () => {
  it("a checkout's platform serves the checkout's release/ by default", () => {
    expect(defaultReleaseDir()).toBe(join(REPO, "release/"));
  });

  it("packs every package opta needs at run time, each with its sha256 and size", async () => {
    expect(manifest.schema).toBe(1);
    expect(manifest.version).toBe(VERSION);
    expect(manifest.packages.map((entry) => entry.name).sort()).toEqual(
      [
        "@opta/cli",
        "@opta/daemon",
        "@opta/daemon-client",
        "@opta/desktop",
        "@opta/lmx",
        "@opta/local",
        "@opta/platform",
        "@opta/protocol",
      ].sort(),
    );
    const files = (await readdir(releaseDir)).sort();
    expect(files).toEqual(["manifest.json", ...manifest.packages.map((entry) => entry.file)].sort());
    for (const entry of manifest.packages) {
      const body = await readFile(join(releaseDir, entry.file));
      expect(body.length).toBe(entry.size);
      const { createHash } = await import("node:crypto");
      expect(createHash("sha256").update(body).digest("hex")).toBe(entry.sha256);
    }
  });
});

describe("install.sh from the running platform", () => {
  let platform: Awaited<ReturnType<typeof startPlatform>>;

  beforeAll(async () => {
    platform = await startPlatform({
      port: 0,
      domain: DOMAIN,
      pgliteDir: null,
      dataDir: null,
      logger: memoryLogger().logger,
      releaseDir,
      status: { timer: false },
    });
  }, 240_000);

  afterAll(async () => {
    await platform?.close();
  });

  it(
    "installs into a clean temp prefix; opta --version there is the repository's version",
    async () => {
      const origin = `http://init.${DOMAIN}:${platform.port}`;
      const served = await send(platform.port, `init.${DOMAIN}:${platform.port}`, "/install.sh");
      expect(served.status).toBe(200);
      expect(served.body).toContain(`OPTA_INIT_ORIGIN='${origin}'`);

      const user = await cleanUser("install");
      const run = await runInstaller(served.body, user.env);
      expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
      for (const entry of manifest.packages) expect(run.stdout).toContain(`verified ${entry.file}`);
      expect(run.stdout).toContain(`Installed opta ${VERSION} at ${user.prefix}/bin/opta`);
      // Not on PATH yet: the line to add is printed.
      expect(run.stdout).toContain(`export PATH="${user.prefix}/bin:$PATH"`);
      // opta doctor ran (its summary line), whatever it found on this machine.
      expect(run.stdout).toMatch(/opta doctor:\n[\s\S]*\d+ ok · \d+ warnings? · \d+ failed/);

      const version = execFileSync(join(user.prefix, "bin/opta"), ["--version"], { env: user.env, encoding: "utf8" });
      expect(version.trim()).toBe(VERSION);

      // The installed platform serves its sites from its own package (no checkout beside it), and the
      // daemon finds Code Desktop's build for `opta app`.
      const modules = join(user.prefix, "node_modules");
      const probe = execFileSync(
        process.execPath,
        [
          "--input-type=module",
          "-e",
          `const { defaultSitesRoot } = await import("@opta/platform");
           const { desktopDistDir } = await import(${JSON.stringify(join(modules, "@opta/daemon/dist/server/static.js"))});
           console.log(JSON.stringify({ sites: defaultSitesRoot(), desktop: desktopDistDir({}) }));`,
        ],
        { cwd: user.prefix, env: user.env, encoding: "utf8" },
      );
      const found = JSON.parse(probe) as { sites: string; desktop: string };
      expect(found.sites.startsWith(join(modules, "@opta/platform/sites"))).toBe(true);
      expect(existsSync(join(found.sites, "init/public/index.html"))).toBe(true);
      expect(existsSync(join(found.desktop, "index.html"))).toBe(true);

      // Run again against a newer release (same names and versions, other content): it replaces the install.
      const next = join(work, "next-release");
      await cp(releaseDir, next, { recursive: true });
      const cli = manifest.packages.find((entry) => entry.name === "@opta/cli");
      if (!cli) throw new Error("the release lacks @opta/cli");
      const unpacked = join(work, "next-cli");
      await mkdir(unpacked);
      execFileSync("tar", ["xzf", join(next, cli.file), "-C", unpacked]);
      await writeFile(join(unpacked, "package", "NEXT-RELEASE"), "next\n");
      execFileSync("tar", ["czf", join(next, cli.file), "-C", unpacked, "package"]);
      const body = await readFile(join(next, cli.file));
      const { createHash } = await import("node:crypto");
      const nextManifest = {
        ...manifest,
        packages: manifest.packages.map((entry) =>
          entry === cli
            ? { ...entry, sha256: createHash("sha256").update(body).digest("hex"), size: body.length }
            : entry,
        ),
      };
      await writeFile(join(next, "manifest.json"), JSON.stringify(nextManifest));
      const nextSite = await serveRelease(next);
      try {
        const again = await runInstaller(await script(nextSite), user.env);
        expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
      } finally {
        await nextSite.close();
      }
      expect(existsSync(join(modules, "@opta/cli/NEXT-RELEASE"))).toBe(true);
      expect(
        execFileSync(join(user.prefix, "bin/opta"), ["--version"], { env: user.env, encoding: "utf8" }).trim(),
      ).toBe(VERSION);
    },
    SLOW,
  );
});

describe("install.sh and install.ps1 (content and refusals)", () => {
  let server: Awaited<ReturnType<typeof listen>>;
  let tamperedDir: string;
  let empty: Awaited<ReturnType<typeof listen>>;

  beforeAll(async () => {
    tamperedDir = join(work, "tampered");
    await cp(releaseDir, tamperedDir, { recursive: true });
    server = await serveRelease(tamperedDir);
    empty = await serveRelease(undefined);
  });

  afterAll(async () => {
    await server?.close();
    await empty?.close();
  });

  it("is POSIX sh (sh -n, dash -n) with this platform's origin baked in, whatever Host asked", async () => {
    const body = await script(server);
    for (const shell of ["sh", "dash"]) execFileSync(shell, ["-n"], { input: body });
    expect(body).toContain(`OPTA_INIT_ORIGIN='http://init.${DOMAIN}:${server.port}'`);
    expect(body).not.toContain("@OPTA_INIT_ORIGIN@");
    const odd = await send(server.port, `INIT.${DOMAIN}:1`, "/install.sh");
    expect(odd.body).toContain(`OPTA_INIT_ORIGIN='http://init.${DOMAIN}:${server.port}'`);
    expect(odd.headers["content-type"]).toMatch(/^text\/x-shellscript/);
  });

  it("install.ps1 takes the same steps (content only: no pwsh here)", async () => {
    const body = await script(server, "install.ps1");
    expect(body).toContain(`$OptaInitOrigin = 'http://init.${DOMAIN}:${server.port}'`);
    for (const step of [
      "process.versions.node",
      "$Major -eq 20 -and $Minor -lt 19",
      "packages/manifest.json",
      "Get-FileHash -Algorithm SHA256",
      "INIT_CHECKSUM_MISMATCH",
      "npm install --omit=dev",
      "bin\\opta.cmd",
      "& $Opta doctor",
    ])
      expect(body).toContain(step);
    // Every package is verified before npm runs.
    expect(body.indexOf("Get-FileHash")).toBeLessThan(body.indexOf("& npm install"));
  });

  it("refuses Node.js older than 20.19, and no Node.js at all, naming how to get it", async () => {
    const user = await cleanUser("node");
    const fake = join(user.root, "old-node");
    await mkdir(fake);
    await writeFile(join(fake, "node"), "#!/bin/sh\necho 20.18.1\n");
    await chmod(join(fake, "node"), 0o755);
    const old = await runInstaller(await script(server), { ...user.env, PATH: `${fake}:${user.env.PATH}` });
    expect(old.code).toBe(1);
    expect(old.stderr).toContain("Opta needs Node.js 20.19 or newer; this is Node.js 20.18.1. [INIT_NODE_TOO_OLD]");
    expect(old.stderr).toContain("https://nodejs.org/en/download");
    const none = await runInstaller(await script(server), { ...user.env, PATH: join(user.root, "nothing") });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("[INIT_NODE_MISSING]");
    expect(existsSync(user.prefix)).toBe(false);
  });

  it("says so when the platform serves no release", async () => {
    const answer = await send(empty.port, `init.${DOMAIN}:${empty.port}`, "/packages/manifest.json");
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.body).error.code).toBe("release_not_built");
    const user = await cleanUser("empty");
    const run = await runInstaller(await script(empty), user.env);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("[INIT_DOWNLOAD_FAILED]");
    expect(run.stderr).toContain("npm run release");
  });

  it("refuses a package that does not match the manifest, and installs nothing", async ({ task }) => {
    const cases: SecurityCase[] = [];
    const pristine = join(work, "pristine");
    await cp(releaseDir, pristine, { recursive: true });
    const restore = () => cp(pristine, tamperedDir, { recursive: true, force: true });
    const daemon = manifest.packages.find((entry) => entry.name === "@opta/daemon");
    const cli = manifest.packages.find((entry) => entry.name === "@opta/cli");
    if (!daemon || !cli) throw new Error("the release lacks @opta/daemon or @opta/cli");

    const attempt = async (attack: string, tamper: () => Promise<void>, code: string) => {
      await restore();
      await tamper();
      const user = await cleanUser("tamper");
      const run = await runInstaller(await script(server), user.env, 120_000);
      const refused =
        run.code === 1 &&
        run.stderr.includes(`[${code}]`) &&
        !existsSync(join(user.prefix, "node_modules")) &&
        !existsSync(join(user.prefix, "bin/opta"));
      cases.push({ attack, refused, detail: refused ? undefined : `exit ${run.code}: ${run.stderr.slice(0, 300)}` });
      return run;
    };

    const altered = await attempt(
      "a tarball with bytes appended (manifest unchanged)",
      () => appendFile(join(tamperedDir, daemon.file), "tampered"),
      "INIT_CHECKSUM_MISMATCH",
    );
    expect(altered.stderr).toContain(`${daemon.file} (@opta/daemon) does not match the manifest`);
    expect(altered.stderr).toContain("Nothing was installed.");

    // The same altered tarball against the script without its sha256 check goes on to npm install
    // (a stub npm here records the call), so the refusal above is the check's doing.
    const unprotected = (await script(server)).replace(/if \[ "\$actual" != "\$sha" \]; then[\s\S]*?\n {2}fi\n/, "");
    expect(unprotected).not.toContain('INIT_CHECKSUM_MISMATCH "$file');
    const stub = join(work, "stub-npm");
    await mkdir(stub, { recursive: true });
    await writeFile(join(stub, "npm"), '#!/bin/sh\n[ "$1" = install ] && touch "$OPTA_PREFIX/npm-ran"\nexit 0\n');
    await chmod(join(stub, "npm"), 0o755);
    const bare = await cleanUser("unprotected");
    const through = await runInstaller(unprotected, { ...bare.env, PATH: `${stub}:${bare.env.PATH}` }, 120_000);
    expect(through.stdout).toContain(`verified ${daemon.file}`);
    expect(existsSync(join(bare.prefix, "npm-ran"))).toBe(true);
    await attempt(
      "another package's tarball under a package's name",
      () => cp(join(pristine, cli.file), join(tamperedDir, daemon.file)),
      "INIT_CHECKSUM_MISMATCH",
    );
    await attempt(
      "the last package altered after the others verified",
      async () => {
        const last = manifest.packages.at(-1);
        if (last) await appendFile(join(tamperedDir, last.file), "x");
      },
      "INIT_CHECKSUM_MISMATCH",
    );
    await attempt(
      "a manifest naming a file outside the download folder",
      async () => {
        const [first, ...rest] = manifest.packages;
        const changed = { ...manifest, packages: [{ ...first, file: "../../../tmp/evil.tgz" }, ...rest] };
        await writeFile(join(tamperedDir, "manifest.json"), JSON.stringify(changed));
      },
      "INIT_MANIFEST_INVALID",
    );
    await restore();
    expect(reportFamily(task, "init-package-integrity", cases).through).toEqual([]);
  }, 600_000);

  it("the init page: per-OS steps, the install line, the first-run checklist, no inline script or style", async () => {
    const page = await send(server.port, `init.${DOMAIN}:${server.port}`, "/");
    expect(page.status).toBe(200);
    for (const text of [
      'id="linux"',
      'id="macos"',
      'id="windows"',
      "/install.sh | sh",
      "/install.ps1 | iex",
      'id="first-run"',
      "opta daemon start",
      "opta lmx start",
      "opta account login",
      '<link rel="stylesheet" href="/init.css">',
      '<script src="/init.js" defer></script>',
    ])
      expect(page.body).toContain(text);
    expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(page.body).not.toMatch(/<style|\sstyle=/);
    // The page's bundle budget (docs/platform.md): everything it loads, 32 KiB uncompressed.
    let bytes = Buffer.byteLength(page.body);
    for (const asset of ["/init.css", "/init.js", "/favicon.svg"]) {
      const answer = await send(server.port, `init.${DOMAIN}:${server.port}`, asset);
      expect(answer.status, asset).toBe(200);
      bytes += Buffer.byteLength(answer.body);
    }
    expect(bytes).toBeLessThan(32 * 1024);
  });

  it.skipIf(!existsSync(CHROMIUM))(
    "the init page in Chromium: this platform's install line, its release, both themes, 375 px, no console error",
    async () => {
      const site = await serveRelease(releaseDir);
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ["--no-sandbox", "--disable-gpu", `--host-resolver-rules=MAP *.${DOMAIN} 127.0.0.1`],
      });
      try {
        const origin = `http://init.${DOMAIN}:${site.port}`;
        const look: Record<string, { text: string; background: string; muted: string }> = {};
        for (const colorScheme of ["dark", "light"] as const) {
          const context = await browser.newContext({ viewport: { width: 375, height: 800 }, colorScheme });
          const page = await context.newPage();
          const errors: string[] = [];
          page.on("console", (message) => {
            if (message.type() === "error") errors.push(message.text());
          });
          page.on("pageerror", (error) => errors.push(error.message));
          await page.goto(`${origin}/`);
          await page.getByText(`Serves Opta ${VERSION}: ${manifest.packages.length} packages`).waitFor();
          expect(await page.locator("#linux pre code").textContent()).toBe(`curl -fsSL ${origin}/install.sh | sh`);
          expect(await page.locator("#windows pre code").textContent()).toBe(`irm ${origin}/install.ps1 | iex`);
          expect(await page.locator("[data-home]").textContent()).toBe(`http://${DOMAIN}:${site.port}`);
          // Landmarks, one h1, and the skip link first in the keyboard order.
          for (const landmark of ["header", "main", "footer", "nav"])
            expect(await page.locator(landmark).count()).toBe(1);
          expect(await page.locator("h1").count()).toBe(1);
          await page.keyboard.press("Tab");
          expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to the instructions");
          // Nothing wider than a 375 px phone.
          expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
          look[colorScheme] = await page.evaluate(() => {
            const style = getComputedStyle(document.body);
            const lead = getComputedStyle(document.querySelector(".lead") as Element);
            return { text: style.color, background: style.backgroundColor, muted: lead.color };
          });
          expect(errors).toEqual([]);
          await context.close();
        }
        expect(look.dark?.background).not.toBe(look.light?.background);
        for (const theme of Object.values(look)) {
          expect(contrast(theme.text, theme.background)).toBeGreaterThanOrEqual(7);
          expect(contrast(theme.muted, theme.background)).toBeGreaterThanOrEqual(4.5);
        }
      } finally {
        await browser.close();
        await site.close();
      }
    },
    120_000,
  );
});

/** WCAG 2 contrast ratio of two `rgb(r, g, b)` colours. */
function contrast(first: string, second: string): number {
  const luminance = (color: string) => {
    const [r, g, b] = (color.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map((part) => {
      const channel = Number(part) / 255;
      return channel <= 0.03928 ? channel / 12.92 : ((channel + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * (r ?? 0) + 0.7152 * (g ?? 0) + 0.0722 * (b ?? 0);
  };
  const [light, dark] = [luminance(first), luminance(second)].sort((a, b) => b - a);
  return ((light ?? 0) + 0.05) / ((dark ?? 0) + 0.05);
}
