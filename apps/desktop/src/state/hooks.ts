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
