// Per-call latencies for the benchmarks: an HDR histogram in nanoseconds
// (hdr-histogram-js), p50 and p99 read in µs. A histogram travels between
// processes as its compressed base64 form, so two workers' calls merge into
// one distribution rather than an average of their percentiles.
import hdr from 'hdr-histogram-js';

type Histogram = ReturnType<typeof hdr.build>;

/** A histogram for call times from 1 ns to 60 s, three significant digits. */
export function latencyHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60e9, numberOfSignificantValueDigits: 3 });
}

/** p50 and p99 in µs. */
export function percentilesUs(h: Histogram): { p50Us: number; p99Us: number } {
  return { p50Us: h.getValueAtPercentile(50) / 1000, p99Us: h.getValueAtPercentile(99) / 1000 };
}

/** The compressed form of `h`, to send to another process. */
export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

/** One histogram holding every value of the encoded ones. */
export function mergeHistograms(encoded: readonly string[]): Histogram {
  const all = latencyHistogram();
  for (const e of encoded) all.add(hdr.decodeFromCompressedBase64(e));
  return all;
}
