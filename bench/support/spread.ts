/**
 * Figures repeated over several rounds, shown as their spread: a benchmark on
 * a shared machine reports the lowest and highest value seen, not one lucky
 * (or unlucky) number.
 */

/** Lowest, highest and median of a repeated figure (NaN values left out). */
export interface Spread {
  readonly min: number
  readonly max: number
  readonly median: number
  readonly values: ReadonlyArray<number>
}

/** The spread of `values`; all NaN when none is finite. */
export const spread = (values: ReadonlyArray<number>): Spread => {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (finite.length === 0) return { min: Number.NaN, max: Number.NaN, median: Number.NaN, values }
  const mid = Math.floor(finite.length / 2)
  const median = finite.length % 2 === 1 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2
  return { min: finite[0]!, max: finite[finite.length - 1]!, median, values }
}

/** `min–max` with `digits` decimals, or the one value when they are equal; `-` when there is none. */
export const formatSpread = (s: Spread, digits = 0): string => {
  if (!Number.isFinite(s.min)) return "-"
  const min = s.min.toFixed(digits)
  const max = s.max.toFixed(digits)
  return min === max ? min : `${min}–${max}`
}
