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
 * The lookup is either per record (`(claimId) => claim`, one call per
 * payment through `Pipeline.mapEffect`) or per chunk (`perChunk`, one call
 * for up to `maxChunkSize` payments), which lets a batching lookup answer a
 * chunk with one query instead of paying for a fiber per payment. The JSON
 * job with a chunk lookup (what the CLI runs) decodes, looks up, encodes and
 * routes each chunk in one loop (`fusedJson` below); the Avro job composes
 * the same steps from `Pipeline.mapChunksEffect` and `route`. On the chunk path, `ordered` and `key` both keep the
 * input order of every output (so of each partition and of each claim), and
 * `unordered` keeps it within a chunk only.
 *
 * When the claims database fails (the lookup fails with a `LookupError`)
 * the job either routes the record to `failed` with `DB_ERROR` /
 * `DB_TIMEOUT` (`onDbUnavailable: "route"`, the default of the seed
 * documents) or keeps retrying the lookup on `pauseRetry` (`"pause"`) while
 * the error is one that may go away (`LookupError.isRetryable`: a timeout, an
 * open circuit, an unreachable database); a failure that would repeat is
 * routed at once. The error becomes a status only after that decision, in
 * `Enrichment.enrichmentResult`. On the
 * chunk path a failed chunk query answers that failure for every payment of
 * the chunk, and a retry looks up again only the payments still failing. A
 * waiting record (or chunk) holds its concurrency slot, so once all slots
 * wait the job stops taking records: the in-flight bound is the pause.
 * Nothing is written to the failed output for a database error, and the
 * source commits nothing past the oldest waiting record until the database
 * answers again. The log says once when the job pauses and once when it
 * resumes, not every retry.
 *
 * Values are JSON unless `codec` says otherwise (the Avro topics, see
 * `ClaimsAvro`): the JSON path decodes and encodes in plain code, the codec
 * path through the codec's effects, so choosing Avro costs the JSON job nothing.
 *
 * Acknowledged outputs are counted by `sluice_records_out_total{output,status}`
 * with the enrichment status as `status`, which is what the dashboard's
 * success rate reads.
 *
 * @since 0.1.0
 */
import type * as DeadLetter from "@sluice/core/DeadLetter"
import * as Envelope from "@sluice/core/Envelope"
import * as Metrics from "@sluice/core/Metrics"
import * as Pipeline from "@sluice/core/Pipeline"
import type { LookupError } from "@sluice/lookup/LookupError"
import {
  Array as Arr,
  DateTime,
  Duration,
  Effect,
  type Option,
  Queue,
  Result,
  Schedule,
  type Sink,
  Stream
} from "effect"
import type * as Cause from "effect/Cause"
import * as Log from "../../Log.ts"
import { decodeOne, decodeRecords } from "../../records/DecodeRecords.ts"
import type { SinkError, SinkServices } from "../../records/SinkTypes.ts"
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
 * A per-record claims lookup: the claim row or none, or the lookup's
 * `LookupError` in the error channel (a `Lookup`'s `get` as it is).
 *
 * @since 0.1.0
 * @category models
 */
export type LookupOne<RL> = (claimId: string) => Effect.Effect<Option.Option<Enrichment.Claim>, LookupError, RL>

/**
 * A chunk-level claims lookup: an answer for each of `claimIds`, in the same
 * order (duplicates included). A failed query fails the whole call with its
 * `LookupError`, which then stands for every id of the chunk; a lookup that
 * can tell ids apart answers a failed id with `Enrichment.failed(error)`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PerChunk<RL> {
  readonly _tag: "PerChunk"
  readonly lookupMany: (
    claimIds: Arr.NonEmptyReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<Enrichment.Answer>, LookupError, RL>
}

/**
 * Wraps a chunk-level lookup so `run` looks claims up per chunk.
 *
 * @since 0.1.0
 * @category constructors
 */
export const perChunk = <RL>(lookupMany: PerChunk<RL>["lookupMany"]): PerChunk<RL> => ({
  _tag: "PerChunk",
  lookupMany
})

/**
 * The claims lookup the job takes: per record or per chunk.
 *
 * @since 0.1.0
 * @category models
 */
export type ClaimsLookup<RL> = LookupOne<RL> | PerChunk<RL>

/**
 * How the job reads payment events and writes its outputs when they are not
 * JSON: `decode` turns records into payment events or dead letters (e.g.
 * `SerdePipeline.decode` over an Avro serde), `encode` writes an output's
 * value for its topic. `E` is what fails the job, such as a registry that
 * cannot be reached.
 *
 * @since 0.1.0
 * @category models
 */
export interface Codec<E> {
  readonly decode: <ES, RS>(
    records: Stream.Stream<Envelope.Envelope<Envelope.Payload>, ES, RS>
  ) => Stream.Stream<Envelope.Envelope<Result.Result<PaymentEvent.PaymentEvent, DeadLetter.DeadLetter>>, ES | E, RS>
  readonly encode: (
    output: Enrichment.EnrichmentResult["output"],
    payment: EnrichedPayment.EnrichedPayment
  ) => Effect.Effect<Uint8Array, E>
}

/**
 * Options of `run`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<ES, RS, S extends Sinks, RL, CE = never> {
  /** The payment events, e.g. a Kafka source's stream. */
  readonly records: Stream.Stream<Envelope.Envelope<Envelope.Payload>, ES, RS>
  readonly sinks: S
  /** Looks claims up, per record or (`perChunk`) per chunk. */
  readonly lookup: ClaimsLookup<RL>
  /** Records looked up, or waiting to be emitted, at once. */
  readonly concurrency: number
  /**
   * On the chunk path, most payments per lookup call (capped at
   * `concurrency`): half of `concurrency` by default, so one chunk can be
   * looked up while the one before it is written. As many chunks as fit in
   * `concurrency` run at once.
   */
  readonly maxChunkSize?: number | undefined
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
  /** Reads and writes values other than JSON; JSON when absent. */
  readonly codec?: Codec<CE> | undefined
}

/**
 * Whether pause mode waits a lookup failure out: a timeout, an open circuit
 * or an unavailable database that may answer later (`isRetryable`). A
 * failure that would repeat on every attempt (a bad query, a row that does
 * not decode) is routed at once.
 *
 * @since 0.1.0
 * @category predicates
 */
export const waitsOut = (error: LookupError): boolean => error.isRetryable

// The pause state is shared by all records of the job so the log says when
// the job paused and when it resumed, not every retry of every record.
const pauseLog = () => {
  let paused = false
  const enter = (error: LookupError) =>
    Effect.suspend(() => {
      if (paused || !waitsOut(error)) return Effect.void
      paused = true
      return Effect.logWarning("claims database failing; holding records until it answers").pipe(
        Effect.annotateLogs({ failure: error.reason._tag, reason: error.message })
      )
    })
  const leave = Effect.suspend(() => {
    if (!paused) return Effect.void
    paused = false
    return Effect.logInfo("claims database answering again; resuming")
  })
  return { enter, leave }
}

type PauseLog = ReturnType<typeof pauseLog>

// The per-record lookup of either mode, its failure kept as the answer:
// `route` answers the first failure; `pause` retries the failures it waits
// out on `schedule` and answers the last one when the schedule ends.
const answering = <RL>(
  lookup: LookupOne<RL>,
  pause: { readonly schedule: Schedule.Schedule<unknown, unknown>; readonly log: PauseLog } | undefined
) => {
  if (pause === undefined) return (claimId: string) => Effect.result(lookup(claimId))
  const { log, schedule } = pause
  return (claimId: string) =>
    lookup(claimId).pipe(
      Effect.tapError(log.enter),
      Effect.tap(() => log.leave),
      Effect.retry({ schedule, while: waitsOut }),
      Effect.result
    )
}

// The chunk lookup of either mode, with an answer per id. A failed call
// answers its error for every id it covered. In `pause` mode the ids still
// failing are looked up again together (answered ids keep their answer), so a
// retry is one call and a cache in the lookup still answers its hits locally;
// when the schedule ends, or a failure is not one pause mode waits out, the
// failed ids answer their errors.
const answeringChunks = <RL>(
  lookupMany: PerChunk<RL>["lookupMany"],
  pause: { readonly schedule: Schedule.Schedule<unknown, unknown>; readonly log: PauseLog } | undefined
) => {
  const once = (claimIds: Arr.NonEmptyReadonlyArray<string>) =>
    lookupMany(claimIds).pipe(
      Effect.flatMap((answers) =>
        answers.length === claimIds.length
          ? Effect.succeed(answers)
          : Effect.die(new Error(`claims lookup answered ${answers.length} of ${claimIds.length} ids`))
      ),
      Effect.catch((error: LookupError) => Effect.succeed(claimIds.map(() => Enrichment.failed(error))))
    )
  if (pause === undefined) return once
  const { log, schedule } = pause
  return (claimIds: Arr.NonEmptyReadonlyArray<string>) =>
    Effect.suspend(() => {
      const answers: Array<Enrichment.Answer> = []
      let pending: ReadonlyArray<number> = claimIds.map((_, i) => i)
      const attempt = Effect.suspend(() =>
        // Never empty: the first attempt has every id, a retry follows a failure.
        Effect.flatMap(
          once(pending.map((i) => claimIds[i]!) as unknown as Arr.NonEmptyReadonlyArray<string>),
          (got) => {
            const failing: Array<number> = []
            let failure: LookupError | undefined
            for (let j = 0; j < got.length; j++) {
              const answer = got[j]!
              answers[pending[j]!] = answer
              if (Result.isFailure(answer) && waitsOut(answer.failure)) {
                failing.push(pending[j]!)
                failure ??= answer.failure
              }
            }
            pending = failing
            return failure === undefined ? log.leave : Effect.andThen(log.enter(failure), Effect.fail(failure))
          }
        )
      )
      return attempt.pipe(Effect.retry(schedule), Effect.ignore, Effect.as(answers as ReadonlyArray<Enrichment.Answer>))
    })
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
export const run = <ES, RS, S extends Sinks, RL, CE = never>(
  options: Options<ES, RS, S, RL, CE>
): Effect.Effect<void, ES | CE | SinkError<S[keyof S]>, RS | SinkServices<S[keyof S]> | RL> => {
  const pause = options.onDbUnavailable === "pause"
  const schedule = toSchedule(options.pauseRetry)
  const ordering = options.ordering ?? "key"
  const lookup = options.lookup
  const enrich =
    typeof lookup === "function"
      ? perRecord(answering(lookup, pause ? { schedule, log: pauseLog() } : undefined), options.concurrency, ordering)
      : chunked(
          answeringChunks(lookup.lookupMany, pause ? { schedule, log: pauseLog() } : undefined),
          options.concurrency,
          options.maxChunkSize,
          ordering
        )
  const codec = options.codec
  if (codec !== undefined) {
    return codec.decode(options.records).pipe(
      Pipeline.deadLetters(options.sinks.deadLetters),
      enrich,
      // One at a time and in order: encoding is CPU work once the schema id is known.
      Stream.mapEffect((e) =>
        Effect.map(codec.encode(e.value.output, e.value.record), (bytes) =>
          Envelope.make(
            e.origin,
            { output: e.value.output, bytes, status: e.value.record.enrichment_status },
            e.receipt
          )
        )
      ),
      Pipeline.route((encoded) => [Pipeline.to(encoded.output, encoded.bytes, encoded.status)]),
      Pipeline.runRouted({ enriched: options.sinks.enriched, failed: options.sinks.failed }),
      Log.withJob(options.logJob ?? "enrich")
    ) as Effect.Effect<void, ES | CE | SinkError<S[keyof S]>, RS | SinkServices<S[keyof S]> | RL>
  }
  if (typeof lookup !== "function") {
    return fusedJson(
      options.records,
      options.sinks,
      answeringChunks(lookup.lookupMany, pause ? { schedule, log: pauseLog() } : undefined),
      options.concurrency,
      options.maxChunkSize,
      ordering
    ).pipe(Log.withJob(options.logJob ?? "enrich")) as Effect.Effect<
      void,
      ES | SinkError<S[keyof S]>,
      RS | SinkServices<S[keyof S]> | RL
    >
  }
  return options.records.pipe(
    decodeRecords(PaymentEvent.decode),
    Pipeline.deadLetters(options.sinks.deadLetters),
    enrich,
    Pipeline.route((result) => [
      Pipeline.to(result.output, EnrichedPayment.encode(result.record), result.record.enrichment_status)
    ]),
    Pipeline.runRouted({ enriched: options.sinks.enriched, failed: options.sinks.failed }),
    Log.withJob(options.logJob ?? "enrich")
  ) as Effect.Effect<void, ES | SinkError<S[keyof S]>, RS | SinkServices<S[keyof S]> | RL>
}

// A chunk lookup after its policy: one answer per claim id, failures answered as statuses.
type LookupMany<RL> = (
  claimIds: Arr.NonEmptyReadonlyArray<string>
) => Effect.Effect<ReadonlyArray<Enrichment.Answer>, never, RL>

// The chunk sizes of the chunk path: at most `maxChunkSize` payments
// (half of `concurrency` by default), as many chunks at once as fit in `concurrency`.
const chunking = (concurrency: number, maxChunkSize: number | undefined) => {
  const size = Math.max(1, Math.min(maxChunkSize ?? Math.ceil(concurrency / 2), concurrency))
  return { size, chunks: Math.max(1, Math.floor(concurrency / size)) }
}

// Decoded payments of one chunk, with their envelopes (non-empty, same length).
interface Decoded {
  readonly events: Arr.NonEmptyReadonlyArray<PaymentEvent.PaymentEvent>
  readonly envelopes: Arr.NonEmptyReadonlyArray<Envelope.Envelope<Envelope.Payload>>
}

// Pieces of at most `size` payments, never merged with the next chunk, so no
// payment waits for others to arrive.
const piecesOf = (
  events: ReadonlyArray<PaymentEvent.PaymentEvent>,
  envelopes: ReadonlyArray<Envelope.Envelope<Envelope.Payload>>,
  size: number
): ReadonlyArray<Decoded> => {
  const pieces: Array<Decoded> = []
  for (let i = 0; i < events.length; i += size) {
    const whole = i === 0 && events.length <= size
    pieces.push({
      events: (whole ? events : events.slice(i, i + size)) as Arr.NonEmptyReadonlyArray<PaymentEvent.PaymentEvent>,
      envelopes: (whole ? envelopes : envelopes.slice(i, i + size)) as Arr.NonEmptyReadonlyArray<
        Envelope.Envelope<Envelope.Payload>
      >
    })
  }
  return pieces
}

// The JSON job with a chunk lookup (what the CLI runs) in two stages per
// chunk: decode in a loop (dead letters straight to their sink's queue),
// then look up, encode and route each piece of at most `size` payments, up
// to `chunks` pieces at once, and dispatch to the sinks. The composition of
// `decodeRecords`, `deadLetters`, `mapChunksEffect` and `route` does the
// same work, but each of its stages costs an envelope per record, and the
// dead letters a merged stream (a fiber and a queue hop per chunk). Order is
// that of `mapChunksEffect`: every output in input order (`ordered`, `key`),
// or in input order within a piece (`unordered`).
const fusedJson = <ES, RS, S extends Sinks, RL>(
  records: Stream.Stream<Envelope.Envelope<Envelope.Payload>, ES, RS>,
  sinks: S,
  lookupMany: LookupMany<RL>,
  concurrency: number,
  maxChunkSize: number | undefined,
  ordering: Pipeline.Ordering
) =>
  Effect.gen(function* () {
    const { size, chunks } = chunking(concurrency, maxChunkSize)
    const deadLetters = yield* Queue.bounded<Envelope.Envelope<DeadLetter.DeadLetter>, Cause.Done>(256)
    // Sequential, ahead of the chunks being looked up: a chunk held by
    // pause mode holds neither the dead letters after it nor their commit.
    const decodeChunk = (
      chunk: ReadonlyArray<Envelope.Envelope<Envelope.Payload>>
    ): Effect.Effect<ReadonlyArray<Decoded>> => {
      const events: Array<PaymentEvent.PaymentEvent> = []
      const kept: Array<Envelope.Envelope<Envelope.Payload>> = []
      const dead: Array<Envelope.Envelope<DeadLetter.DeadLetter>> = []
      for (const e of chunk) {
        const decoded = decodeOne(PaymentEvent.decode, e.origin, e.value)
        if (Result.isSuccess(decoded)) {
          events.push(decoded.success)
          kept.push(e)
        } else dead.push(Envelope.make(e.origin, decoded.failure, e.receipt))
      }
      const pieces = piecesOf(events, kept, size)
      if (dead.length === 0) return Effect.succeed(pieces)
      return Effect.andThen(
        Effect.forEach(dead, (d) => Metrics.countDeadLetter(d.value.kind), { discard: true }),
        Effect.as(Queue.offerAll(deadLetters, dead), pieces)
      )
    }
    const enrichPiece = ({ envelopes, events }: Decoded) =>
      Effect.flatMap(lookupMany(Arr.map(events, (event) => event.claim_id)), (answers) =>
        // One timestamp per chunk: its payments were enriched by the same answer.
        Effect.map(DateTime.now, (now) =>
          Arr.map(envelopes, (e, j) => {
            const result = Enrichment.enrichmentResult(events[j]!, answers[j]!, now)
            return Envelope.make(
              e.origin,
              Pipeline.to(result.output, EnrichedPayment.encode(result.record), result.record.enrichment_status),
              e.receipt
            )
          })
        )
      )
    const valid = Stream.chunks(records).pipe(
      Stream.mapEffect(decodeChunk),
      Stream.flattenIterable,
      // Decoding runs ahead of the lookups by a few pieces, so while pause
      // mode holds every lookup slot the dead letters behind them still leave.
      Stream.buffer({ capacity: 8 }),
      Stream.mapEffect(enrichPiece, { concurrency: chunks, unordered: ordering === "unordered" }),
      Stream.flattenArray
    )
    yield* Effect.all(
      [
        valid.pipe(
          Pipeline.runRouted({ enriched: sinks.enriched, failed: sinks.failed }),
          Effect.ensuring(Queue.end(deadLetters))
        ),
        Stream.run(Stream.fromQueue(deadLetters), sinks.deadLetters)
      ],
      { concurrency: "unbounded", discard: true }
    )
  })

// The per-record path: one lookup per payment, ordered by claim id in `key` mode.
const perRecord = <RL>(
  lookup: (claimId: string) => Effect.Effect<Enrichment.Answer, never, RL>,
  concurrency: number,
  ordering: Pipeline.Ordering
) =>
  Pipeline.mapEffect(
    (event: PaymentEvent.PaymentEvent) =>
      Effect.flatMap(lookup(event.claim_id), (answer) =>
        Effect.map(DateTime.now, (now) => Enrichment.enrichmentResult(event, answer, now))
      ),
    { concurrency, ordering, key: (e) => e.value.claim_id }
  )

// The chunk path: chunks of at most `maxChunkSize` payments, as many at once
// as fit in `concurrency`, so the records in flight stay within `concurrency`.
const chunked = <RL>(
  lookupMany: LookupMany<RL>,
  concurrency: number,
  maxChunkSize: number | undefined,
  ordering: Pipeline.Ordering
) => {
  const { size, chunks } = chunking(concurrency, maxChunkSize)
  return Pipeline.mapChunksEffect(
    (events: Arr.NonEmptyReadonlyArray<PaymentEvent.PaymentEvent>) =>
      Effect.flatMap(lookupMany(Arr.map(events, (event) => event.claim_id)), (answers) =>
        // One timestamp per chunk: its payments were enriched by the same answer.
        Effect.map(DateTime.now, (now) =>
          answers.map((answer, i) => Enrichment.enrichmentResult(events[i]!, answer, now))
        )
      ),
    { concurrency: chunks, maxChunkSize: size, ordering }
  )
}
