// biome-ignore-all lint/suspicious/noTemplateCurlyInString: shell text, where ${…} is the shell's own syntax
/**
 * The permission gate's reading of a command line, through the tree-sitter-bash grammar: every
 * simple command it would run (across `&&`, `||`, `;`, `|`, `&`, newlines, subshells, `$(…)`,
 * `sh -c` / `eval` strings and wrappers such as `env`, `timeout` or `sudo`), the files its
 * redirections write and the directories its `cd`s go to — and, above all, what the gate cannot be
 * sure of. The command runs under /bin/sh (dash on Debian), not the bash the grammar describes, and
 * a grammar can misread text exactly as a hand-written lexer does (a CR taken as a blank, `${x:-{}`
 * or `$'…'` read as one word). So anything outside a small, well-understood subset — constructs
 * dash and bash read differently, dynamic command names and targets, code run from strings — is
 * reported in `uncertain`, and the gate never lets a prefix rule allow such a command.
 */
import { homedir } from "node:os";
import type { Node, Tree } from "web-tree-sitter";
import { shellParser } from "./shell-grammar.js";

/** Something about a command line that the gate cannot judge with certainty. */
export interface Uncertainty {
  /** One readable sentence: what the gate could not place, and why that matters. */
  reason: string;
  /**
   * `syntax`: the shell and the gate could split the text differently (CR, `$'…'`, `${x:-…}`,
   * parse errors); `semantic`: the text is read alike, but what runs is only known at run time
   * (`$(…)`, `eval`, `bash -c`, a dynamic command name or redirection target).
   */
  kind: "syntax" | "semantic";
}

/** What a command line would do, as far as the gate cares. */
export interface ParsedShell {
  /**
   * Every simple command as an argv array, wrappers unwrapped, in source order (a command before
   * the ones its substitutions run). Variable assignments that change how the command runs
   * (`GIT_DIR=/ git status`, `env LD_PRELOAD=x npm test`) are kept as its leading words; harmless
   * ones (`CI=1`, see HARMLESS_VARIABLES) are dropped. A simple command made only of such
   * assignments is an argv of assignments.
   */
  commands: string[][];
  /**
   * Files written through output redirections (`>`, `>>`, `&>`, `<>`, …), except /dev/null and
   * friends, after quote removal; relative to the command's starting directory (a literal `cd dir`
   * before them is followed) or absolute (`~` expanded). Only static targets: a dynamic one is an
   * uncertainty instead.
   */
  writes: string[];
  /** Redirection targets whose directory is unknown because a `cd` with a computed argument came first. */
  unknownWrites: string[];
  /** Static `cd` destinations, relative to the starting directory or absolute (`~` expanded). */
  directories: string[];
  /** What the gate cannot be sure of; empty for a command it reads exactly as the shell will. */
  uncertain: Uncertainty[];
}

/** Longer command lines are not parsed at all (uncertain): bounded work for every input. */
const MAX_SOURCE = 65_536;
/** `sh -c "sh -c '…'"` nesting the gate follows. */
const MAX_SCRIPT_DEPTH = 8;
/** Syntax-tree depth the gate walks (a recursive walk must not exhaust the stack). */
const MAX_TREE_DEPTH = 200;
/** Candidate directories tracked through `cd a; cd b || …` before giving up. */
const MAX_DIRECTORIES = 16;

const HARMLESS_TARGETS = new Set(["/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty"]);
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/;
const PLAIN_DELIMITER = /^[A-Za-z0-9_.-]+$/;

/**
 * Variables an inline assignment may set without the gate caring: they change output formatting,
 * locale or log verbosity, never which program runs or what it reads. Any other assignment
 * (`GIT_DIR=/`, `GIT_PAGER=…`, `LD_PRELOAD=…`, `NODE_OPTIONS=…`) stays part of the command.
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

/**
 * Variables that change how the shell itself finds, splits or expands what follows (`PATH=.`,
 * `IFS=/`, `HOME=/ cd ~`, `CDPATH=/ cd etc`): setting one makes the rest of the line uncertain.
 */
const SHELL_VARIABLES: ReadonlySet<string> = new Set([
  "PATH",
  "IFS",
  "HOME",
  "CDPATH",
  "PWD",
  "OLDPWD",
  "ENV",
  "BASH_ENV",
  "SHELLOPTS",
  "BASHOPTS",
  "GLOBIGNORE",
  "POSIXLY_CORRECT",
  "PS4",
  "PROMPT_COMMAND",
]);

/** Builtins that assign variables named by their arguments (`read PATH`, `printf -v IFS`). */
const ASSIGNING_BUILTINS = new Set(["read", "getopts", "printf", "mapfile", "readarray"]);

/** Commands that change what later names mean, or run code the gate cannot read ahead. */
const UNCERTAIN_COMMANDS: Readonly<Record<string, string>> = {
  source: "runs a script file that the gate cannot read ahead",
  ".": "runs a script file that the gate cannot read ahead",
  alias: "changes what later command names run",
  unalias: "changes what later command names run",
  hash: "changes where later command names are looked up",
  enable: "changes what later command names run (bash)",
  trap: "runs a string as a command line later",
  fc: "runs commands from the history",
  let: "evaluates arithmetic, which can run commands (bash)",
  shopt: "changes how bash reads what follows",
  coproc: "starts a coprocess (bash)",
  pushd: "is bash-only and changes the directory in ways dash does not",
  popd: "is bash-only and changes the directory in ways dash does not",
  declare: "sets variables and attributes (bash)",
  typeset: "sets variables and attributes (bash)",
  local: "sets variables",
  export: "changes the environment of every later command",
  readonly: "sets variables",
  unset: "changes the environment of every later command",
};

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
function skipOptions(argv: readonly string[], start: number, withValue: ReadonlySet<string>): number {
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

/** `~` and `~/x` as the absolute paths the shell expands them to. */
function expandTilde(path: string): string {
  if (path === "~") return homedir();
  if (path.startsWith("~/")) return `${homedir()}/${path.slice(2)}`;
  return path;
}

/**
 * `path` as seen from `base` ("" is the starting directory), kept as written: `..` is not folded
 * away, because `link/..` is the parent of the link's target, which only the gate's physical
 * resolution (symlinks followed) can tell.
 */
function joinPath(base: string, path: string): string {
  if (path.startsWith("/") || base === "") return path;
  return `${base.replace(/\/+$/, "")}/${path}`;
}

/** One word after quote removal, with what makes its value a run-time matter. */
interface Word {
  /** The text after quote removal; expansions stay as written (`$HOME`), substitutions are `$(…)`. */
  text: string;
  /** Holds a parameter expansion or a command substitution. */
  expands: boolean;
  /** Holds an unquoted `*`, `?` or `[`. */
  glob: boolean;
  /** Starts with an unquoted `~`. */
  tilde: boolean;
  /** Holds an unquoted `~` after its first character, or brace expansion. */
  odd: boolean;
  /** Where it starts in the source, to keep argument order. */
  start: number;
}

/** A word whose value only the running shell knows (in a command-name, redirection or cd position). */
function isDynamic(word: Word): boolean {
  return word.expands || word.glob || word.odd || (word.tilde && !/^~(\/|$)/.test(word.text));
}

/** Candidate directories the shell may be in, relative to the start; null: only known at run time. */
type Directories = ReadonlyArray<string | null>;

/** Where the shell may be after a statement succeeded, and after it failed. */
interface Outcome {
  ok: Directories;
  fail: Directories;
}

function union(...sets: Directories[]): Directories {
  return [...new Set(sets.flat())];
}

const STATEMENTS = new Set([
  "command",
  "redirected_statement",
  "list",
  "pipeline",
  "subshell",
  "compound_statement",
  "negated_command",
  "if_statement",
  "while_statement",
  "for_statement",
  "variable_assignment",
  "variable_assignments",
]);
const REDIRECTS = new Set(["file_redirect", "heredoc_redirect", "herestring_redirect"]);
/** Tokens of the compound commands the gate follows; any other unnamed token is a doubt. */
const STRUCTURE = new Set([
  ";",
  "\n",
  "&",
  "(",
  ")",
  "{",
  "}",
  "do",
  "done",
  "then",
  "fi",
  "else",
  "elif",
  "if",
  "while",
  "until",
]);
/** Node types that are one shell word. */
const WORDS = new Set([
  "word",
  "number",
  "raw_string",
  "string",
  "concatenation",
  "simple_expansion",
  "expansion",
  "command_substitution",
  "process_substitution",
  "ansi_c_string",
  "translated_string",
  "arithmetic_expansion",
  "brace_expression",
]);

class Reader {
  readonly commands: string[][] = [];
  readonly writes: string[] = [];
  readonly unknownWrites: string[] = [];
  readonly directories: string[] = [];
  readonly uncertain: Uncertainty[] = [];
  /** Loops around the statement being read: a `cd` inside one goes somewhere only known at run time. */
  private loops = 0;
  /** `sh -c` / `eval` strings being read, nested. */
  private scripts = 0;

  constructor(private readonly parse: (source: string) => Tree | null) {}

  doubt(reason: string, kind: Uncertainty["kind"] = "semantic"): void {
    if (!this.uncertain.some((entry) => entry.reason === reason)) this.uncertain.push({ reason, kind });
  }

  /** Reads one command line (the top level, or a `sh -c` / `eval` string) from the given directories. */
  read(source: string, directories: Directories): Outcome {
    const same: Outcome = { ok: directories, fail: directories };
    if (this.scripts > MAX_SCRIPT_DEPTH) {
      this.doubt(`scripts nest more than ${MAX_SCRIPT_DEPTH} deep (sh -c inside sh -c …)`, "syntax");
      return { ok: [null], fail: [null] };
    }
    if (source.length > MAX_SOURCE) {
      this.doubt(`the command is longer than ${MAX_SOURCE} characters, more than the gate reads`, "syntax");
      return { ok: [null], fail: [null] };
    }
    this.scan(source);
    const tree = this.parse(source);
    if (!tree) {
      this.doubt("the shell parser gave up on the command", "syntax");
      return same;
    }
    this.scripts++;
    try {
      const root = tree.rootNode;
      if (root.hasError)
        this.doubt(
          "the gate could not parse part of the command (an unclosed quote, bracket or here-document?)",
          "syntax",
        );
      if (!this.inspect(root, source)) return { ok: [null], fail: [null] };
      return this.sequence(root, directories);
    } finally {
      this.scripts--;
      tree.delete();
    }
  }

  /**
   * Text-level checks that do not trust the grammar: each names a place where the grammar, dash
   * and bash have been seen to split the same characters differently.
   */
  private scan(source: string): void {
    const control = /[\x00-\x08\x0b-\x1f\x7f]/.exec(source);
    if (control) {
      const char = control[0];
      this.doubt(
        char === "\r"
          ? "the command contains a carriage return, which /bin/sh (dash) and the gate could read differently"
          : `the command contains the control character U+${char.charCodeAt(0).toString(16).padStart(4, "0").toUpperCase()}, which /bin/sh (dash) and the gate could read differently`,
        "syntax",
      );
    }
    if (/[\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/.test(source))
      this.doubt(
        "the command contains an unusual space character, which the shell and the gate could read differently",
        "syntax",
      );
    if (continuesInsideWord(source))
      this.doubt(
        "a line continuation (backslash-newline) joins two words into one for the shell, which the gate reads as separate (put a blank before the backslash)",
        "syntax",
      );
    if (source.includes("$'"))
      this.doubt("`$'…'` (ANSI-C quoting) is bash-only: /bin/sh (dash) reads those quotes differently", "syntax");
    if (source.includes('$"'))
      this.doubt('`$"…"` (a translated string) is bash-only: /bin/sh (dash) reads those quotes differently', "syntax");
    for (let index = source.indexOf("${"); index !== -1; index = source.indexOf("${", index + 2)) {
      if (!/^\$\{(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!-])\}/.test(source.slice(index, index + 260))) {
        this.doubt(
          "a `${…}` expansion with an operator (`:-`, `#`, `%`, `/`, …): dash, bash and the gate disagree on where such a word ends",
          "syntax",
        );
        break;
      }
    }
    if (/\$\(\(|\$\[/.test(source))
      this.doubt("arithmetic expansion `$((…))` can run commands and is read differently by dash and bash", "syntax");
    if (/[<>]\(/.test(source))
      this.doubt("process substitution `<(…)` / `>(…)` is bash-only: /bin/sh (dash) reads it differently", "syntax");
  }

  /**
   * One pass over every node, iteratively (no recursion, so no depth limit is hit here): the tree
   * must not be deeper than the walk allows, and every comment must start where the shell would
   * start one. Returns false when the tree is too deep to walk.
   */
  private inspect(root: Node, source: string): boolean {
    const stack: Array<[Node, number]> = [[root, 0]];
    while (stack.length > 0) {
      const [node, depth] = stack.pop() as [Node, number];
      if (depth > MAX_TREE_DEPTH) {
        this.doubt(`the command nests more than ${MAX_TREE_DEPTH} levels deep`, "syntax");
        return false;
      }
      if (node.isMissing) this.doubt(`the command lacks a closing \`${node.type}\``, "syntax");
      if (node.type === "comment") {
        // POSIX starts a comment only at the start of a word; `$(ls)#x` or `a\f#` is no comment.
        const before = source[node.startIndex - 1];
        if (before !== undefined && !" \t\n;&|(".includes(before))
          this.doubt("the gate would read a `#` as the start of a comment where the shell may not", "syntax");
      }
      for (let index = node.childCount - 1; index >= 0; index--) {
        const child = node.child(index);
        if (child) stack.push([child, depth + 1]);
      }
    }
    return true;
  }

  /** Statements in order (program, `{ …; }`, `( … )`, loop bodies); `&` puts one in the background. */
  private sequence(node: Node, directories: Directories): Outcome {
    let current = directories;
    let before = directories;
    let last: Outcome = { ok: directories, fail: directories };
    for (const child of node.children) {
      if (!child || child.type === "comment") continue;
      if (!child.isNamed) {
        if (child.type === "&") {
          // A background job runs in a subshell: its cd does not move the shell.
          current = before;
          last = { ok: before, fail: before };
        } else if (!STRUCTURE.has(child.type)) this.doubt(`the gate does not follow \`${child.type}\` here`, "syntax");
        continue;
      }
      before = current;
      last = this.statement(child, current);
      current = this.bounded(union(last.ok, last.fail));
    }
    return last;
  }

  private bounded(directories: Directories): Directories {
    if (directories.length <= MAX_DIRECTORIES) return directories;
    this.doubt("the command changes directory in too many ways to follow", "semantic");
    return [null];
  }

  private statement(node: Node, directories: Directories): Outcome {
    const same: Outcome = { ok: directories, fail: directories };
    switch (node.type) {
      case "command":
        return this.command(node, directories, []);
      case "variable_assignment":
        return this.simple([this.assignment(node, directories)], [], directories);
      case "variable_assignments":
        return this.simple(
          node.namedChildren.flatMap((child) =>
            child && child.type === "variable_assignment" ? [this.assignment(child, directories)] : [],
          ),
          [],
          directories,
        );
      case "redirected_statement":
        return this.redirected(node, directories);
      case "list":
        return this.list(node, directories);
      case "pipeline":
        return this.pipeline(node, directories);
      case "subshell":
        this.sequence(node, directories);
        return same;
      case "compound_statement":
      case "do_group":
      case "else_clause":
      case "elif_clause":
        return this.sequence(node, directories);
      case "negated_command": {
        const inner = node.namedChildren.find((child) => child && child.type !== "comment");
        if (!inner) return same;
        const outcome = this.statement(inner, directories);
        return { ok: outcome.fail, fail: outcome.ok };
      }
      case "if_statement": {
        // A branch may or may not run: the shell may be where it was or where a branch went.
        const outcome = this.sequence(node, directories);
        const all = this.bounded(union(directories, outcome.ok, outcome.fail));
        return { ok: all, fail: all };
      }
      case "while_statement":
        return this.loop(directories, () => this.sequence(node, directories));
      case "for_statement":
        return this.forLoop(node, directories);
      case "test_command":
        return this.testCommand(node, directories);
      case "function_definition":
        this.doubt("defining a function changes what later command names run", "semantic");
        return this.unknown(node, directories);
      default:
        this.doubt(`the gate does not follow \`${snippet(node.text)}\` (${node.type.replace(/_/g, " ")})`, "semantic");
        return this.unknown(node, directories);
    }
  }

  /**
   * `[ -f x ]`: tree-sitter parses the test as an expression; the shell runs the command `[` with
   * these words. `[[ … ]]` is bash-only. A `<` or `>` inside `[ ]` is a redirection to the shell.
   */
  private testCommand(node: Node, directories: Directories): Outcome {
    const parts = node.children.filter((child): child is Node => child !== null && child.type !== "comment");
    const open = parts[0];
    const close = parts.at(-1);
    if (open?.type !== "[" || close?.type !== "]") {
      this.doubt("`[[ … ]]` is bash-only: /bin/sh (dash) has no such test", "syntax");
      return this.unknown(node, directories);
    }
    const literal = (child: Node): Word => ({
      text: child.text,
      expands: false,
      glob: false,
      tilde: false,
      odd: false,
      start: child.startIndex,
    });
    const words: Word[] = [literal(open)];
    const collect = (children: readonly Node[]) => {
      for (const child of children) {
        if (child.type === "comment") continue;
        if (WORDS.has(child.type)) words.push(this.word(child, directories));
        else if (child.type === "test_operator") words.push(literal(child));
        else if (!child.isNamed) {
          if (/[<>()]/.test(child.type))
            this.doubt(`\`${child.type}\` inside \`[ … ]\` is read differently by the shell and the gate`, "syntax");
          words.push(literal(child));
        } else collect(child.children.filter((part): part is Node => part !== null));
      }
    };
    collect(parts.slice(1, -1));
    words.sort((a, b) => a.start - b.start);
    words.push(literal(close));
    return this.simple([], words, directories);
  }

  /** A construct the gate does not model: still collect the commands inside, for deny rules. */
  private unknown(node: Node, directories: Directories): Outcome {
    for (const child of node.namedChildren) {
      if (!child || child.type === "comment") continue;
      if (STATEMENTS.has(child.type)) this.statement(child, directories);
      else if (REDIRECTS.has(child.type)) this.redirect(child, directories);
      else if (child.type === "command_substitution" || child.type === "process_substitution")
        this.word(child, directories);
      else this.unknown(child, directories);
    }
    return { ok: [null], fail: [null] };
  }

  private loop(directories: Directories, body: () => Outcome): Outcome {
    this.loops++;
    try {
      const outcome = body();
      const all = this.bounded(union(directories, outcome.ok, outcome.fail));
      return { ok: all, fail: all };
    } finally {
      this.loops--;
    }
  }

  private forLoop(node: Node, directories: Directories): Outcome {
    for (const child of node.children) {
      if (!child) continue;
      if (child.type === "select") this.doubt("`select` is bash-only", "syntax");
      if (child.type === "variable_name" && SHELL_VARIABLES.has(child.text))
        this.doubt(`a loop over \`${child.text}\` changes how the shell finds, splits or expands what follows`);
    }
    for (const value of node.childrenForFieldName("value")) if (value) this.word(value, directories);
    const body = node.childForFieldName("body");
    return this.loop(directories, () =>
      body ? this.statement(body, directories) : { ok: directories, fail: directories },
    );
  }

  /**
   * `left && right`, `left || right`. `pending` are redirections the grammar hung on the whole list
   * that the shell applies to its last command only (see redirected).
   */
  private list(node: Node, directories: Directories, pending: readonly Node[] = []): Outcome {
    const parts = node.children.filter((child): child is Node => child !== null && child.type !== "comment");
    const [left, operator, right] = parts;
    if (parts.length !== 3 || !left || !operator || !right || operator.isNamed) {
      this.doubt(`the gate does not follow \`${snippet(node.text)}\``, "syntax");
      return this.unknown(node, directories);
    }
    const first = this.statement(left, directories);
    if (operator.type === "&&") {
      const second = this.attached(right, first.ok, pending);
      return { ok: second.ok, fail: this.bounded(union(first.fail, second.fail)) };
    }
    if (operator.type === "||") {
      const second = this.attached(right, first.fail, pending);
      return { ok: this.bounded(union(first.ok, second.ok)), fail: second.fail };
    }
    this.doubt(`the gate does not follow \`${operator.type}\``, "syntax");
    this.attached(right, union(first.ok, first.fail), pending);
    return { ok: [null], fail: [null] };
  }

  /** `a | b | c`: each part runs in a subshell; `pending` redirections belong to the last part. */
  private pipeline(node: Node, directories: Directories, pending: readonly Node[] = []): Outcome {
    const parts = node.children.filter((child): child is Node => child !== null && child.type !== "comment");
    const last = parts.filter((child) => child.isNamed).at(-1);
    for (const child of parts) {
      if (child.isNamed) {
        // `a || b > f | c`: tree-sitter nests the list inside the pipeline; the shell does the opposite.
        const body = child.type === "redirected_statement" ? child.childForFieldName("body") : child;
        if (body?.type === "list")
          this.doubt(`the grammar groups \`${snippet(child.text)}\` differently from the shell`, "syntax");
        if (child === last) this.attached(child, directories, pending);
        else this.statement(child, directories);
      } else if (child.type === "|&") this.doubt("`|&` is bash-only: /bin/sh (dash) reads it differently", "syntax");
      else if (child.type !== "|") this.doubt(`the gate does not follow \`${child.type}\` in a pipeline`, "syntax");
    }
    return { ok: directories, fail: directories };
  }

  /**
   * `body > target`. tree-sitter-bash hangs a redirection after `a && b` on the whole list (and after
   * `a | b` on the whole pipeline); the shell applies it to `b` alone, after `a`'s cd. So
   * redirections travel down to the last simple command of a list, pipeline or `!`, and apply
   * before the body only for a real group (`{ …; }`, `( … )`, a loop).
   */
  private redirected(node: Node, directories: Directories, pending: readonly Node[] = []): Outcome {
    let body: Node | null = null;
    const redirects: Node[] = [];
    for (let index = 0; index < node.childCount; index++) {
      const child = node.child(index);
      if (!child || child.type === "comment") continue;
      if (node.fieldNameForChild(index) === "body") body = child;
      else if (REDIRECTS.has(child.type)) redirects.push(child);
      else if (child.isNamed) this.doubt(`the gate does not follow \`${snippet(child.text)}\``, "syntax");
    }
    const all = [...redirects, ...pending];
    if (!body) {
      if (all.flatMap((redirect) => this.redirect(redirect, directories)).length > 0)
        this.doubt("words after a redirection that belong to no command", "syntax");
      return { ok: directories, fail: directories };
    }
    return this.attached(body, directories, all);
  }

  /** A statement with redirections that the shell applies to it (or to its last simple command). */
  private attached(node: Node, directories: Directories, redirects: readonly Node[]): Outcome {
    if (redirects.length === 0) return this.statement(node, directories);
    switch (node.type) {
      case "command":
        return this.command(
          node,
          directories,
          redirects.flatMap((redirect) => this.redirect(redirect, directories)),
        );
      case "redirected_statement":
        return this.redirected(node, directories, redirects);
      case "list":
        return this.list(node, directories, redirects);
      case "pipeline":
        return this.pipeline(node, directories, redirects);
      case "negated_command": {
        const inner = node.namedChildren.find((child) => child && child.type !== "comment");
        if (!inner) return { ok: directories, fail: directories };
        const outcome = this.attached(inner, directories, redirects);
        return { ok: outcome.fail, fail: outcome.ok };
      }
      default:
        if (redirects.flatMap((redirect) => this.redirect(redirect, directories)).length > 0)
          this.doubt("words after a redirection of a compound command", "syntax");
        return this.statement(node, directories);
    }
  }

  /**
   * One redirection. Returns the words the grammar put after its target that the shell reads as
   * arguments of the command (`echo >&2 x`: tree-sitter makes `x` a second destination).
   */
  private redirect(node: Node, directories: Directories): Word[] {
    if (node.type === "herestring_redirect") {
      this.doubt("`<<<` (a here-string) is bash-only: /bin/sh (dash) reads it differently", "syntax");
      this.unknown(node, directories);
      return [];
    }
    if (node.type === "heredoc_redirect") return this.heredoc(node, directories);
    let operator = "";
    const destinations: Node[] = [];
    for (let index = 0; index < node.childCount; index++) {
      const child = node.child(index);
      if (!child || child.type === "comment") continue;
      const field = node.fieldNameForChild(index);
      if (field === "descriptor") {
        if (child.text.length > 1)
          this.doubt("file descriptors above 9 (`10>f`) are bash-only: dash reads the number as an argument", "syntax");
      } else if (field === "destination") destinations.push(child);
      else if (!child.isNamed) operator = child.type;
      else this.doubt(`the gate does not follow \`${snippet(node.text)}\``, "syntax");
    }
    const [target, ...rest] = destinations;
    const extra = rest.map((destination) => this.word(destination, directories));
    if (!target) return extra;
    const word = this.word(target, directories);
    if (operator === "<" || operator === "<&") return extra; // reads
    if ((operator === ">&" || operator === "<&") && !isDynamic(word) && /^(\d+-?|-)$/.test(word.text)) return extra;
    if (isDynamic(word)) {
      this.doubt(`the redirection target \`${snippet(target.text)}\` is only known at run time`);
      return extra;
    }
    this.addWrite(word.tilde ? expandTilde(word.text) : word.text, directories);
    return extra;
  }

  private heredoc(node: Node, directories: Directories): Word[] {
    let delimiter: string | undefined;
    let quoted = false;
    const extra: Word[] = [];
    for (const child of node.children) {
      if (!child || child.type === "comment") continue;
      switch (child.type) {
        case "heredoc_start": {
          const text = child.text;
          const match = /^(['"])([A-Za-z0-9_.-]+)\1$/.exec(text);
          if (PLAIN_DELIMITER.test(text)) delimiter = text;
          else if (match) {
            delimiter = match[2] as string;
            quoted = true;
          } else
            this.doubt(
              `the here-document delimiter \`${snippet(text)}\` is not a plain word: dash and bash may end the here-document at different lines`,
              "syntax",
            );
          break;
        }
        case "heredoc_end":
          if (delimiter !== undefined && child.text !== delimiter)
            this.doubt("the here-document ends at a line the gate does not expect", "syntax");
          break;
        case "heredoc_body":
          if (!quoted) {
            // The body is expanded like a double-quoted string; tree-sitter leaves backticks in it as text.
            if (/`|\$\(/.test(child.text))
              this.doubt("a here-document runs a command substitution, whose output the gate cannot know");
            for (const part of child.namedChildren)
              if (part && part.type !== "heredoc_content") this.word(part, directories);
          }
          break;
        default:
          if (REDIRECTS.has(child.type)) extra.push(...this.redirect(child, directories));
          else if (child.isNamed)
            this.doubt(`the gate does not follow \`${snippet(child.text)}\` in a here-document`, "syntax");
      }
    }
    if (extra.length > 0) this.doubt("words after a here-document redirection", "syntax");
    return [];
  }

  private addWrite(target: string, directories: Directories): void {
    if (HARMLESS_TARGETS.has(target)) return;
    const add = (list: string[], path: string) => {
      if (!list.includes(path)) list.push(path);
    };
    if (target.startsWith("/")) {
      add(this.writes, target);
      return;
    }
    for (const directory of directories) {
      if (directory === null) add(this.unknownWrites, target);
      else add(this.writes, joinPath(directory, target));
    }
  }

  /** A simple command: assignments, name, arguments and redirections in source order. */
  private command(node: Node, directories: Directories, extra: readonly Word[]): Outcome {
    const assignments: Word[] = [];
    const words: Word[] = [...extra];
    for (let index = 0; index < node.childCount; index++) {
      const child = node.child(index);
      if (!child || child.type === "comment") continue;
      if (child.type === "variable_assignment") assignments.push(this.assignment(child, directories));
      else if (child.type === "command_name") {
        const name = child.namedChildren.filter((part): part is Node => part !== null);
        if (name.length !== 1) this.doubt(`the gate cannot read the command name \`${snippet(child.text)}\``, "syntax");
        words.push(...name.map((part) => this.word(part, directories)));
      } else if (REDIRECTS.has(child.type)) words.push(...this.redirect(child, directories));
      else if (child.isNamed) words.push(this.word(child, directories));
      else this.doubt(`the gate does not follow \`${child.type}\` in a command`, "syntax");
    }
    words.sort((a, b) => a.start - b.start);
    return this.simple(assignments, words, directories);
  }

  private assignment(node: Node, directories: Directories): Word {
    const name = node.childForFieldName("name");
    const value = node.childForFieldName("value");
    const operator = node.children.find((child) => child && !child.isNamed)?.type ?? "=";
    if (name?.type !== "variable_name")
      this.doubt(`the gate cannot read the assignment \`${snippet(node.text)}\``, "syntax");
    if (operator !== "=") this.doubt(`\`${operator}\` assignments are bash-only`, "syntax");
    let text = "";
    let expands = false;
    if (value?.type === "array") this.doubt("array assignments are bash-only", "syntax");
    else if (value) {
      const word = this.word(value, directories);
      text = word.text;
      expands = word.expands;
    }
    return {
      text: `${name?.text ?? ""}=${text}`,
      expands,
      glob: false,
      tilde: false,
      odd: false,
      start: node.startIndex,
    };
  }

  /** Decodes one word; every form the gate does not model with certainty is a doubt. */
  private word(node: Node, directories: Directories): Word {
    const base: Word = {
      text: node.text,
      expands: false,
      glob: false,
      tilde: false,
      odd: false,
      start: node.startIndex,
    };
    switch (node.type) {
      case "word":
        return this.bareWord(node);
      case "number":
        return base;
      case "raw_string": {
        const inner = node.text.slice(1, -1);
        if (node.text.length < 2 || !node.text.endsWith("'") || inner.includes("'"))
          this.doubt(`the gate cannot place the quotes of \`${snippet(node.text)}\``, "syntax");
        return { ...base, text: inner };
      }
      case "string":
        return this.doubleQuoted(node, directories);
      case "concatenation": {
        const parts = node.namedChildren
          .filter((part): part is Node => part !== null)
          .map((part) => this.word(part, directories));
        // Brace expansion: bash turns {a,b} into two words, dash keeps it as it is.
        const brace = /\{[^{}]*(,|\.\.)[^{}]*\}/.test(node.text);
        if (brace) this.doubt("brace expansion (`{a,b}`) is bash-only: dash keeps the braces", "syntax");
        return {
          text: parts.map((part) => part.text).join(""),
          expands: parts.some((part) => part.expands),
          glob: parts.some((part) => part.glob),
          tilde: parts[0]?.tilde ?? false,
          odd: brace || parts.some((part, index) => part.odd || (index > 0 && part.tilde)),
          start: node.startIndex,
        };
      }
      case "simple_expansion":
        return { ...base, expands: true };
      case "expansion": {
        const inner = node.children.filter((child): child is Node => child !== null);
        const plain =
          inner.length === 3 &&
          inner[0]?.type === "${" &&
          (inner[1]?.type === "variable_name" || inner[1]?.type === "special_variable_name") &&
          inner[2]?.type === "}";
        if (!plain)
          this.doubt(
            "a `${…}` expansion with an operator (`:-`, `#`, `%`, `/`, …): dash, bash and the gate disagree on where such a word ends",
            "syntax",
          );
        return { ...base, expands: true };
      }
      case "command_substitution":
        this.doubt("a command substitution (`$(…)` or backticks) runs a command whose output the gate cannot know");
        for (const child of node.namedChildren)
          if (child && child.type !== "comment") this.statement(child, directories); // a subshell: its cd stays inside
        return { ...base, text: "$(…)", expands: true };
      case "process_substitution":
        this.doubt("process substitution `<(…)` / `>(…)` is bash-only: /bin/sh (dash) reads it differently", "syntax");
        for (const child of node.namedChildren)
          if (child && child.type !== "comment") this.statement(child, directories);
        return { ...base, text: `${node.text.slice(0, 1)}(…)`, expands: true };
      case "ansi_c_string":
        this.doubt("`$'…'` (ANSI-C quoting) is bash-only: /bin/sh (dash) reads those quotes differently", "syntax");
        return { ...base, expands: true };
      case "translated_string":
        this.doubt(
          '`$"…"` (a translated string) is bash-only: /bin/sh (dash) reads those quotes differently',
          "syntax",
        );
        return { ...base, expands: true };
      case "arithmetic_expansion":
        this.doubt("arithmetic expansion `$((…))` can run commands and is read differently by dash and bash", "syntax");
        this.unknown(node, directories);
        return { ...base, expands: true };
      case "brace_expression":
        this.doubt("brace expansion (`{1..3}`) is bash-only: dash keeps the braces", "syntax");
        return { ...base, odd: true };
      default:
        this.doubt(`the gate cannot read \`${snippet(node.text)}\` (${node.type.replace(/_/g, " ")})`, "syntax");
        this.unknown(node, directories);
        return { ...base, expands: true };
    }
  }

  /** An unquoted word: backslashes removed; an unescaped shell metacharacter in it means a misread. */
  private bareWord(node: Node): Word {
    const raw = node.text;
    let text = "";
    let glob = false;
    let odd = false;
    for (let index = 0; index < raw.length; index++) {
      const char = raw[index] as string;
      if (char === "\\") {
        const next = raw[index + 1];
        index++;
        if (next === "\n") continue;
        text += next ?? "\\";
        continue;
      }
      if (/[\s;&|<>()`$"']/.test(char)) {
        this.doubt(`the gate cannot place \`${snippet(raw)}\` the way the shell would`, "syntax");
      }
      if (char === "*" || char === "?" || char === "[") glob = true;
      if (char === "~" && index > 0) odd = true;
      text += char;
    }
    return { text, expands: false, glob, tilde: raw.startsWith("~"), odd, start: node.startIndex };
  }

  /**
   * `"…"`: decoded from its own text with the POSIX rules (backslash escapes only `$`, backtick,
   * `"`, `\` and newline), not from the grammar's children, which can misplace text.
   */
  private doubleQuoted(node: Node, directories: Directories): Word {
    const raw = node.text;
    if (raw.length < 2 || !raw.startsWith('"') || !raw.endsWith('"'))
      this.doubt(`the gate cannot place the quotes of \`${snippet(raw)}\``, "syntax");
    const inner = raw.slice(1, -1);
    let text = "";
    let expands = false;
    let substitution = false;
    for (let index = 0; index < inner.length; index++) {
      const char = inner[index] as string;
      const next = inner[index + 1];
      if (char === "\\") {
        if (next !== undefined && '$`"\\\n'.includes(next)) {
          index++;
          if (next !== "\n") text += next;
        } else text += char;
        continue;
      }
      if (char === '"') this.doubt(`the gate cannot place the quotes of \`${snippet(raw)}\``, "syntax");
      if (char === "`" || (char === "$" && next === "(")) {
        // Quotes nest inside a substitution; the grammar splits it, and it is a doubt in any case.
        substitution = true;
        text = inner;
        break;
      }
      if (char === "$" && next !== undefined && /[A-Za-z0-9_{@*#?$!-]/.test(next)) expands = true;
      text += char;
    }
    if (substitution) {
      expands = true;
      this.doubt("a command substitution (`$(…)` or backticks) runs a command whose output the gate cannot know");
    }
    for (const child of node.namedChildren) if (child && child.type !== "string_content") this.word(child, directories); // nested commands, expansion checks
    return { text, expands, glob: false, tilde: false, odd: false, start: node.startIndex };
  }

  /** A simple command's assignments and words: shell variables are doubts, harmless ones dropped. */
  private simple(assignments: readonly Word[], words: readonly Word[], directories: Directories): Outcome {
    const env: string[] = [];
    for (const assignment of assignments) this.takeAssignment(assignment.text, env);
    if (words.length === 0) {
      if (env.length > 0) this.commands.push(env);
      return { ok: directories, fail: directories };
    }
    return this.unwrap(words, env, directories);
  }

  /** Adds a significant assignment to `env`; a shell variable (PATH, IFS, …) is a doubt. */
  private takeAssignment(word: string, env: string[]): void {
    const name = /^([A-Za-z_][A-Za-z0-9_]*)/.exec(word)?.[1] ?? "";
    if (SHELL_VARIABLES.has(name))
      this.doubt(`\`${name}=…\` changes how the shell finds, splits or expands what follows`, "semantic");
    if (!isHarmlessAssignment(word)) env.push(word);
  }

  /** Unwraps wrappers (`env`, `timeout`, `sudo`, `sh -c`, …) and records the command(s) that run. */
  private unwrap(words: readonly Word[], env: readonly string[], directories: Directories): Outcome {
    const same: Outcome = { ok: directories, fail: directories };
    const head = words[0] as Word;
    if (isDynamic(head)) this.doubt(`the command name \`${snippet(head.text)}\` is only known at run time`);
    const argv = words.map((word) => word.text);
    const name = basename(head.text);
    const inner = (from: number, fallback?: string[]): Outcome => {
      const more = [...env];
      let index = from;
      while (index < words.length && ASSIGNMENT.test((words[index] as Word).text)) {
        this.takeAssignment((words[index] as Word).text, more);
        index++;
      }
      if (index < words.length) return this.unwrap(words.slice(index), more, directories);
      if (fallback) this.push(fallback, env);
      else if (more.length > 0) this.commands.push(more);
      return same;
    };
    const runs = (what: string) => {
      this.doubt(`\`${name}\` ${what}`);
      this.push(argv, env); // so that deny and ask rules naming the wrapper still see it
    };
    const command = UNCERTAIN_COMMANDS[name];
    if (command !== undefined) {
      runs(command);
      return { ok: [null], fail: directories };
    }
    if (ASSIGNING_BUILTINS.has(name) && argv.slice(1).some((word) => SHELL_VARIABLES.has(word)))
      this.doubt(`\`${name}\` may set a variable that changes how the shell finds, splits or expands what follows`);
    switch (name) {
      case "env": {
        const at = skipOptions(argv, 1, ENV_VALUE);
        if (argv.slice(1, at).length > 0) {
          runs("with options (-i, -u, -C, -S, …) changes how the command runs in ways the gate does not follow");
          const split = argv.findIndex((word, index) => index > 0 && (word === "-S" || word === "--split-string"));
          if (split !== -1 && argv[split + 1] !== undefined) {
            this.script([argv[split + 1], ...argv.slice(split + 2)].join(" "), directories);
            return same;
          }
        }
        return inner(at, argv);
      }
      case "timeout":
        return inner(skipOptions(argv, 1, TIMEOUT_VALUE) + 1, argv); // the duration, then the command
      case "nice":
        return inner(skipOptions(argv, 1, NICE_VALUE), argv);
      case "nohup":
      case "setsid":
        return inner(skipOptions(argv, 1, EMPTY), argv);
      case "builtin":
        this.doubt("`builtin` is bash-only");
        return inner(skipOptions(argv, 1, EMPTY), argv);
      case "time": {
        // /usr/bin/time (dash has no `time` keyword) writes its report to `-o file`: a write like `>`.
        const at = skipOptions(argv, 1, TIME_VALUE);
        for (let index = 1; index < at; index++) {
          const word = argv[index] as string;
          const attached = /^--output=/.test(word) ? word.slice("--output=".length) : undefined;
          const target =
            attached !== undefined ? words[index] : word === "-o" || word === "--output" ? words[index + 1] : undefined;
          if (!target) continue;
          if (isDynamic(target)) this.doubt(`\`time -o ${snippet(target.text)}\` writes a file only known at run time`);
          else {
            const path = attached ?? target.text;
            this.addWrite(target.tilde ? expandTilde(path) : path, directories);
          }
        }
        return inner(at, argv);
      }
      case "stdbuf":
        return inner(skipOptions(argv, 1, STDBUF_VALUE), argv);
      case "ionice":
        return inner(skipOptions(argv, 1, IONICE_VALUE), argv);
      case "command": {
        const at = skipOptions(argv, 1, EMPTY);
        if (argv.slice(1, at).some((flag) => flag.includes("v") || flag.includes("V"))) {
          this.push(argv, env); // `command -v x` only looks x up
          return same;
        }
        return inner(at, argv);
      }
      case "exec":
        runs("replaces the shell with another program, with redirections that outlive the command");
        return inner(skipOptions(argv, 1, EXEC_VALUE), argv);
      case "xargs":
        runs("runs a command with arguments read at run time");
        return inner(skipOptions(argv, 1, XARGS_VALUE), ["echo"]);
      case "sudo":
      case "doas": {
        // Privilege changes stay visible: `sudo` is a part of its own that must be allowed too.
        const at = skipOptions(argv, 1, name === "sudo" ? SUDO_VALUE : DOAS_VALUE);
        this.push(argv.slice(0, at), env);
        return inner(at);
      }
      case "eval": {
        runs("runs its arguments as a new command line");
        const rest = words.slice(1);
        if (rest.length > 0 && !rest.some(isDynamic)) return this.script(argv.slice(1).join(" "), directories);
        return { ok: [null], fail: directories };
      }
      case "cd":
        return this.changeDirectory(words, env, directories);
    }
    if (SHELLS.has(name)) {
      // sh -c 'script' [name args…]: the script is what runs. Flags may be combined (-lc, -ec).
      let index = 1;
      let script: Word | undefined;
      let hasScript = false;
      while (index < words.length) {
        const word = argv[index] as string;
        if (word === "-o" || word === "+o" || word === "-O" || word === "+O") {
          index += 2;
          continue;
        }
        if (/^[-+][A-Za-z]+$/.test(word)) {
          index++;
          if (word.startsWith("-") && word.includes("c")) {
            hasScript = true;
            script = words[index];
            break;
          }
          continue;
        }
        break;
      }
      if (hasScript) {
        runs("runs a string as a new command line");
        if (script && !isDynamic(script)) this.script(script.text, directories);
        return same;
      }
    }
    const hidden = runsUnnamedCode(name, words);
    if (hidden !== undefined) this.doubt(hidden);
    if (name === "find" && argv.some((word) => /^-(exec|execdir|ok|okdir)$/.test(word))) {
      runs("-exec runs a command for every file found");
      for (let index = 1; index < words.length; index++) {
        if (!/^-(exec|execdir|ok|okdir)$/.test(argv[index] as string)) continue;
        let end = index + 1;
        while (end < argv.length && argv[end] !== ";" && argv[end] !== "+") end++;
        if (end > index + 1) this.unwrap(words.slice(index + 1, end), env, directories);
        index = end;
      }
      return same;
    }
    this.push(argv, env);
    return same;
  }

  /** A `sh -c` or `eval` string, read with the same grammar (it is text the shell will parse again). */
  private script(source: string, directories: Directories): Outcome {
    return this.read(source, directories);
  }

  /** Records a simple command, its significant assignments first. */
  private push(argv: string[], env: readonly string[]): void {
    this.commands.push(env.length > 0 ? [...env, ...argv] : argv);
  }

  /** `cd dir`: where later relative redirections land, and a destination the gate checks. */
  private changeDirectory(words: readonly Word[], env: readonly string[], directories: Directories): Outcome {
    this.push(
      words.map((word) => word.text),
      env,
    );
    let index = 1;
    while (index < words.length && /^-[LPe@]+$/.test((words[index] as Word).text)) index++;
    if ((words[index] as Word | undefined)?.text === "--") index++;
    const target = words[index];
    const unknown: Outcome = { ok: [null], fail: directories };
    if (target === undefined) {
      this.directories.push(homedir()); // plain `cd` goes home
      return { ok: [homedir()], fail: directories };
    }
    if (target.text === "-") {
      this.doubt("`cd -` goes to the previous directory, which is only known at run time");
      return unknown;
    }
    if (isDynamic(target)) {
      this.doubt(`\`cd ${snippet(target.text)}\` goes to a directory only known at run time`);
      return unknown;
    }
    if (this.loops > 0) {
      this.doubt("a `cd` inside a loop goes somewhere only known at run time");
      return unknown;
    }
    const path = target.tilde ? expandTilde(target.text) : target.text;
    const ok = directories.map((directory) => (directory === null ? null : joinPath(directory, path)));
    for (const directory of ok)
      if (directory !== null && !this.directories.includes(directory)) this.directories.push(directory);
    return { ok: this.bounded(union(ok)), fail: directories };
  }
}

/**
 * Whether a backslash-newline joins the text around it: the shell deletes the pair before it splits
 * words, so `a\<newline>#` is the word `a#` to dash and bash, while tree-sitter ends the word and
 * starts a comment (and `&\<newline>&` is `&&`). A continuation after an unescaped blank, or at
 * the start of a line, only removes white space, which every reader agrees on; any other is doubtful.
 */
function continuesInsideWord(source: string): boolean {
  const escaped = (end: number) => {
    let count = 0;
    for (let index = end; index >= 0 && source[index] === "\\"; index--) count++;
    return count % 2 === 1;
  };
  for (let newline = source.indexOf("\n"); newline !== -1; newline = source.indexOf("\n", newline + 1)) {
    if (!escaped(newline - 1)) continue; // a real newline
    const before = newline - 2; // the character before the continuation's backslash
    const char = source[before];
    if (char === undefined) continue;
    if ((char === " " || char === "\t") && !escaped(before - 1)) continue;
    if (char === "\n" && !escaped(before - 1)) continue;
    return true;
  }
  return false;
}

/**
 * Options of npm and its kin that make a prefix-allowed command (`run_command(npm test)`) run
 * code the command line does not name: `--node-options=--import=data:…` runs any JavaScript in
 * the test script's node, `--script-shell` picks the program that runs the script, `--prefix`
 * another package's scripts, `--userconfig` a config that sets any of these.
 */
const PACKAGE_MANAGERS = new Set(["npm", "pnpm", "yarn", "bun"]);
const PACKAGE_MANAGER_RUNS =
  /^--(node-options|script-shell|shell|prefix|dir|cwd|userconfig|globalconfig|call|config)(=|$)|^-(C|c)$/;
/**
 * git options that run a command or write a file the gate does not see as a write (`git log
 * --output=.git/config --format='[core]%n fsmonitor=…'` makes the next `git status` run anything).
 */
const GIT_RUNS =
  /^--(output|exec|upload-pack|receive-pack|ext-diff|textconv|extcmd|tool|open-files-in-pager|template|config-env|exec-path)(=|$)|^-O/;

/**
 * Why a `git` or npm-like command runs code its words do not name, or undefined. An argument
 * whose value is only known at run time (`for o in --node-options=…; do npm test $o; done`, a
 * glob matching a file named like an option) counts too: it could be any of these options.
 */
function runsUnnamedCode(name: string, words: readonly Word[]): string | undefined {
  const manager = PACKAGE_MANAGERS.has(name);
  if (!manager && name !== "git") return undefined;
  const argv = words.map((word) => word.text);
  const end = manager && argv.includes("--") ? argv.indexOf("--") : argv.length; // after --: the script's own
  const args = words.slice(1, end);
  if (args.some((word) => word.expands || word.glob || word.odd))
    return `\`${name}\` gets an argument only known at run time, which could be an option that makes it run other code`;
  const option = args.find((word) => (manager ? PACKAGE_MANAGER_RUNS : GIT_RUNS).test(word.text));
  if (option)
    return `\`${name} ${snippet(option.text)}\` makes ${name} run code or write files the command does not name`;
  if (name !== "git") return undefined;
  // git's own options come before the subcommand: -c and --config-env set any configuration (core.pager, alias.x=!cmd).
  const sub = argv.findIndex(
    (word, index) => index > 0 && !word.startsWith("-") && !/^-(c|C)$/.test(argv[index - 1] ?? ""),
  );
  if (argv.slice(1, sub === -1 ? argv.length : sub).includes("-c"))
    return "`git -c` sets configuration that can run any command (core.pager, core.fsmonitor, alias.x=!…)";
  const subcommand = sub === -1 ? undefined : argv[sub];
  const rest = sub === -1 ? [] : argv.slice(sub + 1);
  if (
    (subcommand === "rebase" && rest.includes("-x")) ||
    (subcommand === "bisect" && rest[0] === "run") ||
    (subcommand === "submodule" && rest.includes("foreach")) ||
    subcommand === "filter-branch" ||
    subcommand === "difftool" ||
    subcommand === "mergetool"
  )
    return `\`git ${subcommand}\` runs commands given to it or configured for it`;
  return undefined;
}

/** A command fragment short enough for a reason. */
function snippet(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > 60 ? `${line.slice(0, 57)}…` : line;
}

/** Whether the bash grammar is loaded (see loadShellGrammar); until then every command is uncertain. */
export function isShellGrammarLoaded(): boolean {
  return shellParser() !== undefined;
}

/** The reason a command is uncertain while the grammar is not loaded. */
export const PARSER_NOT_READY =
  "the shell parser is not ready (the daemon loads it at start), so the gate cannot read the command";

/** Everything a command line would run and write, for the permission gate. */
export function parseShellCommand(command: string): ParsedShell {
  const parser = shellParser();
  if (!parser) {
    return {
      commands: [],
      writes: [],
      unknownWrites: [],
      directories: [],
      uncertain: [{ reason: PARSER_NOT_READY, kind: "syntax" }],
    };
  }
  const reader = new Reader((source) => parser.parse(source));
  reader.read(command, [""]);
  return {
    commands: reader.commands,
    writes: reader.writes,
    unknownWrites: reader.unknownWrites,
    directories: reader.directories,
    uncertain: reader.uncertain,
  };
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
