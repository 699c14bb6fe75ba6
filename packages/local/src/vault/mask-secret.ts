/** The dots a masked key shows in place of its middle. */
export const SECRET_DOTS = "••••";

/**
 * A key as `opta account list` shows it: a recognisable prefix (`sk-ant-`, `sk-proj-`, `sk-`) and
 * the last four characters, never more than a quarter of the key.
 */
export function maskSecret(secret: string): string {
  const prefix = /^[A-Za-z]{2,4}-(?:[A-Za-z]{2,5}-)?/.exec(secret)?.[0] ?? "";
  const visiblePrefix = prefix.length <= secret.length / 3 ? prefix : "";
  const tail = secret.length >= 16 ? secret.slice(-4) : "";
  return `${visiblePrefix}${SECRET_DOTS}${tail}`;
}
