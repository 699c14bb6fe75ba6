/**
 * Vault sync's envelope: what the platform stores opens only with the passphrase, only for the
 * user and version it was sealed as, and never holds the entries or the key in the clear.
 */
import { describe, expect, it } from "vitest";
import {
  createVaultKey,
  DEFAULT_VAULT_KDF,
  diffEntries,
  openSealedVault,
  sealVault,
  unwrapVaultKey,
  VaultPutRequest,
  vaultKeyId,
} from "../src/index.js";

// The lowest cost the wire schema accepts keeps these tests quick; the default is 2^17.
const CHEAP = { N: 2 ** 15, r: 8, p: 1 };
const entries = { anthropic: "sk-ant-api03-abcdefghijklmnopqrstuvwxyz", openai: "sk-proj-0123456789abcdef" };

describe("vault sync envelope", () => {
  it("seals entries so that the same passphrase opens them on another device", async () => {
    const key = await createVaultKey("a long vault passphrase", "u-1", CHEAP);
    const sealed = sealVault(entries, key, { userId: "u-1", version: 3 });
    const text = JSON.stringify(sealed);
    for (const value of Object.values(entries)) expect(text).not.toContain(value);
    expect(text).not.toContain("anthropic");
    expect(text).not.toContain(key.dataKey.toString("base64"));
    expect(VaultPutRequest.safeParse({ ...sealed, device: "d", replaces: 2 }).success).toBe(true);

    // Another device: only the stored fields and the passphrase.
    const unwrapped = await unwrapVaultKey("a long vault passphrase", "u-1", sealed);
    expect(unwrapped.dataKey.equals(key.dataKey)).toBe(true);
    expect(openSealedVault(sealed, unwrapped.dataKey, { userId: "u-1", version: 3 })).toEqual(entries);
  });

  it("says a wrong passphrase is wrong", async () => {
    const key = await createVaultKey("a long vault passphrase", "u-1", CHEAP);
    await expect(unwrapVaultKey("a long vault passphrasE", "u-1", key)).rejects.toMatchObject({
      code: "VAULT_PASSPHRASE_WRONG",
    });
  });

  it("binds the user id and the version: a moved or relabelled vault does not open", async () => {
    const key = await createVaultKey("a long vault passphrase", "u-1", CHEAP);
    const sealed = sealVault(entries, key, { userId: "u-1", version: 3 });
    expect(() => openSealedVault(sealed, key.dataKey, { userId: "u-2", version: 3 })).toThrow(
      /VAULT_CIPHERTEXT_INVALID/,
    );
    expect(() => openSealedVault(sealed, key.dataKey, { userId: "u-1", version: 4 })).toThrow(
      /VAULT_CIPHERTEXT_INVALID/,
    );
    // The wrapped key is bound to its user as well.
    await expect(unwrapVaultKey("a long vault passphrase", "u-2", key)).rejects.toMatchObject({
      code: "VAULT_PASSPHRASE_WRONG",
    });
    const flipped = Buffer.from(sealed.ciphertext, "base64");
    flipped[0]! ^= 1;
    expect(() =>
      openSealedVault({ ...sealed, ciphertext: flipped.toString("base64") }, key.dataKey, {
        userId: "u-1",
        version: 3,
      }),
    ).toThrow(/VAULT_CIPHERTEXT_INVALID/);
  });

  it("uses fresh salts, nonces and data keys, and scrypt N=2^17 r=8 by default", async () => {
    const one = await createVaultKey("p", "u", CHEAP);
    const two = await createVaultKey("p", "u", CHEAP);
    expect(one.kdf.salt).not.toBe(two.kdf.salt);
    expect(one.dataKey.equals(two.dataKey)).toBe(false);
    expect(vaultKeyId(one.wrappedKey)).not.toBe(vaultKeyId(two.wrappedKey));
    const a = sealVault(entries, one, { userId: "u", version: 1 });
    const b = sealVault(entries, one, { userId: "u", version: 1 });
    expect(a.iv).not.toBe(b.iv);
    expect(DEFAULT_VAULT_KDF).toMatchObject({ algorithm: "scrypt", N: 131072, r: 8 });
  });

  it("refuses KDF parameters that would cost a device gigabytes or minutes", async () => {
    const key = await createVaultKey("p", "u", CHEAP);
    const sealed = { ...sealVault(entries, key, { userId: "u", version: 1 }), device: "d", replaces: null };
    expect(VaultPutRequest.safeParse({ ...sealed, kdf: { ...key.kdf, N: 2 ** 20, r: 32 } }).success).toBe(false);
    expect(VaultPutRequest.safeParse({ ...sealed, kdf: { ...key.kdf, N: 2 ** 20, r: 8, p: 16 } }).success).toBe(false);
    expect(VaultPutRequest.safeParse({ ...sealed, kdf: { ...key.kdf, ...DEFAULT_VAULT_KDF } }).success).toBe(true);
  });

  it("diffs by name only", () => {
    expect(diffEntries({ a: "1", b: "2", c: "3" }, { b: "2", c: "x", d: "4" })).toEqual({
      added: ["d"],
      changed: ["c"],
      missing: ["a"],
      same: ["b"],
    });
  });
});
