/**
 * Reads a topic to its end as a `read_committed` consumer sees it: every
 * record of a committed transaction (or written outside any), none of an
 * aborted one. The end is the topic's end offsets when the read starts; a
 * partition is read when the records handed out, plus the transaction
 * markers and aborted records the consumer moved past, reach it (the same
 * rule as the replay's drain check), so a read of a transactional topic ends
 * without knowing how many records it holds.
 */
import type * as Envelope from "@sluice/core/Envelope"
import { type KafkaClient, KafkaSource } from "@sluice/kafka"
import { type Duration, Effect, Schedule, Stream } from "effect"
import * as Drain from "../../src/Drain.ts"

/** Every committed record of `topic`, in the order read; empty when the topic does not exist. */
export const readCommitted = (
  client: KafkaClient.KafkaClient["Service"],
  topic: string,
  timeout: Duration.Input = "120 seconds"
): Effect.Effect<ReadonlyArray<Envelope.Envelope<Envelope.Payload>>> =>
  Effect.scoped(
    Effect.gen(function* () {
      if (!(yield* Effect.promise(() => client.admin.listTopics())).includes(topic)) return []
      const ends = yield* Drain.endOffsets(client.admin, topic)
      const invisible = Drain.invisibleRuns(topic)
      // Per partition, the offset after the last record handed out.
      const positions = new Map<number, bigint>()
      const read = Effect.map(invisible.get, (runs) => Drain.pending(ends, positions, runs).length === 0)
      if (yield* read) return []
      const out: Array<Envelope.Envelope<Envelope.Payload>> = []
      const records = yield* KafkaSource.make(client, {
        topics: [topic],
        groupId: `reader-${Math.random().toString(36).slice(2)}`,
        fetchMaxWait: "100 millis",
        onInvisible: invisible.record
      })
      yield* Effect.raceFirst(
        records.pipe(
          Stream.runForEach((e) =>
            Effect.andThen(
              e.receipt.ack,
              Effect.sync(() => {
                out.push(e)
                const next = e.origin.offset + 1n
                if ((positions.get(e.origin.partition) ?? -1n) < next) positions.set(e.origin.partition, next)
              })
            )
          )
        ),
        read.pipe(Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (done) => done }))
      )
      return out
    })
  ).pipe(Effect.timeout(timeout), Effect.orDie)
