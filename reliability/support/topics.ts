// Reading what the broker holds: every record of a set of topics up to their
// end offsets at the time of the call, and the commit lag of a consumer group.
import { Effect, type Scope } from "effect"
import { type Admin, Kafka, logLevel } from "kafkajs"
import type * as KafkaClient from "../../packages/kafka/src/KafkaClient.ts"
import * as ReadCommitted from "../../packages/runner/src/ReadCommitted.ts"

/** A record as read back, with its headers as strings. */
export interface Stored {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  /** The value; empty for a tombstone. */
  readonly value: Buffer
  /** Whether the value was null (a tombstone), not merely empty. */
  readonly tombstone: boolean
  readonly headers: Record<string, string>
}

/** A kafkajs client and a connected admin for `bootstrap`, closed with the scope. */
export const connect = (bootstrap: string) =>
  Effect.gen(function* () {
    const kafka = new Kafka({
      brokers: [bootstrap],
      clientId: "reliability",
      logLevel: logLevel.NOTHING,
      retry: { retries: 10 }
    })
    const admin = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const admin = kafka.admin()
        await admin.connect()
        return admin
      }),
      (admin) => Effect.promise(() => admin.disconnect().catch(() => {}))
    )
    return { kafka, admin }
  })

/** The end offset of each partition of `topic`. */
export const endOffsets = (admin: Admin, topic: string) =>
  Effect.tryPromise(() => admin.fetchTopicOffsets(topic)).pipe(
    Effect.map((ps) => new Map(ps.map((p) => [p.partition, { low: Number(p.low), high: Number(p.high) }])))
  )

/**
 * Records of `topic` not yet committed by `group`: the sum over partitions of
 * end offset minus committed offset (the start of the log when nothing is committed).
 *
 * On a topic written in transactions that sum never reaches zero: markers
 * and aborted records take offsets no consumer is handed, so a group that
 * committed everything it was handed still sits below the end. Given
 * `readCommitted`, the lag is instead the records a `read_committed`
 * consumer is handed at or past the committed offset, read with the
 * runner's `ReadCommitted` (which ends its read by `Drain`'s rule), so the
 * harness judges "drained" as `sluice` does.
 */
export const commitLag = (
  admin: Admin,
  group: string,
  topic: string,
  options?: { readonly readCommitted?: KafkaClient.KafkaClient["Service"] | undefined }
) =>
  Effect.gen(function* () {
    const ends = yield* endOffsets(admin, topic)
    const committed = yield* Effect.tryPromise(() => admin.fetchOffsets({ groupId: group, topics: [topic] }))
    const at = new Map<number, number>()
    for (const p of committed[0]?.partitions ?? []) {
      const end = ends.get(p.partition)
      if (end !== undefined) at.set(p.partition, Number(p.offset) < 0 ? end.low : Number(p.offset))
    }
    let lag = 0
    for (const [p, from] of at) lag += Math.max(0, (ends.get(p)?.high ?? 0) - from)
    if (lag === 0 || options?.readCommitted === undefined) return lag
    const visible = yield* ReadCommitted.readCommitted(options.readCommitted, topic)
    return visible.filter((e) => Number(e.origin.offset) >= (at.get(e.origin.partition) ?? Infinity)).length
  })

/**
 * Samples the commit lag every `every` until the scope closes; `max()` is the
 * largest sample so far. Samples that fail (the broker is restarting) are skipped.
 */
export const lagSampler = (
  admin: Admin,
  group: string,
  topic: string,
  every = 250
): Effect.Effect<{ readonly max: () => number }, never, Scope.Scope> =>
  Effect.gen(function* () {
    let max = 0
    yield* commitLag(admin, group, topic).pipe(
      Effect.tap((lag) =>
        Effect.sync(() => {
          max = Math.max(max, lag)
        })
      ),
      Effect.ignore,
      Effect.andThen(Effect.sleep(`${every} millis`)),
      Effect.forever,
      Effect.forkScoped
    )
    return { max: () => max }
  })

/** Every record of `topics` up to the end offsets they have when this starts. */
export const readAll = (kafka: Kafka, admin: Admin, topics: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const remaining = new Map<string, number>()
    for (const topic of topics) {
      const ends = yield* endOffsets(admin, topic)
      for (const [p, { low, high }] of ends) if (high > low) remaining.set(`${topic}:${p}`, high)
    }
    const out: Array<Stored> = []
    if (remaining.size === 0) return out
    yield* Effect.acquireUseRelease(
      Effect.promise(async () => {
        const consumer = kafka.consumer({
          groupId: `reader-${process.pid}-${Math.random().toString(36).slice(2)}`,
          maxBytes: 64 * 1024 * 1024,
          maxBytesPerPartition: 8 * 1024 * 1024
        })
        await consumer.connect()
        await consumer.subscribe({ topics: [...topics], fromBeginning: true })
        return consumer
      }),
      (consumer) =>
        Effect.callback<void>((resume) => {
          // A transactional topic ends with a commit marker, which is never
          // delivered: a batch of markers only is reported by this event alone.
          consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
            const key = `${payload.topic}:${payload.partition}`
            const end = remaining.get(key)
            if (end !== undefined && Number(payload.lastOffset) + 1 >= end) remaining.delete(key)
            if (remaining.size === 0) resume(Effect.void)
          })
          void consumer.run({
            autoCommit: false,
            eachBatch: async ({ batch }) => {
              const key = `${batch.topic}:${batch.partition}`
              const end = remaining.get(key)
              for (const m of batch.messages) {
                const offset = Number(m.offset)
                if (end === undefined || offset >= end) continue
                const headers: Record<string, string> = {}
                for (const [k, v] of Object.entries(m.headers ?? {})) if (v !== undefined) headers[k] = String(v)
                out.push({
                  topic: batch.topic,
                  partition: batch.partition,
                  offset,
                  value: m.value ?? Buffer.alloc(0),
                  tombstone: m.value === null,
                  headers
                })
                if (offset + 1 >= end) remaining.delete(key)
              }
              if (end !== undefined && Number(batch.lastOffset()) + 1 >= end) remaining.delete(key)
              if (remaining.size === 0) resume(Effect.void)
            }
          })
        }),
      (consumer) => Effect.promise(() => consumer.disconnect().catch(() => {}))
    ).pipe(Effect.timeout("5 minutes"))
    return out
  })
