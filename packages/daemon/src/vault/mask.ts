/** The dots a masked key shows in place of its middle. */
const DOTS = "••••";

/**
 * A key as `opta account list` shows it: a recognisable prefix (`sk-ant-`, `sk-proj-`, `sk-`) and
 * the last four characters, never more than a quarter of the key.
 */
export function maskSecret(secret: string): string {
  const prefix = /^[A-Za-z]{2,4}-(?:[A-Za-z]{2,5}-)?/.exec(secret)?.[0] ?? "";
  const visiblePrefix = prefix.length <= secret.length / 3 ? prefix : "";
  const tail = secret.length >= 16 ? secret.slice(-4) : "";
  return `${visiblePrefix}${DOTS}${tail}`;
}

// Shapes of credentials, masked wherever they appear even when the exact key is unknown here.
const SECRET_SHAPES: RegExp[] = [/\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{8,}/g, /\b(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi];

/** Replaces every known secret (and anything shaped like an API key) in `text` with its mask. */
export function redactSecrets(text: string, secrets: Iterable<string | undefined> = []): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 6) out = out.split(secret).join(maskSecret(secret));
  }
  for (const shape of SECRET_SHAPES) {
    out = out.replace(shape, (match, bearer?: string) =>
      typeof bearer === "string" ? `${bearer}${DOTS}` : maskSecret(match),
    );
  }
  return out;
}
