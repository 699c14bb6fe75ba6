// help.<domain>'s one script (no inline script: the site's CSP). Loaded in <head> without defer so
// the remembered theme applies before the first paint; the rest waits for the DOM.
// Search: the prebuilt index (search-index.json) is fetched on first use, so pages stay small.
(() => {
  const THEME_KEY = "opta-help-theme";
  const root = document.documentElement;
  const stored = (() => {
    try {
      return localStorage.getItem(THEME_KEY);
    } catch {
      return null; // storage refused (private mode): follow the system
    }
  })();
  if (stored === "light" || stored === "dark") root.dataset.theme = stored;

  const effectiveTheme = () =>
    root.dataset.theme ?? (matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark");

  function setupTheme() {
    const button = document.getElementById("theme-toggle");
    if (!button) return;
    const show = () => {
      const other = effectiveTheme() === "dark" ? "light" : "dark";
      button.textContent = other === "light" ? "Light" : "Dark";
      button.setAttribute("aria-label", `Switch to ${other} theme`);
    };
    button.addEventListener("click", () => {
      const next = effectiveTheme() === "dark" ? "light" : "dark";
      root.dataset.theme = next;
      try {
        localStorage.setItem(THEME_KEY, next);
      } catch {
        // not remembered, still applied
      }
      show();
    });
    show();
  }

  function setupMenu() {
    const button = document.getElementById("menu-toggle");
    const sidebar = document.getElementById("sidebar");
    if (!button || !sidebar) return;
    button.addEventListener("click", () => {
      const open = sidebar.classList.toggle("open");
      button.setAttribute("aria-expanded", String(open));
    });
  }

  /** Lower-case words of a query; punctuation inside a word (lmx.pull, --port) is kept. */
  const terms = (query) =>
    query
      .toLowerCase()
      .split(/\s+/)
      .map((term) => term.replace(/^[^\p{L}\p{N}-]+|[^\p{L}\p{N}]+$/gu, ""))
      .filter((term) => term.length > 0);

  const count = (haystack, needle) => {
    let n = 0;
    for (let at = haystack.indexOf(needle); at !== -1 && n < 20; at = haystack.indexOf(needle, at + needle.length)) n++;
    return n;
  };

  /** Ranked sections: every term must appear; headings weigh most, then the doc's title, then how often. */
  function rank(index, query) {
    const words = terms(query);
    if (words.length === 0) return [];
    const phrase = query.trim().toLowerCase();
    const results = [];
    for (const section of index.sections) {
      const heading = section.h.toLowerCase();
      const title = index.docs[section.d].t.toLowerCase();
      if (section.lx === undefined) section.lx = section.x.toLowerCase();
      const text = section.lx;
      let score = 0;
      let all = true;
      for (const word of words) {
        const inHeading = heading.includes(word);
        const hits = count(text, word);
        if (!inHeading && hits === 0 && !title.includes(word)) {
          all = false;
          break;
        }
        score += (inHeading ? 12 : 0) + (title.includes(word) ? 3 : 0) + Math.min(hits, 10);
      }
      if (!all) continue;
      if (words.length > 1 && (heading.includes(phrase) || text.includes(phrase))) score += 15;
      results.push({ section, score });
    }
    results.sort((a, b) => b.score - a.score);
    return results.slice(0, 12);
  }

  /** The text around the first match, as nodes: plain text with each term in <mark>. */
  function snippet(text, words) {
    const lower = text.toLowerCase();
    let first = -1;
    for (const word of words) {
      const at = lower.indexOf(word);
      if (at !== -1 && (first === -1 || at < first)) first = at;
    }
    const start = Math.max(0, first - 60);
    const end = Math.min(text.length, (first === -1 ? 0 : first) + 140);
    const piece = (start > 0 ? "…" : "") + text.slice(start, end) + (end < text.length ? "…" : "");
    const fragment = document.createDocumentFragment();
    const pattern = new RegExp(words.map((word) => word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "gi");
    let last = 0;
    for (const match of piece.matchAll(pattern)) {
      fragment.append(piece.slice(last, match.index));
      const mark = document.createElement("mark");
      mark.textContent = match[0];
      fragment.append(mark);
      last = match.index + match[0].length;
    }
    fragment.append(piece.slice(last));
    return fragment;
  }

  function setupSearch() {
    const input = document.getElementById("search-input");
    const list = document.getElementById("search-results");
    const status = document.getElementById("search-status");
    if (!input || !list || !status) return;
    const base = root.dataset.root ?? "./";
    let index = null;
    let loading = null;
    let active = -1;
    const load = () =>
      (loading ??= fetch(`${base}search-index.json`)
        .then((answer) => {
          if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
          return answer.json();
        })
        .then((data) => {
          index = data;
          return data;
        }));

    const options = () => [...list.querySelectorAll('[role="option"]')];
    const select = (next) => {
      const items = options();
      if (items.length === 0) return;
      active = (next + items.length) % items.length;
      for (const [i, item] of items.entries()) item.setAttribute("aria-selected", String(i === active));
      input.setAttribute("aria-activedescendant", items[active].id);
      items[active].scrollIntoView({ block: "nearest" });
    };
    const close = () => {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    };
    const render = () => {
      if (!index) return;
      const query = input.value;
      list.replaceChildren();
      active = -1;
      input.removeAttribute("aria-activedescendant");
      if (terms(query).length === 0) return close();
      const found = rank(index, query);
      const words = terms(query);
      found.forEach(({ section }, i) => {
        const doc = index.docs[section.d];
        const item = document.createElement("li");
        item.id = `search-result-${i}`;
        item.setAttribute("role", "option");
        item.setAttribute("aria-selected", "false");
        const link = document.createElement("a");
        link.href = `${base}${doc.p}${section.a ? `#${section.a}` : ""}`;
        link.tabIndex = -1;
        const where = document.createElement("span");
        where.className = "where";
        where.textContent = section.h;
        const title = document.createElement("span");
        title.className = "doc-title";
        // A doc's own top section is named by its title already.
        title.textContent = section.h === doc.t ? "" : ` — ${doc.t}`;
        const text = document.createElement("span");
        text.className = "snippet";
        text.append(snippet(section.x, words));
        link.append(where, title, text);
        item.append(link);
        item.addEventListener("mousedown", (event) => event.preventDefault()); // keep focus for the click
        item.addEventListener("click", () => {
          location.href = link.href;
        });
        list.append(item);
      });
      if (found.length === 0) {
        const empty = document.createElement("li");
        empty.className = "empty";
        empty.textContent = `Nothing matches “${query.trim()}”.`;
        list.append(empty);
      }
      status.textContent =
        found.length === 0 ? "No results" : `${found.length} results; arrows to choose, Enter to open`;
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    };
    input.addEventListener("focus", () => void load().catch(() => undefined));
    input.addEventListener("input", () => {
      if (index) return render();
      load()
        .then(render)
        .catch((error) => {
          list.replaceChildren();
          const failed = document.createElement("li");
          failed.className = "empty";
          failed.textContent = `The search index could not be loaded (${error.message}); reload the page. [HELP_INDEX_UNAVAILABLE]`;
          list.append(failed);
          list.hidden = false;
        });
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (list.hidden) render();
        select(active + (event.key === "ArrowDown" ? 1 : -1));
      } else if (event.key === "Enter") {
        event.preventDefault();
        const items = options();
        const chosen = items[active] ?? items[0];
        const link = chosen?.querySelector("a");
        if (link) location.href = link.href;
      } else if (event.key === "Escape") {
        close();
      }
    });
    input.addEventListener("blur", () => setTimeout(close, 150));
    input.closest("form")?.addEventListener("submit", (event) => event.preventDefault());
    document.addEventListener("keydown", (event) => {
      const target = event.target;
      const typing =
        target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
      if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
        event.preventDefault();
        input.focus();
        input.select();
      }
    });
    const initial = new URLSearchParams(location.search).get("q");
    if (initial) {
      input.value = initial;
      load().then(render, () => undefined);
      input.focus();
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupTheme();
    setupMenu();
    setupSearch();
  });
})();
