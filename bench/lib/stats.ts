// Summaries shared by the benchmarks: medians, spread, ratios.

/** The median of `xs`. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median, min, max and the raw runs of one contender. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

/** Summarises repeated runs. */
export function summarize(xs: readonly number[]): Summary {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: [...xs] };
}
