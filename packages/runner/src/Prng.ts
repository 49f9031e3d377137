/**
 * A small, fast, seedable pseudo-random generator (mulberry32) with a
 * splitmix-style mix of (seed, index), so record i of a generator run is the
 * same whatever records were generated before it. Not for cryptography.
 *
 * @since 0.1.0
 */

const mix = (a: number, b: number): number => {
  let h = (a ^ Math.imul(b ^ 0x9e3779b9, 0x85ebca6b)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d)
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b)
  return (h ^ (h >>> 16)) >>> 0
}

/**
 * A seeded pseudo-random generator.
 *
 * @since 0.1.0
 * @category models
 */
export interface Prng {
  /** A float in [0, 1). */
  readonly next: () => number
  /** An integer in [min, max]. */
  readonly int: (min: number, max: number) => number
  readonly pick: <A>(values: ReadonlyArray<A>) => A
}

/**
 * The generator for record `index` of a run with `seed`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (seed: number, index: number): Prng => {
  let state = mix(seed >>> 0, index >>> 0)
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1))
  return { next, int, pick: (values) => values[int(0, values.length - 1)]! }
}
