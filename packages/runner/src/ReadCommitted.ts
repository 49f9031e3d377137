/**
 * Reads a topic to its end as a `read_committed` consumer sees it: every
 * record written outside a transaction or in a committed one, none of an
 * aborted one. The end is the topic's end offsets when the read starts; a
 * partition is read when the records handed out, plus the transaction
 * markers and aborted records the consumer moved past, reach it (the rule of
 * `Drain`), so the read of a transactional topic ends without knowing how
 * many records it holds. For summaries and checks of a job's outputs (the
 * demo's summary), with a consumer group of its own that commits nothing.
 *
 * @since 0.1.0
 */
import type * as Envelope from "@sluice/core/Envelope"
import { type KafkaClient, type KafkaError, KafkaSource } from "@sluice/kafka"
import { Effect, Schedule, Stream } from "effect"
import * as Drain from "./Drain.ts"

/**
 * Every committed record of `topic` below its end offsets at the start, in
 * the order read; empty when the topic does not exist.
 *
 * @since 0.1.0
 * @category running
 */
export const readCommitted = (
  client: KafkaClient.KafkaClient["Service"],
  topic: string
): Effect.Effect<ReadonlyArray<Envelope.Envelope<Envelope.Payload>>, KafkaError.KafkaError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const topics = yield* Effect.tryPromise({
        try: () => client.admin.listTopics(),
        catch: (error) => error
      }).pipe(Effect.orElseSucceed((): ReadonlyArray<string> => []))
      if (!topics.includes(topic)) return []
      const ends = yield* Drain.endOffsets(client.admin, topic)
      const invisible = Drain.invisibleRuns(topic)
      // Per partition, the offset after the last record handed out.
      const positions = new Map<number, bigint>()
      const read = Effect.map(invisible.get, (runs) => Drain.pending(ends, positions, runs).length === 0)
      if (yield* read) return []
      const out: Array<Envelope.Envelope<Envelope.Payload>> = []
      const end = new Map(ends.map((e) => [e.partition, e.high]))
      const records = yield* KafkaSource.make(client, {
        topics: [topic],
        groupId: `sluice-read-committed-${Math.random().toString(36).slice(2)}`,
        fetchMaxWait: "100 millis",
        fetchIdleWait: "100 millis",
        onInvisible: invisible.record
      })
      yield* Effect.raceFirst(
        records.pipe(
          Stream.runForEach((e) =>
            Effect.andThen(
              e.receipt.ack,
              Effect.sync(() => {
                const { partition, offset } = e.origin
                // A record written after the read started is not part of it,
                // but says everything before it has been seen.
                if (offset < (end.get(partition) ?? 0n)) out.push(e)
                if ((positions.get(partition) ?? -1n) <= offset) positions.set(partition, offset + 1n)
              })
            )
          )
        ),
        read.pipe(Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (done) => done }))
      )
      return out
    })
  )
