import { z } from "zod";

/**
 * Vault sync on the Opta platform (`accounts.<domain>/api/vault`): the shapes the CLI sends and the
 * server stores. Everything here is ciphertext or public parameters; the server never holds a key.
 */

/** Base64 (standard alphabet, padded): how every binary field travels. */
const Base64 = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9+/]*={0,2}$/, "base64");

/** The key-derivation function that turns the vault passphrase into the key that wraps the data key. */
export const VaultKdf = z
  .object({
    /** Only scrypt today (node:crypto, no native addon). */
    algorithm: z.literal("scrypt"),
    /** CPU/memory cost, a power of two: 2^15 to 2^20. */
    N: z
      .number()
      .int()
      .min(2 ** 15)
      .max(2 ** 20)
      .refine((n) => (n & (n - 1)) === 0, "a power of two"),
    /** Block size. */
    r: z.number().int().min(1).max(32),
    /** Parallelism. */
    p: z.number().int().min(1).max(16),
    /** Random salt, 16 bytes or more. */
    salt: Base64(256),
  })
  .strict()
  // A client derives with whatever a fetched vault says: cap memory (128·N·r ≤ 1 GiB) and work
  // (N·r·p ≤ 2^24), so a hostile server cannot make it allocate gigabytes or spin for minutes.
  .refine((kdf) => 128 * kdf.N * kdf.r <= 2 ** 30 && kdf.N * kdf.r * kdf.p <= 2 ** 24, {
    message: "scrypt cost over the limit (128·N·r ≤ 1 GiB, N·r·p ≤ 2^24)",
    path: ["N"],
  });
export type VaultKdf = z.infer<typeof VaultKdf>;

/** The encrypted vault as pushed: AES-256-GCM ciphertext (tag appended) and the wrapped data key. */
export const VaultCiphertext = z
  .object({
    /** AES-256-GCM of the vault JSON under the data key, the 16-byte tag appended. */
    ciphertext: Base64(1_400_000).min(1),
    /** The 12-byte GCM nonce of `ciphertext`. */
    iv: Base64(32).min(1),
    /** The data key under the passphrase key: 12-byte nonce, 32-byte ciphertext, 16-byte tag. */
    wrappedKey: Base64(200).min(1),
    kdf: VaultKdf,
    /** The device that wrote it, as it names itself (host name or OPTA_DEVICE_NAME). */
    device: z.string().min(1).max(100),
  })
  .strict();
export type VaultCiphertext = z.infer<typeof VaultCiphertext>;

/** `PUT /api/vault` body: the new vault and the version it replaces (null: there is none yet). */
export const VaultPutRequest = VaultCiphertext.extend({
  /** The version this push replaces; the server answers 409 when it is not the current one. */
  replaces: z.number().int().positive().nullable(),
}).strict();
export type VaultPutRequest = z.infer<typeof VaultPutRequest>;

/** `GET /api/vault` answer and `PUT`'s on success: the stored vault. */
export const VaultRecord = VaultCiphertext.extend({
  /** 1 for the first push, one more for each push after it. */
  version: z.number().int().positive(),
  /** ISO time of the push that wrote it. */
  updatedAt: z.string(),
});
export type VaultRecord = z.infer<typeof VaultRecord>;

/** What a 409 from `PUT /api/vault` says about the vault that is there now. */
export const VaultConflict = z.object({
  error: z.object({ code: z.literal("vault_conflict"), message: z.string() }),
  /** null when the push named a version but the account has no vault (it was deleted). */
  current: z.object({ version: z.number().int().positive(), device: z.string(), updatedAt: z.string() }).nullable(),
});
export type VaultConflict = z.infer<typeof VaultConflict>;

/** The largest `PUT /api/vault` body the server reads (a vault of keys is a few KB). */
export const VAULT_MAX_BODY_BYTES = 1_048_576;
