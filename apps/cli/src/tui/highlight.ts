/**
 * Syntax highlighting for code blocks: lowlight (highlight.js grammars) gives a syntax tree, which
 * becomes styled spans. Unknown languages are shown plain rather than guessed.
 */
import { common, createLowlight } from "lowlight";
import type { Span, Style } from "./text.js";

const lowlight = createLowlight(common);

type Root = ReturnType<typeof lowlight.highlight>;
type RootContent = Root["children"][number];
type Element = Extract<RootContent, { type: "element" }>;

/** Fence labels people write that highlight.js names differently. */
const ALIASES: Record<string, string> = {
  sh: "bash",
  shell: "bash",
  zsh: "bash",
  console: "bash",
  js: "javascript",
  jsx: "javascript",
  mjs: "javascript",
  cjs: "javascript",
  ts: "typescript",
  tsx: "typescript",
  mts: "typescript",
  py: "python",
  rb: "ruby",
  rs: "rust",
  yml: "yaml",
  md: "markdown",
  "c++": "cpp",
  "c#": "csharp",
  cs: "csharp",
  golang: "go",
  kt: "kotlin",
  jsonc: "json",
  html: "xml",
};

/** highlight.js classes → terminal styles (the 16-colour palette, so any theme works). */
const CLASS_STYLES: Record<string, Style> = {
  keyword: { color: "magenta" },
  built_in: { color: "cyan" },
  type: { color: "cyan" },
  literal: { color: "blue" },
  number: { color: "blue" },
  string: { color: "green" },
  regexp: { color: "red" },
  subst: {},
  symbol: { color: "yellow" },
  "title.class_": { color: "yellow", bold: true },
  "title.function_": { color: "yellow" },
  title: { color: "yellow" },
  params: {},
  comment: { color: "gray", italic: true },
  doctag: { color: "gray", bold: true },
  meta: { color: "gray" },
  attr: { color: "yellow" },
  attribute: { color: "yellow" },
  variable: { color: "red" },
  "template-variable": { color: "red" },
  property: { color: "cyan" },
  tag: { color: "red" },
  name: { color: "red" },
  "selector-tag": { color: "red" },
  "selector-class": { color: "yellow" },
  addition: { color: "green" },
  deletion: { color: "red" },
  section: { color: "magenta", bold: true },
  bullet: { color: "yellow" },
  emphasis: { italic: true },
  strong: { bold: true },
  link: { underline: true },
  operator: {},
  punctuation: {},
};

/** The highlight.js name for a fence label, or undefined when there is no grammar for it. */
export function resolveLanguage(label: string | undefined): string | undefined {
  if (!label) return undefined;
  const name = label.trim().split(/[\s{]/)[0]!.toLowerCase();
  const resolved = ALIASES[name] ?? name;
  return lowlight.registered(resolved) ? resolved : undefined;
}

function styleOf(element: Element): Style | undefined {
  const classes = element.properties.className;
  if (!Array.isArray(classes)) return undefined;
  const names = classes.map(String).map((name) => name.replace(/^hljs-/, ""));
  // "title class_" → "title.class_" first, then the plain class.
  const joined = names.join(".");
  return CLASS_STYLES[joined] ?? names.map((name) => CLASS_STYLES[name]).find(Boolean);
}

function collect(nodes: RootContent[], inherited: Style | undefined, out: Span[]): void {
  for (const node of nodes) {
    if (node.type === "text") out.push(inherited ? { text: node.value, style: inherited } : { text: node.value });
    else if (node.type === "element") {
      const own = styleOf(node);
      collect(node.children, own ? { ...inherited, ...own } : inherited, out);
    }
  }
}

/** Highlights code in a language; plain spans when the language is unknown. */
export function highlight(code: string, label: string | undefined): Span[] {
  const language = resolveLanguage(label);
  if (!language) return [{ text: code }];
  let tree: Root;
  try {
    tree = lowlight.highlight(language, code);
  } catch {
    return [{ text: code }];
  }
  const spans: Span[] = [];
  collect(tree.children, undefined, spans);
  return spans;
}
