/**
 * Slash commands: the built-in ones and custom commands from `$OPTA_HOME/commands/*.md`. A custom
 * command's file body becomes the prompt, with `$ARGUMENTS` replaced by what follows the name.
 */
import { readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";

/** A built-in command's action name. */
export type BuiltinAction =
  | "clear"
  | "compact"
  | "model"
  | "mode"
  | "settings"
  | "export"
  | "resume"
  | "rewind"
  | "fork"
  | "help"
  | "exit";

/** One entry of the command palette. */
export type PaletteCommand =
  | { kind: "builtin"; name: string; description: string; action: BuiltinAction }
  | { kind: "custom"; name: string; description: string; body: string; takesArguments: boolean; file: string };

/** The built-in commands, in their default order. */
export const BUILTIN_COMMANDS: PaletteCommand[] = [
  { kind: "builtin", name: "clear", action: "clear", description: "Start a fresh session (the old one is kept)" },
  { kind: "builtin", name: "compact", action: "compact", description: "Compress the context window" },
  { kind: "builtin", name: "model", action: "model", description: "Open the model picker" },
  { kind: "builtin", name: "mode", action: "mode", description: "Switch Chat / Do (or /mode chat, /mode do)" },
  { kind: "builtin", name: "settings", action: "settings", description: "Open the settings overlay" },
  { kind: "builtin", name: "export", action: "export", description: "Export as Markdown (/export [file])" },
  {
    kind: "builtin",
    name: "resume",
    action: "resume",
    description: "Resume the paused turn (also Enter on an empty line)",
  },
  {
    kind: "builtin",
    name: "rewind",
    action: "rewind",
    description: "Undo turn N and later (/rewind N [files|conversation|both] [--force])",
  },
  { kind: "builtin", name: "fork", action: "fork", description: "New session from this one's history (/fork [N])" },
  { kind: "builtin", name: "help", action: "help", description: "Keys and commands" },
  { kind: "builtin", name: "exit", action: "exit", description: "Leave opta tui" },
];

/** Splits optional YAML-ish front matter (`description: …`) from a command file. */
function parseCommandFile(text: string): { description?: string; body: string } {
  const match = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?/.exec(text);
  if (!match) return { body: text.trim() };
  const description = /^description:\s*(.+)$/m
    .exec(match[1]!)?.[1]
    ?.trim()
    .replace(/^["']|["']$/g, "");
  return { description, body: text.slice(match[0].length).trim() };
}

/** Reads `<home>/commands/*.md`; a missing folder means no custom commands. */
export async function loadCustomCommands(home: string): Promise<PaletteCommand[]> {
  const folder = join(home, "commands");
  let files: string[];
  try {
    files = (await readdir(folder)).filter((file) => file.endsWith(".md")).sort();
  } catch {
    return [];
  }
  const builtinNames = new Set(BUILTIN_COMMANDS.map((command) => command.name));
  const commands: PaletteCommand[] = [];
  for (const file of files) {
    const name = basename(file, ".md").trim().replace(/\s+/g, "-");
    if (!name || builtinNames.has(name)) continue;
    try {
      const { description, body } = parseCommandFile(await readFile(join(folder, file), "utf8"));
      if (!body) continue;
      const firstLine = body.split("\n").find((line) => line.trim()) ?? "";
      commands.push({
        kind: "custom",
        name,
        description: description ?? firstLine.replace(/^#+\s*/, "").slice(0, 80),
        body,
        takesArguments: body.includes("$ARGUMENTS"),
        file: join(folder, file),
      });
    } catch {
      // An unreadable file is skipped, not fatal.
    }
  }
  return commands;
}

/** A custom command's prompt: the body with `$ARGUMENTS` replaced (appended when absent). */
export function expandCustomCommand(body: string, args: string): string {
  if (body.includes("$ARGUMENTS")) return body.replaceAll("$ARGUMENTS", args);
  return args ? `${body}\n\n${args}` : body;
}

/** `/name rest of line` → { name, args }; undefined when the text is not a slash command. */
export function parseSlash(text: string): { name: string; args: string } | undefined {
  const match = /^\/([\w.-]+)(?:\s+([\s\S]*))?$/.exec(text.trim());
  if (!match) return undefined;
  return { name: match[1]!.toLowerCase(), args: (match[2] ?? "").trim() };
}
