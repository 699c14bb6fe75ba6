/**
 * @opta/daemon-client: typed HTTP and WebSocket client for the Opta daemon. Browser-safe; Node-only
 * helpers (reading the token from the Opta home, starting the daemon) live in `@opta/daemon-client/node`.
 */
export {
  DaemonClient,
  type DaemonClientOptions,
  exchangeAuthCode,
  type RequestOptions,
  type StreamOptions,
  signInWithCode,
  type TokenSource,
  tradeClientGrant,
} from "./client.js";
export { DaemonApiError, DaemonConnectionError } from "./errors.js";
export type {
  BackoffOptions,
  GlobalSubscription,
  LogSubscription,
  SubscribeAllOptions,
  SubscribeLogsOptions,
  SubscribeOptions,
  Subscription,
  SubscriptionStatus,
} from "./subscription.js";
export type { WebSocketConstructor, WebSocketLike } from "./websocket.js";
