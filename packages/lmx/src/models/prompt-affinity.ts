/**
 * Which conversation each sequence's KV cache holds, so a request goes to the free sequence that
 * already has the longest prefix of its prompt (what llama-server's `cache_prompt` slot choice
 * does). Without it the pool hands out the most recently released sequence, so two conversations
 * taking turns would each find the other's cache and re-evaluate their whole prompt every turn.
 *
 * The record is the rendered prompt text plus the answer, not tokens: comparing strings needs no
 * tokenization before the first token. It is only a hint — node-llama-cpp compares the actual
 * tokens and keeps exactly the shared prefix — so a stale record costs speed, never correctness.
 */
const held = new WeakMap<object, string>();

/** Length of the common prefix of two strings, in UTF-16 code units. */
export function commonPrefixLength(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  let index = 0;
  while (index < length && a.charCodeAt(index) === b.charCodeAt(index)) index++;
  return index;
}

/** Records what `sequence` now holds: the prompt once it is taken, the prompt and answer after. */
export function rememberHeldText(sequence: object, text: string): void {
  held.set(sequence, text);
}

/**
 * Share of a prompt a sequence must already hold to be chosen for it (llama-server's default
 * `--slot-prompt-similarity`). Below it, a shared system prompt or template preamble would be
 * enough to take over another conversation's sequence; the pool then takes the least recently
 * used one instead.
 */
export const MIN_SHARED_FRACTION = 0.5;

/** A slot preference: how much of `prompt` each sequence already holds, 0 below the threshold. */
export function affinityTo(prompt: string): (sequence: object) => number {
  const minimum = Math.max(1, Math.ceil(prompt.length * MIN_SHARED_FRACTION));
  return (sequence) => {
    const shared = commonPrefixLength(held.get(sequence) ?? "", prompt);
    return shared >= minimum ? shared : 0;
  };
}
