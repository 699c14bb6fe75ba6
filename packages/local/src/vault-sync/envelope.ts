/**
 * Vault sync's client-side encryption (docs/platform.md, "Vault sync"). The vault's entries are
 * sealed with AES-256-GCM under a random 256-bit data key; the additional data binds the user id
 * and the version, so the server cannot hand one user's vault to another or pass an old version off
 * as a newer one. The data key is wrapped (AES-256-GCM again) under a key that scrypt derives from
 * the vault passphrase, which never leaves this machine. The server gets ciphertext only.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt } from "node:crypto";
import type { VaultCiphertext, VaultKdf } from "@opta/protocol";

/** scrypt's cost for new vaults: N=2^17, r=8 (~0.35 s and 128 MiB on a small machine). */
export const DEFAULT_VAULT_KDF = { algorithm: "scrypt", N: 2 ** 17, r: 8, p: 1 } as const;

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const FORMAT = 1;

/** Why a vault could not be opened or sealed; `code` is what the CLI prints and tests switch on. */
export type VaultSyncErrorCode =
  /** The passphrase does not unwrap this vault's data key. */
  | "VAULT_PASSPHRASE_WRONG"
  /** No passphrase was given where one is needed (no terminal, no OPTA_VAULT_PASSPHRASE). */
  | "VAULT_PASSPHRASE_REQUIRED"
  /** The ciphertext does not open with the key (tampered, another user's, or a mislabelled version). */
  | "VAULT_CIPHERTEXT_INVALID";

/** A vault sync failure the user can act on (exit 1). */
export class VaultSyncError extends Error {
  override readonly name = "VaultSyncError";
  readonly exitCode = 1;
  constructor(
    readonly code: VaultSyncErrorCode,
    message: string,
  ) {
    super(`${message} [${code}]`);
  }
}

/** The data key in the clear, with the wrapped form and KDF it came from. Kept only in the local vault. */
export interface VaultKey {
  dataKey: Buffer;
  /** The data key under the passphrase key, base64 (what the server stores). */
  wrappedKey: string;
  kdf: VaultKdf;
}

/** What scrypt needs in memory for these parameters, with room to spare (node refuses above maxmem). */
function maxmem(kdf: Pick<VaultKdf, "N" | "r">): number {
  return 128 * kdf.N * kdf.r * 2;
}

/** The passphrase key: scrypt over the passphrase with the vault's salt and parameters. */
export function derivePassphraseKey(passphrase: string, kdf: VaultKdf): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(
      passphrase.normalize("NFC"),
      Buffer.from(kdf.salt, "base64"),
      KEY_BYTES,
      { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: maxmem(kdf) },
      (error, key) => (error ? reject(error) : resolve(key)),
    ),
  );
}

function keyAad(userId: string): Buffer {
  return Buffer.from(`opta-vault-key/v1\0${userId}`, "utf8");
}

function dataAad(userId: string, version: number): Buffer {
  return Buffer.from(`opta-vault/v1\0${userId}\0${version}`, "utf8");
}

function seal(key: Buffer, plaintext: Buffer, aad: Buffer): { nonce: Buffer; sealed: Buffer } {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, nonce).setAAD(aad);
  const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { nonce, sealed };
}

/** Opens AES-256-GCM output (tag appended); undefined when the key, nonce or additional data is wrong. */
function open(key: Buffer, nonce: Buffer, sealed: Buffer, aad: Buffer): Buffer | undefined {
  if (sealed.length < TAG_BYTES || nonce.length !== NONCE_BYTES) return undefined;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, nonce).setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch {
    return undefined;
  }
}

/** A new vault's key: a random data key, wrapped under the passphrase with a fresh salt. */
export async function createVaultKey(
  passphrase: string,
  userId: string,
  cost: Pick<VaultKdf, "N" | "r" | "p"> = DEFAULT_VAULT_KDF,
): Promise<VaultKey> {
  const kdf: VaultKdf = {
    algorithm: "scrypt",
    N: cost.N,
    r: cost.r,
    p: cost.p,
    salt: randomBytes(16).toString("base64"),
  };
  const dataKey = randomBytes(KEY_BYTES);
  const { nonce, sealed } = seal(await derivePassphraseKey(passphrase, kdf), dataKey, keyAad(userId));
  return { dataKey, wrappedKey: Buffer.concat([nonce, sealed]).toString("base64"), kdf };
}

/** The data key of a stored vault, from its passphrase; a wrong passphrase is VAULT_PASSPHRASE_WRONG. */
export async function unwrapVaultKey(
  passphrase: string,
  userId: string,
  stored: Pick<VaultCiphertext, "wrappedKey" | "kdf">,
): Promise<VaultKey> {
  const wrapped = Buffer.from(stored.wrappedKey, "base64");
  const key = await derivePassphraseKey(passphrase, stored.kdf);
  const dataKey = open(key, wrapped.subarray(0, NONCE_BYTES), wrapped.subarray(NONCE_BYTES), keyAad(userId));
  if (!dataKey || dataKey.length !== KEY_BYTES) {
    throw new VaultSyncError(
      "VAULT_PASSPHRASE_WRONG",
      "that vault passphrase does not open this account's synced vault (nothing was changed); try again with the passphrase used for the first push",
    );
  }
  return { dataKey, wrappedKey: stored.wrappedKey, kdf: stored.kdf };
}

/** A short fingerprint of a wrapped key: tells whether a locally kept data key belongs to a vault. */
export function vaultKeyId(wrappedKey: string): string {
  return createHash("sha256").update(wrappedKey).digest("hex").slice(0, 16);
}

/** Seals the entries as the given version of this user's vault. */
export function sealVault(
  entries: Record<string, string>,
  key: VaultKey,
  binding: { userId: string; version: number },
): Pick<VaultCiphertext, "ciphertext" | "iv" | "wrappedKey" | "kdf"> {
  const plaintext = Buffer.from(JSON.stringify({ format: FORMAT, entries }), "utf8");
  const { nonce, sealed } = seal(key.dataKey, plaintext, dataAad(binding.userId, binding.version));
  return {
    ciphertext: sealed.toString("base64"),
    iv: nonce.toString("base64"),
    wrappedKey: key.wrappedKey,
    kdf: key.kdf,
  };
}

/** Opens a stored vault's entries; anything that does not authenticate is VAULT_CIPHERTEXT_INVALID. */
export function openSealedVault(
  stored: Pick<VaultCiphertext, "ciphertext" | "iv">,
  dataKey: Buffer,
  binding: { userId: string; version: number },
): Record<string, string> {
  const plaintext = open(
    dataKey,
    Buffer.from(stored.iv, "base64"),
    Buffer.from(stored.ciphertext, "base64"),
    dataAad(binding.userId, binding.version),
  );
  const invalid = () =>
    new VaultSyncError(
      "VAULT_CIPHERTEXT_INVALID",
      `the synced vault (version ${binding.version}) does not decrypt for this account: it was altered or belongs to someone else; nothing was changed here`,
    );
  if (!plaintext) throw invalid();
  const parsed = JSON.parse(plaintext.toString("utf8")) as { format?: unknown; entries?: unknown };
  if (parsed.format !== FORMAT || typeof parsed.entries !== "object" || parsed.entries === null) throw invalid();
  const entries: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsed.entries)) if (typeof value === "string") entries[name] = value;
  return entries;
}

/** How two sets of entries differ, by name (values are never part of the answer). */
export interface EntryDiff {
  /** Only in `theirs`. */
  added: string[];
  /** In both, with different values. */
  changed: string[];
  /** Only in `ours`. */
  missing: string[];
  /** In both, equal. */
  same: string[];
}

/** Compares our entries with theirs. */
export function diffEntries(ours: Record<string, string>, theirs: Record<string, string>): EntryDiff {
  const diff: EntryDiff = { added: [], changed: [], missing: [], same: [] };
  for (const name of Object.keys(theirs).sort()) {
    if (!(name in ours)) diff.added.push(name);
    else if (ours[name] === theirs[name]) diff.same.push(name);
    else diff.changed.push(name);
  }
  for (const name of Object.keys(ours).sort()) if (!(name in theirs)) diff.missing.push(name);
  return diff;
}
