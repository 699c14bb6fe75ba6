import { createRequire } from "node:module";
import type { Vault } from "./types.js";

/** The keychain service every Opta key is stored under (account = provider name). */
export const KEYCHAIN_SERVICE = "opta";
/** Account used once to prove the keychain accepts writes; removed straight away. */
const PROBE_ACCOUNT = "__opta_probe__";

/** The native keyring binding's module (its `AsyncEntry` and `findCredentialsAsync`). */
export type Keyring = typeof import("@napi-rs/keyring");

/** What probing the OS keychain found: a binding that works, or why there is none. */
export type KeychainProbe = { keyring: Keyring } | { reason: string };

/**
 * Loads the native keyring binding (macOS Keychain, Windows Credential Manager, Secret Service) and
 * proves it works with a write, a read and a delete: on a headless Linux box the library loads but
 * every write fails ("Couldn't access platform storage"). Returns the reason when it is unusable.
 */
export async function probeKeychain(): Promise<KeychainProbe> {
  let keyring: Keyring;
  try {
    keyring = createRequire(import.meta.url)("@napi-rs/keyring") as Keyring;
  } catch (error) {
    return { reason: `no keyring binding for ${process.platform}-${process.arch} (${(error as Error).message})` };
  }
  try {
    const entry = new keyring.AsyncEntry(KEYCHAIN_SERVICE, PROBE_ACCOUNT);
    const signal = AbortSignal.timeout(5000);
    await entry.setPassword("probe", signal);
    const read = await entry.getPassword(signal);
    await entry.deletePassword(signal).catch(() => false);
    if (read !== "probe") return { reason: "the keychain did not return what was stored" };
    return { keyring };
  } catch (error) {
    return { reason: (error as Error).message || String(error) };
  }
}

/** Keys in the OS keychain, service `opta`, one entry per provider. */
export class KeychainVault implements Vault {
  readonly backend = "keychain" as const;
  readonly location = `OS keychain (service ${KEYCHAIN_SERVICE})`;
  readonly note = undefined;

  constructor(
    private readonly keyring: Keyring,
    /** Called after each key is stored (openVault records the backend it chose). */
    private readonly onStore?: () => Promise<void>,
  ) {}

  async get(provider: string): Promise<string | undefined> {
    return (await this.entry(provider).getPassword()) ?? undefined;
  }

  async set(provider: string, key: string): Promise<void> {
    await this.entry(provider).setPassword(key);
    await this.onStore?.();
  }

  async delete(provider: string): Promise<boolean> {
    try {
      return await this.entry(provider).deletePassword();
    } catch {
      return false;
    }
  }

  async list(): Promise<string[]> {
    const found = await this.keyring.findCredentialsAsync(KEYCHAIN_SERVICE);
    return found
      .map((credential) => credential.account)
      .filter((account) => account !== PROBE_ACCOUNT)
      .sort();
  }

  private entry(provider: string) {
    return new this.keyring.AsyncEntry(KEYCHAIN_SERVICE, provider);
  }
}
