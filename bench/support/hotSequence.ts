/**
 * An input order with a working set: each position either takes the next
 * fresh item or, with probability `repeatRate`, repeats an item used in the
 * last `window` positions. Fed with generated payments, about `repeatRate` of
 * the lookups ask for a claim asked for moments ago, so a cache larger than
 * the window, with a TTL longer than the run, answers about that share of
 * them; the rest are first sightings that must reach the database.
 */

// mulberry32: small, fast and the same on every platform.
const prng = (seed: number) => {
  let state = seed >>> 0
  return (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** `count` item indices (0, 1, 2, ... for fresh items) in the order described above. */
export const hotSequence = (
  count: number,
  options: { readonly repeatRate: number; readonly window: number; readonly seed: number }
): Int32Array => {
  const random = prng(options.seed)
  const order = new Int32Array(count)
  let fresh = 0
  for (let i = 0; i < count; i++) {
    order[i] =
      i > 0 && random() < options.repeatRate
        ? order[i - 1 - Math.floor(random() * Math.min(i, options.window))]!
        : fresh++
  }
  return order
}
