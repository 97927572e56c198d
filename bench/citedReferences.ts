/**
 * Figures the benchmarks print for context that are NOT measured in the same run: published numbers
 * from other hardware, or estimates built from them. A benchmark prints them as a cited reference
 * with their source, next to its own measurements, never divided into them: a "× native" built on a
 * figure from another machine would read as a measurement and mislead (issue 11, finding 10). A
 * goal set from such a figure is printed as the absolute budget it fixes.
 */

export interface CitedFigure {
  readonly value: number;
  readonly unit: string;
  readonly what: string;
  /** Where the figure comes from, and how it was obtained. */
  readonly source: string;
}

/** Native neptune, one Poseidon arity-8 hash on one core. */
export const NEPTUNE_ARITY8: CitedFigure = {
  value: 35,
  unit: "µs/hash",
  what: "native neptune, Poseidon arity 8, one core",
  source:
    "an estimate: lurk-lab/neptune PR #236 measured arities 2/4/11 (11.0/17.6/48.9 µs) on an Apple M1 in 2023; arity 8 interpolated with an op-count model (/work/shared/reference/post-proofs.md §4.1)",
};

/** Native rust-fil-proofs, the vanilla proofs of one 32 GiB partition (≈1.95 M arity-8 hashes). */
export const NATIVE_PARTITION: CitedFigure = {
  value: 68,
  unit: "core-seconds",
  what: "native vanilla proofs of one 32 GiB partition",
  source: `1.95 M arity-8 hashes × the ${NEPTUNE_ARITY8.value} µs/hash estimate of native neptune (/work/shared/reference/post-proofs.md §4.2), not a measurement`,
};

/** Two lines for a benchmark's output: the figure, then its source, both marked as not measured here. */
export function citedLines(f: CitedFigure, indent = "  "): string[] {
  return [
    `${indent}cited reference, not measured here: ${f.what} ≈ ${f.value} ${f.unit}`,
    `${indent}  (source: ${f.source}; other hardware, so no ratio is given)`,
  ];
}
