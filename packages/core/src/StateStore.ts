/**
 * Keyed state for stream operators. A `StateStore` opens named stores; a
 * `Store<V>` is partitioned like the operator's input (every call names the
 * input partition) and keeps string keys in order, so `range` by prefix
 * returns entries sorted by key. Values are typed per store with a `Codec`
 * because a durable implementation writes bytes; the in-memory one here
 * keeps the values themselves.
 *
 * Durability is a barrier, not a property of each call: `flush` returns once
 * every change made so far is durable (in memory: at once; a changelog-backed
 * store: once Kafka acknowledged the changelog writes). An operator whose
 * record changed only state acknowledges that record's receipt after the
 * barrier, so a durable store plugs in without any change to operators; the
 * operators start it with `flushAsync` and go on with their next records
 * while it completes.
 *
 * Entries may carry a time to live, counted in processing time (`Clock`) or
 * in event time (the partition's event time, advanced with `expire`). An
 * expired entry reads as absent and is removed like a `delete` (a durable
 * store logs a tombstone).
 *
 * Timers are entries too: an operator keeps them in a store of its own keyed
 * `<time>/<key>` (see `timeKey`), so `range` returns them in time order and a
 * durable store makes them durable for free.
 *
 * @since 0.2.0
 */
import { Clock, Context, Duration, Effect, Layer, Option, Schema, type Scope } from "effect"
import { encodeUtf8 } from "./internal/utf8.ts"
import { StateError } from "./StateError.ts"

/**
 * Turns a store's values into bytes and back.
 *
 * @since 0.2.0
 * @category models
 */
export interface Codec<V> {
  encode(value: V): Uint8Array
  decode(bytes: Uint8Array): V
}

const textDecoder = new TextDecoder()

/**
 * A codec from a schema, written as JSON text in UTF-8. Encoding or decoding
 * throws on a value the schema rejects; stores turn that into a `Codec`
 * `StateError`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const jsonCodec = <
  S extends Schema.Top & { readonly DecodingServices: never; readonly EncodingServices: never }
>(
  schema: S
): Codec<S["Type"]> => {
  const json = Schema.fromJsonString(schema)
  const encode = Schema.encodeSync(json)
  const decode = Schema.decodeUnknownSync(json)
  return {
    encode: (value) => encodeUtf8(encode(value) as string),
    decode: (bytes) => decode(textDecoder.decode(bytes))
  }
}

/**
 * A codec for finite numbers.
 *
 * @since 0.2.0
 * @category constructors
 */
export const numberCodec: Codec<number> = jsonCodec(Schema.Number)

/**
 * The clock a time to live is counted in.
 *
 * @since 0.2.0
 * @category models
 */
export type TtlDomain = "event-time" | "processing-time"

/**
 * Options of `Store.set`.
 *
 * @since 0.2.0
 * @category models
 */
export interface SetOptions {
  /** The entry expires this long after `now`; never by default. */
  readonly ttl?: Duration.Input | undefined
  /** `processing-time` by default. */
  readonly ttlDomain?: TtlDomain | undefined
  /**
   * The time the TTL counts from, in epoch ms: by default the `Clock` for
   * processing time, the partition's event time for event time.
   */
  readonly now?: number | undefined
}

/**
 * One named store, partitioned like its input.
 *
 * @since 0.2.0
 * @category models
 */
export interface Store<V> {
  readonly name: string
  /** The value of `key`, if present and not expired. */
  get(partition: number, key: string): Effect.Effect<Option.Option<V>, StateError>
  /** Sets `key`, replacing any value and time to live it had. */
  set(partition: number, key: string, value: V, options?: SetOptions): Effect.Effect<void, StateError>
  delete(partition: number, key: string): Effect.Effect<void, StateError>
  /** Sets many keys at once, without a time to live: what an operator's write-back cache writes per chunk. */
  setMany(partition: number, entries: Iterable<readonly [key: string, value: V]>): Effect.Effect<void, StateError>
  /** Deletes many keys at once. */
  deleteMany(partition: number, keys: Iterable<string>): Effect.Effect<void, StateError>
  /** The live entries whose key starts with `prefix`, ordered by key. */
  range(partition: number, prefix: string): Effect.Effect<ReadonlyArray<readonly [string, V]>, StateError>
  /**
   * Advances the partition's event time to `eventTime` (it never goes back)
   * and removes every entry whose time to live has passed, in either domain.
   * Returns how many entries expired.
   */
  expire(partition: number, eventTime?: number): Effect.Effect<number, StateError>
  /**
   * The durability barrier: returns once every change made so far to the
   * given partitions (all by default) is durable.
   */
  flush(partitions?: Iterable<number>): Effect.Effect<void, StateError>
  /**
   * The durability barrier without waiting at it: starts making every change
   * made so far to the given partitions (all by default) durable and returns
   * the wait for it. An operator goes on processing meanwhile and
   * acknowledges the receipts the barrier covers when the wait succeeds.
   * Optional, for stores written before it: `flushAsync(store)` falls back
   * to `flush`.
   */
  flushAsync?(partitions?: Iterable<number>): Effect.Effect<Effect.Effect<void, StateError>>
  /**
   * Takes ownership of partitions; a durable store restores them from its
   * changelog before returning. Every other call fails with a `Closed` error
   * for a partition that is not assigned.
   */
  assign(partitions: Iterable<number>): Effect.Effect<void, StateError>
  /** Gives partitions up (after a flush); their state stays in the changelog. */
  revoke(partitions: Iterable<number>): Effect.Effect<void, StateError>
  /** Live entries of one partition, or of all assigned partitions. */
  size(partition?: number): Effect.Effect<number, StateError>
}

/**
 * Starts a store's durability barrier and returns the wait for it: the
 * store's own `flushAsync`, or, for a store without it, its `flush` run at
 * once (the wait is then already over).
 *
 * @since 0.3.0
 * @category combinators
 */
export const flushAsync = (
  store: Pick<Store<unknown>, "flush" | "flushAsync">,
  partitions?: Iterable<number>
): Effect.Effect<Effect.Effect<void, StateError>, StateError> =>
  store.flushAsync !== undefined ? store.flushAsync(partitions) : Effect.as(store.flush(partitions), Effect.void)

/**
 * Opens named stores. A store lives until the scope it was opened in closes.
 *
 * @since 0.2.0
 * @category services
 */
export class StateStore extends Context.Service<
  StateStore,
  {
    readonly open: <V>(name: string, codec: Codec<V>) => Effect.Effect<Store<V>, StateError, Scope.Scope>
  }
>()("@sluice/core/StateStore") {}

/**
 * The key of a timer or time-ordered entry: the time as 16 zero-padded
 * digits (so text order is time order for any epoch-ms time from 1970 on),
 * then `/`, then the key.
 *
 * @since 0.2.0
 * @category keys
 */
export const timeKey = (time: number, key: string): string =>
  `${String(Math.max(0, Math.floor(time))).padStart(16, "0")}/${key}`

/**
 * Reads the time and key back from a `timeKey`.
 *
 * @since 0.2.0
 * @category keys
 */
export const parseTimeKey = (timeKey: string): readonly [time: number, key: string] => {
  const slash = timeKey.indexOf("/")
  return [Number(timeKey.slice(0, slash)), timeKey.slice(slash + 1)]
}

// In-memory implementation

interface Entry<V> {
  value: V
  /** Epoch ms at which the entry expires, or +Infinity. */
  expiresAt: number
  domain: TtlDomain
}

interface MemoryPartition<V> {
  readonly entries: Map<string, Entry<V>>
  eventTime: number
}

/**
 * Options of the in-memory store.
 *
 * @since 0.2.0
 * @category models
 */
export interface MemoryOptions {
  /**
   * Pass every value through its codec on `set` and `get`, as a durable
   * store would: catches values that do not survive encoding, at a cost.
   * Off by default, when values are kept as they are.
   */
  readonly roundTrip?: boolean | undefined
}

interface MemoryStore<V> extends Store<V> {
  close(): void
}

const codecError = (store: string, cause: unknown) =>
  new StateError({ reason: "Codec", store, detail: cause instanceof Error ? cause.message : String(cause), cause })

const makeMemoryStore = <V>(
  name: string,
  codec: Codec<V>,
  data: Map<number, MemoryPartition<unknown>>,
  options: MemoryOptions | undefined
): MemoryStore<V> => {
  const assigned = new Set<number>()
  let closed = false
  const roundTrip = options?.roundTrip === true
  // Suspended: a store call is a description, checked when it runs, not when it is built.
  const partitionOf = (partition: number): Effect.Effect<MemoryPartition<V>, StateError> =>
    Effect.suspend(() => {
      if (closed) return Effect.fail(new StateError({ reason: "Closed", store: name, detail: "the store is closed" }))
      if (!assigned.has(partition)) {
        return Effect.fail(
          new StateError({ reason: "Closed", store: name, detail: `partition ${partition} is not assigned` })
        )
      }
      return Effect.succeed(data.get(partition) as MemoryPartition<V>)
    })
  const through = (value: V): Effect.Effect<V, StateError> =>
    roundTrip
      ? Effect.try({ try: () => codec.decode(codec.encode(value)), catch: (e) => codecError(name, e) })
      : Effect.succeed(value)
  const isExpired = (p: MemoryPartition<V>, entry: Entry<V>, now: number): boolean =>
    entry.expiresAt !== Number.POSITIVE_INFINITY &&
    (entry.domain === "processing-time" ? now >= entry.expiresAt : p.eventTime >= entry.expiresAt)
  const liveEntry = (p: MemoryPartition<V>, key: string, now: number): Entry<V> | undefined => {
    const entry = p.entries.get(key)
    if (entry === undefined) return undefined
    if (isExpired(p, entry, now)) {
      p.entries.delete(key)
      return undefined
    }
    return entry
  }
  return {
    name,
    get: (partition, key) =>
      Effect.flatMap(partitionOf(partition), (p) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const entry = liveEntry(p, key, now)
          return entry === undefined ? Effect.succeedNone : Effect.map(through(entry.value), Option.some)
        })
      ),
    set: (partition, key, value, setOptions) =>
      Effect.flatMap(partitionOf(partition), (p) =>
        Effect.flatMap(through(value), (stored) => {
          if (setOptions?.ttl === undefined) {
            p.entries.set(key, { value: stored, expiresAt: Number.POSITIVE_INFINITY, domain: "processing-time" })
            return Effect.void
          }
          const ttl = Duration.toMillis(Duration.fromInputUnsafe(setOptions.ttl))
          const domain = setOptions.ttlDomain ?? "processing-time"
          return Effect.map(Clock.currentTimeMillis, (clock) => {
            const from = setOptions.now ?? (domain === "processing-time" ? clock : p.eventTime)
            p.entries.set(key, { value: stored, expiresAt: from + ttl, domain })
          })
        })
      ),
    delete: (partition, key) =>
      Effect.map(partitionOf(partition), (p) => {
        p.entries.delete(key)
      }),
    setMany: (partition, entries) =>
      Effect.flatMap(partitionOf(partition), (p) => {
        if (roundTrip) {
          return Effect.forEach(
            entries,
            ([key, value]) =>
              Effect.map(through(value), (stored) => {
                p.entries.set(key, { value: stored, expiresAt: Number.POSITIVE_INFINITY, domain: "processing-time" })
              }),
            { discard: true }
          )
        }
        for (const [key, value] of entries) {
          p.entries.set(key, { value, expiresAt: Number.POSITIVE_INFINITY, domain: "processing-time" })
        }
        return Effect.void
      }),
    deleteMany: (partition, keys) =>
      Effect.map(partitionOf(partition), (p) => {
        for (const key of keys) p.entries.delete(key)
      }),
    range: (partition, prefix) =>
      Effect.flatMap(partitionOf(partition), (p) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const keys: Array<string> = []
          for (const key of p.entries.keys()) if (key.startsWith(prefix)) keys.push(key)
          keys.sort()
          const out: Array<readonly [string, V]> = []
          for (const key of keys) {
            const entry = liveEntry(p, key, now)
            if (entry !== undefined) out.push([key, entry.value])
          }
          return roundTrip
            ? Effect.forEach(out, ([k, v]) => Effect.map(through(v), (w) => [k, w] as const))
            : Effect.succeed(out)
        })
      ),
    expire: (partition, eventTime) =>
      Effect.flatMap(partitionOf(partition), (p) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          if (eventTime !== undefined && eventTime > p.eventTime) p.eventTime = eventTime
          let expired = 0
          for (const [key, entry] of p.entries) {
            if (isExpired(p, entry, now)) {
              p.entries.delete(key)
              expired++
            }
          }
          return expired
        })
      ),
    // In memory every change is as durable as it will ever be.
    flush: (partitions) =>
      partitions === undefined ? Effect.void : Effect.forEach(partitions, partitionOf, { discard: true }),
    // Nothing to start; the wait checks the partitions, as `flush` does.
    flushAsync: (partitions) =>
      Effect.succeed(
        partitions === undefined ? Effect.void : Effect.forEach([...partitions], partitionOf, { discard: true })
      ),
    assign: (partitions) =>
      Effect.sync(() => {
        for (const partition of partitions) {
          assigned.add(partition)
          if (!data.has(partition)) data.set(partition, { entries: new Map(), eventTime: Number.NEGATIVE_INFINITY })
        }
      }),
    // The data stays: in memory the map itself plays the changelog a new owner would restore from.
    revoke: (partitions) =>
      Effect.sync(() => {
        for (const partition of partitions) assigned.delete(partition)
      }),
    size: (partition) =>
      partition === undefined
        ? Effect.sync(() => {
            let n = 0
            for (const p of assigned) n += data.get(p)?.entries.size ?? 0
            return n
          })
        : Effect.map(partitionOf(partition), (p) => p.entries.size),
    close: () => {
      closed = true
    }
  }
}

/**
 * An in-memory `StateStore`. The data of a store outlives the scope it was
 * opened in, for as long as this service lives: a store opened again under
 * the same name finds its entries, which is what an operator restarted in
 * the same process (or a partition moved back) expects.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeMemory = (options?: MemoryOptions): Effect.Effect<StateStore["Service"]> =>
  Effect.sync(() => {
    const stores = new Map<string, Map<number, MemoryPartition<unknown>>>()
    return {
      open: <V>(name: string, codec: Codec<V>) =>
        Effect.acquireRelease(
          Effect.sync(() => {
            let data = stores.get(name)
            if (data === undefined) {
              data = new Map()
              stores.set(name, data)
            }
            return makeMemoryStore(name, codec, data, options)
          }),
          (store) => Effect.sync(() => store.close())
        )
    }
  })

/**
 * A layer of the in-memory `StateStore`.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerMemory = (options?: MemoryOptions): Layer.Layer<StateStore> =>
  Layer.effect(StateStore, makeMemory(options))
