import { Lexer, type Token, type Tokens } from "marked";
import { memo, type ReactNode, useMemo, useState } from "react";
import { highlight } from "./highlight.js";

/**
 * Markdown rendered as React elements from marked's tokens. Nothing becomes raw HTML: inline or
 * block HTML in model output is shown as text, and links only keep http(s) and mailto targets.
 * That plus the daemon's Content-Security-Policy is why model output cannot script the app.
 */
export const Markdown = memo(function Markdown({ text }: { text: string }) {
  const tokens = useMemo(() => lex(text), [text]);
  return (
    <div className="markdown">
      {keyed(tokens, "b").map(([key, token]) => (
        <Block key={key} token={token} blockKey={key} />
      ))}
    </div>
  );
});

/**
 * One top-level block, re-rendered only when its source changes: while a long answer streams, only
 * the last paragraph is new each frame; the others are skipped.
 */
const Block = memo(
  function Block({ token, blockKey }: { token: Token; blockKey: string }) {
    return renderBlock(token, blockKey);
  },
  (previous, next) => previous.token.raw === next.token.raw && previous.blockKey === next.blockKey,
);

function lex(text: string): Token[] {
  try {
    return Lexer.lex(text, { gfm: true, breaks: false });
  } catch {
    return [{ type: "paragraph", raw: text, text, tokens: [{ type: "text", raw: text, text }] } as Tokens.Paragraph];
  }
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0" };

/** Decodes the character references marked leaves in text (`&amp;`, `&#39;`, `&#x2014;`). */
export function decodeEntities(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(/&(#x[\da-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
    if (name[0] === "#") {
      const code = name[1] === "x" || name[1] === "X" ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1));
      return Number.isFinite(code) && code > 0 && code < 0x110000 ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[name.toLowerCase()] ?? whole;
  });
}

/** Keeps links that cannot run code in the page. */
export function safeHref(href: string): string | undefined {
  const trimmed = href.trim();
  if (/^(https?:|mailto:)/i.test(trimmed)) return trimmed;
  if (/^#[\w-]*$/.test(trimmed)) return trimmed;
  return undefined;
}

/** Pairs each item with a positional key: markdown tokens of one immutable text have no other identity. */
function keyed<T>(items: readonly T[], prefix: string): Array<[string, T]> {
  return items.map((item, index) => [`${prefix}.${index}`, item]);
}

function renderBlocks(tokens: Token[], key: string): ReactNode[] {
  return tokens.map((token, index) => renderBlock(token, `${key}.${index}`));
}

function renderBlock(token: Token, key: string): ReactNode {
  switch (token.type) {
    case "space":
      return null;
    case "heading": {
      const heading = token as Tokens.Heading;
      const Tag = `h${Math.min(6, Math.max(1, heading.depth))}` as "h1";
      return <Tag key={key}>{renderInline(heading.tokens, key)}</Tag>;
    }
    case "paragraph":
      return <p key={key}>{renderInline((token as Tokens.Paragraph).tokens, key)}</p>;
    case "code": {
      const code = token as Tokens.Code;
      return <CodeBlock key={key} code={code.text} language={code.lang?.split(/\s/)[0] || undefined} />;
    }
    case "blockquote":
      return <blockquote key={key}>{renderBlocks((token as Tokens.Blockquote).tokens, key)}</blockquote>;
    case "hr":
      return <hr key={key} />;
    case "list": {
      const list = token as Tokens.List;
      const items = keyed(list.items, key).map(([itemKey, item]) => (
        <li key={itemKey} className={item.task ? "task" : undefined}>
          {item.task ? (
            <input type="checkbox" checked={Boolean(item.checked)} readOnly disabled aria-label="task" />
          ) : null}
          {renderListItem(item, itemKey)}
        </li>
      ));
      if (list.ordered) {
        const start = typeof list.start === "number" ? list.start : undefined;
        return (
          <ol key={key} start={start}>
            {items}
          </ol>
        );
      }
      return <ul key={key}>{items}</ul>;
    }
    case "table": {
      const table = token as Tokens.Table;
      const align = (value: string | null | undefined) => (value ? { textAlign: value as "left" } : undefined);
      return (
        <div key={key} className="table-scroll">
          <table>
            <thead>
              <tr>
                {keyed(table.header, `${key}.h`).map(([cellKey, cell]) => (
                  <th key={cellKey} style={align(cell.align)}>
                    {renderInline(cell.tokens, cellKey)}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {keyed(table.rows, `${key}.r`).map(([rowKey, row]) => (
                <tr key={rowKey}>
                  {keyed(row, rowKey).map(([cellKey, cell]) => (
                    <td key={cellKey} style={align(cell.align)}>
                      {renderInline(cell.tokens, cellKey)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      );
    }
    case "html":
      return (
        <p key={key} className="raw-html">
          {(token as Tokens.HTML).text}
        </p>
      );
    case "text": {
      const text = token as Tokens.Text;
      return <p key={key}>{text.tokens ? renderInline(text.tokens, key) : decodeEntities(text.text)}</p>;
    }
    default:
      return "raw" in token && typeof token.raw === "string" ? <p key={key}>{token.raw}</p> : null;
  }
}

function renderListItem(item: Tokens.ListItem, key: string): ReactNode {
  // Tight lists hold "text" tokens whose children are inline; loose ones hold paragraphs.
  return keyed(item.tokens, key).map(([childKey, token]) => {
    if (token.type === "text") {
      const text = token as Tokens.Text;
      return text.tokens ? (
        <span key={childKey}>{renderInline(text.tokens, childKey)}</span>
      ) : (
        decodeEntities(text.text)
      );
    }
    if (token.type === "checkbox") return null;
    return renderBlock(token, childKey);
  });
}

function renderInline(tokens: Token[] | undefined, key: string): ReactNode[] {
  if (!tokens) return [];
  return tokens.map((token, index) => {
    const childKey = `${key}.${index}`;
    switch (token.type) {
      case "text": {
        const text = token as Tokens.Text;
        return text.tokens ? (
          <span key={childKey}>{renderInline(text.tokens, childKey)}</span>
        ) : (
          decodeEntities(text.text)
        );
      }
      case "escape":
        return (token as Tokens.Escape).text;
      case "strong":
        return <strong key={childKey}>{renderInline((token as Tokens.Strong).tokens, childKey)}</strong>;
      case "em":
        return <em key={childKey}>{renderInline((token as Tokens.Em).tokens, childKey)}</em>;
      case "del":
        return <del key={childKey}>{renderInline((token as Tokens.Del).tokens, childKey)}</del>;
      case "codespan":
        return <code key={childKey}>{decodeEntities((token as Tokens.Codespan).text)}</code>;
      case "br":
        return <br key={childKey} />;
      case "link": {
        const link = token as Tokens.Link;
        const href = safeHref(link.href);
        const children = renderInline(link.tokens, childKey);
        return href ? (
          <a key={childKey} href={href} target="_blank" rel="noopener noreferrer" title={link.title ?? undefined}>
            {children}
          </a>
        ) : (
          <span key={childKey}>{children}</span>
        );
      }
      case "image": {
        // Images would fetch from anywhere; show the alt text and the address instead.
        const image = token as Tokens.Image;
        return (
          <span key={childKey} className="image-ref">
            [image: {image.text || image.href}]
          </span>
        );
      }
      case "html":
        return (token as Tokens.HTML).text;
      default:
        return "raw" in token && typeof token.raw === "string" ? token.raw : null;
    }
  });
}

/** A fenced code block: language label, highlighting, copy button. */
export const CodeBlock = memo(function CodeBlock({ code, language }: { code: string; language?: string }) {
  const tokens = useMemo(() => highlight(code, language), [code, language]);
  const [copied, setCopied] = useState(false);
  const copy = () => {
    void navigator.clipboard?.writeText(code).then(
      () => {
        setCopied(true);
        setTimeout(() => setCopied(false), 1200);
      },
      () => {},
    );
  };
  return (
    <figure className="code-block">
      <figcaption>
        <span className="code-language">{language ?? "text"}</span>
        <button type="button" className="link-button" onClick={copy} aria-label={`Copy ${language ?? ""} code`}>
          {copied ? "Copied" : "Copy"}
        </button>
      </figcaption>
      <pre>
        <code data-language={language}>
          {tokens.map((token, index) =>
            token.kind === "plain" ? (
              token.text
            ) : (
              // biome-ignore lint/suspicious/noArrayIndexKey: tokens of one immutable string
              <span key={index} className={`tok-${token.kind}`}>
                {token.text}
              </span>
            ),
          )}
        </code>
      </pre>
    </figure>
  );
});
