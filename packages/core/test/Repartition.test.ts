import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Metric, Option, Schema, Stream } from "effect"
import * as Envelope from "../src/Envelope.ts"
import * as InMemory from "../src/InMemory.ts"
import * as Keyed from "../src/Keyed.ts"
import * as Pipeline from "../src/Pipeline.ts"
import * as Receipt from "../src/Receipt.ts"
import * as Repartition from "../src/Repartition.ts"
import * as StateStore from "../src/StateStore.ts"

const Order = Schema.Struct({ id: Schema.String, customer: Schema.String })
type Order = typeof Order.Type
const OrderJson = Schema.fromJsonString(Order)

const orders: ReadonlyArray<Order> = Array.from({ length: 120 }, (_, i) => ({
  id: `o${i}`,
  customer: `c${(i * 7) % 9}`
}))

describe("Repartition", () => {
  it.effect("through - state keyed by customer over a topic keyed by order id; every offset commits", () =>
    Effect.gen(function* () {
      const broker = yield* InMemory.make
      yield* InMemory.createTopic(broker, "orders", 3)
      yield* InMemory.produce(
        broker,
        "orders",
        orders.map((o) => ({ key: o.id, value: JSON.stringify(o) }))
      )
      yield* Effect.gen(function* () {
        const records = yield* InMemory.source(broker, { topic: "orders", group: "counts" })
        const byCustomer = yield* Repartition.inMemory(broker, {
          topic: "counts-by-customer",
          partitions: 4,
          group: "counts"
        })
        yield* records.pipe(
          Pipeline.decode(OrderJson),
          Pipeline.deadLetters(InMemory.sink(broker, "dlq")),
          Pipeline.repartition(byCustomer, { key: (o) => o.customer, schema: OrderJson }),
          Keyed.process({
            name: "counts",
            key: (o: Order) => o.customer,
            codec: StateStore.numberCodec,
            onRecord: (ctx) =>
              Effect.sync(() => {
                const n = Option.getOrElse(ctx.state, () => 0) + 1
                ctx.set(n)
                return [`${ctx.key}=${n}@${ctx.partition}`]
              })
          }),
          Pipeline.route((s) => [Pipeline.to("out", s)]),
          Pipeline.runRouted({ out: InMemory.sink(broker, "counts-out") })
        )
      }).pipe(Effect.scoped)
      const out = (yield* InMemory.messages(broker, "counts-out")).map((m) => String(m.value))
      // The last count of each customer equals its number of orders, and a customer lives in one partition.
      const last = new Map<string, number>()
      const partitionOf = new Map<string, Set<string>>()
      for (const line of out) {
        const [customer, rest] = line.split("=") as [string, string]
        const [n, p] = rest.split("@") as [string, string]
        last.set(customer, Math.max(last.get(customer) ?? 0, Number(n)))
        partitionOf.set(customer, (partitionOf.get(customer) ?? new Set()).add(p))
      }
      const expected = new Map<string, number>()
      for (const o of orders) expected.set(o.customer, (expected.get(o.customer) ?? 0) + 1)
      assert.deepStrictEqual(new Map([...last].sort()), new Map([...expected].sort()))
      for (const ps of partitionOf.values()) assert.strictEqual(ps.size, 1)
      const committedIn = yield* InMemory.committed(broker, "counts", "orders")
      const committedInternal = yield* InMemory.committed(broker, "counts", "counts-by-customer")
      const sum = (m: ReadonlyMap<number, bigint>) => [...m.values()].reduce((a, b) => a + Number(b), 0)
      assert.strictEqual(sum(committedIn), orders.length)
      assert.strictEqual(sum(committedInternal), orders.length)
    }).pipe(Effect.provide(StateStore.layerMemory()), Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("through - an input record is acknowledged only after its repartition write is", () =>
    Effect.gen(function* () {
      const acked: Array<number> = []
      let writes = 0
      const failing: Repartition.Topic<string> = {
        name: "t",
        partitions: 2,
        // The second write fails: its records must stay unacknowledged.
        write: () => (++writes === 2 ? Effect.fail("broker down") : Effect.void),
        read: Stream.empty,
        end: Effect.void
      }
      const input = orders.slice(0, 20).map((o, i) =>
        Envelope.make(
          { topic: "orders", partition: 0, offset: BigInt(i), key: null, headers: [], timestamp: 0 },
          o,
          Receipt.makeUnsafe(() => acked.push(i))
        )
      )
      const exit = yield* Stream.fromIterable(input).pipe(
        Stream.rechunk(10),
        Repartition.through(failing, { key: (o) => o.customer, schema: OrderJson }),
        Stream.runDrain,
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(
        acked,
        Array.from({ length: 10 }, (_, i) => i)
      )
    })
  )
})
