import { join } from "node:path";
import { FileVault } from "./file-vault.js";
import { KeychainVault, probeKeychain } from "./keychain-vault.js";
import type { Vault } from "./types.js";

export { FileVault } from "./file-vault.js";
export { KEYCHAIN_SERVICE, KeychainVault } from "./keychain-vault.js";
export { maskSecret, redactSecrets } from "./mask.js";
export type { Vault, VaultBackend } from "./types.js";

/** The file vault's name in the Opta home. */
export const VAULT_FILE_NAME = "vault.json";

/** Provider names a key can be stored under: what `providers.<name>` accepts, plus lmx. */
export function isValidProviderName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name) && !name.startsWith("__");
}

/**
 * Opens the vault: the OS keychain when one answers, else `$OPTA_HOME/vault.json` (0600).
 * `OPTA_VAULT=file` or `OPTA_VAULT=keychain` forces a backend (tests use the file).
 */
export async function openVault(options: { home: string; env?: NodeJS.ProcessEnv }): Promise<Vault> {
  const env = options.env ?? process.env;
  const path = join(options.home, VAULT_FILE_NAME);
  const forced = env.OPTA_VAULT?.trim().toLowerCase();
  if (forced === "file") return new FileVault(path, "OPTA_VAULT=file is set");
  const probe = await probeKeychain();
  if ("keyring" in probe) return new KeychainVault(probe.keyring);
  if (forced === "keychain")
    throw new Error(`OPTA_VAULT=keychain is set but the OS keychain is unusable: ${probe.reason}`);
  return new FileVault(path, `no OS keychain is reachable (${probe.reason})`);
}

/**
 * Wraps a vault so every key it hands out is remembered in this process; the logger masks them
 * wherever they appear (a key echoed in a provider's error, say).
 */
export class SecretTracker {
  private readonly seen = new Set<string>();

  /** Reads a key and remembers it. */
  async read(vault: Promise<Vault> | Vault, provider: string): Promise<string | undefined> {
    const key = await (await vault).get(provider);
    if (key) this.seen.add(key);
    return key;
  }

  /** Remembers a key from elsewhere (an environment variable). */
  remember(secret: string | undefined): void {
    if (secret) this.seen.add(secret);
  }

  /** Every key read so far. */
  secrets(): string[] {
    return [...this.seen];
  }
}
