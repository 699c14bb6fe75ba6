import type { Vault } from "@opta/local";

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
