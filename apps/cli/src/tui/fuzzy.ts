/**
 * Fuzzy matching for the model picker and the command palette: the query's characters must appear
 * in order; contiguous runs, word starts and an early first match score higher.
 */

/** Score of `query` against `text` (higher is better), or undefined when it does not match. */
export function fuzzyScore(query: string, text: string): number | undefined {
  const q = query.toLowerCase().replace(/\s+/g, "");
  if (!q) return 0;
  const t = text.toLowerCase();
  let score = 0;
  let from = 0;
  let previous = -2;
  for (const char of q) {
    const index = t.indexOf(char, from);
    if (index < 0) return undefined;
    score += 1;
    if (index === previous + 1) score += 3; // contiguous
    const before = index > 0 ? t[index - 1]! : " ";
    if (index === 0 || /[\s/\-_.·:]/.test(before)) score += 2; // word start
    previous = index;
    from = index + 1;
  }
  const first = t.indexOf(q[0]!);
  score -= Math.min(first, 10) * 0.1;
  if (t.includes(q)) score += 5;
  if (t.startsWith(q)) score += 10;
  if (t === q) score += 100;
  return score;
}

/**
 * Filters items by a fuzzy query. With an empty query the given order is kept; otherwise the best
 * matches come first, ties keeping the given order (so "recent first" still holds among equals).
 */
export function fuzzyFilter<T>(items: readonly T[], query: string, text: (item: T) => string): T[] {
  if (!query.trim()) return [...items];
  const scored: Array<{ item: T; score: number; index: number }> = [];
  items.forEach((item, index) => {
    const score = fuzzyScore(query, text(item));
    if (score !== undefined) scored.push({ item, score, index });
  });
  scored.sort((a, b) => b.score - a.score || a.index - b.index);
  return scored.map((entry) => entry.item);
}
