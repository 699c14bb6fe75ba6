/**
 * A small syntax highlighter: comments, strings, numbers, keywords and a few literals for the
 * languages a coding agent shows most. It returns tokens, not HTML, so nothing it sees can become
 * markup. Unknown languages come back as one plain token.
 */
export type TokenKind = "plain" | "comment" | "string" | "number" | "keyword" | "literal" | "type";

export interface HighlightToken {
  kind: TokenKind;
  text: string;
}

interface Grammar {
  lineComment?: string[];
  blockComment?: [string, string];
  /** Quote characters that open a string. */
  quotes: string[];
  keywords: Set<string>;
  literals?: Set<string>;
  /** Capitalised identifiers are types (TS, Rust, Go, Java…). */
  capitalisedTypes?: boolean;
}

const words = (text: string) => new Set(text.split(/\s+/).filter(Boolean));

const JS_KEYWORDS = words(`
  abstract as async await break case catch class const continue debugger declare default delete do else
  enum export extends finally for from function get if implements import in instanceof interface keyof let
  namespace new of private protected public readonly return satisfies set static super switch this throw
  try type typeof var void while with yield`);
const C_LITERALS = words("true false null undefined NaN Infinity nil None True False");

const GRAMMARS: Record<string, Grammar> = {
  js: {
    lineComment: ["//"],
    blockComment: ["/*", "*/"],
    quotes: ['"', "'", "`"],
    keywords: JS_KEYWORDS,
    literals: C_LITERALS,
    capitalisedTypes: true,
  },
  python: {
    lineComment: ["#"],
    quotes: ['"', "'"],
    keywords: words(`and as assert async await break class continue def del elif else except finally for from
      global if import in is lambda nonlocal not or pass raise return try while with yield match case self`),
    literals: words("True False None"),
    capitalisedTypes: true,
  },
  rust: {
    lineComment: ["//"],
    blockComment: ["/*", "*/"],
    quotes: ['"'],
    keywords: words(`as async await break const continue crate dyn else enum extern fn for if impl in let loop
      match mod move mut pub ref return self Self static struct super trait type unsafe use where while`),
    literals: words("true false None Some Ok Err"),
    capitalisedTypes: true,
  },
  go: {
    lineComment: ["//"],
    blockComment: ["/*", "*/"],
    quotes: ['"', "`", "'"],
    keywords: words(`break case chan const continue default defer else fallthrough for func go goto if import
      interface map package range return select struct switch type var`),
    literals: words("true false nil iota"),
    capitalisedTypes: true,
  },
  shell: {
    lineComment: ["#"],
    quotes: ['"', "'"],
    keywords: words(`if then else elif fi for while until do done case esac function in return export local
      set unset echo cd exit source alias`),
    literals: words("true false"),
  },
  json: { quotes: ['"'], keywords: new Set(), literals: words("true false null") },
  css: {
    blockComment: ["/*", "*/"],
    quotes: ['"', "'"],
    keywords: words("important media supports keyframes import from to"),
  },
  c: {
    lineComment: ["//"],
    blockComment: ["/*", "*/"],
    quotes: ['"', "'"],
    keywords: words(`auto break case char class const continue default delete do double else enum extern float
      for goto if inline int long namespace new private protected public register return short signed sizeof
      static struct switch template this throw try typedef union unsigned using virtual void volatile while
      final override package import extends implements interface throws boolean byte`),
    literals: C_LITERALS,
    capitalisedTypes: true,
  },
  yaml: { lineComment: ["#"], quotes: ['"', "'"], keywords: new Set(), literals: words("true false null yes no") },
  sql: {
    lineComment: ["--"],
    blockComment: ["/*", "*/"],
    quotes: ["'", '"'],
    keywords: words(`select from where insert into values update set delete create table drop alter index join
      left right inner outer on group by order having limit offset as and or not null primary key references
      SELECT FROM WHERE INSERT INTO VALUES UPDATE SET DELETE CREATE TABLE DROP ALTER INDEX JOIN LEFT RIGHT INNER
      OUTER ON GROUP BY ORDER HAVING LIMIT OFFSET AS AND OR NOT NULL PRIMARY KEY REFERENCES`),
  },
};

const ALIASES: Record<string, string> = {
  javascript: "js",
  jsx: "js",
  mjs: "js",
  cjs: "js",
  ts: "js",
  tsx: "js",
  typescript: "js",
  py: "python",
  rs: "rust",
  golang: "go",
  sh: "shell",
  bash: "shell",
  zsh: "shell",
  console: "shell",
  jsonc: "json",
  json5: "json",
  scss: "css",
  less: "css",
  cpp: "c",
  "c++": "c",
  h: "c",
  hpp: "c",
  java: "c",
  kotlin: "c",
  cs: "c",
  csharp: "c",
  swift: "c",
  yml: "yaml",
  toml: "yaml",
};

/** The grammar id for a fence's language label, if we highlight it. */
export function grammarFor(language: string | undefined): string | undefined {
  if (!language) return undefined;
  const id = language.trim().toLowerCase();
  const resolved = ALIASES[id] ?? id;
  return GRAMMARS[resolved] ? resolved : undefined;
}

const IDENTIFIER = /[A-Za-z_$][\w$]*/y;
const NUMBER = /(?:0[xob][\da-fA-F_]+|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?)[a-zA-Z]*/y;

/** Splits `code` into highlight tokens. Linear in the length of the code. */
export function highlight(code: string, language: string | undefined): HighlightToken[] {
  const id = grammarFor(language);
  const grammar = id ? GRAMMARS[id] : undefined;
  if (!grammar) return [{ kind: "plain", text: code }];
  const tokens: HighlightToken[] = [];
  let plainStart = 0;
  const flushPlain = (end: number) => {
    if (end > plainStart) tokens.push({ kind: "plain", text: code.slice(plainStart, end) });
  };
  const emit = (kind: TokenKind, start: number, end: number) => {
    flushPlain(start);
    tokens.push({ kind, text: code.slice(start, end) });
    plainStart = end;
  };

  let index = 0;
  while (index < code.length) {
    const char = code[index]!;
    const lineComment = grammar.lineComment?.find((marker) => code.startsWith(marker, index));
    if (lineComment && !(id === "shell" && index > 0 && /\S/.test(code[index - 1]!) && code[index - 1] !== ";")) {
      const end = code.indexOf("\n", index);
      const stop = end === -1 ? code.length : end;
      emit("comment", index, stop);
      index = stop;
      continue;
    }
    if (grammar.blockComment && code.startsWith(grammar.blockComment[0], index)) {
      const end = code.indexOf(grammar.blockComment[1], index + grammar.blockComment[0].length);
      const stop = end === -1 ? code.length : end + grammar.blockComment[1].length;
      emit("comment", index, stop);
      index = stop;
      continue;
    }
    if (grammar.quotes.includes(char)) {
      let cursor = index + 1;
      while (cursor < code.length && code[cursor] !== char) {
        if (code[cursor] === "\\") cursor += 1;
        else if (code[cursor] === "\n" && char !== "`") break;
        cursor += 1;
      }
      const stop = Math.min(code.length, cursor + 1);
      emit("string", index, stop);
      index = stop;
      continue;
    }
    if (/\d/.test(char) && (index === 0 || !/[\w$]/.test(code[index - 1]!))) {
      NUMBER.lastIndex = index;
      const match = NUMBER.exec(code);
      if (match) {
        emit("number", index, index + match[0].length);
        index += match[0].length;
        continue;
      }
    }
    if (/[A-Za-z_$]/.test(char) && (index === 0 || !/[\w$]/.test(code[index - 1]!))) {
      IDENTIFIER.lastIndex = index;
      const word = IDENTIFIER.exec(code)![0];
      const kind: TokenKind | undefined = grammar.keywords.has(word)
        ? "keyword"
        : grammar.literals?.has(word)
          ? "literal"
          : grammar.capitalisedTypes && /^[A-Z][a-z]/.test(word)
            ? "type"
            : undefined;
      if (kind) emit(kind, index, index + word.length);
      index += word.length;
      continue;
    }
    index += 1;
  }
  flushPlain(code.length);
  return tokens;
}
