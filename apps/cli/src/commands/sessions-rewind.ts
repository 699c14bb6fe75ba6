import type { RewindScope, TurnRef } from "@opta/protocol";
import { connect } from "../connection.js";
import { UsageError } from "../output/errors.js";
import { dim, print } from "../output/terminal.js";

/** `3` is the third turn; anything else is a turn id (`t-…`). */
function turnRef(value: string, flag: string): TurnRef {
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) {
    const number = Number(trimmed);
    if (number < 1) throw new UsageError(`${flag} takes a turn number from 1, or a turn id; got '${value}'`);
    return number;
  }
  if (!trimmed) throw new UsageError(`${flag} takes a turn number or a turn id`);
  return trimmed;
}

/** `opta sessions rewind <id> --to TURN [--files|--conversation|--both] [--force] [--json]`. */
export async function rewind(
  id: string,
  options: { to?: string; files?: boolean; conversation?: boolean; both?: boolean; force?: boolean; json?: boolean },
): Promise<number> {
  if (options.to === undefined) throw new UsageError("say which turn to rewind to: --to TURN (a number or a turn id)");
  const chosen = (["files", "conversation", "both"] as const).filter((scope) => options[scope]);
  if (chosen.length > 1) throw new UsageError("choose one of --files, --conversation and --both");
  const scope: RewindScope = chosen[0] ?? "both";
  const client = await connect();
  const result = await client.rewindSession(id, {
    toTurn: turnRef(options.to, "--to"),
    scope,
    force: options.force === true,
  });
  if (options.json) {
    print(JSON.stringify(result, null, 2));
    return 0;
  }
  print(`Rewound ${id} to before turn ${result.toTurnId} (${scope}).`);
  if (scope !== "files") {
    print(`  conversation: ${result.turnIds.length} turn${result.turnIds.length === 1 ? "" : "s"} taken out`);
  }
  if (scope !== "conversation") {
    const changed = result.files.filter((file) => file.action !== "unchanged");
    if (changed.length === 0) print("  files: nothing to put back");
    for (const file of changed) {
      print(
        `  ${file.action.padEnd(8)} ${file.path}${file.overwritten ? " (your change was overwritten: --force)" : ""}`,
      );
    }
    print(dim("  Commands the agent ran (run_command) are not checkpointed; what they changed stays."));
  }
  return 0;
}

/** `opta sessions fork <id> [--at TURN] [--title T] [--json]`. */
export async function fork(id: string, options: { at?: string; title?: string; json?: boolean }): Promise<number> {
  const client = await connect();
  const session = await client.forkSession(id, {
    ...(options.at !== undefined ? { atTurn: turnRef(options.at, "--at") } : {}),
    ...(options.title !== undefined ? { title: options.title } : {}),
  });
  if (options.json) {
    print(JSON.stringify(session, null, 2));
    return 0;
  }
  print(`Forked ${id} into ${session.id} ("${session.title}", ${session.turnCount} turns).`);
  print(dim(`  Continue it with: opta chat --session ${session.id}`));
  return 0;
}
