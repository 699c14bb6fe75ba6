import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import { optaPaths } from "@opta/local";
import { isSeq, parseDocument, YAMLSeq } from "yaml";
import type { PermissionQuery } from "./evaluate.js";
import { ALWAYS_FILE_NAME, expandHome, PATH_ARGUMENT } from "./policy.js";
import { joinShellWords, parseShellCommand } from "./shell.js";

export { ALWAYS_FILE_NAME };

const HEADER =
  '# Written by Opta when you answer "always" to a permission request.\n' +
  "# Edit freely; see docs/permissions.md for the format.\n";

function escapeGlob(path: string): string {
  return path.replace(/[\\*?[\]{}()!+@]/g, "\\$&");
}

/**
 * Rules covering exactly what the query does: one `run_command(<argv>)` per simple command (plus
 * `write_file(<path>)` per redirection target), `<tool>(<path>)` for file tools, the tool name for
 * others. Paths are absolute unless `relativeTo` is given and contains them.
 */
export function rulesFor(query: PermissionQuery, relativeTo?: string): string[] {
  const showPath = (absolute: string) => {
    if (relativeTo) {
      const inside = relative(relativeTo, absolute);
      if (inside === "") return ".";
      if (!inside.startsWith(`..${sep}`) && inside !== ".." && !inside.startsWith(sep)) return escapeGlob(inside);
    }
    return escapeGlob(absolute);
  };
  const rules: string[] = [];
  if (query.tool === "run_command") {
    const command = typeof query.args.command === "string" ? query.args.command : "";
    const parsed = parseShellCommand(command);
    for (const argv of parsed.commands) rules.push(`run_command(${joinShellWords(argv)})`);
    const cwdArg = typeof query.args.cwd === "string" ? query.args.cwd : ".";
    for (const write of parsed.writes)
      rules.push(`write_file(${showPath(resolve(query.cwd, cwdArg, expandHome(write)))})`);
  } else if (PATH_ARGUMENT[query.tool] !== undefined) {
    const raw = query.args[PATH_ARGUMENT[query.tool] as string];
    const path = typeof raw === "string" && raw !== "" ? raw : ".";
    rules.push(`${query.tool}(${showPath(resolve(query.cwd, expandHome(path)))})`);
  } else {
    rules.push(query.tool);
  }
  return [...new Set(rules)];
}

const locks = new Map<string, Promise<unknown>>();

/** Runs `task` after every earlier task on the same file, so concurrent "always" answers never lose a rule. */
function serialized<T>(file: string, task: () => Promise<T>): Promise<T> {
  const previous = locks.get(file) ?? Promise.resolve();
  const next = previous.then(task, task);
  locks.set(
    file,
    next.catch(() => undefined),
  );
  return next;
}

/**
 * Records an "always" answer: appends rules covering exactly what was approved to
 * `$OPTA_HOME/policies/always.yaml` (keeping comments and existing rules; a rule already there is
 * not added twice). An unreadable file is moved aside as always.yaml.broken-<time>, never lost.
 */
export async function persistAlwaysRule(opts: {
  home: string;
  query: PermissionQuery;
}): Promise<{ file: string; rule: string; rules: string[] }> {
  const directory = optaPaths(opts.home).policies;
  const file = join(directory, ALWAYS_FILE_NAME);
  const rules = rulesFor(opts.query);
  return serialized(file, async () => {
    await mkdir(directory, { recursive: true });
    const existing = await readFile(file, "utf8").catch(() => undefined);
    let document = parseDocument(existing ?? HEADER);
    const allowNow = document.contents !== null && isMapLike(document.contents) ? document.get("allow") : undefined;
    const malformedAllow = allowNow !== undefined && allowNow !== null && !isSeq(allowNow);
    if (document.errors.length > 0 || (document.contents !== null && !isMapLike(document.contents)) || malformedAllow) {
      await rename(file, `${file}.broken-${Date.now()}`);
      document = parseDocument(HEADER);
    }
    let allow = document.get("allow");
    if (!isSeq(allow)) {
      allow = new YAMLSeq();
      document.set("allow", allow);
    }
    const list = allow as YAMLSeq;
    const present = new Set(list.items.map((item) => String((item as { value?: unknown }).value ?? item).trim()));
    let changed = false;
    for (const rule of rules) {
      if (present.has(rule)) continue;
      list.add(document.createNode(rule));
      present.add(rule);
      changed = true;
    }
    if (changed || existing === undefined) {
      const temporary = `${file}.${process.pid}.${Date.now()}.tmp`;
      await writeFile(temporary, document.toString({ lineWidth: 0 }), "utf8");
      await rename(temporary, file);
    }
    return { file, rule: rules.join("\n"), rules };
  });
}

function isMapLike(node: unknown): boolean {
  return typeof node === "object" && node !== null && "items" in node && !isSeq(node);
}

/**
 * A YAML snippet that would allow this call, for the message of a non-interactive deny:
 * paths inside the cwd are relative (ready for the project's .opta/policy.yaml).
 */
export function suggestPolicyLine(query: PermissionQuery): string {
  const rules = rulesFor(query, query.cwd);
  return `allow:\n${rules.map((rule) => `  - ${yamlScalar(rule)}`).join("\n")}\n`;
}

function yamlScalar(text: string): string {
  return /^[A-Za-z0-9_]/.test(text) && !/: |\s#|["'\\\n]/.test(text) && !/[:\s]$/.test(text)
    ? text
    : JSON.stringify(text);
}
