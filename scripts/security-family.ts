import type { TaskMeta } from "vitest";

/**
 * Attack families of the security suite. Each family's test replays its attacks, then calls
 * `reportFamily` with the outcome of every one; the summary reporter prints
 * `security <family>: N tried, N refused` for each family at the end of `npm test`, and the test
 * itself fails unless every attack was refused.
 */
export interface SecurityCase {
  /** What was tried, short enough to print, e.g. `echo a\r# ; touch M`. */
  attack: string;
  /** Whether the product refused it (gate asked/denied, request rejected, nothing leaked). */
  refused: boolean;
  /** For a case that got through: what happened. */
  detail?: string;
}

export interface SecurityFamilyMeta {
  family: string;
  tried: number;
  refused: number;
  /** The attacks that got through, for the failure message. */
  through: string[];
}

declare module "vitest" {
  interface TaskMeta {
    security?: SecurityFamilyMeta;
  }
}

/** Records a family's results on the running test (for the reporter) and returns them. */
export function reportFamily(
  task: { meta: TaskMeta },
  family: string,
  cases: readonly SecurityCase[],
): SecurityFamilyMeta {
  const through = cases
    .filter((entry) => !entry.refused)
    .map((entry) => (entry.detail ? `${entry.attack} (${entry.detail})` : entry.attack));
  const meta: SecurityFamilyMeta = {
    family,
    tried: cases.length,
    refused: cases.length - through.length,
    through,
  };
  const previous = task.meta.security;
  // Several calls in one test add up (a family split into parts).
  task.meta.security = previous
    ? {
        family,
        tried: previous.tried + meta.tried,
        refused: previous.refused + meta.refused,
        through: [...previous.through, ...meta.through],
      }
    : meta;
  return meta;
}
