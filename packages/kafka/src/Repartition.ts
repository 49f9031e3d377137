/**
 * The Kafka side of `@sluice/core`'s `Repartition`: an internal topic the
 * job creates (if missing), writes to with an idempotent producer (acks from
 * every in-sync replica, so a write returns once durable) and reads back as
 * a consumer group, with the source's usual receipts and commits.
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
import * as KafkaSink from "./KafkaSink.ts"
import * as KafkaSource from "./KafkaSource.ts"

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
    const producer = yield* KafkaSink.producer(client)
    const read = yield* KafkaSource.make(client, {
      ...options.source,
      topics: [options.topic],
      groupId: options.groupId
    })
    const timeout = options.requestTimeoutMillis ?? 30_000
    return {
      name: options.topic,
      partitions: options.partitions,
      write: (records) =>
        records.length === 0
          ? Effect.void
          : Effect.asVoid(
              KafkaError.attempt("send", () =>
                producer.send({
                  topic: options.topic,
                  messages: records.map((r) => ({
                    key: r.key,
                    value: r.value,
                    partition: r.partition,
                    timestamp: String(r.timestamp)
                  })),
                  acks: -1,
                  timeout
                })
              )
            ),
      read,
      // A Kafka topic has no end; the reading stream ends with the consumer's scope.
      end: Effect.void
    }
  })
