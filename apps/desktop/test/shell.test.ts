// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { type Credential, createBrowserShell, isLoopbackUrl, parseFragment } from "../src/shell/shell.js";

describe("browser shell", () => {
  it("takes a sign-in code from the fragment, out of the address bar, without storing it", () => {
    window.localStorage.clear();
    window.history.replaceState(null, "", "/some/path?x=1#code=single-use");
    const shell = createBrowserShell(window);
    expect(window.location.hash).toBe("");
    expect(window.location.href).not.toContain("single-use");
    expect(window.location.pathname + window.location.search).toBe("/some/path?x=1");
    expect(shell.takeSignInCode()).toBe("single-use");
    // Once: the code is spent by the exchange.
    expect(shell.takeSignInCode()).toBeUndefined();
    expect(shell.readToken()).toBeUndefined();
    expect(JSON.stringify({ ...window.localStorage })).not.toContain("single-use");
  });

  it("still accepts #token= (older opta app) and moves it into storage", () => {
    window.localStorage.clear();
    window.history.replaceState(null, "", "/some/path?x=1#token=abc123");
    const shell = createBrowserShell(window);
    expect(shell.readToken()).toBe("abc123");
    expect(shell.takeSignInCode()).toBeUndefined();
    expect(window.localStorage.getItem("opta.daemon.token")).toBe("abc123");
    expect(window.location.hash).toBe("");
    expect(window.location.pathname + window.location.search).toBe("/some/path?x=1");
  });

  it("reports a later fragment (a new `opta app` URL): a code to trade, or a token", () => {
    window.localStorage.clear();
    window.history.replaceState(null, "", "/");
    const shell = createBrowserShell(window);
    expect(shell.readToken()).toBeUndefined();
    const seen: Credential[] = [];
    const stop = shell.onCredential((credential) => seen.push(credential));
    window.history.replaceState(null, "", "/#code=c-2");
    window.dispatchEvent(new HashChangeEvent("hashchange"));
    expect(window.location.hash).toBe("");
    window.history.replaceState(null, "", "/#token=fresh");
    window.dispatchEvent(new HashChangeEvent("hashchange"));
    stop();
    expect(seen).toEqual([
      { kind: "code", code: "c-2" },
      { kind: "token", token: "fresh" },
    ]);
    expect(shell.readToken()).toBe("fresh");
    expect(window.location.hash).toBe("");
  });

  it("only accepts loopback daemons from a fragment", () => {
    expect(parseFragment("#token=t&daemon=http://127.0.0.1:9999")).toEqual({
      token: "t",
      daemon: "http://127.0.0.1:9999",
    });
    expect(parseFragment("#code=c&daemon=http://localhost:9999")).toEqual({
      code: "c",
      daemon: "http://localhost:9999",
    });
    expect(isLoopbackUrl("http://localhost:9999")).toBe(true);
    expect(isLoopbackUrl("http://evil.example:9999")).toBe(false);
    expect(isLoopbackUrl("javascript:alert(1)")).toBe(false);
  });
});
