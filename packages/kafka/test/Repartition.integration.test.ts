import { assert, describe, it } from "@effect/vitest"
import { Repartition as CoreRepartition, Pipeline } from "@sluice/core"
import { Effect, Schema, Stream } from "effect"
import * as Admin from "../src/Admin.ts"
import * as KafkaClient from "../src/KafkaClient.ts"
import * as KafkaSink from "../src/KafkaSink.ts"
import * as KafkaSource from "../src/KafkaSource.ts"
import * as Repartition from "../src/Repartition.ts"
import * as Cluster from "./fixtures/cluster.ts"

const Order = Schema.Struct({ id: Schema.String, customer: Schema.String })
const OrderJson = Schema.fromJsonString(Order)

describe("Repartition", () => {
  it.live(
    "topic - orders keyed by id come back keyed by customer, one partition per customer; input commits to the end",
    () =>
      Effect.gen(function* () {
        const client = yield* Cluster.client(yield* Cluster.brokers)
        const input = Cluster.unique("orders")
        const internal = Cluster.unique("orders-by-customer")
        const groupId = Cluster.unique("job")
        yield* Admin.ensureTopics([{ topic: input, partitions: 3 }]).pipe(
          Effect.provideService(KafkaClient.KafkaClient, client)
        )
        const producer = yield* KafkaSink.producer(client)
        const orders = Array.from({ length: 90 }, (_, i) => ({ id: `o${i}`, customer: `c${(i * 5) % 7}` }))
        yield* Effect.promise(() =>
          producer.send({
            topic: input,
            messages: orders.map((o) => ({ key: o.id, value: JSON.stringify(o) })),
            acks: -1
          })
        )
        const out = yield* Effect.scoped(
          Effect.gen(function* () {
            const records = yield* KafkaSource.make(client, { topics: [input], groupId, commitInterval: "100 millis" })
            const byCustomer = yield* Repartition.topic(client, {
              topic: internal,
              partitions: 4,
              groupId: `${groupId}-by-customer`,
              source: { commitInterval: "100 millis" }
            })
            const read = yield* records.pipe(
              Pipeline.decode(OrderJson),
              Pipeline.deadLetters(KafkaSink.make(producer, Cluster.unique("dlq"))),
              CoreRepartition.through(byCustomer, { key: (o) => o.customer, schema: OrderJson }),
              Stream.tap((e) => e.receipt.ack),
              Stream.take(orders.length),
              Stream.runCollect
            )
            yield* Cluster.awaitCommittedToEnd(client, groupId, input)
            yield* Cluster.awaitCommittedToEnd(client, `${groupId}-by-customer`, internal)
            return read
          })
        )
        assert.deepStrictEqual(out.map((e) => e.value.id).sort(), orders.map((o) => o.id).sort())
        const partitions = new Map<string, Set<number>>()
        for (const e of out) {
          assert.strictEqual(e.origin.topic, internal)
          partitions.set(e.value.customer, (partitions.get(e.value.customer) ?? new Set()).add(e.origin.partition))
        }
        for (const ps of partitions.values()) assert.strictEqual(ps.size, 1)
      }),
    60_000
  )
})
