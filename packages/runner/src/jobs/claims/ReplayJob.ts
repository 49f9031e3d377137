/**
 * The replay job: reads failed payments and sends the ones that failed
 * because of the database (`DB_ERROR`, `DB_TIMEOUT`) through the enrichment
 * again, so a database outage costs a replay run rather than payments.
 *
 * A failed record carries every field of the payment it was made from, so
 * the payment event is rebuilt from those fields and handed to `EnrichJob`
 * unchanged: the same lookup, the same outputs (SUCCESS to `enriched`,
 * CLAIM_NOT_FOUND to `failed`), the same ordering per claim id. The one
 * difference is that the enrich job always runs in `pause` mode here, with a
 * retry schedule that never ends: while the database is still failing a
 * record is held and retried, never written back as `DB_ERROR`, which would
 * only make the next replay read it again.
 *
 * Every other record is acknowledged without an output, so its offset
 * commits, and counted by `sluice_replay_skipped_total{reason}`:
 * `CLAIM_NOT_FOUND` and `SUCCESS` records are answers about the claim that a
 * replay cannot change; records that do not decode as a failed payment are
 * logged as a warning. They are not dead-lettered: the dead-letter topic holds
 * input records the enrich job could not read, and a record on the failed
 * topic that is not a failed payment was written by someone else, so the
 * replay leaves it where it is and says so.
 *
 * With a `codec` (the Avro topics) the failed records are read and the
 * outputs written through it; the payment handed to the enrich job inside is
 * JSON either way.
 *
 * Outputs keep the input's key (the claim id) and headers, plus an
 * `x-sluice-replayed-from: <topic>/<partition>/<offset>` header naming the
 * failed record they replace.
 *
 * @since 0.1.0
 */
import type * as DeadLetter from "@sluice/core/DeadLetter"
import type * as Envelope from "@sluice/core/Envelope"
import type * as Pipeline from "@sluice/core/Pipeline"
import { type Duration, Effect, Metric, Result, type Schedule, Stream } from "effect"
import { decodeRecords } from "../../records/DecodeRecords.ts"
import type { SinkError, SinkServices } from "../../records/SinkTypes.ts"
import * as EnrichedPayment from "./EnrichedPayment.ts"
import * as EnrichJob from "./EnrichJob.ts"
import * as PaymentEvent from "./PaymentEvent.ts"

/**
 * The header on every replayed output: the failed record it replaces, as
 * `<topic>/<partition>/<offset>`.
 *
 * @since 0.1.0
 * @category headers
 */
export const replayedFromHeader = "x-sluice-replayed-from"

/**
 * Why a failed record was not replayed: its status (an answer about the
 * claim, which a replay would only repeat) or `undecodable`.
 *
 * @since 0.1.0
 * @category models
 */
export type SkipReason = "CLAIM_NOT_FOUND" | "SUCCESS" | "undecodable"

const skippedOptions = { description: "Failed-payment records a replay acknowledged without output", incremental: true }

// One counter per reason, built once: the reasons are a closed set.
const skippedBy: Record<SkipReason, Metric.Counter<number>> = {
  CLAIM_NOT_FOUND: Metric.counter("sluice_replay_skipped_total", {
    ...skippedOptions,
    attributes: { reason: "CLAIM_NOT_FOUND" }
  }),
  SUCCESS: Metric.counter("sluice_replay_skipped_total", { ...skippedOptions, attributes: { reason: "SUCCESS" } }),
  undecodable: Metric.counter("sluice_replay_skipped_total", {
    ...skippedOptions,
    attributes: { reason: "undecodable" }
  })
}

/**
 * `sluice_replay_selected_total`: failed records handed to the enrichment again.
 *
 * @since 0.1.0
 * @category metrics
 */
export const selected: Metric.Counter<number> = Metric.counter("sluice_replay_selected_total", {
  description: "Failed-payment records sent through the enrichment again",
  incremental: true
})

/**
 * `sluice_replay_skipped_total{reason}` for one reason.
 *
 * @since 0.1.0
 * @category metrics
 */
export const skipped = (reason: SkipReason): Metric.Counter<number> => skippedBy[reason]

/**
 * Whether a failed record's status is a database failure, i.e. worth replaying.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isReplayable = (status: EnrichedPayment.EnrichmentStatus): boolean =>
  status === "DB_ERROR" || status === "DB_TIMEOUT"

/**
 * The payment event a failed record was made from: its payment fields, with
 * the optional ones only when the record has them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const paymentOf = (failed: EnrichedPayment.EnrichedPayment): PaymentEvent.PaymentEvent => ({
  payment_id: failed.payment_id,
  claim_id: failed.claim_id,
  payment_amount: failed.payment_amount,
  payment_date: failed.payment_date,
  processor_id: failed.processor_id,
  ...(failed.payment_method === undefined ? {} : { payment_method: failed.payment_method }),
  ...(failed.payment_status === undefined ? {} : { payment_status: failed.payment_status })
})

const utf8 = new TextEncoder()

/**
 * The origin an output of a replayed record is written with: the same key
 * and headers, plus `x-sluice-replayed-from` (replacing an older one, so an
 * output names exactly one failed record).
 *
 * @since 0.1.0
 * @category constructors
 */
export const replayOrigin = (origin: Envelope.Origin): Envelope.Origin => ({
  ...origin,
  headers: [
    ...origin.headers.filter(([name]) => name !== replayedFromHeader),
    [replayedFromHeader, utf8.encode(`${origin.topic}/${origin.partition}/${origin.offset}`)]
  ]
})

/**
 * How the replay reads failed payments and writes its outputs when they are
 * not JSON (see `ClaimsAvro.replayCodec`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Codec<E> {
  /** Failed payments, or dead letters for records that are not. */
  readonly decode: <ES, RS>(
    records: Stream.Stream<Envelope.Envelope<Envelope.Payload>, ES, RS>
  ) => Stream.Stream<
    Envelope.Envelope<Result.Result<EnrichedPayment.EnrichedPayment, DeadLetter.DeadLetter>>,
    ES | E,
    RS
  >
  readonly encode: EnrichJob.Codec<E>["encode"]
}

/**
 * Options of `run`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<ES, RS, S extends EnrichJob.Sinks, RL, CE = never> {
  /** The failed payments, e.g. a Kafka source's stream of the failed topic. */
  readonly records: Stream.Stream<Envelope.Envelope<Envelope.Payload>, ES, RS>
  /** The enrich job's sinks; `deadLetters` only sees a payment that no longer decodes. */
  readonly sinks: S
  /** Looks claims up, per record or (`EnrichJob.perChunk`) per chunk. */
  readonly lookup: EnrichJob.ClaimsLookup<RL>
  readonly concurrency: number
  readonly ordering?: Pipeline.Ordering | undefined
  /**
   * When to look a held record up again while the database fails: every
   * second by default. Give a schedule that does not end: one that ends
   * would write the record back as `DB_ERROR`.
   */
  readonly pauseRetry?: Schedule.Schedule<unknown, unknown> | Duration.Input | undefined
  /** Reads and writes values other than JSON; JSON when absent. */
  readonly codec?: Codec<CE> | undefined
}

type Selection = Result.Result<Envelope.Envelope<Uint8Array>, SkipReason>

const select = (
  e: Envelope.Envelope<Result.Result<EnrichedPayment.EnrichedPayment, DeadLetter.DeadLetter>>
): Effect.Effect<Selection> => {
  const decoded = e.value
  if (Result.isFailure(decoded)) {
    return Effect.logWarning("skipping a record that is not a failed payment").pipe(
      Effect.annotateLogs({
        topic: e.origin.topic,
        partition: e.origin.partition,
        offset: e.origin.offset.toString(),
        kind: decoded.failure.kind,
        reason: decoded.failure.reason
      }),
      Effect.andThen(skip(e, "undecodable"))
    )
  }
  const failed = decoded.success
  if (!isReplayable(failed.enrichment_status)) {
    return skip(e, failed.enrichment_status === "SUCCESS" ? "SUCCESS" : "CLAIM_NOT_FOUND")
  }
  const replay: Envelope.Envelope<Uint8Array> = {
    origin: replayOrigin(e.origin),
    value: PaymentEvent.encode(paymentOf(failed)),
    receipt: e.receipt
  }
  return Effect.as(Metric.update(selected, 1), Result.succeed(replay))
}

// A skipped record has no output, so it is done now: acknowledging it lets
// its offset commit.
const skip = (e: Envelope.Envelope<unknown>, reason: SkipReason): Effect.Effect<Selection> =>
  Effect.andThen(
    Effect.all([e.receipt.ack, Metric.update(skippedBy[reason], 1)], { discard: true }),
    Effect.succeed(Result.fail(reason))
  )

/**
 * Runs the replay until `records` ends (a Kafka source does not) or a sink
 * fails. Skipped records are acknowledged at once; a replayed record is done
 * once its new output is acknowledged.
 *
 * @since 0.1.0
 * @category running
 */
export const run = <ES, RS, S extends EnrichJob.Sinks, RL, CE = never>(
  options: Options<ES, RS, S, RL, CE>
): Effect.Effect<void, ES | CE | SinkError<S[keyof S]>, RS | SinkServices<S[keyof S]> | RL> => {
  const codec = options.codec
  const failed =
    codec === undefined ? options.records.pipe(decodeRecords(EnrichedPayment.decode)) : codec.decode(options.records)
  return EnrichJob.run({
    records: failed.pipe(Stream.filterMapEffect(select)),
    sinks: options.sinks,
    lookup: options.lookup,
    concurrency: options.concurrency,
    ordering: options.ordering,
    onDbUnavailable: "pause",
    pauseRetry: options.pauseRetry,
    logJob: "replay",
    codec: codec === undefined ? undefined : { decode: decodeRecords(PaymentEvent.decode), encode: codec.encode }
  })
}
