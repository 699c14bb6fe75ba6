import { randomBytes } from "node:crypto";
import { maskSecret } from "@opta/local";
import { describe, expect, it } from "vitest";
import {
  encodedForms,
  MIN_ENCODED_SECRET_LENGTH,
  redactSecrets,
  redactValue,
  STREAM_MIN_PREFIX,
  secretMasker,
} from "../../src/vault/mask.js";

const SECRET = `zq${randomBytes(20).toString("hex")}`;

/** A deterministic pseudo-random source, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
}

describe("encoded forms of a secret", () => {
  it("catch the secret inside any base64 blob, at every offset, in both alphabets, padded or not", () => {
    const next = random(7);
    for (let round = 0; round < 60; round += 1) {
      const before = randomBytes(Math.floor(next() * 40));
      const after = randomBytes(Math.floor(next() * 40));
      const blob = Buffer.concat([before, Buffer.from(SECRET), after]);
      for (const encoding of ["base64", "base64url"] as const) {
        const text = blob.toString(encoding);
        const masked = redactSecrets(text, [SECRET]);
        expect(masked, `offset ${before.length % 3}, ${encoding}`).toContain(`[base64 of ${maskSecret(SECRET)}]`);
      }
    }
    // The whole secret on its own, padded and unpadded, is masked whole.
    for (const text of [Buffer.from(SECRET).toString("base64"), Buffer.from(SECRET).toString("base64url")]) {
      expect(redactSecrets(`x ${text} y`, [SECRET])).toBe(`x [base64 of ${maskSecret(SECRET)}] y`);
    }
  });

  it("catch hex in either case and percent-encoding, also split by whitespace (od, xxd -p, base64 line wrapping)", () => {
    const hex = Buffer.from(SECRET).toString("hex");
    const spaced = hex.replace(/../g, " $&").replace(/((?: ..){16})/g, "$1\n");
    const wrapped = Buffer.from(`PREFIX=${SECRET}`).toString("base64").replace(/.{8}/g, "$&\n");
    for (const text of [hex, hex.toUpperCase(), spaced, hex.replace(/.{10}/g, "$&\n"), wrapped]) {
      expect(redactSecrets(text, [SECRET])).not.toMatch(/[0-9a-f]{20}/i);
      expect(redactSecrets(text, [SECRET])).toContain(maskSecret(SECRET));
    }
    const secret = "p@ss/w0rd with space";
    for (const text of [encodeURIComponent(secret), Buffer.from(secret).toString("hex").replace(/../g, "%$&")]) {
      expect(redactSecrets(`q=${text}&x=1`, [secret])).toBe(`q=[url-encoded of ${maskSecret(secret)}]&x=1`);
    }
  });

  it(`leave short secrets (under ${MIN_ENCODED_SECRET_LENGTH} characters) to exact matching, and leave other base64 alone`, () => {
    expect(encodedForms("abc1234")).toEqual([]);
    expect(redactSecrets(Buffer.from("abc1234").toString("base64"), ["abc1234"])).toBe(
      Buffer.from("abc1234").toString("base64"),
    );
    expect(redactSecrets("key abc1234", ["abc1234"])).toBe("key ••••");
    const noise = randomBytes(200_000).toString("base64");
    expect(redactSecrets(noise, [SECRET, `other-${SECRET}`])).toBe(noise);
  });

  it("build the patterns once per set of secrets", () => {
    expect(secretMasker([SECRET, "another-secret-1"])).toBe(secretMasker(["another-secret-1", SECRET, undefined]));
  });
});

describe("streamed text", () => {
  /** Six-character windows of the secret and of each of its encoded forms that `text` contains. */
  const windowsIn = (text: string) => {
    const forms = [SECRET, ...encodedForms(SECRET).map((form) => form.text)];
    const compact = text.replace(/\s+/g, "");
    const found = new Set<string>();
    for (const form of forms)
      for (let start = 0; start + 6 <= form.length; start += 1) {
        const window = form.slice(start, start + 6);
        if (compact.includes(window)) found.add(window);
      }
    return [...found];
  };

  it("is masked however the deltas split a secret or its encoded forms", () => {
    const message = [
      "Here is the key: ",
      SECRET,
      ", in base64 ",
      Buffer.from(`XX${SECRET}`).toString("base64"),
      ", in hex ",
      Buffer.from(SECRET).toString("hex").replace(/../g, "$& "),
      " and that is all.",
    ].join("");
    expect(windowsIn(message).length).toBeGreaterThan(100);
    const whole = secretMasker([SECRET]).mask(message);
    expect(windowsIn(whole)).toEqual([]);
    const next = random(11);
    for (let round = 0; round < 50; round += 1) {
      const stream = secretMasker([SECRET]).stream();
      let out = "";
      for (let at = 0; at < message.length; ) {
        const size = 1 + Math.floor(next() * 12);
        out += stream.push(message.slice(at, at + size));
        at += size;
      }
      out += stream.flush();
      // At most the first three characters of a form can go out before it is recognised.
      expect(windowsIn(out)).toEqual([]);
      expect(out.match(/••••/g)?.length).toBe(3);
      expect(out.endsWith(" and that is all.")).toBe(true);
    }
  });

  it(`lets ordinary deltas pass as they come, holding back from ${STREAM_MIN_PREFIX} characters into a secret`, () => {
    const stream = secretMasker([SECRET]).stream();
    expect(stream.push("Hello, world. ")).toBe("Hello, world. ");
    expect(stream.push(`It is ${SECRET.slice(0, 3)}`)).toBe(`It is ${SECRET.slice(0, 3)}`);
    expect(stream.push(SECRET.slice(3, 10))).toBe("");
    expect(stream.push(`${SECRET.slice(10)}!`)).toBe(`${maskSecret(SECRET)}!`);
    expect(stream.flush()).toBe("");
  });
});

describe("redactValue", () => {
  it("masks every string of a structure and keeps it when nothing changes", () => {
    const redact = (text: string) => redactSecrets(text, [SECRET]);
    const clean = { a: ["x", { b: 1 }], c: null };
    expect(redactValue(clean, redact)).toBe(clean);
    const hex = Buffer.from(SECRET).toString("hex");
    expect(redactValue({ out: [`line\n${hex}\n`], [SECRET]: true }, redact)).toEqual({
      out: [`line\n[hex of ${maskSecret(SECRET)}]\n`],
      [maskSecret(SECRET)]: true,
    });
  });
});
