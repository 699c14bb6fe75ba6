import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DAEMON_MAIN } from "../../../../packages/daemon/test/fixtures/daemon-harness.js";
import { runCli } from "../fixtures/run-cli.js";

let root: string;
let home: string;

const has = (program: string) => spawnSync("sh", ["-c", `command -v ${program}`]).status === 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "opta-service-"));
  home = join(root, "home with 'quotes' & $dollar");
  await mkdir(home, { recursive: true, mode: 0o700 });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** `[section] key=value` lines of a systemd unit, values unquoted as systemd reads them. */
function parseUnit(text: string): Record<string, Array<[string, string]>> {
  const sections: Record<string, Array<[string, string]>> = {};
  let current: Array<[string, string]> | undefined;
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header) {
      current = sections[header[1]!] = [];
      continue;
    }
    const pair = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!pair || !current) throw new Error(`line ${index + 1} is neither a section nor key=value: ${raw}`);
    current.push([pair[1]!, pair[2]!]);
  }
  return sections;
}

/** Splits a systemd command line into words: double quotes, \\ escapes, %% and $$. */
function words(value: string): string[] {
  const out: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const match of value.matchAll(pattern)) {
    const word = match[1] !== undefined ? match[1].replace(/\\(.)/g, "$1") : match[2]!;
    out.push(word.replaceAll("%%", "%").replaceAll("$$", "$"));
  }
  return out;
}

type Plist = string | boolean | Plist[] | { [key: string]: Plist };

/** A strict reader for the plist subset launchd agents use; throws on anything malformed. */
function parsePlist(text: string): Plist {
  const body = text
    .replace(/^<\?xml [^?]*\?>\s*/, "")
    .replace(/^<!DOCTYPE plist [^>]*>\s*/, "")
    .replace(/<!--[\s\S]*?-->/g, "");
  const tokens = [...body.matchAll(/<(\/?)([a-z]+)([^>]*?)(\/?)>|([^<]+)/g)].filter(
    (token) => token[5] === undefined || token[5].trim(),
  );
  let position = 0;
  const decode = (value: string) =>
    value.replace(
      /&(amp|lt|gt|quot|apos);/g,
      (_, name: string) => ({ amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" })[name]!,
    );
  const expectClose = (name: string) => {
    const token = tokens[position++];
    if (token?.[1] !== "/" || token[2] !== name) throw new Error(`expected </${name}> at token ${position}`);
  };
  const value = (): Plist => {
    const token = tokens[position++];
    if (!token || token[1] === "/" || token[5] !== undefined)
      throw new Error(`expected an element at token ${position}`);
    const name = token[2]!;
    if (token[4] === "/") {
      if (name === "true") return true;
      if (name === "false") return false;
      throw new Error(`unexpected <${name}/>`);
    }
    if (name === "string" || name === "key") {
      const raw = tokens[position]?.[5] !== undefined ? tokens[position++]![5]! : "";
      if (/&/.test(raw.replace(/&(amp|lt|gt|quot|apos);/g, ""))) throw new Error("a bare & in character data");
      const text = decode(raw);
      expectClose(name);
      return text;
    }
    if (name === "array") {
      const items: Plist[] = [];
      while (tokens[position] && tokens[position]![1] !== "/") items.push(value());
      expectClose("array");
      return items;
    }
    if (name === "dict") {
      const dict: Record<string, Plist> = {};
      while (tokens[position] && tokens[position]![1] !== "/") {
        if (tokens[position]![2] !== "key") throw new Error("a dict holds key/value pairs");
        const key = value() as string;
        dict[key] = value();
      }
      expectClose("dict");
      return dict;
    }
    if (name === "plist") {
      const inner = value();
      expectClose("plist");
      return inner;
    }
    throw new Error(`unknown element <${name}>`);
  };
  const result = value();
  if (position !== tokens.length) throw new Error("content after the plist");
  return result;
}

describe("opta daemon install on Linux (systemd user unit)", () => {
  const dir = () => join(root, "systemd-user");
  const env = () => ({ OPTA_SERVICE_DIR: dir(), OPTA_SERVICE_PLATFORM: "linux", OPTA_HOME: home });

  it("writes a unit that runs this node and the daemon's entry with OPTA_HOME, and says how to start it", async () => {
    const result = await runCli(["daemon", "install"], { home, env: env() });
    expect(result.code).toBe(0);
    const file = join(dir(), "opta-daemon.service");
    expect(result.stdout).toContain(`Wrote the systemd user unit ${file}`);
    expect(result.stdout).toContain("systemctl --user enable --now opta-daemon.service");
    const unit = parseUnit(await readFile(file, "utf8"));
    const service = Object.fromEntries(unit.Service!);
    expect(words(service.ExecStart!)).toEqual([process.execPath, DAEMON_MAIN]);
    expect(words(service.Environment!)).toEqual([`OPTA_HOME=${home}`]);
    expect(service.Restart).toBe("on-failure");
    expect(Object.fromEntries(unit.Install!).WantedBy).toBe("default.target");

    if (has("systemd-analyze")) {
      // A user manager's runtime dir of our own: containers have none, and verify needs one.
      const runtime = join(root, "runtime");
      await mkdir(runtime, { recursive: true, mode: 0o700 });
      const verify = spawnSync("systemd-analyze", ["verify", "--user", file], {
        encoding: "utf8",
        env: { ...process.env, XDG_RUNTIME_DIR: runtime },
      });
      expect(verify.stderr).toBe("");
      expect(verify.status).toBe(0);
    } else {
      console.warn("systemd-analyze not installed: the unit was checked by the parser above only");
    }
  });

  it("the unit's command line, run as systemd would run it, starts the daemon for that home", async () => {
    const unit = parseUnit(await readFile(join(dir(), "opta-daemon.service"), "utf8"));
    const service = Object.fromEntries(unit.Service!);
    const [program, ...args] = words(service.ExecStart!);
    const environment = Object.fromEntries(words(service.Environment!).map((pair) => pair.split(/=(.*)/s).slice(0, 2)));
    const child = spawn(program!, args, {
      env: {
        PATH: process.env.PATH ?? "",
        ...environment,
        OPTA_DAEMON_PORT: "0",
        OPTA_LMX_HOST: "127.0.0.1:9",
        OPTA_VAULT: "file",
      },
      stdio: "ignore",
    });
    try {
      const state = join(home, "daemon", "state.json");
      const deadline = Date.now() + 15_000;
      while (!existsSync(state) && Date.now() < deadline && child.exitCode === null) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(JSON.parse(await readFile(state, "utf8")).pid).toBe(child.pid);
    } finally {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
  });

  it("status reports it installed; uninstall removes it; status then says it is not", async () => {
    const status = await runCli(["daemon", "status"], { home, env: env() });
    expect(status.code).toBe(1); // the daemon itself is not running
    expect(status.stdout).toContain("Opta daemon is not running");
    expect(status.stdout).toMatch(/service\s+systemd .*opta-daemon\.service \(OPTA_SERVICE_DIR is set/);
    const json = JSON.parse((await runCli(["daemon", "status", "--json"], { home, env: env() })).stdout);
    expect(json).toMatchObject({ running: false, service: { kind: "systemd", installed: true } });

    const removed = await runCli(["daemon", "uninstall"], { home, env: env() });
    expect(removed.code).toBe(0);
    expect(removed.stdout).toContain("Removed");
    expect(existsSync(join(dir(), "opta-daemon.service"))).toBe(false);
    expect((await runCli(["daemon", "uninstall"], { home, env: env() })).stdout).toContain(
      "No Opta service is installed",
    );
    const after = JSON.parse((await runCli(["daemon", "status", "--json"], { home, env: env() })).stdout);
    expect(after.service).toMatchObject({ installed: false });
  });

  it("puts the unit under $XDG_CONFIG_HOME/systemd/user without OPTA_SERVICE_DIR (--no-start: nothing is started)", async () => {
    const config = join(root, "xdg config");
    const result = await runCli(["daemon", "install", "--no-start"], {
      home,
      env: { OPTA_SERVICE_PLATFORM: "linux", XDG_CONFIG_HOME: config, OPTA_HOME: home },
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("not started (--no-start)");
    expect(existsSync(join(config, "systemd", "user", "opta-daemon.service"))).toBe(true);
  });
});

describe("opta daemon install on macOS (launchd agent)", () => {
  const dir = () => join(root, "LaunchAgents");
  const env = () => ({ OPTA_SERVICE_DIR: dir(), OPTA_SERVICE_PLATFORM: "darwin", OPTA_HOME: home });

  it("writes a valid plist that runs this node and the daemon's entry, restarting it after a crash", async () => {
    const result = await runCli(["daemon", "install"], { home, env: env() });
    expect(result.code).toBe(0);
    const file = join(dir(), "dev.opta.daemon.plist");
    expect(result.stdout).toContain(`launchctl bootstrap gui/$(id -u) ${file}`);
    const text = await readFile(file, "utf8");
    if (has("plutil")) {
      const lint = spawnSync("plutil", ["-lint", file], { encoding: "utf8" });
      expect(lint.status).toBe(0);
    } else {
      console.warn("plutil not installed (not macOS): the plist was checked by the strict reader only");
    }
    const plist = parsePlist(text) as Record<string, Plist>;
    expect(plist).toMatchObject({
      Label: "dev.opta.daemon",
      ProgramArguments: [process.execPath, DAEMON_MAIN],
      EnvironmentVariables: { OPTA_HOME: home },
      RunAtLoad: true,
      KeepAlive: { SuccessfulExit: false },
      StandardErrorPath: join(home, "daemon", "daemon.log"),
    });
    expect((await runCli(["daemon", "uninstall"], { home, env: env() })).code).toBe(0);
    expect(existsSync(file)).toBe(false);
  });

  it("the strict plist reader rejects a malformed file (so the check above can fail)", () => {
    expect(() => parsePlist("<plist><dict><key>a</key></dict></plist>")).toThrow();
    expect(() => parsePlist("<plist><dict><key>a</key><string>x</dict></plist>")).toThrow();
    expect(parsePlist('<plist version="1.0"><dict><key>a</key><string>x &amp; y</string></dict></plist>')).toEqual({
      a: "x & y",
    });
  });
});
