/**
 * A sink that writes envelopes in Kafka transactions (`Transactions`): each
 * output goes into the open transaction of its input record's partition and
 * its receipt is acknowledged once the broker has it, so the commit cycle
 * commits it together with the input offset. Nothing is visible to a
 * `read_committed` reader before that commit; an aborted transaction's
 * outputs never are.
 *
 * An output whose input partition is no longer this member's is dropped
 * unacknowledged: the partition's new owner processes its input again. One
 * dropped because that owner claimed the partition while it was being
 * revoked is acknowledged, so the revocation does not wait for it.
 *
 * ```ts
 * const transactions = yield* Transactions.make(client, { groupId: "enrich" })
 * const records = yield* KafkaSource.make(client, { topics, groupId: "enrich", transactions: transactions.hooks })
 * yield* records.pipe(Stream.run(TransactionalSink.make(transactions, "enriched-payments")))
 * ```
 *
 * @since 0.1.0
 */
import { type Envelope, type OffsetTracker, Receipt } from "@sluice/core"
import { Effect, Sink } from "effect"
import type * as KafkaError from "./KafkaError.ts"
import type * as KafkaLike from "./KafkaLike.ts"
import * as KafkaSink from "./KafkaSink.ts"
import type * as Transactions from "./Transactions.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Keep the source record's headers on the output (default true). */
  readonly keepHeaders?: boolean | undefined
  /**
   * The input partition whose transaction an output goes in: its record's
   * origin by default. Outputs that did not come from a Kafka record (a keyed
   * operator's timers, whose origin is the operator and the state partition)
   * name the input partition here.
   */
  readonly transactionOf?: ((origin: Envelope.Origin) => OffsetTracker.TopicPartition) | undefined
}

/**
 * A sink writing to `topic` through `transactions`; fails with a
 * `KafkaError` when a send fails, which fails the job: the transaction is
 * never committed and the restarted job processes its inputs again.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  transactions: Transactions.Transactions,
  topic: string,
  options?: Options
): Sink.Sink<void, KafkaSink.Input, never, KafkaError.KafkaError> => {
  const keepHeaders = options?.keepHeaders ?? true
  const transactionOf = options?.transactionOf
  type Group = { partition: number; topic: string; inputs: Array<KafkaSink.Input> }
  const ackOf = (group: Group) => (indices: ReadonlyArray<number>) =>
    Receipt.ackAll(indices.map((i) => group.inputs[i]!.receipt))
  const messagesOf = (group: Group): Array<KafkaLike.Message> =>
    group.inputs.map((e) => KafkaSink.toMessage(e, keepHeaders))
  // One send per input partition, each into its own transaction.
  const perPartition = (groups: Iterable<Group>) =>
    Effect.forEach(
      groups,
      (group) => {
        if (transactionOf !== undefined) {
          return Effect.flatMap(transactions.send(group, topic, messagesOf(group)), (sent) =>
            sent ? Receipt.ackAll(group.inputs.map((e) => e.receipt)) : Effect.void
          )
        }
        // With the input offsets, a pipelined commit cycle can put each output in the right transaction.
        return transactions.sendRecords(
          group,
          topic,
          messagesOf(group),
          group.inputs.map((e) => e.origin.offset),
          ackOf(group)
        )
      },
      { concurrency: "unbounded", discard: true }
    )
  // Member-wide transactions take every input partition's outputs in one request.
  const sendAll = transactions.sendRecordsAll
  const write =
    sendAll === undefined || transactionOf !== undefined
      ? perPartition
      : (groups: Iterable<Group>) =>
          sendAll(
            topic,
            [...groups].map((group) => ({
              origin: group,
              messages: messagesOf(group),
              offsets: group.inputs.map((e) => e.origin.offset),
              ack: ackOf(group)
            }))
          )
  return Sink.forEachArray((chunk: ReadonlyArray<KafkaSink.Input>) => {
    const groups = new Map<string, Group>()
    for (const e of chunk) {
      const tp = transactionOf === undefined ? e.origin : transactionOf(e.origin)
      const key = `${tp.partition}\u0000${tp.topic}`
      let group = groups.get(key)
      if (group === undefined) {
        group = { partition: tp.partition, topic: tp.topic, inputs: [] }
        groups.set(key, group)
      }
      group.inputs.push(e)
    }
    return write(groups.values()).pipe(
      Effect.withSpan(
        "sluice.sink.write",
        {
          kind: "producer",
          attributes: {
            "messaging.destination.name": topic,
            "messaging.batch.message_count": chunk.length,
            "sluice.transactional": true
          }
        },
        { captureStackTrace: false }
      )
    )
  })
}
