import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { highlight } from "../src/markdown/highlight.js";
import { decodeEntities, Markdown, safeHref } from "../src/markdown/markdown.js";

const html = (text: string) => renderToStaticMarkup(<Markdown text={text} />);

describe("Markdown", () => {
  it("renders code blocks with a language label and highlighting", () => {
    const out = html("```ts\nconst a = 'x'; // note\n```");
    expect(out).toContain('<span class="code-language">ts</span>');
    expect(out).toContain('<span class="tok-keyword">const</span>');
    expect(out).toContain('<span class="tok-string">&#x27;x&#x27;</span>');
    expect(out).toContain('<span class="tok-comment">// note</span>');
  });

  it("renders tables with alignment, lists and inline marks", () => {
    const out = html("| a | b |\n|---|:-:|\n| 1 | **2** |\n\n- one\n- `two`\n\n1. first");
    expect(out).toContain("<table>");
    expect(out).toContain('<td style="text-align:center"><strong>2</strong></td>');
    expect(out).toContain("<li><span>one</span></li>");
    expect(out).toContain("<code>two</code>");
    expect(out).toContain("<ol");
  });

  it("never turns model output into markup or script links", () => {
    const out = html('<img src=x onerror="alert(1)"> and [click](javascript:alert(1)) <script>x</script>');
    expect(out).not.toContain("<img");
    expect(out).not.toContain("<script");
    expect(out).toContain("&lt;img");
    expect(out).not.toContain("javascript:");
    expect(safeHref("https://example.com")).toBe("https://example.com");
    expect(safeHref(" JavaScript:alert(1)")).toBeUndefined();
    expect(safeHref("data:text/html,x")).toBeUndefined();
  });

  it("decodes character references in text", () => {
    expect(decodeEntities("a &amp; b &lt;c&gt; &#39;d&#x27;")).toBe("a & b <c> 'd'");
    expect(html("fish &amp; chips")).toContain("fish &amp; chips");
  });

  it("renders half-streamed input without throwing", () => {
    expect(() => html("```py\ndef f(")).not.toThrow();
    expect(() => html("| a | b")).not.toThrow();
  });
});

describe("highlight", () => {
  it("keeps the text intact and tokenises known languages", () => {
    const code = 'fn main() { let x = 42; println!("hi"); } // end';
    const tokens = highlight(code, "rust");
    expect(tokens.map((token) => token.text).join("")).toBe(code);
    expect(tokens.filter((token) => token.kind === "keyword").map((token) => token.text)).toEqual(["fn", "let"]);
    expect(tokens.find((token) => token.kind === "number")?.text).toBe("42");
  });

  it("leaves unknown languages plain", () => {
    expect(highlight("whatever <b>", "brainfuck")).toEqual([{ kind: "plain", text: "whatever <b>" }]);
  });
});
