import { isValidProviderName, loadConfig, maskSecret, openVault, optaPaths, type Vault } from "@opta/local";
import { optaHome } from "../connection.js";
import { CliError, UsageError } from "../output/errors.js";
import { dim, notice, print, table, yellow } from "../output/terminal.js";

/** `opta account add <provider>`: stores a key typed hidden on a terminal, or piped on stdin. */
export async function add(provider: string): Promise<number> {
  checkName(provider);
  const vault = await open({ writing: true });
  const key = await readKey(`API key for ${provider}: `);
  await vault.set(provider, key);
  print(`Stored the ${provider} key ${maskSecret(key)} in ${vault.location}`);
  await hints(provider);
  return 0;
}

/** `opta account list [--json]`: providers with a stored key, masked. */
export async function list(options: { json?: boolean } = {}): Promise<number> {
  const vault = await open();
  const names = await vault.list();
  const rows: Array<{ provider: string; key: string }> = [];
  for (const name of names) {
    const key = await vault.get(name);
    if (key) rows.push({ provider: name, key: maskSecret(key) });
  }
  if (options.json) {
    print(JSON.stringify({ backend: vault.backend, location: vault.location, accounts: rows }, null, 2));
    return 0;
  }
  if (rows.length === 0) print("No keys stored. Add one with `opta account add <provider>`.");
  else
    table(
      ["PROVIDER", "KEY"],
      rows.map((row) => [row.provider, row.key]),
    );
  print(dim(`# ${vault.location}`));
  return 0;
}

/** `opta account remove <provider>`. */
export async function remove(provider: string): Promise<number> {
  checkName(provider);
  const vault = await open();
  if (!(await vault.delete(provider)))
    throw new CliError(`no key stored for '${provider}' (see \`opta account list\`)`);
  print(`Removed the ${provider} key from ${vault.location}`);
  return 0;
}

/**
 * `opta account rotate <provider>`: replaces a stored key. The daemon reads keys per request, so
 * running turns carry on and their next request uses the new key.
 */
export async function rotate(provider: string): Promise<number> {
  checkName(provider);
  const vault = await open({ writing: true });
  const previous = await vault.get(provider);
  if (!previous) throw new CliError(`no key stored for '${provider}'; add one with \`opta account add ${provider}\``);
  const key = await readKey(`New API key for ${provider}: `);
  if (key === previous) throw new CliError(`that is the key already stored for '${provider}'`);
  await vault.set(provider, key);
  print(`Rotated the ${provider} key: ${maskSecret(previous)} → ${maskSecret(key)} (the next request uses it)`);
  return 0;
}

function checkName(provider: string): void {
  if (!isValidProviderName(provider)) {
    throw new UsageError(`'${provider}' is not a provider name (letters, digits, '.', '_' and '-')`);
  }
}

async function open(options: { writing?: boolean } = {}): Promise<Vault> {
  const vault = await openVault({ home: optaHome() });
  if (vault.backend === "file" && options.writing) {
    notice(
      yellow(`note: ${vault.note ?? "no OS keychain"}; keys are in ${vault.location} (mode 0600)`, process.stderr),
    );
  }
  return vault;
}

/** Points at the config step when the key is for a provider that is not configured yet. */
async function hints(provider: string): Promise<void> {
  if (provider === "lmx") return;
  const config = await loadConfig(optaPaths(optaHome()).config).catch(() => undefined);
  if (!config || (config.providers && provider in config.providers)) return;
  const type = provider === "anthropic" || provider === "openai" ? provider : "openai-compatible --base-url URL";
  notice(
    `'${provider}' is not a configured provider yet; add it with \`opta config add-provider ${provider} --type ${type}\``,
  );
}

/** Reads a key: hidden from a terminal, else the first line of stdin. Never echoes it. */
async function readKey(prompt: string): Promise<string> {
  const stdin = process.stdin;
  const key = stdin.isTTY ? await readHidden(prompt) : await readPiped();
  const trimmed = key.trim();
  if (!trimmed)
    throw new UsageError(
      'no key given (type it at the prompt, or pipe it: `printf %s "$KEY" | opta account add NAME`)',
    );
  if (/\s/.test(trimmed)) throw new UsageError("a key has no spaces or line breaks in it; check what was pasted");
  return trimmed;
}

async function readPiped(): Promise<string> {
  let text = "";
  for await (const chunk of process.stdin) text += chunk;
  return text.split(/\r?\n/).find((line) => line.trim()) ?? "";
}

/** Reads a line typed on the terminal without echoing it (Ctrl+C cancels). */
export function readHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    let value = "";
    const finish = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off("data", onData);
      process.stderr.write("\n");
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (data: Buffer) => {
      for (const char of data.toString("utf8")) {
        if (char === "\r" || char === "\n") return finish();
        if (char === "\u0003") return finish(new CliError("cancelled"));
        if (char === "\u007f" || char === "\b") value = value.slice(0, -1);
        else if (char >= " ") value += char;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on("data", onData);
  });
}
