// init.<domain>: put this platform's own address into the commands, show which release it serves,
// offer copy buttons, and mark the reader's OS. A separate file: the site's CSP allows no inline script.

(() => {
  const origin = window.location.origin;
  for (const node of document.querySelectorAll("[data-origin]")) node.textContent = origin;
  // The bare domain: init.<domain> without its first label, same scheme and port.
  const home = `${window.location.protocol}//${window.location.host.replace(/^init\./, "")}`;
  for (const node of document.querySelectorAll("[data-home]")) node.textContent = home;

  const release = document.getElementById("release");
  fetch("/packages/manifest.json", { cache: "no-cache" })
    .then(async (response) => {
      if (response.ok) {
        const manifest = await response.json();
        const kib = manifest.packages.reduce((sum, entry) => sum + entry.size, 0) / 1024;
        release.textContent = `Serves Opta ${manifest.version}: ${manifest.packages.length} packages, ${Math.round(kib)} KiB, built ${new Date(manifest.createdAt).toLocaleString()}`;
        release.dataset.state = "ready";
        return;
      }
      const body = await response.json().catch(() => undefined);
      release.textContent =
        body?.error?.code === "release_not_built"
          ? "This platform serves no release yet: its operator runs 'npm run release' in the Opta repository."
          : `The release could not be read (HTTP ${response.status}).`;
      release.dataset.state = "missing";
    })
    .catch(() => {
      release.textContent = "The release could not be read: the platform did not answer.";
      release.dataset.state = "missing";
    });

  if (navigator.clipboard) {
    for (const button of document.querySelectorAll("button.copy")) {
      const code = button.parentElement.querySelector("code");
      button.hidden = false;
      button.setAttribute("aria-label", `Copy: ${code.textContent}`);
      button.addEventListener("click", () => {
        navigator.clipboard.writeText(code.textContent).then(
          () => {
            button.textContent = "Copied";
          },
          () => {
            button.textContent = "Select it";
          },
        );
      });
    }
  }

  const platform = (navigator.userAgentData?.platform || navigator.platform || "").toLowerCase();
  const os = platform.includes("win") ? "windows" : platform.includes("mac") ? "macos" : "linux";
  for (const link of document.querySelectorAll(".os-tabs a")) {
    if (link.getAttribute("href") === `#${os}`) link.setAttribute("aria-current", "true");
  }
})();
