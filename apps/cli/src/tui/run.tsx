/**
 * Mounts the TUI on the terminal: alternate screen, Ink at most 30 frames a second with
 * incremental line updates, the controller following the session. Resolves with the exit code.
 */
import { render } from "ink";
import { App } from "./app.js";
import { type ControllerOptions, TuiController } from "./controller.js";

const ENTER_ALT_SCREEN = "\u001b[?1049h\u001b[2J\u001b[H";
const LEAVE_ALT_SCREEN = "\u001b[?1049l";

/** Runs `opta tui` until the user leaves. */
export function runTui(options: Omit<ControllerOptions, "onExit">): Promise<number> {
  const stdout = process.stdout;
  return new Promise<number>((resolve) => {
    let finished = false;
    const restore = () => {
      stdout.off("resize", onResize);
      stdout.write(LEAVE_ALT_SCREEN);
    };
    const controller = new TuiController({
      ...options,
      onExit: (code) => {
        if (finished) return;
        finished = true;
        instance.unmount();
        restore();
        resolve(code);
      },
    });
    stdout.write(ENTER_ALT_SCREEN);
    const instance = render(<App controller={controller} />, {
      exitOnCtrlC: false,
      patchConsole: true,
      maxFps: 30,
      incrementalRendering: true,
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
