import { appendFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { Daemon } from "../../src/daemon.js";
import { readLines } from "../../src/event-log/session-file.js";

describe("replay while a session is being written", () => {
  let home: string;
  let daemon: Daemon;

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), "opta-replay-"));
    daemon = await Daemon.start({ home, port: 0, env: { OPTA_LMX_HOST: "127.0.0.1:9" } });
  });
  afterAll(async () => {
    await daemon.stop();
    await rm(home, { recursive: true, force: true });
  });

  it("never returns a half-written last line", async () => {
    const file = join(home, "partial.jsonl");
    await writeFile(file, '{"seq":1,"event":"x"}\n');
    await appendFile(file, '{"seq":2,"event":"tur');
    expect(await readLines(file)).toEqual(['{"seq":1,"event":"x"}']);
  });

  it("answers every GET /events with valid JSON whose lastSeq is the last event it holds", async () => {
    const session = daemon.store.create({ cwd: home, mode: "chat", model: "m" });
    let writing = true;
    let polls = 0;
    let pollsWhileWriting = 0;
    const writer = (async () => {
      // 20,000 events in bursts of 50, each burst written in one go while the reads below run.
      // Every 40 bursts the writer waits for one more read to finish, so reads land mid-write however
      // fast or slow the machine is (counting polls against a free-running writer did not).
      for (let index = 0; index < 20_000; ) {
        if (index % 2000 === 0) {
          const target = polls + 1;
          while (polls < target) await new Promise((resolve) => setImmediate(resolve));
        }
        for (let burst = 0; burst < 50; burst += 1, index += 1) {
          daemon.store.append(session.id, {
            event: "turn.token",
            turnId: "t-1",
            delta: `token ${index} ${"x".repeat(40)}`,
            model: "m",
          });
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      writing = false;
    })();
    while (writing || polls < 5) {
      if (writing) pollsWhileWriting += 1;
      const response = await fetch(`${daemon.url}/v3/sessions/${session.id}/events?afterSeq=0`, {
        headers: { authorization: `Bearer ${daemon.token}` },
      });
      const body = (await response.json()) as { events: Array<{ seq: number }>; lastSeq: number };
      expect(body.events.map((event) => event.seq)).toEqual(body.events.map((_, index) => index + 1));
      expect(body.lastSeq).toBe(body.events.at(-1)!.seq);
      const info = (await (
        await fetch(`${daemon.url}/v3/sessions/${session.id}`, {
          headers: { authorization: `Bearer ${daemon.token}` },
        })
      ).json()) as { lastSeq: number };
      // Whatever the session reports as its last seq is already replayable.
      const replay = await daemon.store.readLines(session.id, info.lastSeq - 1);
      expect(replay.length).toBeGreaterThanOrEqual(1);
      polls += 1;
    }
    await writer;
    expect(pollsWhileWriting).toBeGreaterThanOrEqual(10);
  });

  it("streams every event exactly once to sockets that connect mid-write", async () => {
    const session = daemon.store.create({ cwd: home, mode: "chat", model: "m" });
    const total = 3000;
    const received: number[][] = [];
    const sockets: WebSocket[] = [];
    const complete: Array<Promise<void>> = [];
    const writer = (async () => {
      for (let index = 0; index < total; index += 1) {
        daemon.store.append(session.id, { event: "turn.token", turnId: "t-1", delta: `${index} `, model: "m" });
        if (index % 100 === 0) {
          const seqs: number[] = [];
          received.push(seqs);
          const socket = new WebSocket(
            `ws://127.0.0.1:${daemon.port}/v3/sessions/${session.id}/stream?afterSeq=0&token=${daemon.token}`,
          );
          complete.push(
            new Promise((resolve) => {
              socket.on("message", (data) => {
                const frame = JSON.parse(String(data)) as { seq?: number };
                if (frame.seq) seqs.push(frame.seq);
                if (seqs.length >= total + 1) resolve();
              });
            }),
          );
          sockets.push(socket);
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    })();
    await writer;
    // The last event written is seq total + 1 (session.created is seq 1); a socket that misses one
    // never resolves, and the test times out instead of passing.
    await Promise.all(complete);
    for (const socket of sockets) socket.close();
    for (const seqs of received) expect(seqs).toEqual(Array.from({ length: total + 1 }, (_, index) => index + 1));
  });
});
