/**
 * A consumer-group `Stream` of envelopes with at-least-once offset commits.
 *
 * Every record is tracked by an `OffsetTracker` before it is emitted, and its
 * envelope's receipt marks it done. Offsets are committed only up to the
 * highest offset below which every record is done, so a crash at any moment
 * loses nothing: the group restarts from work that was really finished.
 *
 * Backpressure: when `maxInFlight` records are tracked and not yet committable,
 * the partition's fetching is paused (kafkajs `pause`, held as a scoped
 * resource and resumed on release) while heartbeats continue, so a slow
 * downstream neither grows memory nor gets the member evicted.
 *
 * Rebalances (kafkajs uses the eager protocol, every partition is revoked):
 * when the group starts rebalancing, records of the old generation stop being
 * emitted, each partition waits (up to `revokeTimeout`) for its in-flight
 * records, commits its final offset while it is still owned, tells
 * `onRevoke` (stateful operators give its state up, see core's `Ownership`)
 * and is forgotten. A new generation's batches for a partition wait for that
 * to finish, then resume from the committed offset. Commits are filtered by the
 * current assignment, so an offset is never committed for a partition the
 * member no longer owns.
 *
 * Consumer lag (`sluice_consumer_lag{topic,partition}`) is what consumer-group
 * tooling reports: the partition's high watermark minus the offset the group
 * committed, so records handed out but not yet committed still count. It is
 * updated with every fetched batch (the high watermark kafkajs reports) and
 * every commit; a partition the member stops owning reads 0. While a
 * partition is paused nothing is fetched, so its high watermark is that of
 * its last batch until fetching resumes.
 *
 * Exactly-once (`transactions`, see `Transactions`): the consumer commits
 * nothing itself; a partition is claimed (earlier owners fenced) before its
 * first record is processed, tracking pauses while a commit drains the
 * pipeline, and a revoked partition's open transaction is aborted. The
 * consumer reads `read_committed` (kafkajs' default), so outputs of aborted
 * transactions upstream are never processed.
 *
 * ```ts
 * const records = yield* KafkaSource.make(client, { topics: ["payment-events"], groupId: "enrich" })
 * // or as a service, its options from KAFKA_SOURCE_TOPICS and KAFKA_GROUP_ID:
 * const { records } = yield* KafkaSource.KafkaSource // with KafkaSource.layerConfig()
 * ```
 *
 * @since 0.1.0
 */
import { type Envelope, Metrics, OffsetTracker } from "@sluice/core"
import {
  type Cause,
  Config,
  Context,
  Deferred,
  Duration,
  Effect,
  Layer,
  Option,
  Queue,
  Schedule,
  type Scope,
  Stream
} from "effect"
import * as KafkaClient from "./KafkaClient.ts"
import * as KafkaError from "./KafkaError.ts"
import type * as KafkaLike from "./KafkaLike.ts"
import type * as Transactions from "./Transactions.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly topics: ReadonlyArray<string>
  readonly groupId: string
  /** Where a group without committed offsets starts: `earliest` (default) or `latest`. */
  readonly startFrom?: "earliest" | "latest" | undefined
  /** Records tracked and not yet committable before fetching pauses; 10,000 by default. */
  readonly maxInFlight?: number | undefined
  /** 1 second by default. */
  readonly commitInterval?: Duration.Input | undefined
  /** Commit early after this many completed records; 5,000 by default. */
  readonly commitEvery?: number | undefined
  /** How long a revoked partition waits for its in-flight records; 10 seconds by default. */
  readonly revokeTimeout?: Duration.Input | undefined
  /** 30 seconds by default. */
  readonly sessionTimeout?: Duration.Input | undefined
  /** 3 seconds by default. */
  readonly heartbeatInterval?: Duration.Input | undefined
  /** 60 seconds by default. */
  readonly rebalanceTimeout?: Duration.Input | undefined
  /**
   * Static membership (KIP-345): a member restarted under the same id takes
   * its partitions back without a rebalance, and a member that stops does not
   * leave the group (its partitions wait for it until its session times out).
   */
  readonly groupInstanceId?: string | undefined
  /** Partitions whose batches are handled at the same time; 1 by default. */
  readonly partitionsConsumedConcurrently?: number | undefined
  /** Bytes fetched per partition per request; 1 MiB by default. */
  readonly maxBytesPerPartition?: number | undefined
  /**
   * Bytes a fetch waits for, at most `fetchMaxWait`, while records are
   * flowing (the fetch before it brought some); `defaultFetchMinBytes` by
   * default. See `defaultFetchMinBytes`.
   */
  readonly fetchMinBytes?: number | undefined
  /** Longest a fetch waits for `fetchMinBytes` while records are flowing; `defaultFetchMaxWait` by default. */
  readonly fetchMaxWait?: Duration.Input | undefined
  /**
   * Longest a fetch waits once the one before it brought nothing; it is
   * then answered at the first record. `defaultFetchIdleWait` by default.
   */
  readonly fetchIdleWait?: Duration.Input | undefined
  /** Records handed over but not yet pulled by the stream; 1,024 by default. */
  readonly bufferSize?: number | undefined
  /**
   * Told each partition the member gives up, once its in-flight records are
   * done and its final offset committed (exactly-once: its transaction
   * released), before it can be consumed again here: stateful operators
   * give its state up here (`Ownership.revoke`), so they restore it from the
   * store if it comes back. Bounded by `revokeTimeout`.
   */
  readonly onRevoke?: ((partitions: ReadonlyArray<OffsetTracker.TopicPartition>) => Effect.Effect<void>) | undefined
  /** Told the member's partitions after every rebalance (for readiness checks and dashboards). */
  readonly onAssignment?: ((partitions: ReadonlyArray<OffsetTracker.TopicPartition>) => Effect.Effect<void>) | undefined
  /**
   * Told every run of offsets the consumer fetched that held no record for
   * it: transaction markers and aborted records, which a `read_committed`
   * reader never sees and so never commits past. A one-shot consumer needs
   * it to know a transactional topic is drained (see `InvisibleRange`).
   */
  readonly onInvisible?: ((range: InvisibleRange) => Effect.Effect<void>) | undefined
  /**
   * Exactly-once: offsets are committed in Kafka transactions together with
   * the outputs (`Transactions.make(...).hooks`), not by the consumer.
   */
  readonly transactions?: Transactions.Hooks | undefined
}

/**
 * The fetch sizes by default, adaptive: while records are flowing (the
 * previous fetch brought some) a fetch asks for 64 KiB and waits up to
 * `defaultFetchMaxWait` for them, so a busy job handles a few hundred records
 * per request instead of the handful that arrived during the last round
 * trip; once a fetch brings nothing the next asks for one byte and waits up
 * to `defaultFetchIdleWait`, so a record reaching an idle job is answered at
 * once and an idle job asks the broker rarely. Chosen by measurement (`pnpm
 * bench claims` at fixed rates, see the README's Benchmarks section): asking
 * for one byte always made the job pay its per-request and per-batch costs
 * for every few records, and it cost about twice the CPU per event at 5,000
 * and 10,000 payments/s.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultFetchMinBytes = 64 * 1024

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultFetchMaxWait: Duration.Input = "20 millis"

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultFetchIdleWait: Duration.Input = "5 seconds"

/**
 * Offsets `from` (inclusive) to `to` (exclusive) of a partition that hold no
 * record a `read_committed` consumer is handed: transaction markers (every
 * transaction ends with one) and records of aborted transactions. The
 * consumer fetched them and moved past; its group's committed offset, which
 * only follows records handed out, stays at `from`.
 *
 * @since 0.1.0
 * @category models
 */
export interface InvisibleRange {
  readonly topic: string
  readonly partition: number
  readonly from: bigint
  readonly to: bigint
}

// kafkajs ends every fetched batch with `consumer.end_batch_process`; one
// that held only filtered records (markers, aborted data) reports no
// records (`batchSize` 0) and the offsets it moved past. Such a batch never
// reaches the batch handler, which reports the filtered tail of the others.
const invisibleRange = (payload: unknown): InvisibleRange | undefined => {
  if (typeof payload !== "object" || payload === null) return undefined
  const p = payload as Partial<Record<"topic" | "partition" | "batchSize" | "firstOffset" | "lastOffset", unknown>>
  if (p.batchSize !== 0 || typeof p.topic !== "string" || typeof p.partition !== "number") return undefined
  if (typeof p.firstOffset !== "string" || typeof p.lastOffset !== "string") return undefined
  return { topic: p.topic, partition: p.partition, from: BigInt(p.firstOffset), to: BigInt(p.lastOffset) + 1n }
}

const tpKey = (topic: string, partition: number): string => `${partition}\u0000${topic}`

/**
 * Connects a consumer of `options.topics` in the group `options.groupId` and
 * returns the stream of its records. The consumer and its commit loop belong
 * to the caller's scope, not to the stream: sinks that acknowledge records
 * after the stream has ended still get their offsets committed. When the
 * scope closes, fetching stops, done offsets are committed one last time and
 * the consumer disconnects.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  client: KafkaClient.KafkaClient["Service"],
  options: Options
): Effect.Effect<
  Stream.Stream<Envelope.Envelope<Envelope.Payload>, KafkaError.KafkaError>,
  KafkaError.KafkaError,
  Scope.Scope
> =>
  Effect.gen(function* () {
    // Tracked records are the real bound on memory; this queue only decouples
    // kafkajs's callbacks from the stream's pulls.
    const queue = yield* Queue.bounded<Envelope.Envelope<Envelope.Payload>, KafkaError.KafkaError | Cause.Done>(
      options.bufferSize ?? 1024
    )
    yield* Effect.addFinalizer(() => Queue.end(queue))
    yield* consume(
      client,
      options,
      (envelopes) => Queue.offerAll(queue, envelopes),
      (error) => Queue.fail(queue, error)
    )
    return Stream.fromQueue(queue)
  })

const consume = (
  client: KafkaClient.KafkaClient["Service"],
  options: Options,
  emit: (envelopes: ReadonlyArray<Envelope.Envelope<Envelope.Payload>>) => Effect.Effect<unknown>,
  fail: (error: KafkaError.KafkaError) => Effect.Effect<unknown>
): Effect.Effect<void, KafkaError.KafkaError, Scope.Scope> =>
  Effect.gen(function* () {
    const maxInFlight = options.maxInFlight ?? 10_000
    const heartbeatInterval = Duration.fromInputUnsafe(options.heartbeatInterval ?? "3 seconds")
    const revokeTimeout = options.revokeTimeout ?? "10 seconds"
    const transactions = options.transactions
    const onInvisible = options.onInvisible
    // Operators downstream give a revoked partition's state up; one stuck (its stream ended or
    // blocked) must not hold the rebalance.
    const onRevoke = (tp: OffsetTracker.TopicPartition) =>
      options.onRevoke === undefined
        ? Effect.void
        : options.onRevoke([tp]).pipe(
            Effect.timeoutOrElse({
              duration: revokeTimeout,
              orElse: () =>
                Effect.logWarning("operators did not give a revoked partition up in time").pipe(
                  Effect.annotateLogs({ group: options.groupId, partition: printKey(tpKey(tp.topic, tp.partition)) })
                )
            })
          )
    const context = yield* Effect.context<never>()
    const runFork = Effect.runForkWith(context)
    const runPromise = Effect.runPromiseWith(context)

    const tracker = yield* OffsetTracker.make({ maxInFlight })
    // Connected now; disconnected (bounded) after the final commit below.
    const consumer = yield* client.consumer({
      groupId: options.groupId,
      sessionTimeout: Duration.toMillis(Duration.fromInputUnsafe(options.sessionTimeout ?? "30 seconds")),
      heartbeatInterval: Duration.toMillis(heartbeatInterval),
      rebalanceTimeout: Duration.toMillis(Duration.fromInputUnsafe(options.rebalanceTimeout ?? "60 seconds")),
      ...(options.groupInstanceId === undefined ? {} : { groupInstanceId: options.groupInstanceId }),
      maxBytesPerPartition: options.maxBytesPerPartition ?? 1024 * 1024,
      minBytes: options.fetchMinBytes ?? defaultFetchMinBytes,
      maxWaitTimeInMs: Duration.toMillis(Duration.fromInputUnsafe(options.fetchMaxWait ?? defaultFetchMaxWait)),
      idleMaxWaitTimeInMs: Duration.toMillis(Duration.fromInputUnsafe(options.fetchIdleWait ?? defaultFetchIdleWait))
    })

    // Partitions of the current generation, and revocations still draining.
    let owned = new Set<string>()
    let generation = 0
    const revoking = new Map<string, Deferred.Deferred<void>>()
    // Completed when the source shuts down: batch handlers still waiting for
    // room end at once, so kafkajs can stop and the member leave the group
    // instead of heartbeating on behalf of a pipeline that is gone.
    const shutdown = Deferred.makeUnsafe<void>()

    // Consumer lag of each owned partition: the high watermark of its last
    // batch minus the group's committed offset (the last one committed here,
    // or, before that, the offset consumption resumed from).
    const lags = new Map<string, { highWatermark: bigint; committed: bigint }>()
    const reportLag = (topic: string, partition: number, lag: { highWatermark: bigint; committed: bigint }) =>
      Metrics.setConsumerLag(topic, partition, Math.max(0, Number(lag.highWatermark - lag.committed)))
    // A partition this member no longer owns holds no lag here (its new owner reports it).
    const forgetLag = (topic: string, partition: number) =>
      Effect.suspend(() =>
        lags.delete(tpKey(topic, partition)) ? Metrics.setConsumerLag(topic, partition, 0) : Effect.void
      )

    const updateLags = (offsets: ReadonlyArray<OffsetTracker.CommittableOffset>) =>
      Effect.forEach(
        offsets,
        (o) => {
          const lag = lags.get(tpKey(o.topic, o.partition))
          if (lag === undefined) return Effect.void
          lag.committed = o.offset
          return reportLag(o.topic, o.partition, lag)
        },
        { discard: true }
      )

    const commit = (offsets: ReadonlyArray<OffsetTracker.CommittableOffset>) => {
      const mine = offsets.filter((o) => owned.has(tpKey(o.topic, o.partition)))
      if (mine.length === 0) return Effect.void
      return Effect.andThen(
        KafkaError.attempt("commit", () =>
          consumer.commitOffsets(
            mine.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset.toString() }))
          )
        ),
        updateLags(mine)
      ).pipe(
        Effect.withSpan(
          "sluice.commit",
          { attributes: { "messaging.consumer.group.name": options.groupId, "sluice.commit.partitions": mine.length } },
          { captureStackTrace: false }
        )
      )
    }

    // A partition being given up: batches of it wait for `done`. Transactions
    // learn it at once, so a fence from its next owner's claim, which can come
    // before its records in flight are done, is not taken for a zombie's.
    const markRevoking = (key: string): Deferred.Deferred<void> => {
      const done = Deferred.makeUnsafe<void>()
      revoking.set(key, done)
      if (transactions !== undefined) {
        const [partition, topic] = splitKey(key)
        transactions.revoking({ topic, partition })
      }
      return done
    }

    // Gives a partition up: its records in flight finish (up to
    // `revokeTimeout`), then, exactly-once, its open transaction is aborted
    // (the new owner processes it again from the last commit), or, with
    // `commit`, its final offset is committed while it is still owned. Then
    // operators downstream give the partition's state up, before it can be
    // consumed again here; after the commit, which a slow flush must not push
    // past the next join.
    const giveUp = (
      key: string,
      done: Deferred.Deferred<void>,
      { commit: commitFinal }: { readonly commit: boolean }
    ) =>
      Effect.gen(function* () {
        const [partition, topic] = splitKey(key)
        const final = yield* tracker.revoke({ topic, partition }, revokeTimeout)
        if (transactions !== undefined) yield* transactions.release({ topic, partition })
        else if (commitFinal && final._tag === "Some") {
          yield* commit([{ topic, partition, offset: final.value }]).pipe(
            Effect.catch((error) => Effect.logWarning("final commit of a revoked partition failed", error))
          )
        }
        yield* onRevoke({ topic, partition })
        yield* forgetLag(topic, partition)
      }).pipe(
        Effect.ensuring(
          Effect.sync(() => {
            if (revoking.get(key) === done) revoking.delete(key)
            Deferred.doneUnsafe(done, Effect.void)
          })
        )
      )

    // On a rebalance every partition is revoked (eager protocol): fence the
    // old generation, drain each partition, commit what is done, forget it.
    const revokeAll = Effect.suspend(() => {
      generation++
      const releases = [...owned].map((key) => [key, markRevoking(key)] as const)
      return Effect.forEach(releases, ([key, done]) => giveUp(key, done, { commit: true }), {
        concurrency: "unbounded",
        discard: true
      })
    })

    const onJoin = (assignment: Record<string, ReadonlyArray<number>>) =>
      Effect.gen(function* () {
        const next = new Set<string>()
        for (const [topic, partitions] of Object.entries(assignment)) {
          for (const p of partitions) next.add(tpKey(topic, p))
        }
        // Partitions lost without a REBALANCING event (e.g. the member was
        // evicted, or the coordinator restarted) are given up as a revocation
        // is, without the commit: their offsets are not ours to commit. Their
        // records in flight finish first (up to `revokeTimeout`), while a
        // batch of the new generation waits: under exactly-once their outputs
        // must go into the lost claim's transaction, which is then aborted,
        // never into the transaction of the partition claimed again, whose
        // records start over from the last commit.
        const releases = [...owned].filter((k) => !revoking.has(k)).map((key) => [key, markRevoking(key)] as const)
        owned = next
        generation++
        yield* Effect.forEach(releases, ([key, done]) => giveUp(key, done, { commit: false }), {
          concurrency: "unbounded",
          discard: true
        })
        if (options.onAssignment !== undefined) {
          yield* options.onAssignment(
            [...next].map((key) => {
              const [partition, topic] = splitKey(key)
              return { topic, partition }
            })
          )
        }
        yield* Effect.logInfo("partitions assigned").pipe(
          Effect.annotateLogs({ group: options.groupId, partitions: [...next].map(printKey).join(",") })
        )
      })

    // Runs `effect` while heartbeating, so waiting for room in the pipeline
    // does not get the member evicted. A failed heartbeat (a rebalance) ends
    // the batch; kafkajs then rejoins the group.
    // The heartbeat's own error is kept as it is: when it says the group is
    // rebalancing, kafkajs must see its error to rejoin rather than restart.
    const keepAlive = <A>(payload: KafkaLike.EachBatchPayload, effect: Effect.Effect<A>) =>
      Effect.raceFirst(
        effect,
        Effect.tryPromise({ try: () => payload.heartbeat(), catch: (error) => error }).pipe(
          Effect.repeat(Schedule.spaced(heartbeatInterval)),
          Effect.andThen(Effect.never)
        )
      )

    const handleBatch = (payload: KafkaLike.EachBatchPayload) =>
      Effect.gen(function* () {
        // Fetching of this partition is paused (once per batch, resumed when
        // the batch ends) while the pipeline has no room for more records.
        let paused = false
        const pauseOnce = Effect.suspend(() => {
          if (paused) return Effect.void
          paused = true
          return Effect.asVoid(
            Effect.acquireRelease(
              Effect.sync(() => payload.pause()),
              (resume) => Effect.sync(resume)
            )
          )
        })
        const { topic, partition, messages } = payload.batch
        const tp = { topic, partition }
        const pending = revoking.get(tpKey(topic, partition))
        if (pending !== undefined) yield* keepAlive(payload, Deferred.await(pending))
        const batchGeneration = generation
        // Exactly-once: the partition is claimed (earlier owners fenced) before
        // its records are processed; records the group committed meanwhile are skipped.
        let skipBelow: bigint | undefined
        if (transactions !== undefined) {
          // A batch of an earlier generation must not claim: that would fence the partition's new owner.
          if (!owned.has(tpKey(topic, partition)) || payload.isStale()) return
          const claimed = yield* keepAlive(payload, Effect.result(transactions.claim(tp)))
          if (claimed._tag === "Failure") {
            yield* fail(claimed.failure)
            return
          }
          skipBelow = claimed.success
        }
        let out: Array<Envelope.Envelope<Envelope.Payload>> = []
        let emitted = 0
        // Records are handed downstream in runs, one race with the heartbeat
        // per run rather than per record.
        const flush = Effect.suspend(() => {
          if (out.length === 0) return Effect.void
          const run = out
          out = []
          emitted += run.length
          return Effect.andThen(
            keepAlive(payload, emit(run)),
            // Moves kafkajs's fetch position only; commits are Sluice's.
            Effect.sync(() => payload.resolveOffset(run[run.length - 1]!.origin.offset.toString()))
          )
        })
        const offsets = messages.map((m) => BigInt(m.offset))
        let next = 0
        if (skipBelow !== undefined) {
          while (next < offsets.length && offsets[next]! < skipBelow) next++
          if (next > 0) payload.resolveOffset(messages[next - 1]!.offset)
        }
        // Each batch brings the partition's high watermark, and so its lag
        // (only for partitions owned now: a stale batch's would never be reset).
        const key = tpKey(topic, partition)
        if (offsets.length > 0 && owned.has(key)) {
          const highWatermark = BigInt(payload.batch.highWatermark)
          let lag = lags.get(key)
          if (lag === undefined) {
            lag = { highWatermark, committed: offsets[0]! }
            lags.set(key, lag)
          } else lag.highWatermark = highWatermark
          yield* reportLag(topic, partition, lag)
        }
        // Offsets are tracked a run at a time: as many records as there is
        // room for in one step, rather than one effect per record.
        while (next < messages.length) {
          if (!payload.isRunning() || payload.isStale() || generation !== batchGeneration) break
          if (transactions?.draining() === true) {
            // A commit waits for every tracked record: emit them before waiting.
            yield* flush
            yield* keepAlive(payload, transactions.admit)
          }
          let tracked: number
          if ((yield* tracker.inFlight) < maxInFlight) {
            tracked = yield* tracker.trackBatch(tp, next === 0 ? offsets : offsets.slice(next))
          } else {
            // Records already tracked are emitted before waiting for room:
            // they may be the very records whose completion makes room.
            yield* flush
            yield* pauseOnce
            tracked = yield* keepAlive(payload, tracker.trackBatch(tp, offsets.slice(next)))
          }
          if (tracked === 0) break
          for (const end = next + tracked; next < end; next++) {
            const message = messages[next]!
            const origin = toOrigin(topic, partition, offsets[next]!, message)
            out.push({ origin, value: message.value, receipt: tracker.receipt(origin) })
          }
        }
        yield* flush
        yield* Metrics.countIn(topic, emitted)
        // Offsets after the batch's last record that the fetch covered hold
        // markers or aborted records: the consumer moves past them unseen.
        if (onInvisible !== undefined && next === messages.length && payload.batch.lastOffset !== undefined) {
          const to = BigInt(payload.batch.lastOffset()) + 1n
          const from = offsets.length > 0 ? offsets[offsets.length - 1]! + 1n : to
          if (to > from) yield* onInvisible({ topic, partition, from, to })
        }
      }).pipe(Effect.scoped)

    const listeners = [
      consumer.on("consumer.rebalancing", () => {
        runFork(revokeAll)
      }),
      consumer.on("consumer.group_join", (event) => {
        // Before the generation's batches: member-wide transactions send their offsets with it.
        const joined = groupMember(event.payload)
        if (joined !== undefined) transactions?.joined?.(joined)
        runFork(onJoin(memberAssignment(event.payload)))
      }),
      consumer.on("consumer.crash", (event) => {
        const crash = event.payload as { readonly error?: unknown; readonly restart?: boolean }
        if (crash.restart !== true) runFork(fail(KafkaError.fromUnknown("consume", crash.error)))
      }),
      ...(onInvisible === undefined
        ? []
        : [
            consumer.on("consumer.end_batch_process", (event) => {
              const range = invisibleRange(event.payload)
              if (range !== undefined && range.to > range.from) runFork(onInvisible(range))
            })
          ])
    ]
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const remove of listeners) remove()
      })
    )
    yield* KafkaError.attempt("subscribe", () =>
      consumer.subscribe({
        topics: [...options.topics],
        fromBeginning: (options.startFrom ?? "earliest") === "earliest"
      })
    )
    yield* Effect.acquireRelease(
      KafkaError.attempt("run", () =>
        consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 1,
          eachBatch: (payload) => runPromise(Effect.raceFirst(handleBatch(payload), Deferred.await(shutdown)))
        })
      ),
      () =>
        Effect.andThen(
          Deferred.succeed(shutdown, undefined),
          KafkaError.attempt("stop", () => consumer.stop()).pipe(Effect.timeout("10 seconds"), Effect.ignore)
        )
    )
    // Registered after `run`: finalizers run in reverse, so the final commit
    // happens while the consumer is still a member of the group, then it stops.
    if (transactions !== undefined) {
      yield* transactions.start(tracker, { fail, committed: updateLags })
    } else {
      yield* OffsetTracker.commitLoop(tracker, commit, {
        interval: options.commitInterval ?? "1 second",
        every: options.commitEvery ?? 5_000
      })
    }
  })

const splitKey = (key: string): readonly [partition: number, topic: string] => {
  const i = key.indexOf("\u0000")
  return [Number(key.slice(0, i)), key.slice(i + 1)]
}

const printKey = (key: string): string => {
  const [partition, topic] = splitKey(key)
  return `${topic}-${partition}`
}

// The patched kafkajs says which generation and member joined (KIP-447's fencing needs both).
const groupMember = (payload: unknown): Transactions.GroupMember | undefined => {
  if (typeof payload !== "object" || payload === null) return undefined
  const { generationId, memberId, groupInstanceId } = payload as Record<string, unknown>
  if (typeof generationId !== "number" || typeof memberId !== "string") return undefined
  return { generationId, memberId, groupInstanceId: typeof groupInstanceId === "string" ? groupInstanceId : null }
}

// kafkajs reports the new assignment as `{ memberAssignment: { topic: [partitions] } }`.
const memberAssignment = (payload: unknown): Record<string, ReadonlyArray<number>> => {
  if (typeof payload !== "object" || payload === null || !("memberAssignment" in payload)) return {}
  const assignment = payload.memberAssignment
  return typeof assignment === "object" && assignment !== null
    ? (assignment as Record<string, ReadonlyArray<number>>)
    : {}
}

const toOrigin = (
  topic: string,
  partition: number,
  offset: bigint,
  message: KafkaLike.ConsumedMessage
): Envelope.Origin => ({
  topic,
  partition,
  offset,
  key: message.key ?? null,
  headers: toHeaders(message.headers),
  timestamp: Number(message.timestamp)
})

const encoder = new TextEncoder()

// Records without headers share one empty list. The loop reads the header
// object in place (no `Object.entries` pairs, no one-element arrays): this
// runs for every record the source reads.
const noHeaders: Envelope.Headers = Object.freeze([])

const toHeaders = (headers: KafkaLike.Headers | undefined): Envelope.Headers => {
  if (headers === undefined) return noHeaders
  let out: Array<readonly [string, Uint8Array]> | undefined
  for (const name in headers) {
    if (!Object.hasOwn(headers, name)) continue
    const value = headers[name]
    if (value === undefined) continue
    out ??= []
    if (Array.isArray(value)) {
      for (const v of value) out.push([name, typeof v === "string" ? encoder.encode(v) : v])
    } else out.push([name, typeof value === "string" ? encoder.encode(value) : value])
  }
  return out ?? noHeaders
}

/**
 * A source as a service: the stream of one consumer-group subscription,
 * whose consumer lives as long as the layer.
 *
 * @since 0.1.0
 * @category services
 */
export class KafkaSource extends Context.Service<
  KafkaSource,
  { readonly records: Stream.Stream<Envelope.Envelope<Envelope.Payload>, KafkaError.KafkaError> }
>()("@sluice/kafka/KafkaSource") {}

/**
 * The source of `options` over the `KafkaClient` service.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<KafkaSource, KafkaError.KafkaError, KafkaClient.KafkaClient> =>
  Layer.effect(
    KafkaSource,
    Effect.gen(function* () {
      const client = yield* KafkaClient.KafkaClient
      const records = yield* make(client, options)
      return KafkaSource.of({ records })
    })
  )

/**
 * The source options read from the environment: `KAFKA_SOURCE_TOPICS`
 * (required, comma-separated), `KAFKA_GROUP_ID` (required) and
 * `KAFKA_SOURCE_START_FROM` (`earliest`, the default, or `latest`).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  topics: Config.String("KAFKA_SOURCE_TOPICS").pipe(
    Config.map((raw) =>
      raw
        .split(",")
        .map((topic) => topic.trim())
        .filter((topic) => topic !== "")
    )
  ),
  groupId: Config.String("KAFKA_GROUP_ID"),
  startFrom: Config.option(Config.Literals(["earliest", "latest"], "KAFKA_SOURCE_START_FROM"))
}).pipe(
  Config.map(
    ({ topics, groupId, startFrom }): Options => ({
      topics,
      groupId,
      ...Option.match(startFrom, { onNone: () => ({}), onSome: (from) => ({ startFrom: from }) })
    })
  )
)

/**
 * The source configured from `config` (the environment, by default).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<KafkaSource, KafkaError.KafkaError | Config.ConfigError, KafkaClient.KafkaClient> =>
  Layer.effect(
    KafkaSource,
    Effect.gen(function* () {
      const client = yield* KafkaClient.KafkaClient
      const records = yield* make(client, yield* options)
      return KafkaSource.of({ records })
    })
  )
