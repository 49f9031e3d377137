/**
 * Combinable aggregations for windows. An `Aggregator` folds values into an
 * accumulator (`empty`, `add`) and merges two accumulators (`combine`), so a
 * hopping window is the combination of its panes and merged sessions combine
 * their parts. `result` turns an accumulator into the emitted value; `codec`
 * lets a durable store keep accumulators.
 *
 * ```ts
 * import { BigDecimal } from "effect"
 * import { Aggregator } from "@sluice/core"
 *
 * interface Order { readonly customer: string; readonly amount: BigDecimal.BigDecimal }
 *
 * const sales = Aggregator.struct({
 *   orders: Aggregator.count,
 *   revenue: Aggregator.sum((o: Order) => o.amount),
 *   customers: Aggregator.distinctCount((o: Order) => o.customer)
 * })
 * ```
 *
 * @since 0.2.0
 */
import { BigDecimal, Option } from "effect"
import * as codecs from "./internal/codecs.ts"
import type { Codec } from "./StateStore.ts"

/**
 * A combinable aggregation of values `A` into an accumulator `Acc` with the
 * result `Out`. `add` and `combine` may update their first argument in place
 * and return it; they never change their second argument. `combine` must be
 * associative with `empty()` as its identity.
 *
 * @since 0.2.0
 * @category models
 */
export interface Aggregator<in A, Acc, out Out> {
  readonly empty: () => Acc
  readonly add: (acc: Acc, value: A) => Acc
  readonly combine: (self: Acc, that: Acc) => Acc
  readonly result: (acc: Acc) => Out
  readonly codec: Codec<Acc>
}

/**
 * A user-defined aggregator.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = <A, Acc, Out>(aggregator: Aggregator<A, Acc, Out>): Aggregator<A, Acc, Out> => aggregator

/**
 * The number of values.
 *
 * @since 0.2.0
 * @category aggregators
 */
export const count: Aggregator<unknown, number, number> = {
  empty: () => 0,
  add: (acc) => acc + 1,
  combine: (self, that) => self + that,
  result: (acc) => acc,
  codec: codecs.float64
}

const zero = BigDecimal.fromBigInt(0n)

/**
 * The exact decimal sum of `f` over the values.
 *
 * @since 0.2.0
 * @category aggregators
 */
export const sum = <A>(
  f: (value: A) => BigDecimal.BigDecimal
): Aggregator<A, BigDecimal.BigDecimal, BigDecimal.BigDecimal> => ({
  empty: () => zero,
  add: (acc, value) => BigDecimal.sum(acc, f(value)),
  combine: (self, that) => BigDecimal.sum(self, that),
  result: BigDecimal.normalize,
  codec: codecs.bigDecimal
})

/**
 * The smallest `f` over the values; none for no values.
 *
 * @since 0.2.0
 * @category aggregators
 */
export const min = <A>(f: (value: A) => number): Aggregator<A, number, Option.Option<number>> => ({
  empty: () => Number.POSITIVE_INFINITY,
  add: (acc, value) => Math.min(acc, f(value)),
  combine: (self, that) => Math.min(self, that),
  result: (acc) => (acc === Number.POSITIVE_INFINITY ? Option.none() : Option.some(acc)),
  codec: codecs.float64
})

/**
 * The largest `f` over the values; none for no values.
 *
 * @since 0.2.0
 * @category aggregators
 */
export const max = <A>(f: (value: A) => number): Aggregator<A, number, Option.Option<number>> => ({
  empty: () => Number.NEGATIVE_INFINITY,
  add: (acc, value) => Math.max(acc, f(value)),
  combine: (self, that) => Math.max(self, that),
  result: (acc) => (acc === Number.NEGATIVE_INFINITY ? Option.none() : Option.some(acc)),
  codec: codecs.float64
})

/**
 * The exact decimal mean of `f` over the values (sum and count are kept, so
 * panes combine exactly); none for no values.
 *
 * @since 0.2.0
 * @category aggregators
 */
export const average = <A>(
  f: (value: A) => BigDecimal.BigDecimal
): Aggregator<A, readonly [BigDecimal.BigDecimal, number], Option.Option<BigDecimal.BigDecimal>> => ({
  empty: () => [zero, 0],
  add: ([s, n], value) => [BigDecimal.sum(s, f(value)), n + 1],
  combine: ([s1, n1], [s2, n2]) => [BigDecimal.sum(s1, s2), n1 + n2],
  result: ([s, n]) => Option.map(BigDecimal.divide(s, BigDecimal.fromBigInt(BigInt(n))), BigDecimal.normalize),
  codec: codecs.tuple(codecs.bigDecimal, codecs.float64)
})

/**
 * The number of distinct `f` over the values. Exact: the accumulator keeps
 * the distinct keys, so its size grows with them.
 *
 * @since 0.2.0
 * @category aggregators
 */
export const distinctCount = <A>(f: (value: A) => string): Aggregator<A, Set<string>, number> => ({
  empty: () => new Set(),
  add: (acc, value) => acc.add(f(value)),
  combine: (self, that) => {
    for (const x of that) self.add(x)
    return self
  },
  result: (acc) => acc.size,
  codec: codecs.stringSet
})

/**
 * Any aggregator, whatever its types: the constraint of `struct`'s fields.
 *
 * @since 0.2.0
 * @category models
 */
export interface Any {
  readonly empty: () => unknown
  readonly add: (acc: never, value: never) => unknown
  readonly combine: (self: never, that: never) => unknown
  readonly result: (acc: never) => unknown
  readonly codec: Codec<unknown>
}

// `unknown` inputs (count) are dropped so they do not swallow the others in the union.
type InOf<G> = G extends Aggregator<infer A, infer _Acc, infer _Out> ? (unknown extends A ? never : A) : never
type AccOf<G> = G extends Aggregator<infer _A, infer Acc, infer _Out> ? Acc : never
type OutOf<G> = G extends Aggregator<infer _A, infer _Acc, infer Out> ? Out : never
type Intersect<U> = [U] extends [never]
  ? unknown
  : (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void
    ? I
    : never

/**
 * Runs several aggregators over the same values; the result is a record
 * with one field per aggregator.
 *
 * @since 0.2.0
 * @category combinators
 */
export const struct = <const Fields extends Record<string, Any>>(
  fields: Fields
): Aggregator<
  Intersect<{ [K in keyof Fields]: InOf<Fields[K]> }[keyof Fields]>,
  { -readonly [K in keyof Fields]: AccOf<Fields[K]> },
  { readonly [K in keyof Fields]: OutOf<Fields[K]> }
> => {
  type A = Intersect<{ [K in keyof Fields]: InOf<Fields[K]> }[keyof Fields]>
  const entries = Object.entries(fields) as unknown as Array<[string, Aggregator<A, unknown, unknown>]>
  type Accs = Record<string, unknown>
  const aggregator: Aggregator<A, Accs, Record<string, unknown>> = {
    empty: () => {
      const acc: Accs = {}
      for (const [name, g] of entries) acc[name] = g.empty()
      return acc
    },
    add: (acc, value) => {
      for (const [name, g] of entries) acc[name] = g.add(acc[name], value)
      return acc
    },
    combine: (self, that) => {
      for (const [name, g] of entries) self[name] = g.combine(self[name], that[name])
      return self
    },
    result: (acc) => {
      const out: Record<string, unknown> = {}
      for (const [name, g] of entries) out[name] = g.result(acc[name])
      return out
    },
    codec: {
      encode: (acc) => codecs.concat(entries.map(([name, g]) => g.codec.encode(acc[name]))),
      decode: (bytes) => {
        const parts = codecs.split(bytes)
        const acc: Accs = {}
        entries.forEach(([name, g], i) => {
          acc[name] = g.codec.decode(parts[i]!)
        })
        return acc
      }
    }
  }
  return aggregator as never
}
