/**
 * The accounts app's own redirect rule (apps/sites/shared/api.ts): after sign-in or sign-up the
 * browser follows `?redirect=` only to a path of accounts or a page of this domain's sites, the
 * same rule the server applies to better-auth's callback URLs (auth/redirects.ts).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { safeRedirect, siteOrigin } from "../../../apps/sites/shared/api.js";
import { reportFamily, type SecurityCase } from "../../../scripts/security-family.js";

const PAGE = "http://accounts.opta.localhost:3000/sign-in";

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("the sites' redirect rule", () => {
  it("follows a path of this site or a page of this domain's sites", () => {
    vi.stubGlobal("location", new URL(PAGE));
    expect(siteOrigin("admin")).toBe("http://admin.opta.localhost:3000");
    expect(siteOrigin("home")).toBe("http://opta.localhost:3000");
    expect(safeRedirect("/device?user_code=ABCD")).toBe("/device?user_code=ABCD");
    expect(safeRedirect("http://admin.opta.localhost:3000/users")).toBe("http://admin.opta.localhost:3000/users");
    expect(safeRedirect("http://opta.localhost:3000/")).toBe("http://opta.localhost:3000/");
    expect(safeRedirect(null)).toBe("/");
  });

  it("platform-open-redirect: a sign-in redirect off this domain's sites lands on the account page", ({ task }) => {
    vi.stubGlobal("location", new URL(PAGE));
    const targets = [
      "http://evil.example/",
      "//evil.example/",
      "/\\evil.example/",
      "\\\\evil.example",
      "https://evil.example/x",
      "http://opta.localhost.evil.example:3000/",
      "http://evil.opta.localhost:3000/",
      "http://admin.opta.localhost:3001/",
      "https://admin.opta.localhost:3000/",
      "javascript:alert(1)",
      "data:text/html,<script>alert(1)</script>",
      "/\t/evil.example",
      "http://admin.opta.localhost:3000@evil.example/",
    ];
    const cases: SecurityCase[] = targets.map((target) => {
      const chosen = safeRedirect(target);
      return { attack: `sign-in ?redirect=${target}`, refused: chosen === "/", detail: chosen };
    });
    expect(reportFamily(task, "platform-open-redirect", cases).through).toEqual([]);
  });
});
