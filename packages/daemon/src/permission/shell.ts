/**
 * A small POSIX-shell reader for the permission gate: it finds every simple command a command line
 * would run — across `&&`, `||`, `;`, `|`, `&`, newlines, subshells, `$(…)`, backticks, process
 * substitution, here-documents, `sh -c` / `eval` strings and wrappers such as `env`, `timeout`,
 * `sudo` or `xargs` — so that each one can be checked on its own. It never executes anything and
 * errs on the side of finding more commands, not fewer.
 */

type Token =
  | { type: "word"; value: string; quoted: boolean }
  | { type: "op"; value: string }
  | { type: "redirect"; op: string };

/** What a command line would do, as far as the gate cares. */
export interface ParsedShell {
  /**
   * Every simple command as an argv array, wrappers unwrapped, in source order. Variable
   * assignments that change how the command runs (`GIT_DIR=/ git status`, `env LD_PRELOAD=x npm
   * test`) are kept as its leading words; harmless ones (`CI=1`, see HARMLESS_VARIABLES) are dropped.
   * A simple command made only of such assignments (`PATH=./bin:$PATH`) is an argv of assignments.
   */
  commands: string[][];
  /**
   * Files written through output redirections (`>`, `>>`, `&>`, …), except /dev/null and friends;
   * relative to the command's starting directory (a literal `cd dir` before them is followed) or absolute.
   */
  writes: string[];
  /** Redirection targets whose directory is unknown because a `cd` with a computed argument came first. */
  unknownWrites: string[];
}

const MAX_DEPTH = 16;
const OPERATORS = [";;&", ";;", ";&", "&&", "||", "|&", ";", "|", "&", "(", ")"];
const HARMLESS_TARGETS = new Set(["/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty"]);

/** Index just past the `)` that closes a `$(`, `<(` or `(` whose body starts at `start`. */
function scanBalanced(source: string, start: number): number {
  let depth = 1;
  let index = start;
  while (index < source.length) {
    const char = source[index];
    if (char === "\\") {
      index += 2;
      continue;
    }
    if (char === "'") {
      const end = source.indexOf("'", index + 1);
      index = end === -1 ? source.length : end + 1;
      continue;
    }
    if (char === '"') {
      index = scanDoubleQuoted(source, index + 1);
      continue;
    }
    if (char === "`") {
      index = scanBacktick(source, index + 1);
      continue;
    }
    if (char === "(") depth++;
    if (char === ")") {
      depth--;
      if (depth === 0) return index + 1;
    }
    index++;
  }
  return source.length + 1; // unterminated: as if closed at the end
}

/** Index just past the closing `"`; nested `$(…)` may itself contain quotes. */
function scanDoubleQuoted(source: string, start: number): number {
  let index = start;
  while (index < source.length) {
    const char = source[index];
    if (char === "\\") index += 2;
    else if (char === '"') return index + 1;
    else if (char === "$" && source[index + 1] === "(") index = scanBalanced(source, index + 2);
    else if (char === "`") index = scanBacktick(source, index + 1);
    else index++;
  }
  return source.length + 1; // unterminated: as if closed at the end
}

/** Index just past the closing backtick. */
function scanBacktick(source: string, start: number): number {
  let index = start;
  while (index < source.length) {
    const char = source[index];
    if (char === "\\") index += 2;
    else if (char === "`") return index + 1;
    else index++;
  }
  return source.length + 1; // unterminated: as if closed at the end
}

/** Index just past the `}` closing a `${` whose body starts at `start`. */
function scanBrace(source: string, start: number): number {
  let depth = 1;
  let index = start;
  while (index < source.length) {
    const char = source[index];
    if (char === "\\") index += 2;
    else if (char === "'") {
      const end = source.indexOf("'", index + 1);
      index = end === -1 ? source.length : end + 1;
    } else if (char === '"') index = scanDoubleQuoted(source, index + 1);
    else if (char === "$" && source[index + 1] === "(") index = scanBalanced(source, index + 2);
    else if (char === "`") index = scanBacktick(source, index + 1);
    else {
      if (char === "{") depth++;
      if (char === "}" && --depth === 0) return index + 1;
      index++;
    }
  }
  return source.length + 1; // unterminated: as if closed at the end
}

/** Command substitutions inside text that the shell expands (a `${…}` body or a here-document). */
function substitutionsIn(text: string, nested: string[]): void {
  let index = 0;
  while (index < text.length) {
    const char = text[index];
    if (char === "\\") index += 2;
    else if (char === "$" && text[index + 1] === "(" && text[index + 2] !== "(") {
      const end = scanBalanced(text, index + 2);
      nested.push(text.slice(index + 2, end - 1));
      index = end;
    } else if (char === "`") {
      const end = scanBacktick(text, index + 1);
      nested.push(unescapeBacktick(text.slice(index + 1, end - 1)));
      index = end;
    } else index++;
  }
}

const ANSI_ESCAPES: Record<string, string> = {
  n: "\n",
  t: "\t",
  r: "\r",
  a: "\x07",
  b: "\b",
  e: "\x1b",
  E: "\x1b",
  f: "\f",
  v: "\v",
};

/** Decodes the escape after a backslash in $'…'; returns the text and how many characters it used. */
function decodeAnsiEscape(source: string, start: number): [string, number] {
  const char = source[start] as string;
  if (char in ANSI_ESCAPES) return [ANSI_ESCAPES[char] as string, 1];
  const hex = /^x([0-9a-fA-F]{1,2})/.exec(source.slice(start, start + 3));
  if (hex) return [String.fromCharCode(Number.parseInt(hex[1] as string, 16)), hex[0].length];
  const unicode = /^[uU]([0-9a-fA-F]{1,8})/.exec(source.slice(start, start + 9));
  if (unicode) {
    const code = Number.parseInt(unicode[1] as string, 16);
    return [code <= 0x10ffff ? String.fromCodePoint(code) : "", unicode[0].length];
  }
  const octal = /^[0-7]{1,3}/.exec(source.slice(start, start + 3));
  if (octal) return [String.fromCharCode(Number.parseInt(octal[0], 8)), octal[0].length];
  return [char, 1]; // \\ \' \" and unknown escapes stand for the character itself
}

function unescapeBacktick(body: string): string {
  return body.replace(/\\([`$\\])/g, "$1");
}

/** Splits a command line into words, operators and redirections; command substitutions go to `nested`. */
function tokenize(source: string, nested: string[]): Token[] {
  const tokens: Token[] = [];
  const heredocs: Array<{ delimiter: string; quoted: boolean; stripTabs: boolean }> = [];
  let word = "";
  let inWord = false;
  let quoted = false;
  let index = 0;

  const endWord = () => {
    if (inWord) tokens.push({ type: "word", value: word, quoted });
    word = "";
    inWord = false;
    quoted = false;
  };

  const readHeredocBodies = () => {
    for (const heredoc of heredocs.splice(0)) {
      const body: string[] = [];
      while (index < source.length) {
        const newline = source.indexOf("\n", index);
        const end = newline === -1 ? source.length : newline;
        let line = source.slice(index, end);
        index = end + 1;
        if (heredoc.stripTabs) line = line.replace(/^\t+/, "");
        if (line === heredoc.delimiter) break;
        body.push(line);
      }
      if (!heredoc.quoted) substitutionsIn(body.join("\n"), nested);
    }
  };

  while (index < source.length) {
    const char = source[index] as string;
    const next = source[index + 1];

    if (char === "\\" && next === "\n") {
      index += 2;
      continue;
    }
    if (char === " " || char === "\t" || char === "\r") {
      endWord();
      index++;
      continue;
    }
    if (char === "\n") {
      endWord();
      tokens.push({ type: "op", value: "\n" });
      index++;
      if (heredocs.length > 0) readHeredocBodies();
      continue;
    }
    if (char === "#" && !inWord) {
      const newline = source.indexOf("\n", index);
      index = newline === -1 ? source.length : newline;
      continue;
    }
    // Redirections: [n]> >> >| >& < << <<- <<< <& <> and &> &>>
    if (char === ">" || char === "<" || (char === "&" && next === ">")) {
      if (char === "<" && next === "(") {
        // process substitution <(…)
        const end = scanBalanced(source, index + 2);
        nested.push(source.slice(index + 2, end - 1));
        word += "<(…)";
        inWord = true;
        index = end;
        continue;
      }
      if (char === ">" && next === "(") {
        const end = scanBalanced(source, index + 2);
        nested.push(source.slice(index + 2, end - 1));
        word += ">(…)";
        inWord = true;
        index = end;
        continue;
      }
      if (inWord && !quoted && /^\d+$/.test(word)) {
        word = "";
        inWord = false; // a file-descriptor number belongs to the redirection
      } else endWord();
      const match = /^(&>>|&>|<<<|<<-|<<|<>|<&|>>|>&|>\||<|>)/.exec(source.slice(index));
      const op = match?.[1] ?? char;
      index += op.length;
      tokens.push({ type: "redirect", op });
      if (op === "<<" || op === "<<-") {
        // The delimiter is the next word; remember it so the body is skipped after the newline.
        while (source[index] === " " || source[index] === "\t") index++;
        const start = index;
        while (index < source.length && !/[\s;&|<>()]/.test(source[index] as string)) {
          const at = source[index];
          if (at === "'") {
            const end = source.indexOf("'", index + 1);
            index = end === -1 ? source.length : end + 1;
          } else if (at === '"') index = scanDoubleQuoted(source, index + 1);
          else index++;
        }
        const raw = source.slice(start, index);
        const delimiter = raw.replace(/['"\\]/g, "");
        heredocs.push({ delimiter, quoted: raw !== delimiter, stripTabs: op === "<<-" });
        tokens.push({ type: "word", value: delimiter, quoted: true });
      }
      continue;
    }
    const operator = OPERATORS.find((candidate) => source.startsWith(candidate, index));
    if (operator) {
      endWord();
      tokens.push({ type: "op", value: operator });
      index += operator.length;
      continue;
    }
    inWord = true;
    if (char === "'") {
      quoted = true;
      const end = source.indexOf("'", index + 1);
      const stop = end === -1 ? source.length : end;
      word += source.slice(index + 1, stop);
      index = stop + 1;
      continue;
    }
    if (char === '"') {
      quoted = true;
      index++;
      while (index < source.length && source[index] !== '"') {
        const inner = source[index] as string;
        if (inner === "\\" && index + 1 < source.length && '$`"\\\n'.includes(source[index + 1] as string)) {
          if (source[index + 1] !== "\n") word += source[index + 1];
          index += 2;
        } else if (inner === "$" && source[index + 1] === "(" && source[index + 2] !== "(") {
          const end = scanBalanced(source, index + 2);
          nested.push(source.slice(index + 2, end - 1));
          word += "$(…)";
          index = end;
        } else if (inner === "$" && source[index + 1] === "{") {
          const end = scanBrace(source, index + 2);
          substitutionsIn(source.slice(index + 2, end - 1), nested);
          word += source.slice(index, end);
          index = end;
        } else if (inner === "`") {
          const end = scanBacktick(source, index + 1);
          nested.push(unescapeBacktick(source.slice(index + 1, end - 1)));
          word += "$(…)";
          index = end;
        } else {
          word += inner;
          index++;
        }
      }
      index++;
      continue;
    }
    if (char === "\\") {
      word += next ?? "";
      index += 2;
      continue;
    }
    if (char === "$" && next === "'") {
      // ANSI-C quoting $'…': decode it, so $'\x72m' is seen as rm
      quoted = true;
      index += 2;
      while (index < source.length && source[index] !== "'") {
        if (source[index] === "\\" && index + 1 < source.length) {
          const [text, length] = decodeAnsiEscape(source, index + 1);
          word += text;
          index += 1 + length;
        } else word += source[index++];
      }
      index++;
      continue;
    }
    if (char === "$" && next === '"') {
      index++; // $"…" is a translatable string: a double-quoted string here
      continue;
    }
    if (char === "$" && next === "(") {
      if (source[index + 2] === "(") {
        // arithmetic $(( … )): not a command, but it may contain substitutions
        const end = scanBalanced(source, index + 2);
        substitutionsIn(source.slice(index + 3, end - 2), nested);
        word += source.slice(index, end);
        index = end;
        continue;
      }
      const end = scanBalanced(source, index + 2);
      nested.push(source.slice(index + 2, end - 1));
      word += "$(…)";
      index = end;
      continue;
    }
    if (char === "$" && next === "{") {
      const end = scanBrace(source, index + 2);
      substitutionsIn(source.slice(index + 2, end - 1), nested);
      word += source.slice(index, end);
      index = end;
      continue;
    }
    if (char === "`") {
      const end = scanBacktick(source, index + 1);
      nested.push(unescapeBacktick(source.slice(index + 1, end - 1)));
      word += "$(…)";
      index = end;
      continue;
    }
    word += char;
    index++;
  }
  endWord();
  return tokens;
}

const RESERVED_PREFIXES = new Set(["!", "{", "}", "if", "then", "else", "elif", "fi", "do", "done", "while", "until"]);
const HEADER_KEYWORDS = new Set(["for", "select", "case", "esac", "function", "in"]);
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/;

/**
 * Variables an inline assignment may set without the gate caring: they change output formatting,
 * locale or log verbosity, never which program runs or what it reads. Any other assignment
 * (`GIT_DIR=/`, `GIT_PAGER=…`, `LD_PRELOAD=…`, `PATH=…`, `NODE_OPTIONS=…`) stays part of the command.
 */
export const HARMLESS_VARIABLES: ReadonlySet<string> = new Set([
  "CI",
  "NODE_ENV",
  "FORCE_COLOR",
  "NO_COLOR",
  "CLICOLOR",
  "CLICOLOR_FORCE",
  "COLUMNS",
  "LINES",
  "LANG",
  "LANGUAGE",
  "TZ",
  "DEBUG",
  "NODE_NO_WARNINGS",
  "RUST_BACKTRACE",
  "PYTHONUNBUFFERED",
  "PYTHONDONTWRITEBYTECODE",
]);

/** Whether `word` is a variable assignment (`NAME=value`, `NAME+=value`, `NAME[i]=value`). */
export function isAssignment(word: string): boolean {
  return ASSIGNMENT.test(word);
}

/** Whether an assignment word sets a variable from HARMLESS_VARIABLES (or `LC_*`) with plain `=`. */
export function isHarmlessAssignment(word: string): boolean {
  const match = /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(word);
  if (!match) return false;
  const name = match[1] as string;
  return HARMLESS_VARIABLES.has(name) || /^LC_[A-Z]+$/.test(name);
}

/** An argv split into its leading assignments and the command proper. */
export function splitAssignments(argv: readonly string[]): { assignments: string[]; argv: string[] } {
  let index = 0;
  while (index < argv.length && ASSIGNMENT.test(argv[index] as string)) index++;
  return { assignments: argv.slice(0, index), argv: argv.slice(index) };
}
const SHELLS = new Set(["sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish"]);

function basename(word: string): string {
  const slash = word.lastIndexOf("/");
  return slash === -1 ? word : word.slice(slash + 1);
}

/**
 * Skips a wrapper's options. `withValue` lists options that take a separate value; `--opt=value`
 * and attached short values (`-n5`) are handled. Returns the index of the first operand.
 */
function skipOptions(argv: string[], start: number, withValue: ReadonlySet<string>): number {
  let index = start;
  while (index < argv.length) {
    const word = argv[index] as string;
    if (word === "--") return index + 1;
    if (!word.startsWith("-") || word === "-") return index;
    if (withValue.has(word)) index += 2;
    else index++;
  }
  return index;
}

const ENV_VALUE = new Set(["-u", "--unset", "-C", "--chdir", "-S", "--split-string"]);
const TIMEOUT_VALUE = new Set(["-s", "--signal", "-k", "--kill-after"]);
const NICE_VALUE = new Set(["-n", "--adjustment"]);
const TIME_VALUE = new Set(["-f", "--format", "-o", "--output"]);
const SUDO_VALUE = new Set([
  "-u",
  "--user",
  "-g",
  "--group",
  "-h",
  "--host",
  "-p",
  "--prompt",
  "-C",
  "--close-from",
  "-D",
  "--chdir",
  "-r",
  "--role",
  "-t",
  "--type",
  "-U",
  "--other-user",
  "-T",
  "--command-timeout",
]);
const DOAS_VALUE = new Set(["-u", "-C"]);
const STDBUF_VALUE = new Set(["-i", "-o", "-e", "--input", "--output", "--error"]);
const IONICE_VALUE = new Set(["-c", "--class", "-n", "--classdata", "-p", "--pid", "-P", "--pgid", "-u", "--uid"]);
const XARGS_VALUE = new Set([
  "-a",
  "--arg-file",
  "-d",
  "--delimiter",
  "-E",
  "-I",
  "-L",
  "-n",
  "--max-args",
  "-P",
  "--max-procs",
  "-s",
  "--max-chars",
  "--process-slot-var",
]);
const EXEC_VALUE = new Set(["-a"]);
const EMPTY: ReadonlySet<string> = new Set();

/** Joins POSIX path segments lexically ("" is the starting directory). */
function joinPath(base: string, path: string): string {
  if (path.startsWith("/")) return path;
  const parts = base === "" ? [] : base.split("/").filter((part, index) => part !== "" || index === 0);
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === ".." && parts.length > 0 && parts[parts.length - 1] !== ".." && parts[parts.length - 1] !== "")
      parts.pop();
    else parts.push(part);
  }
  const joined = parts.join("/");
  return base.startsWith("/") && !joined.startsWith("/") ? `/${joined}` : joined;
}

function isDynamic(word: string): boolean {
  return /[$`*?~]|<\(|>\(/.test(word);
}

class Collector {
  readonly commands: string[][] = [];
  readonly writes: string[] = [];
  readonly unknownWrites: string[] = [];
  /** Directory the next command runs in, relative to the start ("" = start); null once unknown. */
  private directory: string | null = "";

  parse(source: string, depth: number): void {
    if (depth > MAX_DEPTH) {
      this.commands.push(["sh", "-c", source]); // absurd nesting: keep it whole so no rule but `*` matches it
      return;
    }
    const nested: string[] = [];
    const tokens = tokenize(source, nested);
    let words: string[] = [];
    let redirects: Array<[string, string]> = [];
    let expectTarget: string | undefined;
    const subshells: Array<string | null> = [];
    const finish = () => {
      // Redirections of a command apply in the directory it starts in, before its own cd.
      for (const [op, target] of redirects) this.redirect(op, target);
      if (words.length > 0) this.simple(words, depth);
      words = [];
      redirects = [];
    };
    for (const token of tokens) {
      if (expectTarget !== undefined) {
        const op = expectTarget;
        expectTarget = undefined;
        if (token.type === "word") {
          redirects.push([op, token.value]);
          continue;
        }
      }
      if (token.type === "op") {
        finish();
        if (token.value === "(") subshells.push(this.directory);
        if (token.value === ")" && subshells.length > 0) this.directory = subshells.pop() as string | null;
      } else if (token.type === "redirect") expectTarget = token.op;
      else words.push(token.value);
    }
    finish();
    const directory = this.directory;
    for (const script of nested) {
      this.parse(script, depth + 1); // substitutions run in subshells: a cd there does not leak
      this.directory = directory;
    }
  }

  private redirect(op: string, target: string): void {
    if (!op.includes(">")) return; // input redirections and here-documents read, they do not write
    if ((op === ">&" || op === "<&") && /^(\d+-?|-)$/.test(target)) return; // fd duplication
    if (HARMLESS_TARGETS.has(target)) return;
    if (target.startsWith("/") || target.startsWith("~")) this.writes.push(target);
    else if (this.directory === null) this.unknownWrites.push(target);
    else this.writes.push(joinPath(this.directory, target));
  }

  /** Follows `cd dir` so later relative redirections resolve where the shell would put them. */
  private changeDirectory(argv: readonly string[]): void {
    const operands = argv.slice(1).filter((word) => !word.startsWith("-") || word === "-");
    const target = operands[0];
    if (target === undefined || target === "-" || isDynamic(target) || this.directory === null) {
      this.directory = null;
      return;
    }
    this.directory = joinPath(this.directory, target);
  }

  /**
   * Moves the leading assignments of `argv` to `into`, except harmless ones, which are dropped.
   * Returns the rest.
   */
  private takeAssignments(argv: string[], into: string[]): string[] {
    let index = 0;
    while (index < argv.length && ASSIGNMENT.test(argv[index] as string)) {
      const word = argv[index] as string;
      if (!isHarmlessAssignment(word)) into.push(word);
      index++;
    }
    return argv.slice(index);
  }

  /** One simple command: strips keywords, separates assignments, then unwraps wrappers. */
  private simple(input: string[], depth: number): void {
    let argv = input;
    while (argv.length > 0 && RESERVED_PREFIXES.has(argv[0] as string)) argv = argv.slice(1);
    if (argv.length === 0) return;
    if (HEADER_KEYWORDS.has(argv[0] as string)) return; // loop / case headers hold data, not commands
    const assignments: string[] = [];
    argv = this.takeAssignments(argv, assignments);
    // `PATH=./bin:$PATH` alone changes what later commands run (the variable may be exported).
    if (argv.length === 0) {
      if (assignments.length > 0) this.commands.push(assignments);
      return;
    }
    this.unwrap(argv, depth, assignments);
  }

  /** A script run by `sh -c`, `eval` or `env -S`: the assignments in force become a part of their own. */
  private script(source: string, depth: number, assignments: readonly string[]): void {
    if (assignments.length > 0) this.commands.push([...assignments]);
    this.parse(source, depth);
  }

  private unwrap(argv: string[], depth: number, assignments: readonly string[] = []): void {
    const name = basename(argv[0] as string);
    const rest = (from: number) => argv.slice(from);
    const inner = (from: number, fallback?: string[]) => {
      const more = [...assignments];
      const next = this.takeAssignments(rest(from), more);
      if (next.length > 0) this.unwrap(next, depth, more);
      else if (fallback) this.push(fallback, assignments);
      else if (more.length > 0) this.commands.push(more);
    };
    switch (name) {
      case "env": {
        const split = argv.findIndex((word, index) => index > 0 && (word === "-S" || word === "--split-string"));
        if (split !== -1 && argv[split + 1] !== undefined) {
          const more = [...assignments];
          this.takeAssignments(argv.slice(1, split), more);
          this.script([argv[split + 1], ...argv.slice(split + 2)].join(" "), depth + 1, more);
          return;
        }
        inner(skipOptions(argv, 1, ENV_VALUE), argv);
        return;
      }
      case "timeout": {
        const at = skipOptions(argv, 1, TIMEOUT_VALUE);
        inner(at + 1, argv); // the duration, then the command
        return;
      }
      case "nice":
        inner(skipOptions(argv, 1, NICE_VALUE), argv);
        return;
      case "nohup":
      case "builtin":
      case "setsid":
        inner(skipOptions(argv, 1, EMPTY), argv);
        return;
      case "time":
        inner(skipOptions(argv, 1, TIME_VALUE), argv);
        return;
      case "stdbuf":
        inner(skipOptions(argv, 1, STDBUF_VALUE), argv);
        return;
      case "ionice":
        inner(skipOptions(argv, 1, IONICE_VALUE), argv);
        return;
      case "command": {
        const at = skipOptions(argv, 1, EMPTY);
        if (argv.slice(1, at).some((flag) => flag.includes("v") || flag.includes("V"))) {
          this.push(argv, assignments); // `command -v x` only looks x up
          return;
        }
        inner(at, argv);
        return;
      }
      case "exec":
        inner(skipOptions(argv, 1, EXEC_VALUE), argv);
        return;
      case "xargs":
        inner(skipOptions(argv, 1, XARGS_VALUE), ["echo"]);
        return;
      case "sudo":
      case "doas": {
        // Privilege changes stay visible: `sudo` is a part of its own that must be allowed too.
        const at = skipOptions(argv, 1, name === "sudo" ? SUDO_VALUE : DOAS_VALUE);
        this.push(argv.slice(0, at), assignments);
        inner(at);
        return;
      }
      case "eval":
        if (argv.length > 1) this.script(argv.slice(1).join(" "), depth + 1, assignments);
        else if (assignments.length > 0) this.commands.push([...assignments]);
        return;
    }
    if (SHELLS.has(name)) {
      // sh -c 'script' [name args…]: the script is what runs. Flags may be combined (-lc, -ec).
      let index = 1;
      let script: string | undefined;
      while (index < argv.length) {
        const word = argv[index] as string;
        if (word === "-o" || word === "+o" || word === "-O" || word === "+O") {
          index += 2;
          continue;
        }
        if (/^[-+][A-Za-z]+$/.test(word)) {
          index++;
          if (word.startsWith("-") && word.includes("c")) {
            script = argv[index];
            break;
          }
          continue;
        }
        if (word === "--") index++;
        break;
      }
      if (script !== undefined) {
        this.script(script, depth + 1, assignments);
        return;
      }
    }
    if (name === "find") {
      // find … -exec cmd {} ; runs cmd for every file.
      this.push(argv, assignments);
      for (let index = 1; index < argv.length; index++) {
        if (!/^-(exec|execdir|ok|okdir)$/.test(argv[index] as string)) continue;
        let end = index + 1;
        while (end < argv.length && argv[end] !== ";" && argv[end] !== "+") end++;
        const command = argv.slice(index + 1, end);
        if (command.length > 0) this.unwrap(command, depth, assignments);
        index = end;
      }
      return;
    }
    this.push(argv, assignments);
  }

  /** Records a simple command, its significant assignments first. */
  private push(argv: string[], assignments: readonly string[]): void {
    this.commands.push(assignments.length > 0 ? [...assignments, ...argv] : argv);
    const name = argv[0];
    if (name === "cd" || name === "pushd" || name === "popd") {
      if (name === "popd") this.directory = null;
      else this.changeDirectory(argv);
    }
  }
}

/** Everything a command line would run and write, for the permission gate. */
export function parseShellCommand(command: string): ParsedShell {
  const collector = new Collector();
  collector.parse(command, 0);
  return { commands: collector.commands, writes: collector.writes, unknownWrites: collector.unknownWrites };
}

/** The simple commands of a command line as argv arrays, wrappers unwrapped. */
export function splitShellCommand(command: string): string[][] {
  return parseShellCommand(command).commands;
}

/** Quotes argv words so that splitting the result gives the same words back. */
export function joinShellWords(argv: readonly string[]): string {
  const quote = (word: string) =>
    word !== "" && /^[A-Za-z0-9_@%+=:,./~^-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
  return argv
    .map((word) => {
      // NAME='a b' reads better than 'NAME=a b' and splits back into the same word.
      const assignment = /^([A-Za-z_][A-Za-z0-9_]*=)(.+)$/s.exec(word);
      return assignment ? `${assignment[1]}${quote(assignment[2] as string)}` : quote(word);
    })
    .join(" ");
}
