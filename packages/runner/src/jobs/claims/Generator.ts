/**
 * Deterministic payment events for load tests and demos. Record `i` of a run
 * depends only on the seed, `i` and the time it is generated, so a run can be
 * replayed exactly. A fraction of the events refer to claims that exist
 * (`CLM-000001`..`CLM-<claims>`, the ids the database seed creates), the rest
 * to ids just past that range; a further fraction are malformed in one of the
 * ways the job must survive (random bytes, truncated JSON, wrong types,
 * missing fields, negative amounts, absurd amounts, invalid UTF-8, values of
 * 1 MB).
 *
 * Records are keyed by claim id, so all payments of a claim land on the same
 * partition, and carry a `sluice-generator-kind` header saying what they are.
 * `stream` paces them at a rate driven by `Clock`; writing them to Kafka is
 * the sink's job.
 *
 * @since 0.1.0
 */
import { BigDecimal, Clock, DateTime, Duration, Effect, Stream } from "effect"
import * as Prng from "../../Prng.ts"
import * as PaymentEvent from "./PaymentEvent.ts"

/**
 * What a generated record is.
 *
 * @since 0.1.0
 * @category models
 */
export type Kind =
  | "valid"
  | "unknown-claim"
  | "random-bytes"
  | "truncated-json"
  | "wrong-types"
  | "missing-fields"
  | "negative-amount"
  | "absurd-amount"
  | "invalid-utf8"
  | "oversized"

/**
 * The malformed kinds. When a record is to be malformed its kind is drawn
 * from these, uniformly except for `oversized` (see `oversizedWeight`).
 *
 * @since 0.1.0
 * @category constants
 */
export const malformedKinds: ReadonlyArray<Kind> = [
  "random-bytes",
  "truncated-json",
  "wrong-types",
  "missing-fields",
  "negative-amount",
  "absurd-amount",
  "invalid-utf8",
  "oversized"
]

/**
 * Size in bytes of an `oversized` record: a payment event padded to 1 MB.
 *
 * @since 0.1.0
 * @category constants
 */
export const oversizedBytes = 1_000_000

/**
 * How often `oversized` is drawn relative to each other malformed kind. Each
 * one is 1 MB, so it is rarer than the others: a long run at a modest
 * invalid rate should test large values, not consist of them.
 *
 * @since 0.1.0
 * @category constants
 */
export const oversizedWeight = 0.1

const pickMalformed = (rng: Prng.Prng): Kind => {
  const others = malformedKinds.length - 1
  const draw = rng.next() * (others + oversizedWeight)
  return draw >= others ? "oversized" : malformedKinds[Math.floor(draw)]!
}

/**
 * A record ready for a Kafka producer.
 *
 * @since 0.1.0
 * @category models
 */
export interface GeneratedRecord {
  readonly key: Uint8Array
  readonly value: Uint8Array
  readonly headers: ReadonlyArray<readonly [name: string, value: Uint8Array]>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly seed: number
  /** Claims that exist: `CLM-000001`..`CLM-<claims>`. */
  readonly claims: number
  /** Fraction (0..1) of well-formed events whose claim exists. */
  readonly validClaimRate: number
  /** Fraction (0..1) of records that are malformed. */
  readonly invalidRate: number
}

/**
 * The header naming the record's `Kind`.
 *
 * @since 0.1.0
 * @category constants
 */
export const kindHeader = "sluice-generator-kind"

/**
 * The id of the `n`-th claim (1-based) as the database seed writes it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const claimId = (n: number): string => `CLM-${String(n).padStart(6, "0")}`

const utf8 = new TextEncoder()
const methods = ["ELECTRONIC", "CARD", "CHECK", "ACH"] as const
const statuses = ["COMPLETED", "COMPLETED", "COMPLETED", "PENDING"] as const

/**
 * Generates record `index` of a run at time `nowMillis`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const record = (options: Options, index: number, nowMillis: number): GeneratedRecord & { kind: Kind } => {
  const rng = Prng.make(options.seed, index)
  const malformed = rng.next() < options.invalidRate
  const existing = rng.next() < options.validClaimRate
  const claim = existing ? claimId(rng.int(1, options.claims)) : claimId(options.claims + rng.int(1, options.claims))
  const event: PaymentEvent.PaymentEvent = {
    payment_id: `PAY-${(options.seed >>> 0).toString(16)}-${index + 1}`,
    claim_id: claim,
    payment_amount: BigDecimal.make(BigInt(rng.int(1_000, 500_000)), 2),
    payment_date: DateTime.makeUnsafe(nowMillis),
    processor_id: `PROC-${rng.pick(["VISA", "MC", "ACH", "WIRE"])}-${String(rng.int(1, 20)).padStart(3, "0")}`,
    payment_method: rng.pick(methods),
    payment_status: rng.pick(statuses)
  }
  const kind: Kind = malformed ? pickMalformed(rng) : existing ? "valid" : "unknown-claim"
  return {
    kind,
    key: utf8.encode(claim),
    value: value(kind, event, rng),
    headers: [[kindHeader, utf8.encode(kind)]]
  }
}

const value = (kind: Kind, event: PaymentEvent.PaymentEvent, rng: Prng.Prng): Uint8Array => {
  const valid = PaymentEvent.encode(event)
  const json = (): Record<string, unknown> => JSON.parse(new TextDecoder().decode(valid))
  switch (kind) {
    case "valid":
    case "unknown-claim":
      return valid
    case "random-bytes":
      return Uint8Array.from({ length: rng.int(1, 64) }, () => rng.int(0, 255))
    case "truncated-json":
      return valid.slice(0, rng.int(1, valid.length - 2))
    case "wrong-types": {
      const broken = json()
      const field = rng.pick(["payment_amount", "claim_id", "payment_date", "processor_id"])
      broken[field] = field === "payment_amount" ? rng.pick([true, "lots", [12]]) : rng.pick([12345, false, null])
      return utf8.encode(JSON.stringify(broken))
    }
    case "missing-fields": {
      const broken = json()
      const fields = ["payment_id", "claim_id", "payment_amount", "payment_date", "processor_id"]
      delete broken[rng.pick(fields)]
      if (rng.next() < 0.5) delete broken[rng.pick(fields)]
      return utf8.encode(JSON.stringify(broken))
    }
    case "negative-amount": {
      const text = new TextDecoder().decode(valid)
      return utf8.encode(text.replace(/"payment_amount":/, '"payment_amount":-'))
    }
    case "absurd-amount": {
      // Each one breaks exactly one part of the amount rule (see `Money`).
      const amount = rng.pick([
        `${rng.int(1, 9)}${"0".repeat(rng.int(12, 40))}.00`, // far beyond any payment
        `${rng.int(0, 5000)}.${String(rng.int(0, 99)).padStart(2, "0")}${rng.int(1, 9)}`, // a third decimal
        `1e${rng.int(13, 400)}` // an exponent that a double cannot even hold
      ])
      const text = new TextDecoder().decode(valid)
      return utf8.encode(text.replace(/"payment_amount":[^,}]+/, `"payment_amount":${amount}`))
    }
    case "oversized": {
      // Well-formed in every field but its size: the processor id is padded to 1 MB.
      const text = new TextDecoder().decode(valid)
      const padding = "X".repeat(oversizedBytes - valid.length)
      return utf8.encode(text.replace('"processor_id":"', `"processor_id":"${padding}`))
    }
    case "invalid-utf8": {
      // A lone continuation byte inside the processor id: still JSON-shaped, no longer UTF-8.
      const at = new TextDecoder().decode(valid).indexOf('"processor_id":"') + '"processor_id":"'.length
      const bytes = new Uint8Array(valid.length + 1)
      bytes.set(valid.subarray(0, at), 0)
      bytes[at] = 0x80
      bytes.set(valid.subarray(at), at + 1)
      return bytes
    }
  }
}

/**
 * Paces a stream to `perSecond` elements per second using `Clock`: element
 * `i` is emitted no earlier than `start + i / perSecond`. After a stall longer
 * than a second the schedule restarts from now instead of bursting to catch up.
 *
 * @since 0.1.0
 * @category combinators
 */
export const paced =
  (perSecond: number) =>
  <A, E, R>(self: Stream.Stream<A, E, R>): Stream.Stream<A, E, R> => {
    const intervalMillis = 1000 / perSecond
    return Stream.unwrap(
      Effect.sync(() => {
        let start: number | undefined
        let emitted = 0
        return self.pipe(
          Stream.mapEffect((a) =>
            Effect.gen(function* () {
              const now = yield* Clock.currentTimeMillis
              if (start === undefined || now - (start + emitted * intervalMillis) > 1000) {
                start = now
                emitted = 0
              }
              const due = start + emitted * intervalMillis
              emitted++
              if (due > now) yield* Effect.sleep(Duration.millis(due - now))
              return a
            })
          )
        )
      })
    )
  }

/**
 * Generated records at `eventsPerSecond`, stamped with the `Clock` time;
 * endless unless `count` is given.
 *
 * @since 0.1.0
 * @category streams
 */
export const stream = (
  options: Options & { readonly eventsPerSecond: number; readonly count?: number | undefined }
): Stream.Stream<GeneratedRecord & { kind: Kind }> => {
  const indices = options.count === undefined ? Stream.iterate(0, (i) => i + 1) : Stream.range(0, options.count - 1)
  return indices.pipe(
    paced(options.eventsPerSecond),
    Stream.mapEffect((i) => Effect.map(Clock.currentTimeMillis, (now) => record(options, i, now)))
  )
}
