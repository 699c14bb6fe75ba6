/**
 * Mounts the TUI on the terminal: alternate screen, bracketed paste, Ink at most 30 frames a
 * second, the controller following the session. Resolves with the exit code.
 */
import { writeSync } from "node:fs";
import { render } from "ink";
import { App } from "./app.js";
import { type ControllerOptions, TuiController } from "./controller.js";

/**
 * The alternate screen, and bracketed paste (DEC 2004): the terminal wraps pasted text in
 * ESC[200~ … ESC[201~, so a paste's line breaks are text, not Enter (see TuiController.handleInput).
 */
export const ENTER_TERMINAL = "\u001b[?1049h\u001b[2J\u001b[H\u001b[?2004h";
export const LEAVE_TERMINAL = "\u001b[?2004l\u001b[?1049l";

/**
 * Runs `opta tui` until the user leaves. Resolves with the exit code and the session shown last
 * (`/clear` switches to a new one).
 */
export function runTui(options: Omit<ControllerOptions, "onExit">): Promise<{ code: number; sessionId: string }> {
  const stdout = process.stdout;
  return new Promise((resolve) => {
    let finished = false;
    /** Leaves the alternate screen; `done` runs once that is on the terminal (stdout may queue). */
    const restore = (done: () => void) => {
      stdout.off("resize", onResize);
      process.off("exit", onProcessExit);
      stdout.write(LEAVE_TERMINAL, () => done());
    };
    // The process ending another way (an uncaught error, process.exit elsewhere): still give the
    // shell its screen back and turn bracketed paste off.
    const onProcessExit = () => {
      if (finished) return;
      try {
        writeSync(stdout.fd, LEAVE_TERMINAL);
      } catch {
        // stdout is gone
      }
    };
    process.on("exit", onProcessExit);
    const controller = new TuiController({
      ...options,
      onExit: (code) => {
        if (finished) return;
        finished = true;
        instance.unmount();
        // Resolve only after the screen is restored, so what the caller prints next lands on the
        // normal screen, not on the alternate one that is about to disappear.
        restore(() => resolve({ code, sessionId: controller.session.id }));
      },
    });
    stdout.write(ENTER_TERMINAL);
    const instance = render(<App controller={controller} />, {
      exitOnCtrlC: false,
      patchConsole: true,
      maxFps: 30,
      // Ink 6.8's incremental mode loses a row when the frame ends on the screen's last line
      // (its cursor bookkeeping is off by one after the trailing newline), so frames are written
      // whole, inside a synchronized-output block (DEC 2026) where the terminal supports it.
      incrementalRendering: false,
      kittyKeyboard: { mode: "auto" },
    });
    // After a resize, start from a clean screen: Ink's line diff assumes the old layout is there.
    const onResize = () => {
      instance.clear();
      stdout.write("\u001b[2J\u001b[H");
    };
    stdout.on("resize", onResize);
    // SIGTERM/SIGHUP (terminal closed): leave the alternate screen before the process ends.
    const onSignal = () => controller.exit(143);
    process.once("SIGTERM", onSignal);
    process.once("SIGHUP", onSignal);
    controller.start();
  });
}
