/**
 * @opta/daemon-client/protocol: the wire schemas and types the SDK validates with (events, REST
 * bodies, errors), re-exported so that an app using the SDK needs no second package.
 */
export * from "@opta/protocol";
