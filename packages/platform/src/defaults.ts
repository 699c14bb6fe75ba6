/** Defaults of `opta platform start`; a module of its own so the CLI reads them without loading the server. */
export const DEFAULT_PORT = 3000;
export const DEFAULT_DOMAIN = "opta.localhost";
/** The loopback address the platform listens on; nothing else is offered until TLS and a proxy story exist. */
export const PLATFORM_HOST = "127.0.0.1";
