/**
 * An `Envelope` is one record travelling through a pipeline together with the
 * place it came from. Pipelines carry envelopes rather than bare values so that
 * every output can be traced back to the source offset it must acknowledge.
 *
 * @since 0.1.0
 */

import * as Receipt from "./Receipt.ts"

/**
 * Where a record was read from.
 *
 * @since 0.1.0
 * @category models
 */
export interface Origin {
  readonly topic: string
  readonly partition: number
  /** Kafka offsets are 64-bit; they are kept as `bigint` so no offset is ever rounded. */
  readonly offset: bigint
  readonly key: Uint8Array | null
  readonly headers: Headers
  /** Record timestamp in epoch milliseconds, as set by the producer or the broker. */
  readonly timestamp: number
}

/**
 * Record headers. Kafka allows repeated header names, hence the list form.
 *
 * @since 0.1.0
 * @category models
 */
export type Headers = ReadonlyArray<readonly [name: string, value: Uint8Array]>

/**
 * A record value as read from, or written to, a topic: bytes, text, or
 * `null` for a tombstone.
 *
 * @since 0.1.0
 * @category models
 */
export type Payload = Uint8Array | string | null

/**
 * A value with the origin of the record it was derived from.
 *
 * @since 0.1.0
 * @category models
 */
export interface Envelope<out A> {
  readonly origin: Origin
  readonly value: A
  /** Acknowledged when every output derived from this record is durable. */
  readonly receipt: Receipt.Receipt
}

/**
 * Builds an envelope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A>(origin: Origin, value: A, receipt: Receipt.Receipt = Receipt.none): Envelope<A> => ({
  origin,
  value,
  receipt
})

/**
 * Replaces the value and keeps the origin and receipt.
 *
 * @since 0.1.0
 * @category combinators
 */
export const map: {
  <A, B>(f: (a: A) => B): (self: Envelope<A>) => Envelope<B>
  <A, B>(self: Envelope<A>, f: (a: A) => B): Envelope<B>
} = <A, B>(...args: [(a: A) => B] | [Envelope<A>, (a: A) => B]): never => {
  if (args.length === 1) {
    const f = args[0]
    return ((self: Envelope<A>) => make(self.origin, f(self.value), self.receipt)) as never
  }
  return make(args[0].origin, args[1](args[0].value), args[0].receipt) as never
}

/**
 * A stable text id for the origin, e.g. `payments-3@1042`, for logs and dead letters.
 *
 * @since 0.1.0
 * @category getters
 */
export const originId = (origin: Origin): string => `${origin.topic}-${origin.partition}@${origin.offset}`

/**
 * Looks up the last header with the given name and decodes it as UTF-8.
 *
 * @since 0.1.0
 * @category getters
 */
export const header = (origin: Origin, name: string): string | undefined => {
  for (let i = origin.headers.length - 1; i >= 0; i--) {
    const [n, v] = origin.headers[i]!
    if (n === name) return textDecoder.decode(v)
  }
  return undefined
}

const textDecoder = new TextDecoder()
