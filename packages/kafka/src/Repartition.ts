/**
 * The Kafka side of `@sluice/core`'s `Repartition`: an internal topic the
 * job creates (if missing), writes to with an idempotent producer (acks from
 * every in-sync replica, so a write returns once durable) and reads back as
 * a consumer group, with the source's usual receipts and commits.
 *
 * Exactly-once (`transactions`): each write goes into the transaction of its
 * record's input partition (so it commits with that input's offset), and the
 * reading group commits through transactions of its own (`source`'s
 * `transactions`); it reads `read_committed`, so an aborted write is never read.
 *
 * ```ts
 * import { Repartition as CoreRepartition } from "@sluice/core"
 * import * as Repartition from "@sluice/kafka/Repartition"
 *
 * const byCustomer = yield* Repartition.topic(client, { topic: "orders-by-customer", partitions: 12, groupId: "rfm-by-customer" })
 * records.pipe(CoreRepartition.through(byCustomer, { key: (o) => o.customer, schema: OrderJson }))
 * ```
 *
 * @since 0.2.0
 */
import type { Repartition } from "@sluice/core"
import { Effect, type Scope } from "effect"
import * as Admin from "./Admin.ts"
import * as KafkaClient from "./KafkaClient.ts"
import * as KafkaError from "./KafkaError.ts"
import type * as KafkaLike from "./KafkaLike.ts"
import * as KafkaSink from "./KafkaSink.ts"
import * as KafkaSource from "./KafkaSource.ts"
import type * as Transactions from "./Transactions.ts"

/**
 * Options of `topic`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  readonly topic: string
  /** Its partition count: the parallelism of everything downstream of the repartition. */
  readonly partitions: number
  /**
   * The consumer group that reads it back. Use one of its own (e.g. the
   * job's group with a suffix): the input's consumer is a separate member
   * subscribed to other topics.
   */
  readonly groupId: string
  readonly replicationFactor?: number | undefined
  /** Options of the reading source, besides topics and group. */
  readonly source?: Omit<KafkaSource.Options, "topics" | "groupId"> | undefined
  /** Broker-side timeout of a produce request; 30 seconds by default. */
  readonly requestTimeoutMillis?: number | undefined
  /** Exactly-once: the writing job's transactions (records need their `origin`). */
  readonly transactions?: Transactions.Transactions | undefined
}

/**
 * Creates (if needed) and opens an internal repartition topic. The producer
 * and the consumer live in the caller's scope.
 *
 * @since 0.2.0
 * @category constructors
 */
export const topic = (
  client: KafkaClient.KafkaClient["Service"],
  options: Options
): Effect.Effect<Repartition.Topic<KafkaError.KafkaError>, KafkaError.KafkaError, Scope.Scope> =>
  Effect.gen(function* () {
    yield* Admin.ensureTopics([
      {
        topic: options.topic,
        partitions: options.partitions,
        ...(options.replicationFactor === undefined ? {} : { replicationFactor: options.replicationFactor })
      }
    ]).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
    const transactions = options.transactions
    const timeout = options.requestTimeoutMillis ?? 30_000
    const toMessage = (r: Repartition.Record): KafkaLike.Message => ({
      key: r.key,
      value: r.value,
      partition: r.partition,
      timestamp: String(r.timestamp)
    })
    // One send per input partition, each into that partition's transaction. A
    // partition no longer this member's sends nothing: its new owner reads its
    // input again.
    const writeInTransactions = (txns: Transactions.Transactions, records: ReadonlyArray<Repartition.Record>) =>
      Effect.gen(function* () {
        const groups = new Map<
          string,
          { tp: { topic: string; partition: number }; messages: Array<KafkaLike.Message> }
        >()
        for (const r of records) {
          if (r.origin === undefined) {
            return yield* Effect.fail(
              KafkaError.fromUnknown("send", new Error(`a record for ${options.topic} has no input partition`))
            )
          }
          const key = `${r.origin.partition}\u0000${r.origin.topic}`
          let group = groups.get(key)
          if (group === undefined) {
            group = { tp: { topic: r.origin.topic, partition: r.origin.partition }, messages: [] }
            groups.set(key, group)
          }
          group.messages.push(toMessage(r))
        }
        yield* Effect.forEach(groups.values(), (g) => txns.send(g.tp, options.topic, g.messages), {
          concurrency: "unbounded",
          discard: true
        })
      })
    let write: (records: ReadonlyArray<Repartition.Record>) => Effect.Effect<void, KafkaError.KafkaError>
    if (transactions !== undefined) write = (records) => writeInTransactions(transactions, records)
    else {
      const producer = yield* KafkaSink.producer(client)
      write = (records) =>
        Effect.asVoid(
          KafkaError.attempt("send", () =>
            producer.send({ topic: options.topic, messages: records.map(toMessage), acks: -1, timeout })
          )
        )
    }
    const read = yield* KafkaSource.make(client, {
      ...options.source,
      topics: [options.topic],
      groupId: options.groupId
    })
    return {
      name: options.topic,
      partitions: options.partitions,
      write: (records) => (records.length === 0 ? Effect.void : write(records)),
      read,
      // A Kafka topic has no end; the reading stream ends with the consumer's scope.
      end: Effect.void
    }
  })
