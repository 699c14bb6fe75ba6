// The static sites' one script, loaded (not deferred) in <head> so a stored theme applies before
// the first paint. It does two things a static page cannot: remember the light/dark choice in
// localStorage, and point the cross-site links at this domain and port (the build cannot know
// where the platform runs: opta.localhost:3000 on a laptop, a real domain behind a proxy).
const KEY = "opta-theme";
const root = document.documentElement;
const SITES = ["accounts", "admin", "status", "lmx", "init", "help", "learn"];

function storedTheme() {
  try {
    const value = localStorage.getItem(KEY);
    return value === "light" || value === "dark" ? value : null;
  } catch {
    return null; // storage refused (private mode, a policy): follow the system
  }
}

function currentTheme() {
  return root.dataset.theme ?? (matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark");
}

function label(button) {
  const next = currentTheme() === "dark" ? "light" : "dark";
  button.setAttribute("aria-label", `Switch to the ${next} theme`);
  button.textContent = next === "light" ? "Light" : "Dark";
}

const stored = storedTheme();
if (stored) root.dataset.theme = stored;

/** This platform's domain: the page's host without its site label (as apps/sites/shared/api.ts). */
function platformDomain() {
  const host = location.hostname;
  const first = host.split(".")[0] ?? "";
  return SITES.includes(first) && host.split(".").length > 2 ? host.slice(first.length + 1) : host;
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-theme-toggle]")) {
    button.hidden = false;
    label(button);
    button.addEventListener("click", () => {
      const next = currentTheme() === "dark" ? "light" : "dark";
      root.dataset.theme = next;
      try {
        localStorage.setItem(KEY, next);
      } catch {
        // not remembered; the choice still holds for this page
      }
      for (const other of document.querySelectorAll("[data-theme-toggle]")) label(other);
    });
  }
  const domain = platformDomain();
  const port = location.port ? `:${location.port}` : "";
  for (const link of document.querySelectorAll("a[data-site]")) {
    const site = link.dataset.site;
    const host = site === "home" ? domain : `${site}.${domain}`;
    const url = new URL(link.getAttribute("href") ?? "/", `${location.protocol}//${host}${port}`);
    link.href = `${location.protocol}//${host}${port}${url.pathname}${url.hash}`;
  }
});
