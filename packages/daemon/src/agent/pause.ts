/**
 * The abort reason of a pause (`POST /pause`): the agent loop tells it from a cancel, and an
 * approval it withdraws is recorded `by: "pause"`, so clients do not show the turn as cancelled.
 */
export class PauseRequested extends Error {
  constructor() {
    super("paused by user");
    this.name = "PauseRequested";
  }
}
