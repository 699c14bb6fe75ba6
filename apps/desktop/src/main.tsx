import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { createBrowserShell } from "./shell/shell.js";
import { AppController } from "./state/app-controller.js";
import { ControllerContext } from "./state/hooks.js";
import { App } from "./views/app.js";

// The shell reads the token from the URL fragment (and removes it) before anything else runs.
const shell = createBrowserShell(window);

// Diagnostic switches for benchmarks: ?virtualize=off renders every turn, ?batch=off renders on
// every event. Both exist to measure what the defaults save; nobody needs them otherwise.
const query = new URLSearchParams(window.location.search);
const virtualize = query.get("virtualize") !== "off";
const batched = query.get("batch") !== "off";

const controller = new AppController({ shell, batched });
controller.start();

// Counters for benchmarks and bug reports: store flushes (renders) and events of the open session.
Object.defineProperty(window, "__optaDiagnostics", {
  get: () => controller.getSessionStore()?.diagnostics,
});

const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <ControllerContext.Provider value={controller}>
        <App virtualize={virtualize} />
      </ControllerContext.Provider>
    </StrictMode>,
  );
}
