import { readFile, stat } from "node:fs/promises";
import { writeFileAtomic } from "../atomic-file.js";
import type { Vault } from "./types.js";

interface VaultFile {
  version: 1;
  /** Provider name → API key. */
  keys: Record<string, string>;
}

/**
 * Keys in one JSON file in the Opta home (`vault.json`, mode 0600, written atomically), for
 * machines where no OS keychain is reachable. Anyone who can read the user's files can read it;
 * `opta doctor` says so.
 */
export class FileVault implements Vault {
  readonly backend = "file" as const;
  readonly location: string;

  constructor(
    readonly path: string,
    /** Why the keychain is not used. */
    readonly note?: string,
    /** Called after each key is stored (openVault records the backend it chose). */
    private readonly onStore?: () => Promise<void>,
  ) {
    this.location = path;
  }

  async get(provider: string): Promise<string | undefined> {
    return (await this.read()).keys[provider];
  }

  async set(provider: string, key: string): Promise<void> {
    const data = await this.read();
    data.keys[provider] = key;
    await this.write(data);
    await this.onStore?.();
  }

  async delete(provider: string): Promise<boolean> {
    const data = await this.read();
    if (!(provider in data.keys)) return false;
    delete data.keys[provider];
    await this.write(data);
    return true;
  }

  async list(): Promise<string[]> {
    return Object.keys((await this.read()).keys).sort();
  }

  /** Whether the file exists (keys were stored in it before). */
  async exists(): Promise<boolean> {
    return (await this.mode()) !== undefined;
  }

  /** The file's permission bits, or undefined when it does not exist. */
  async mode(): Promise<number | undefined> {
    try {
      return (await stat(this.path)).mode & 0o777;
    } catch {
      return undefined;
    }
  }

  private async read(): Promise<VaultFile> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { version: 1, keys: {} };
      throw error;
    }
    try {
      const parsed = JSON.parse(text) as Partial<VaultFile>;
      const keys: Record<string, string> = {};
      for (const [name, value] of Object.entries(parsed.keys ?? {})) if (typeof value === "string") keys[name] = value;
      return { version: 1, keys };
    } catch {
      // Never echo the file: it holds keys.
      throw new Error(`${this.path} is not valid JSON; fix or remove it, then add the keys again.`);
    }
  }

  private async write(data: VaultFile): Promise<void> {
    await writeFileAtomic(this.path, `${JSON.stringify(data, null, 2)}\n`);
  }
}
