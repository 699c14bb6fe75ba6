/**
 * `opta account sync push|pull|status`: the vault's entries (provider keys and the rest, never this
 * device's own platform token) synced through the platform, end-to-end encrypted. The data key is
 * unwrapped once per device with the vault passphrase and then kept in the local vault (entry
 * `platform-sync-key`); the server only ever sees ciphertext. A push names the version it replaces;
 * on a conflict both sides are shown and nothing is overwritten until the user picks one.
 */
import { readFile, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline/promises";
import {
  createVaultKey,
  DEVICE_ONLY_ENTRIES,
  diffEntries,
  maskSecret,
  openSealedVault,
  openVault,
  sealVault,
  unwrapVaultKey,
  type Vault,
  VaultConflict,
  type VaultKdf,
  type VaultKey,
  type VaultPutRequest,
  VaultRecord,
  VaultSyncError,
} from "@opta/local";
import { optaHome } from "../connection.js";
import { dim, notice, print } from "../output/terminal.js";
import { readHidden } from "./account.js";
import { call, credentials, describeError, PlatformLoginError } from "./platform-login.js";

/** The vault entry that holds this device's unwrapped sync key (never synced, never printed). */
export const SYNC_KEY_ENTRY = "platform-sync-key";
/** Where this device remembers the version it last synced (no secret in it). */
const SYNC_STATE_FILE = "platform-sync.json";
/** Exit code of a push that met a newer vault and was told neither side to keep. */
export const SYNC_CONFLICT_EXIT = 5;
/** The shortest vault passphrase accepted for a new vault. */
const MIN_PASSPHRASE = 10;

/** A sync that cannot go on: one line, a code, what to do. */
export class PlatformSyncError extends Error {
  override readonly name = "PlatformSyncError";
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode = 1,
  ) {
    super(`${message} [${code}]`);
  }
}

interface SyncState {
  platform: string;
  userId: string;
  /** The version this device last pushed or pulled: what its next push replaces. */
  version: number;
  at: string;
}

interface StoredKey {
  userId: string;
  dataKey: string;
  wrappedKey: string;
  kdf: VaultKdf;
}

/** A signed-in session with everything a sync needs. */
interface Session {
  origin: string;
  token: string;
  userId: string;
  email: string;
  vault: Vault;
}

async function session(platform?: string): Promise<Session> {
  const { origin, token, source } = await credentials(platform);
  const answer = await call(origin, "/api/auth/get-session", { token });
  const user = (answer.body?.user ?? null) as { id?: string; email?: string } | null;
  if (answer.status !== 200 || !user?.id) {
    throw new PlatformLoginError(
      "PLATFORM_TOKEN_REJECTED",
      `the platform at ${origin} does not accept the ${source} token (signed out, revoked or expired); run \`opta account login\``,
    );
  }
  return { origin, token, userId: user.id, email: user.email ?? user.id, vault: await openVault({ home: optaHome() }) };
}

/** The synced vault, or undefined when the account has none. */
async function fetchRemote(s: Session): Promise<VaultRecord | undefined> {
  const answer = await call(s.origin, "/api/vault", { token: s.token });
  if (answer.status === 404) return undefined;
  const record = VaultRecord.safeParse(answer.body);
  if (answer.status !== 200 || !record.success) {
    throw new PlatformSyncError(
      "PLATFORM_SYNC_FAILED",
      `the platform at ${s.origin} did not return the vault (HTTP ${answer.status}: ${describeError(answer.body)})`,
    );
  }
  return record.data;
}

/** The vault's entries that sync: every one but this device's own. */
async function localEntries(vault: Vault): Promise<Record<string, string>> {
  const entries: Record<string, string> = {};
  for (const name of await vault.list()) {
    if (DEVICE_ONLY_ENTRIES.includes(name)) continue;
    const value = await vault.get(name);
    if (value !== undefined) entries[name] = value;
  }
  return entries;
}

function syncable(entries: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(entries).filter(([name]) => !DEVICE_ONLY_ENTRIES.includes(name)));
}

async function readState(s: Session): Promise<SyncState | undefined> {
  try {
    const state = JSON.parse(await readFile(join(optaHome(), SYNC_STATE_FILE), "utf8")) as SyncState;
    return state.platform === s.origin && state.userId === s.userId ? state : undefined;
  } catch {
    return undefined;
  }
}

async function writeState(s: Session, version: number): Promise<void> {
  const state: SyncState = { platform: s.origin, userId: s.userId, version, at: new Date().toISOString() };
  await writeFile(join(optaHome(), SYNC_STATE_FILE), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}

async function storedKey(s: Session): Promise<VaultKey | undefined> {
  const text = await s.vault.get(SYNC_KEY_ENTRY);
  if (!text) return undefined;
  try {
    const stored = JSON.parse(text) as StoredKey;
    if (stored.userId !== s.userId) return undefined;
    return { dataKey: Buffer.from(stored.dataKey, "base64"), wrappedKey: stored.wrappedKey, kdf: stored.kdf };
  } catch {
    return undefined;
  }
}

async function keepKey(s: Session, key: VaultKey): Promise<void> {
  const stored: StoredKey = {
    userId: s.userId,
    dataKey: key.dataKey.toString("base64"),
    wrappedKey: key.wrappedKey,
    kdf: key.kdf,
  };
  await s.vault.set(SYNC_KEY_ENTRY, JSON.stringify(stored));
}

/** The vault passphrase: OPTA_VAULT_PASSPHRASE (CI), else typed hidden on a terminal. */
async function passphrase(prompt: string, options: { confirm?: boolean } = {}): Promise<string> {
  const fromEnv = process.env.OPTA_VAULT_PASSPHRASE;
  if (fromEnv) return fromEnv;
  if (!process.stdin.isTTY) {
    throw new VaultSyncError(
      "VAULT_PASSPHRASE_REQUIRED",
      "the vault passphrase is needed once on this device; run this on a terminal or set OPTA_VAULT_PASSPHRASE",
    );
  }
  const typed = await readHidden(prompt);
  if (options.confirm && (await readHidden("Type it again: ")) !== typed) {
    throw new PlatformSyncError("VAULT_PASSPHRASE_MISMATCH", "the two passphrases differ; nothing was pushed");
  }
  return typed;
}

/** The key of the remote vault: the one kept on this device when it matches, else from the passphrase. */
async function keyFor(s: Session, remote: VaultRecord): Promise<VaultKey> {
  const kept = await storedKey(s);
  if (kept && kept.wrappedKey === remote.wrappedKey) return kept;
  const key = await unwrapVaultKey(await passphrase(`Vault passphrase for ${s.email}: `), s.userId, remote);
  await keepKey(s, key);
  return key;
}

/** The key for a first push: a new data key under a new passphrase (or the one kept here). */
async function newKey(s: Session): Promise<VaultKey> {
  const kept = await storedKey(s);
  if (kept) return kept;
  notice(
    dim(
      "Choose a vault passphrase (not your login password): it encrypts your keys before they leave this machine, and every device asks for it once. It cannot be recovered.",
    ),
  );
  const typed = await passphrase(`New vault passphrase for ${s.email}: `, { confirm: true });
  if (typed.length < MIN_PASSPHRASE) {
    throw new PlatformSyncError(
      "VAULT_PASSPHRASE_WEAK",
      `a vault passphrase has ${MIN_PASSPHRASE} characters or more; nothing was pushed`,
    );
  }
  return createVaultKey(typed, s.userId);
}

function deviceName(): string {
  return (process.env.OPTA_DEVICE_NAME || hostname() || "unknown device").slice(0, 100);
}

function masked(value: string | undefined): string {
  return value === undefined ? "—" : maskSecret(value);
}

/** `opta account sync push [--keep-local|--take-remote]`. */
export async function push(
  options: { platform?: string; keepLocal?: boolean; takeRemote?: boolean } = {},
): Promise<number> {
  if (options.keepLocal && options.takeRemote) {
    throw new PlatformSyncError("PLATFORM_SYNC_USAGE", "pass --keep-local or --take-remote, not both", 2);
  }
  const s = await session(options.platform);
  const remote = await fetchRemote(s);
  const key = remote ? await keyFor(s, remote) : await newKey(s);
  const local = await localEntries(s.vault);
  const base = (await readState(s))?.version ?? null;
  if (remote && remote.version === base) {
    const theirs = openSealedVault(remote, key.dataKey, { userId: s.userId, version: remote.version });
    const diff = diffEntries(local, syncable(theirs));
    if (diff.added.length + diff.changed.length + diff.missing.length === 0) {
      print(`Already in sync: version ${remote.version} holds the same ${countEntries(local)}.`);
      return 0;
    }
  }
  const answer = await putVault(s, key, local, base);
  if (answer.status === 200) return pushed(s, key, local, base, answer.body);
  if (answer.status !== 409 || !VaultConflict.safeParse(answer.body).success) {
    throw new PlatformSyncError(
      "PLATFORM_SYNC_FAILED",
      `the platform refused the push (HTTP ${answer.status}: ${describeError(answer.body)}); nothing changed`,
    );
  }
  return conflict(s, local, base, options);
}

function countEntries(entries: Record<string, string>): string {
  const count = Object.keys(entries).length;
  return `${count} ${count === 1 ? "entry" : "entries"}`;
}

function putVault(s: Session, key: VaultKey, entries: Record<string, string>, replaces: number | null) {
  const version = (replaces ?? 0) + 1;
  const body: VaultPutRequest = {
    ...sealVault(entries, key, { userId: s.userId, version }),
    device: deviceName(),
    replaces,
  };
  return call(s.origin, "/api/vault", { method: "PUT", json: body, token: s.token });
}

async function pushed(
  s: Session,
  key: VaultKey,
  entries: Record<string, string>,
  replaced: number | null,
  body: Record<string, unknown>,
): Promise<number> {
  const record = VaultRecord.parse(body);
  await keepKey(s, key);
  await writeState(s, record.version);
  const names = Object.keys(entries).sort().join(", ") || "none";
  print(
    `Pushed ${countEntries(entries)} (${names}) as version ${record.version}${replaced === null ? " (the first)" : ` (replaces ${replaced})`} to ${s.origin}`,
  );
  return 0;
}

/** The vault changed since this device's base: show both sides, then do what the user picks. */
async function conflict(
  s: Session,
  local: Record<string, string>,
  base: number | null,
  options: { keepLocal?: boolean; takeRemote?: boolean },
): Promise<number> {
  const remote = await fetchRemote(s);
  if (!remote) {
    // Deleted in between: this device's base is gone, so a push as the first version is what is left.
    const key = await newKey(s);
    const answer = await putVault(s, key, local, null);
    if (answer.status === 200) return pushed(s, key, local, null, answer.body);
    throw new PlatformSyncError("PLATFORM_SYNC_FAILED", `the platform refused the push (HTTP ${answer.status})`);
  }
  const key = await keyFor(s, remote);
  const theirs = syncable(openSealedVault(remote, key.dataKey, { userId: s.userId, version: remote.version }));
  const diff = diffEntries(local, theirs);
  const stream = process.stderr;
  stream.write(
    `The synced vault changed since this device last synced: it is at version ${remote.version}, this push replaced ${base === null ? "none (this device never synced)" : `version ${base}`}.\n`,
  );
  stream.write(`  remote: version ${remote.version}, pushed by ${remote.device} at ${remote.updatedAt}\n`);
  stream.write(`  local:  ${deviceName()}, ${base === null ? "never synced" : `last synced version ${base}`}\n`);
  const rows = [
    ...diff.changed.map((name) => [name, masked(local[name]), masked(theirs[name]), "differs"]),
    ...diff.missing.map((name) => [name, masked(local[name]), "—", "only here"]),
    ...diff.added.map((name) => [name, "—", masked(theirs[name]), "only remote"]),
    ...diff.same.map((name) => [name, masked(local[name]), masked(theirs[name]), "same"]),
  ];
  const width = [0, 1, 2].map((column) => Math.max(5, ...rows.map((row) => row[column]!.length)));
  stream.write(`  ${"ENTRY".padEnd(width[0]!)}  ${"LOCAL".padEnd(width[1]!)}  ${"REMOTE".padEnd(width[2]!)}\n`);
  for (const row of rows) {
    stream.write(
      `  ${row[0]!.padEnd(width[0]!)}  ${row[1]!.padEnd(width[1]!)}  ${row[2]!.padEnd(width[2]!)}  ${row[3]}\n`,
    );
  }
  let choice: "local" | "remote" | "cancel" = options.keepLocal ? "local" : options.takeRemote ? "remote" : "cancel";
  if (!options.keepLocal && !options.takeRemote) {
    if (!process.stdin.isTTY) {
      throw new PlatformSyncError(
        "VAULT_SYNC_CONFLICT",
        `nothing was overwritten; run \`opta account sync push --keep-local\` to replace version ${remote.version} with this device's entries, or \`--take-remote\` to take version ${remote.version} here`,
        SYNC_CONFLICT_EXIT,
      );
    }
    choice = await ask(
      `[l] keep local (push over version ${remote.version})  [r] take remote (merge version ${remote.version} here)  [c] cancel: `,
    );
  }
  if (choice === "cancel") {
    print("Cancelled; nothing was changed on either side.");
    return SYNC_CONFLICT_EXIT;
  }
  if (choice === "remote") return merge(s, remote, theirs, local);
  const answer = await putVault(s, key, local, remote.version);
  if (answer.status === 200) return pushed(s, key, local, remote.version, answer.body);
  throw new PlatformSyncError(
    "VAULT_SYNC_CONFLICT",
    `the vault changed again while choosing (HTTP ${answer.status}); run \`opta account sync push\` again`,
    SYNC_CONFLICT_EXIT,
  );
}

async function ask(prompt: string): Promise<"local" | "remote" | "cancel"> {
  const lines = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await lines.question(prompt)).trim().toLowerCase();
    return answer.startsWith("l") ? "local" : answer.startsWith("r") ? "remote" : "cancel";
  } finally {
    lines.close();
  }
}

/** Writes the remote entries into the local vault and says what changed, masked. */
async function merge(
  s: Session,
  remote: VaultRecord,
  theirs: Record<string, string>,
  local: Record<string, string>,
): Promise<number> {
  const diff = diffEntries(local, theirs);
  for (const name of [...diff.added, ...diff.changed]) await s.vault.set(name, theirs[name]!);
  await writeState(s, remote.version);
  print(
    `Pulled version ${remote.version} (pushed by ${remote.device} at ${remote.updatedAt}) into ${s.vault.location}`,
  );
  for (const name of diff.added) print(`  added    ${name}  ${masked(theirs[name])}`);
  for (const name of diff.changed) print(`  updated  ${name}  ${masked(local[name])} → ${masked(theirs[name])}`);
  if (diff.missing.length > 0)
    print(dim(`  kept     ${diff.missing.join(", ")} (only on this device; push to sync them)`));
  if (diff.added.length + diff.changed.length === 0) print("  nothing changed here");
  return 0;
}

/** `opta account sync pull`. */
export async function pull(options: { platform?: string } = {}): Promise<number> {
  const s = await session(options.platform);
  const remote = await fetchRemote(s);
  if (!remote) {
    print(`${s.email} has no synced vault yet; send this device's keys with \`opta account sync push\`.`);
    return 0;
  }
  const key = await keyFor(s, remote);
  const theirs = syncable(openSealedVault(remote, key.dataKey, { userId: s.userId, version: remote.version }));
  return merge(s, remote, theirs, await localEntries(s.vault));
}

/** `opta account sync status [--json]`: versions on both sides, and which entries differ when the key is here. */
export async function status(options: { platform?: string; json?: boolean } = {}): Promise<number> {
  const s = await session(options.platform);
  const remote = await fetchRemote(s);
  const base = (await readState(s))?.version ?? null;
  const local = await localEntries(s.vault);
  const kept = await storedKey(s);
  let diff: ReturnType<typeof diffEntries> | undefined;
  if (remote && kept && kept.wrappedKey === remote.wrappedKey) {
    diff = diffEntries(
      local,
      syncable(openSealedVault(remote, kept.dataKey, { userId: s.userId, version: remote.version })),
    );
  }
  if (options.json) {
    print(
      JSON.stringify({
        platform: s.origin,
        email: s.email,
        remote: remote ? { version: remote.version, device: remote.device, updatedAt: remote.updatedAt } : null,
        local: { version: base, device: deviceName(), entries: Object.keys(local).sort() },
        unlocked: diff !== undefined,
        diff: diff ?? null,
      }),
    );
    return 0;
  }
  print(`Signed in to ${s.origin} as ${s.email}`);
  if (!remote) print("Synced vault: none yet (`opta account sync push` sends this device's entries)");
  else print(`Synced vault: version ${remote.version}, pushed by ${remote.device} at ${remote.updatedAt}`);
  const where =
    base === null
      ? "never synced"
      : remote && remote.version > base
        ? `last synced version ${base} (behind: \`opta account sync pull\`)`
        : `last synced version ${base}`;
  print(`This device (${deviceName()}): ${where}; ${countEntries(local)}`);
  if (diff) {
    const parts = [`${diff.same.length} the same`];
    if (diff.changed.length) parts.push(`differ: ${diff.changed.join(", ")}`);
    if (diff.missing.length) parts.push(`only here: ${diff.missing.join(", ")}`);
    if (diff.added.length) parts.push(`only remote: ${diff.added.join(", ")}`);
    print(`Entries: ${parts.join("; ")}`);
  } else if (remote)
    print(dim("Entries: not compared (this device has not unlocked the vault yet: `opta account sync pull`)"));
  return 0;
}

/**
 * After `opta account login`: offer to pull when the account has a synced vault (a question on a
 * terminal, a one-line hint otherwise). Failures here never fail the login.
 */
export async function offerPull(origin: string, token: string): Promise<void> {
  let remote: VaultRecord | undefined;
  try {
    const answer = await call(origin, "/api/vault", { token });
    if (answer.status === 404) {
      print(dim("Send this device's keys to your account (encrypted) with `opta account sync push`."));
      return;
    }
    const parsed = VaultRecord.safeParse(answer.body);
    if (answer.status !== 200 || !parsed.success) return;
    remote = parsed.data;
  } catch {
    return;
  }
  const what = `This account has a synced vault (version ${remote.version}, from ${remote.device})`;
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    print(`${what}; bring its keys here with \`opta account sync pull\`.`);
    return;
  }
  const lines = createInterface({ input: process.stdin, output: process.stdout });
  const answer = (await lines.question(`${what}. Pull it now? [Y/n] `)).trim().toLowerCase();
  lines.close();
  if (answer === "" || answer.startsWith("y")) await pull({ platform: origin });
}
