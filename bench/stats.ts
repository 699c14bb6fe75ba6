/** Small statistics helpers shared by the benchmarks. */

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

export function fmt(value: number, digits = 2): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "n/a";
}

/** Prints one result row: name, figure, unit, baseline, ratio, target and whether it is met. */
export function report(row: {
  name: string;
  value: number;
  unit: string;
  baseline?: { label: string; value: number };
  target: string;
  met: boolean;
}): void {
  const base = row.baseline
    ? ` | baseline ${row.baseline.label}: ${fmt(row.baseline.value)} ${row.unit} | ratio ${fmt(row.value / row.baseline.value)}`
    : "";
  console.log(
    `${row.name}: ${fmt(row.value)} ${row.unit}${base} | target ${row.target} | ${row.met ? "MET" : "NOT MET"}`,
  );
}
