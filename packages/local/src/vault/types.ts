import type { VaultBackend } from "@opta/protocol";

/** Provider API keys, by provider name. Keys are read on every request; nothing caches them. */
export interface Vault {
  readonly backend: VaultBackend;
  /** Human description of where keys live: "OS keychain (service opta)" or the file's path. */
  readonly location: string;
  /** Why this backend was chosen when it is not the keychain. */
  readonly note?: string | undefined;
  get(provider: string): Promise<string | undefined>;
  set(provider: string, key: string): Promise<void>;
  /** True when a key was removed. */
  delete(provider: string): Promise<boolean>;
  /** Provider names that have a key, sorted. */
  list(): Promise<string[]>;
}
