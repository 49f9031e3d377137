/**
 * A two-stream join by a common key, with state on both sides (seed 002's
 * inventory: stock updates ⋈ sales per product). Each side folds its records
 * into a per-key state (by default: the latest value); every record updates
 * its side and may emit outputs from both sides' current states. Built on
 * `Keyed.process`, so state lives in the `StateStore`, may expire (e.g. after
 * 7 days of event time), and receipts follow the same rules.
 *
 * Both inputs must be co-partitioned, i.e. have the same number of
 * partitions and the same partitioner, so a key's records from both sides
 * meet in one partition; the partition counts are checked when the stream
 * starts and a mismatch fails with a `TopologyError` that says so.
 * (Re-key a side with `Repartition` first if needed.)
 *
 * @since 0.2.0
 */
import { type Duration, Effect, Option, Stream } from "effect"
import * as Envelope from "./Envelope.ts"
import * as codecs from "./internal/codecs.ts"
import * as Keyed from "./Keyed.ts"
import type { StateError } from "./StateError.ts"
import type * as StateStore from "./StateStore.ts"
import { TopologyError } from "./TopologyError.ts"
import type * as Watermark from "./Watermark.ts"

/**
 * One input of a join.
 *
 * @since 0.2.0
 * @category models
 */
export interface Side<A, S, E, R> {
  readonly stream: Stream.Stream<Envelope.Envelope<A>, E, R>
  /** Partition count of the side's topic, for the co-partitioning check. */
  readonly partitions: number
  readonly key: (value: A, envelope: Envelope.Envelope<A>) => string
  readonly codec: StateStore.Codec<S>
  /** Folds a record into the side's state; keeps the latest value by default (then `S` is `A`). */
  readonly update?: ((state: Option.Option<S>, value: A) => S) | undefined
}

/**
 * The two states of a key after a record of `side` was folded in.
 *
 * @since 0.2.0
 * @category models
 */
export interface Joined<L, R> {
  readonly key: string
  readonly side: "left" | "right"
  readonly left: Option.Option<L>
  readonly right: Option.Option<R>
  /** The event time of the record. */
  readonly timestamp: number
}

/**
 * Options of `join`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options<LA, LS, LE, LR, RA, RS, RE, RR, B> {
  /** Names the join's state stores; unique per job. */
  readonly name: string
  readonly left: Side<LA, LS, LE, LR>
  readonly right: Side<RA, RS, RE, RR>
  /** The outputs for a key after a record updated one side. */
  readonly output: (joined: Joined<LS, RS>) => ReadonlyArray<B>
  /** Forget a key's state this long after its last update (both sides together). */
  readonly ttl?: { readonly ttl: Duration.Input; readonly domain: Keyed.TimeDomain } | undefined
  readonly watermark?: Watermark.Options | undefined
  /** The event time of either side's records; the record timestamp by default. */
  readonly timestamp?: ((envelope: Envelope.Envelope<unknown>) => number) | undefined
}

type Tagged<L, R> = { readonly side: "left"; readonly value: L } | { readonly side: "right"; readonly value: R }

interface Both<L, R> {
  readonly left: Option.Option<L>
  readonly right: Option.Option<R>
}

const optional = <A>(codec: StateStore.Codec<A>): StateStore.Codec<Option.Option<A>> => ({
  encode: (o) => (Option.isNone(o) ? new Uint8Array() : codecs.concat([codec.encode(o.value)])),
  decode: (bytes) => (bytes.length === 0 ? Option.none() : Option.some(codec.decode(codecs.split(bytes)[0]!)))
})

const bothCodec = <L, R>(left: StateStore.Codec<L>, right: StateStore.Codec<R>): StateStore.Codec<Both<L, R>> => {
  const pair = codecs.tuple(optional(left), optional(right))
  return {
    encode: (b) => pair.encode([b.left, b.right]),
    decode: (bytes) => {
      const [l, r] = pair.decode(bytes)
      return { left: l, right: r }
    }
  }
}

/**
 * Joins two keyed streams; see the module notes.
 *
 * @since 0.2.0
 * @category operators
 */
export const join = <LA, LS, LE, LR, RA, RS, RE, RR, B>(
  options: Options<LA, LS, LE, LR, RA, RS, RE, RR, B>
): Stream.Stream<Envelope.Envelope<B>, LE | RE | StateError | TopologyError, LR | RR | StateStore.StateStore> =>
  Stream.unwrap(
    Effect.suspend(() => {
      const { left, right } = options
      if (left.partitions !== right.partitions) {
        return Effect.fail(
          new TopologyError({
            reason: "NotCoPartitioned",
            detail: `join "${options.name}": the left input has ${left.partitions} partitions and the right ${right.partitions}; a key's records must meet in one partition, so repartition one side to ${left.partitions} partitions first`
          })
        )
      }
      const updateLeft = left.update ?? ((_: Option.Option<LS>, value: LA) => value as unknown as LS)
      const updateRight = right.update ?? ((_: Option.Option<RS>, value: RA) => value as unknown as RS)
      const merged: Stream.Stream<Envelope.Envelope<Tagged<LA, RA>>, LE | RE, LR | RR> = Stream.merge(
        Stream.map(left.stream, (e) => Envelope.map(e, (value): Tagged<LA, RA> => ({ side: "left", value }))),
        Stream.map(right.stream, (e) => Envelope.map(e, (value): Tagged<LA, RA> => ({ side: "right", value })))
      )
      const keyOf = (t: Tagged<LA, RA>, e: Envelope.Envelope<Tagged<LA, RA>>) =>
        t.side === "left"
          ? left.key(t.value, Envelope.make(e.origin, t.value, e.receipt))
          : right.key(t.value, Envelope.make(e.origin, t.value, e.receipt))
      const timestamp = options.timestamp
      return Effect.succeed(
        merged.pipe(
          Keyed.process({
            name: options.name,
            key: keyOf,
            codec: bothCodec(left.codec, right.codec),
            ...(timestamp === undefined
              ? {}
              : { timestamp: (_: Tagged<LA, RA>, e: Envelope.Envelope<Tagged<LA, RA>>) => timestamp(e) }),
            watermark: options.watermark,
            ttl: options.ttl,
            onRecord: (ctx, t) =>
              Effect.sync(() => {
                const before: Both<LS, RS> = Option.getOrElse(ctx.state, () => ({
                  left: Option.none(),
                  right: Option.none()
                }))
                const after: Both<LS, RS> =
                  t.side === "left"
                    ? { left: Option.some(updateLeft(before.left, t.value)), right: before.right }
                    : { left: before.left, right: Option.some(updateRight(before.right, t.value)) }
                ctx.set(after)
                return options.output({
                  key: ctx.key,
                  side: t.side,
                  left: after.left,
                  right: after.right,
                  timestamp: ctx.timestamp
                })
              })
          })
        )
      )
    })
  )
