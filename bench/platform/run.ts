/**
 * The platform server under 50 concurrent users on a real PostgreSQL: sign-in latency, vault pull
 * latency (p50/p99) and the server's idle RSS. The server runs as its own process (the shipped
 * `main.js`) on a database created for this run and dropped after it.
 *
 *   OPTA_TEST_DATABASE_URL=postgres://… npm run bench:platform
 *
 * Rate limits: better-auth allows 3 sign-ins per 10 s per client address. Every sign-in here comes
 * from a loopback source address of its own (127.1.<round>.<user>), as 50 users on 50 machines
 * would, so no request meets the limit; any 429 is counted and fails the run rather than being
 * timed. The vault routes have no rate limit.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, request } from "node:http";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { percentile, report } from "../stats.js";

const MAIN = fileURLToPath(new URL("../../../../packages/platform/dist/main.js", import.meta.url));
const USERS = Number(process.env.BENCH_USERS ?? 50);
const SIGN_IN_ROUNDS = Number(process.env.BENCH_SIGN_IN_ROUNDS ?? 6);
const PULL_ROUNDS = Number(process.env.BENCH_PULL_ROUNDS ?? 20);
const DOMAIN = "opta.localhost";
const PASSWORD = "correct horse battery staple";
const agent = new Agent({ keepAlive: true, maxSockets: 1000 });

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  ms: number;
}

function send(
  port: number,
  host: string,
  path: string,
  options: { method?: string; json?: unknown; headers?: Record<string, string>; from?: string } = {},
): Promise<Answer> {
  const body = options.json === undefined ? undefined : JSON.stringify(options.json);
  const headers: Record<string, string> = { host, ...options.headers };
  if (body !== undefined) headers["content-type"] = "application/json";
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: options.method ?? (body ? "POST" : "GET"),
        headers,
        agent,
        ...(options.from ? { localAddress: options.from } : {}),
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => {
          text += chunk;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, ms: performance.now() - started }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN) / 1024;
}

async function onServer(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Starts main.js and resolves with its port once it logs "listening". */
function startServer(home: string, databaseUrl: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [MAIN, "--port", "0", "--domain", DOMAIN], {
    env: { ...process.env, OPTA_HOME: home, DATABASE_URL: databaseUrl },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let buffer = "";
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      buffer += chunk;
      for (;;) {
        const end = buffer.indexOf("\n");
        if (end < 0) break;
        const line = JSON.parse(buffer.slice(0, end)) as { message?: string; port?: number };
        buffer = buffer.slice(end + 1);
        if (line.message === "listening" && line.port) resolve({ child, port: line.port });
      }
    });
    child.on("exit", (code) => reject(new Error(`the platform server exited (${code}) before listening`)));
  });
}

/** Runs `rounds` rounds of one request per user, all users at once, and returns every latency. */
async function rounds(count: number, each: (user: number, round: number) => Promise<Answer>) {
  const times: number[] = [];
  const statuses = new Map<number, number>();
  for (let round = 0; round < count; round += 1) {
    const answers = await Promise.all(Array.from({ length: USERS }, (_, user) => each(user, round)));
    for (const answer of answers) {
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (answer.status === 200) times.push(answer.ms);
    }
  }
  return { times, statuses };
}

function statusLine(statuses: Map<number, number>): string {
  return [...statuses].map(([status, count]) => `${count}× ${status}`).join(", ");
}

async function main(): Promise<void> {
  const serverUrl = process.env.OPTA_TEST_DATABASE_URL;
  if (!serverUrl) {
    console.error("set OPTA_TEST_DATABASE_URL to a PostgreSQL whose role may CREATE DATABASE");
    process.exitCode = 2;
    return;
  }
  // The figures depend on what else the machine runs: say so with them.
  console.log(
    `machine: ${cpus().length} cores, load average ${loadavg()
      .map((load) => load.toFixed(1))
      .join(" ")}`,
  );
  const name = `opta_b_${randomBytes(6).toString("hex")}`;
  await onServer(serverUrl, `CREATE DATABASE ${name}`);
  const databaseUrl = Object.assign(new URL(serverUrl), { pathname: `/${name}` }).href;
  const home = await mkdtemp(join(tmpdir(), "opta-bench-platform-"));
  const idle = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  const { child, port } = await startServer(home, databaseUrl);
  const accounts = `accounts.${DOMAIN}:${port}`;
  const origin = `http://${accounts}`;
  let failed = false;
  try {
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const idleRss = rssMb(child.pid!);
    report({
      name: "platform server idle RSS (PostgreSQL, 3 s after listening)",
      value: idleRss,
      unit: "MB",
      baseline: { label: "idle bare node", value: rssMb(idle.pid!) },
      target: "< 150 MB",
      met: idleRss < 150,
    });

    // The users, each signing up from an address of its own.
    const tokens: string[] = [];
    for (let user = 0; user < USERS; user += 1) {
      const answer = await send(port, accounts, "/api/auth/sign-up/email", {
        json: { email: `user${user}@bench.example`, password: PASSWORD, name: `User ${user}` },
        headers: { origin },
        from: `127.1.255.${user + 1}`,
      });
      if (answer.status !== 200) throw new Error(`sign-up ${user}: HTTP ${answer.status} ${answer.body}`);
      tokens.push(String(answer.headers["set-auth-token"]));
    }

    // Baseline: the cheapest route of the same server, same concurrency (no database, no auth).
    const health = await rounds(PULL_ROUNDS, () => send(port, `${DOMAIN}:${port}`, "/api/health"));

    const signIn = await rounds(SIGN_IN_ROUNDS, (user, round) =>
      send(port, accounts, "/api/auth/sign-in/email", {
        json: { email: `user${user}@bench.example`, password: PASSWORD },
        headers: { origin },
        from: `127.1.${round + 1}.${user + 1}`,
      }),
    );
    console.log(`sign-in answers: ${statusLine(signIn.statuses)}`);
    const limited = signIn.statuses.get(429) ?? 0;
    if (limited > 0 || signIn.times.length !== USERS * SIGN_IN_ROUNDS) failed = true;
    report({
      name: `sign-in p50, ${USERS} concurrent users (${signIn.times.length} sign-ins)`,
      value: percentile(signIn.times, 50),
      unit: "ms",
      baseline: { label: "GET /api/health p50, same concurrency", value: percentile(health.times, 50) },
      target: "< 1000 ms",
      met: percentile(signIn.times, 50) < 1000 && limited === 0,
    });
    report({
      name: `sign-in p99, ${USERS} concurrent users`,
      value: percentile(signIn.times, 99),
      unit: "ms",
      baseline: { label: "GET /api/health p99, same concurrency", value: percentile(health.times, 99) },
      target: "< 3000 ms",
      met: percentile(signIn.times, 99) < 3000 && limited === 0,
    });

    // Each user's vault: ~6 KB of ciphertext, as the CLI's push sends it (the server never looks inside).
    for (const [user, token] of tokens.entries()) {
      const answer = await send(port, accounts, "/api/vault", {
        method: "PUT",
        json: {
          ciphertext: randomBytes(6144).toString("base64"),
          iv: randomBytes(12).toString("base64"),
          wrappedKey: randomBytes(60).toString("base64"),
          kdf: { algorithm: "scrypt", N: 2 ** 17, r: 8, p: 1, salt: randomBytes(16).toString("base64") },
          device: `bench-${user}`,
          replaces: null,
        },
        headers: { authorization: `Bearer ${token}` },
      });
      if (answer.status !== 200) throw new Error(`push ${user}: HTTP ${answer.status} ${answer.body}`);
    }
    const pull = await rounds(PULL_ROUNDS, (user) =>
      send(port, accounts, "/api/vault", { headers: { authorization: `Bearer ${tokens[user]}` } }),
    );
    console.log(`vault pull answers: ${statusLine(pull.statuses)}`);
    if (pull.times.length !== USERS * PULL_ROUNDS) failed = true;
    report({
      name: `vault pull p50, ${USERS} concurrent users (${pull.times.length} pulls, 6 KB vault)`,
      value: percentile(pull.times, 50),
      unit: "ms",
      baseline: { label: "GET /api/health p50, same concurrency", value: percentile(health.times, 50) },
      target: "< 100 ms",
      met: percentile(pull.times, 50) < 100,
    });
    report({
      name: `vault pull p99, ${USERS} concurrent users`,
      value: percentile(pull.times, 99),
      unit: "ms",
      baseline: { label: "GET /api/health p99, same concurrency", value: percentile(health.times, 99) },
      target: "< 500 ms",
      met: percentile(pull.times, 99) < 500,
    });
    console.log(`platform server RSS after the run (no target): ${rssMb(child.pid!).toFixed(2)} MB`);
    console.log(
      `load average at the end: ${loadavg()
        .map((load) => load.toFixed(1))
        .join(" ")}`,
    );
  } finally {
    agent.destroy();
    idle.kill();
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
    await onServer(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await rm(home, { recursive: true, force: true });
  }
  if (failed) {
    console.error("some requests did not answer 200 (see the counts above); the figures exclude them");
    process.exitCode = 1;
  }
}

await main();
