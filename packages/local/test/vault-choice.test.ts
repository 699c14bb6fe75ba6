import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import YAML from "yaml";
import { type KeychainProbe, type Keyring, loadConfig, openVault, saveConfig, VaultError } from "../src/index.js";

/** An OS keychain in memory, shaped like @napi-rs/keyring (what a desktop session offers). */
function fakeKeychain(): { probe: () => Promise<KeychainProbe>; store: Map<string, string> } {
  const store = new Map<string, string>();
  class AsyncEntry {
    constructor(
      private readonly service: string,
      private readonly account: string,
    ) {}
    private get id() {
      return `${this.service}/${this.account}`;
    }
    async setPassword(value: string) {
      store.set(this.id, value);
    }
    async getPassword() {
      return store.get(this.id);
    }
    async deletePassword() {
      return store.delete(this.id);
    }
  }
  const keyring = {
    AsyncEntry,
    findCredentialsAsync: async (service: string) =>
      [...store.keys()]
        .filter((id) => id.startsWith(`${service}/`))
        .map((id) => ({ account: id.slice(service.length + 1), password: store.get(id)! })),
  } as unknown as Keyring;
  return { probe: async () => ({ keyring }), store };
}
/** What a process with no keychain session sees (SSH, a service manager, no D-Bus). */
const noKeychain = async (): Promise<KeychainProbe> => ({ reason: "Couldn't access platform storage" });

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), "opta-vault-choice-"));
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});
const env = {};

describe("the CLI and the daemon open the same vault", () => {
  it("records the keychain when the first key goes there; a process that cannot reach it says so", async () => {
    const keychain = fakeKeychain();
    // `opta account add` in a desktop terminal: the keychain answers.
    const cli = await openVault({ home, env, probe: keychain.probe });
    expect(cli.backend).toBe("keychain");
    await cli.set("anthropic", "sk-ant-stored-in-keychain");
    expect((await loadConfig(join(home, "config.yaml"))).vault).toBe("keychain");

    // The daemon, started from a shell without a keychain session, must not read an empty file vault.
    const error = await openVault({ home, env, probe: noKeychain }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(VaultError);
    expect((error as VaultError).message).toContain("OS keychain (config.yaml sets vault: keychain)");
    expect((error as VaultError).message).toContain("opta config set vault file");

    // With the keychain reachable it reads the key the CLI stored.
    const daemon = await openVault({ home, env, probe: keychain.probe });
    expect(await daemon.get("anthropic")).toBe("sk-ant-stored-in-keychain");
  });

  it("keeps reading vault.json once keys are there, even where a keychain appears later", async () => {
    const first = await openVault({ home, env, probe: noKeychain });
    expect(first.backend).toBe("file");
    await first.set("lmx", "lmx-key-in-the-file");
    expect(YAML.parse(await readFile(join(home, "config.yaml"), "utf8"))).toEqual({ vault: "file" });

    const keychain = fakeKeychain();
    const later = await openVault({ home, env, probe: keychain.probe });
    expect(later.backend).toBe("file");
    expect(await later.get("lmx")).toBe("lmx-key-in-the-file");
    // Without the record, an existing vault.json alone decides the same way.
    await saveConfig(join(home, "config.yaml"), {});
    expect((await openVault({ home, env, probe: keychain.probe })).backend).toBe("file");
  });

  it("follows config 'vault' over a probe, and OPTA_VAULT over both, without recording a forced choice", async () => {
    const keychain = fakeKeychain();
    await saveConfig(join(home, "config.yaml"), { vault: "file" });
    expect((await openVault({ home, env, probe: keychain.probe })).backend).toBe("file");

    await saveConfig(join(home, "config.yaml"), {});
    const forced = await openVault({ home, env: { OPTA_VAULT: "file" }, probe: keychain.probe });
    expect(forced.backend).toBe("file");
    await forced.set("lmx", "forced-key");
    expect((await loadConfig(join(home, "config.yaml"))).vault).toBeUndefined();
  });
});
