/** `_meta` keys the daemon sends with each peekaboo call: which agent loop (turn) and session it belongs to. */
export const LOOP_META_KEY = "opta.dev/loop";
export const SESSION_META_KEY = "opta.dev/session";
