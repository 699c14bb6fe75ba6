import { createContext, useContext, useSyncExternalStore } from "react";
import type { AppController, AppState } from "./app-controller.js";
import type { SessionStore } from "./session-store.js";
import type { SessionView } from "./session-view.js";

/** The app's controller, provided once at the root. */
export const ControllerContext = createContext<AppController | undefined>(undefined);

export function useController(): AppController {
  const controller = useContext(ControllerContext);
  if (!controller) throw new Error("useController outside <ControllerContext.Provider>");
  return controller;
}

/** App state; re-renders on every app-state change. */
export function useAppState(): AppState {
  const controller = useController();
  return useSyncExternalStore(controller.subscribe, controller.getState);
}

const noSubscription = () => () => {};
const noView = () => undefined;

/** The selected session's store and its current view (updated at most once per frame). */
export function useSessionView(): { store: SessionStore | undefined; view: SessionView | undefined } {
  const controller = useController();
  const store = useSyncExternalStore(controller.subscribeSessionStore, controller.getSessionStore);
  const view = useSyncExternalStore(store?.subscribe ?? noSubscription, store?.getSnapshot ?? noView);
  return { store, view };
}

/**
 * One slice of the selected session's view. The component re-renders only when the slice changes
 * (compared with Object.is), so a header that shows the title does not re-render on every token.
 * The selector must return a primitive or a reference held by the view.
 */
export function useSessionSelector<T>(selector: (view: SessionView | undefined) => T): T {
  const controller = useController();
  const store = useSyncExternalStore(controller.subscribeSessionStore, controller.getSessionStore);
  return useSyncExternalStore(store?.subscribe ?? noSubscription, () => selector(store?.getSnapshot()));
}
