import { join } from "node:path";
import type { OptaConfig, VaultBackend } from "@opta/protocol";
import { loadConfig, saveConfig } from "../config-file.js";
import { optaPaths } from "../home.js";
import { FileVault } from "./file-vault.js";
import { type KeychainProbe, KeychainVault, probeKeychain } from "./keychain-vault.js";
import type { Vault } from "./types.js";

export { FileVault } from "./file-vault.js";
export { KEYCHAIN_SERVICE, type KeychainProbe, KeychainVault, type Keyring, probeKeychain } from "./keychain-vault.js";
export { maskSecret, SECRET_DOTS } from "./mask-secret.js";
export type { Vault } from "./types.js";

/** The file vault's name in the Opta home. */
export const VAULT_FILE_NAME = "vault.json";

/** Provider names a key can be stored under: what `providers.<name>` accepts, plus lmx. */
export function isValidProviderName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name) && !name.startsWith("__");
}

/** The vault could not be opened where the keys are said to be; the message says what to do. */
export class VaultError extends Error {
  readonly code = "VAULT_UNAVAILABLE";
  constructor(message: string) {
    super(message);
    this.name = "VaultError";
  }
}

/** How to open the vault. */
export interface OpenVaultOptions {
  /** The Opta home. */
  home: string;
  /** Where `OPTA_VAULT` is read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** The config to read `vault` from; default: config.yaml as it is on disk. */
  config?: OptaConfig;
  /** Probes the OS keychain (tests pass a fake one). */
  probe?: () => Promise<KeychainProbe>;
}

/**
 * Opens the vault. The CLI stores keys and the daemon reads them, in different processes started
 * from different shells at different times, so the backend must not depend on which process asks:
 *
 * 1. `OPTA_VAULT=file|keychain` forces one (tests use the file);
 * 2. else config `vault` (set by the user, or recorded the first time a key was stored);
 * 3. else an existing `vault.json` (the keys are there);
 * 4. else the OS keychain when one answers, else the file — and the first key stored records
 *    that choice as `vault` in config.yaml, so every later process opens the same backend.
 *
 * Without the record a daemon started from a shell with no keychain session (SSH, a service
 * manager, a different DBUS_SESSION_BUS_ADDRESS) read an empty file vault while the CLI stored keys
 * in the keychain. With it, a keychain this process cannot reach is an error that says so.
 */
export async function openVault(options: OpenVaultOptions): Promise<Vault> {
  const env = options.env ?? process.env;
  const path = join(options.home, VAULT_FILE_NAME);
  const probe = options.probe ?? probeKeychain;
  const forced = env.OPTA_VAULT?.trim().toLowerCase();
  if (forced === "file") return new FileVault(path, "OPTA_VAULT=file is set");
  if (forced === "keychain") return keychainOrError(await probe(), "OPTA_VAULT=keychain is set");
  const config = options.config ?? (await loadConfig(optaPaths(options.home).config));
  if (config.vault === "file") return new FileVault(path, "config.yaml sets vault: file");
  if (config.vault === "keychain") return keychainOrError(await probe(), "config.yaml sets vault: keychain");
  if (await new FileVault(path).exists()) return new FileVault(path, `${path} already holds the keys`);
  const record = (backend: VaultBackend) => () => recordBackend(options.home, backend);
  const probed = await probe();
  if ("keyring" in probed) return new KeychainVault(probed.keyring, record("keychain"));
  return new FileVault(path, `no OS keychain is reachable (${probed.reason})`, record("file"));
}

function keychainOrError(probed: KeychainProbe, why: string): Vault {
  if ("keyring" in probed) return new KeychainVault(probed.keyring);
  throw new VaultError(
    `Provider keys are kept in the OS keychain (${why}), but this process cannot reach it: ${probed.reason}. ` +
      "Start the daemon from a session where the keychain is unlocked (on Linux, a desktop session with D-Bus), " +
      "or keep keys in a file instead with 'opta config set vault file' and add them again with 'opta account add'.",
  );
}

/** Writes `vault: <backend>` into config.yaml unless a choice is already there. */
async function recordBackend(home: string, backend: VaultBackend): Promise<void> {
  const file = optaPaths(home).config;
  try {
    const config = await loadConfig(file);
    if (config.vault) return;
    await saveConfig(file, { ...config, vault: backend });
  } catch (error) {
    throw new VaultError(
      `The key was stored in the ${backend} vault, but recording 'vault: ${backend}' in ${file} failed (${(error as Error).message}); ` +
        `run 'opta config set vault ${backend}' so the daemon opens the same vault.`,
    );
  }
}
