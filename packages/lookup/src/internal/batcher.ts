import type { Array as Arr, Fiber } from "effect"
import { Clock, Duration, Effect, Exit, Metric, Option } from "effect"
import type { LookupError } from "../LookupError.ts"
import * as Metrics from "../LookupMetrics.ts"

type Answer<V> = Effect.Effect<Option.Option<V>, LookupError>
type Resume<V> = (answer: Answer<V>) => void
type Fetch<K, V> = (keys: Arr.NonEmptyReadonlyArray<K>) => Effect.Effect<ReadonlyMap<K, V>, LookupError>

// Most keys have a single waiter, so a waiter is stored as is and only a
// second caller for the same key turns the slot into an array.
type Waiting<V> = Resume<V> | Array<Resume<V>>

interface Batch<K, V> {
  readonly waiting: Map<K, Waiting<V>>
  sent: boolean
  timer: Fiber.Fiber<unknown, unknown> | undefined
}

/** The per-batch metrics of one lookup, resolved once. */
export interface BatchMetrics {
  /** The lookup's name, the `lookup` attribute of its metrics and spans. */
  readonly name: string
  readonly sizes: Metric.Metric<number, unknown>
  readonly latency: Metric.Metric<number, unknown>
  readonly found: Metric.Metric<number, unknown>
  readonly notFound: Metric.Metric<number, unknown>
  readonly failed: Metric.Metric<number, unknown>
}

export const batchMetrics = (name: string): BatchMetrics => ({
  name,
  sizes: Metric.withAttributes(Metrics.batchSize, { lookup: name }),
  latency: Metric.withAttributes(Metrics.latencyMs, { lookup: name }),
  found: Metric.withAttributes(Metrics.requests, { lookup: name, outcome: "found" }),
  notFound: Metric.withAttributes(Metrics.requests, { lookup: name, outcome: "not_found" }),
  failed: Metric.withAttributes(Metrics.requests, { lookup: name, outcome: "error" })
})

// One span per query, not per key, for the same reason as the metrics. It covers
// the query (with its retries) and ends before the callers are answered:
// completing them inside the span cost measurable CPU with tracing on.
const tracedFetch = <K, V>(
  fetch: Fetch<K, V>,
  name: string,
  keys: Arr.NonEmptyReadonlyArray<K>
): Effect.Effect<ReadonlyMap<K, V>, LookupError> =>
  fetch(keys).pipe(
    Effect.tap((rows) =>
      Effect.annotateCurrentSpan({ "sluice.lookup.found": rows.size, "sluice.lookup.outcome": "ok" })
    ),
    Effect.tapError((error) => Effect.annotateCurrentSpan("sluice.lookup.outcome", error.reason._tag)),
    Effect.withSpan(
      "sluice.lookup.batch",
      { attributes: { "sluice.lookup.name": name, "sluice.lookup.keys": keys.length } },
      { captureStackTrace: false }
    )
  )

/**
 * Runs one query and records its size and latency once, whatever the number
 * of keys: per-key clock reads and metric updates would cost as much as the
 * query itself.
 */
export const timedFetch = <K, V>(
  fetch: Fetch<K, V>,
  metrics: BatchMetrics,
  keys: Arr.NonEmptyReadonlyArray<K>
): Effect.Effect<ReadonlyMap<K, V>, LookupError> =>
  Effect.flatMap(Clock.currentTimeNanos, (start) =>
    Effect.onExit(tracedFetch(fetch, metrics.name, keys), () =>
      Effect.flatMap(Clock.currentTimeNanos, (end) =>
        Effect.andThen(
          Metric.update(metrics.sizes, keys.length),
          Metric.update(metrics.latency, Number(end - start) / 1_000_000)
        )
      )
    )
  )

/**
 * Records how many requests a query answered, by outcome.
 */
export const countOutcomes = (
  metrics: BatchMetrics,
  exit: Exit.Exit<unknown, unknown>,
  requests: number,
  found: number
): Effect.Effect<void> =>
  Exit.isSuccess(exit)
    ? Effect.andThen(Metric.update(metrics.found, found), Metric.update(metrics.notFound, requests - found))
    : Metric.update(metrics.failed, requests)

/**
 * Collects concurrent single-key requests into queries of at most `maxBatchSize`
 * distinct keys. A batch is sent as soon as it is full, or `window` after its
 * first key arrived (one scheduler tick for a zero window). Callers of the same
 * key share one slot and one answer.
 *
 * It does what a `RequestResolver` with `batchN` and `setDelay` does, without
 * a request object, an entry and two set insertions per key: a waiting caller
 * costs one map slot. Background fibers (the window timer, a full batch's query)
 * run with the context of the caller that needed them, so `Clock` is whatever
 * that caller sees (a `TestClock` in tests).
 */
export const make = <K, V>(options: {
  readonly fetch: Fetch<K, V>
  readonly maxBatchSize: number
  readonly window: Duration.Duration
  readonly metrics: BatchMetrics
}): ((key: K) => Answer<V>) => {
  const { fetch, maxBatchSize, metrics } = options
  const delay = Duration.isZero(options.window) ? Effect.yieldNow : Effect.sleep(options.window)
  let current: Batch<K, V> | undefined

  // Closes the batch to new keys and to withdrawals; the caller then runs `query`.
  const close = (batch: Batch<K, V>): void => {
    batch.sent = true
    if (current === batch) current = undefined
  }

  const query = (batch: Batch<K, V>): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (batch.waiting.size === 0) return Effect.void
      const keys = Array.from(batch.waiting.keys()) as unknown as Arr.NonEmptyReadonlyArray<K>
      return Effect.flatMap(Effect.exit(timedFetch(fetch, metrics, keys)), (exit) => {
        // Counted before anyone is answered, so a caller that reads the metrics next sees its own request.
        let requests = 0
        let found = 0
        const rows = Exit.isSuccess(exit) ? exit.value : undefined
        for (const [key, waiting] of batch.waiting) {
          const n = typeof waiting === "function" ? 1 : waiting.length
          requests += n
          if (rows?.has(key) === true) found += n
        }
        return Effect.as(countOutcomes(metrics, exit, requests, found), undefined).pipe(
          Effect.ensuring(Effect.sync(() => answer(batch, exit)))
        )
      })
    })

  const answer = (batch: Batch<K, V>, exit: Exit.Exit<ReadonlyMap<K, V>, LookupError>): void => {
    const none: Answer<V> = Exit.succeed(Option.none())
    const failed: Answer<V> | undefined = Exit.isFailure(exit) ? Exit.failCause(exit.cause) : undefined
    const rows = Exit.isSuccess(exit) ? exit.value : undefined
    for (const [key, waiting] of batch.waiting) {
      const result: Answer<V> =
        rows === undefined ? failed! : rows.has(key) ? Exit.succeed(Option.some(rows.get(key) as V)) : none
      if (typeof waiting === "function") waiting(result)
      else for (const resume of waiting) resume(result)
    }
  }

  const withdraw = (batch: Batch<K, V>, key: K, resume: Resume<V>): void => {
    if (batch.sent) return
    const waiting = batch.waiting.get(key)
    if (waiting === resume) batch.waiting.delete(key)
    else if (Array.isArray(waiting)) {
      const at = waiting.indexOf(resume)
      if (at >= 0) waiting.splice(at, 1)
      if (waiting.length === 0) batch.waiting.delete(key)
    }
    if (batch.waiting.size === 0) {
      // Nobody is left to answer: the batch is dropped before it costs a query.
      close(batch)
      batch.timer?.interruptUnsafe()
    }
  }

  return (key) =>
    Effect.withFiber((fiber) =>
      Effect.callback<Option.Option<V>, LookupError>((resume) => {
        let batch = current
        if (batch === undefined) {
          const opened: Batch<K, V> = { waiting: new Map(), sent: false, timer: undefined }
          current = batch = opened
          opened.timer = Effect.runForkWith(fiber.context)(
            Effect.andThen(
              delay,
              Effect.suspend(() => {
                if (opened.sent) return Effect.void
                close(opened)
                return query(opened)
              })
            )
          )
        }
        const waiting = batch.waiting.get(key)
        if (waiting === undefined) batch.waiting.set(key, resume)
        else if (typeof waiting === "function") batch.waiting.set(key, [waiting, resume])
        else waiting.push(resume)
        if (batch.waiting.size >= maxBatchSize) {
          close(batch)
          batch.timer?.interruptUnsafe()
          Effect.runForkWith(fiber.context)(query(batch))
        }
        const joined = batch
        return Effect.sync(() => withdraw(joined, key, resume))
      })
    )
}
