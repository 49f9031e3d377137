/**
 * The claims enrichment job as a composition over `@sluice/core`: payment
 * events are decoded (undecodable records go to the dead-letter sink with the
 * reason), each payment's claim is looked up, and the enriched record goes to
 * the `enriched` sink on SUCCESS or to the `failed` sink with its
 * `enrichment_status` and `error_reason` otherwise. Output values are JSON
 * bytes with exact decimals; an output keeps the origin of its input record,
 * so a Kafka sink writes it under the same key (the claim id).
 *
 * The job knows neither Kafka nor PostgreSQL: the records, the sinks and the
 * lookup are parameters, so a test can run it on `InMemory` and a map of claims.
 *
 * When the claims database fails (the lookup answers `Unavailable`, `Timeout`
 * or `CircuitOpen`) the job either routes the record to `failed` with
 * `DB_ERROR` / `DB_TIMEOUT` (`onDbUnavailable: "route"`, the default of the
 * seed documents) or keeps retrying it on `pauseRetry` (`"pause"`). A waiting
 * record holds its concurrency slot, so once all `concurrency` slots wait the
 * job stops taking records: the in-flight bound is the pause. Nothing is
 * written to the failed output for a database error, and the source commits
 * nothing past the oldest waiting record until the database answers again.
 *
 * Acknowledged outputs are counted by `sluice_records_out_total{output,status}`
 * with the enrichment status as `status`, which is what the dashboard's
 * success rate reads.
 *
 * @since 0.1.0
 */
import type * as DeadLetter from "@sluice/core/DeadLetter"
import type * as Envelope from "@sluice/core/Envelope"
import * as Pipeline from "@sluice/core/Pipeline"
import { DateTime, Duration, Effect, Schedule, type Sink, type Stream } from "effect"
import { decodeRecords } from "../internal/decodeRecords.ts"
import type { SinkError, SinkServices } from "../internal/sinkTypes.ts"
import * as Log from "../Log.ts"
import * as EnrichedPayment from "./EnrichedPayment.ts"
import * as Enrichment from "./Enrichment.ts"
import * as PaymentEvent from "./PaymentEvent.ts"

/**
 * What the job does with a record whose lookup failed on the database side.
 *
 * - `route`: write it to the failed output as `DB_ERROR` or `DB_TIMEOUT`.
 * - `pause`: retry it until the database answers; consumption stops once
 *   every concurrency slot holds a waiting record.
 *
 * @since 0.1.0
 * @category models
 */
export type OnDbUnavailable = "route" | "pause"

/**
 * The sinks of the job. `enriched` and `failed` receive JSON bytes;
 * `deadLetters` receives the undecodable records with their reason.
 *
 * @since 0.1.0
 * @category models
 */
export interface Sinks {
  readonly enriched: Sink.Sink<unknown, Envelope.Envelope<Uint8Array>, unknown, unknown, unknown>
  readonly failed: Sink.Sink<unknown, Envelope.Envelope<Uint8Array>, unknown, unknown, unknown>
  readonly deadLetters: Sink.Sink<unknown, Envelope.Envelope<DeadLetter.DeadLetter>, unknown, unknown, unknown>
}

/**
 * Options of `run`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<ES, RS, S extends Sinks, RL> {
  /** The payment events, e.g. a Kafka source's stream. */
  readonly records: Stream.Stream<Envelope.Envelope<Envelope.Payload>, ES, RS>
  readonly sinks: S
  /** Looks a claim up; database failures are outcomes, not errors. */
  readonly lookup: (claimId: string) => Effect.Effect<Enrichment.LookupOutcome, never, RL>
  /** Records looked up, or waiting to be emitted, at once. */
  readonly concurrency: number
  /** `key` (the default) keeps the order of the payments of one claim. */
  readonly ordering?: Pipeline.Ordering | undefined
  /** `route` by default. */
  readonly onDbUnavailable?: OnDbUnavailable | undefined
  /**
   * In `pause` mode, when to try a waiting record again: a schedule, or a
   * fixed delay; every second, forever, by default. A schedule that ends
   * routes the record as `route` mode would.
   */
  readonly pauseRetry?: Schedule.Schedule<unknown, unknown> | Duration.Input | undefined
  /** The `job` annotation of the job's logs; `enrich` by default (`replay` reuses the job). */
  readonly logJob?: string | undefined
}

type DbFailure = Extract<Enrichment.LookupOutcome, { readonly reason: string }>

/**
 * Whether an outcome is a database failure (unavailable, timeout, open circuit)
 * rather than an answer about the claim.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isDbFailure = (outcome: Enrichment.LookupOutcome): outcome is DbFailure =>
  outcome._tag === "Unavailable" || outcome._tag === "Timeout" || outcome._tag === "CircuitOpen"

// Retries database failures on `schedule`. The pause state is shared by all
// records of the job so the log says when the job paused and when it resumed,
// not every retry of every record.
const pausing = <RL>(
  lookup: (claimId: string) => Effect.Effect<Enrichment.LookupOutcome, never, RL>,
  schedule: Schedule.Schedule<unknown, unknown>
) => {
  let paused = false
  const enter = (outcome: DbFailure) =>
    Effect.suspend(() => {
      if (paused) return Effect.void
      paused = true
      return Effect.logWarning("claims database failing; holding records until it answers").pipe(
        Effect.annotateLogs({ outcome: outcome._tag, reason: outcome.reason })
      )
    })
  const leave = Effect.suspend(() => {
    if (!paused) return Effect.void
    paused = false
    return Effect.logInfo("claims database answering again; resuming")
  })
  return (claimId: string): Effect.Effect<Enrichment.LookupOutcome, never, RL> =>
    Effect.flatMap(lookup(claimId), (outcome) =>
      isDbFailure(outcome) ? Effect.andThen(enter(outcome), Effect.fail(outcome)) : Effect.as(leave, outcome)
    ).pipe(
      Effect.retry(schedule),
      Effect.catch((outcome: DbFailure) => Effect.succeed<Enrichment.LookupOutcome>(outcome))
    )
}

const toSchedule = (retry: Schedule.Schedule<unknown, unknown> | Duration.Input | undefined) =>
  retry === undefined
    ? Schedule.spaced(Duration.seconds(1))
    : Schedule.isSchedule(retry)
      ? (retry as Schedule.Schedule<unknown, unknown>)
      : Schedule.spaced(retry)

/**
 * Runs the enrichment job until `records` ends (a Kafka source does not) or
 * a sink fails. Each output keeps its input's receipt, so a record is done
 * once its output (or dead letter) is acknowledged by its sink.
 *
 * ```ts
 * EnrichJob.run({
 *   records,
 *   sinks: { enriched, failed, deadLetters },
 *   lookup: (claimId) => claims.get(claimId),
 *   concurrency: 64,
 *   onDbUnavailable: "pause"
 * })
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const run = <ES, RS, S extends Sinks, RL>(
  options: Options<ES, RS, S, RL>
): Effect.Effect<void, ES | SinkError<S[keyof S]>, RS | SinkServices<S[keyof S]> | RL> => {
  const lookup =
    options.onDbUnavailable === "pause" ? pausing(options.lookup, toSchedule(options.pauseRetry)) : options.lookup
  return options.records.pipe(
    decodeRecords(PaymentEvent.decode),
    Pipeline.deadLetters(options.sinks.deadLetters),
    Pipeline.mapEffect(
      (event) =>
        Effect.flatMap(lookup(event.claim_id), (outcome) =>
          Effect.map(DateTime.now, (now) => Enrichment.enrichmentResult(event, outcome, now))
        ),
      {
        concurrency: options.concurrency,
        ordering: options.ordering ?? "key",
        key: (e) => e.value.claim_id
      }
    ),
    Pipeline.route((result) => [
      Pipeline.to(result.output, EnrichedPayment.encode(result.record), result.record.enrichment_status)
    ]),
    Pipeline.runRouted({ enriched: options.sinks.enriched, failed: options.sinks.failed }),
    Log.withJob(options.logJob ?? "enrich")
  ) as Effect.Effect<void, ES | SinkError<S[keyof S]>, RS | SinkServices<S[keyof S]> | RL>
}
