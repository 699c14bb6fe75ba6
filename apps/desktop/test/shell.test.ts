// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { createBrowserShell, isLoopbackUrl, parseFragment } from "../src/shell/shell.js";

describe("browser shell", () => {
  it("moves the token from the fragment into storage and out of the address bar", () => {
    window.localStorage.clear();
    window.history.replaceState(null, "", "/some/path?x=1#token=abc123");
    const shell = createBrowserShell(window);
    expect(shell.readToken()).toBe("abc123");
    expect(window.localStorage.getItem("opta.daemon.token")).toBe("abc123");
    expect(window.location.hash).toBe("");
    expect(window.location.pathname + window.location.search).toBe("/some/path?x=1");
  });

  it("takes a new token from a later fragment (a new `opta app` URL) and reports it", () => {
    window.localStorage.clear();
    window.history.replaceState(null, "", "/");
    const shell = createBrowserShell(window);
    expect(shell.readToken()).toBeUndefined();
    const seen: string[] = [];
    const stop = shell.onTokenChange((token) => seen.push(token));
    window.history.replaceState(null, "", "/#token=fresh");
    window.dispatchEvent(new HashChangeEvent("hashchange"));
    stop();
    expect(seen).toEqual(["fresh"]);
    expect(shell.readToken()).toBe("fresh");
    expect(window.location.hash).toBe("");
  });

  it("only accepts loopback daemons from a fragment", () => {
    expect(parseFragment("#token=t&daemon=http://127.0.0.1:9999")).toEqual({
      token: "t",
      daemon: "http://127.0.0.1:9999",
    });
    expect(isLoopbackUrl("http://localhost:9999")).toBe(true);
    expect(isLoopbackUrl("http://evil.example:9999")).toBe(false);
    expect(isLoopbackUrl("javascript:alert(1)")).toBe(false);
  });
});
