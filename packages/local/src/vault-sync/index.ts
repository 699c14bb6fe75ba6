/**
 * Vault sync's client side: the envelope crypto and the wire shapes it produces (re-exported from
 * @opta/protocol so that the CLI and the platform server validate with the same schemas).
 */
export {
  VAULT_MAX_BODY_BYTES,
  VaultCiphertext,
  VaultConflict,
  VaultKdf,
  VaultPutRequest,
  VaultRecord,
} from "@opta/protocol";
export {
  createVaultKey,
  DEFAULT_VAULT_KDF,
  derivePassphraseKey,
  diffEntries,
  type EntryDiff,
  openSealedVault,
  sealVault,
  unwrapVaultKey,
  type VaultKey,
  VaultSyncError,
  type VaultSyncErrorCode,
  vaultKeyId,
} from "./envelope.js";

/**
 * Vault entries that belong to this device and are never synced: the platform session token (each
 * device signs in on its own) and the unwrapped sync key.
 */
export const DEVICE_ONLY_ENTRIES: readonly string[] = ["platform", "platform-sync-key"];
