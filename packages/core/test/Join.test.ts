import { assert, describe, it } from "@effect/vitest"
import { Effect, Metric, Option, Schema } from "effect"
import * as InMemory from "../src/InMemory.ts"
import * as Join from "../src/Join.ts"
import * as Pipeline from "../src/Pipeline.ts"
import * as StateStore from "../src/StateStore.ts"

const Stock = Schema.Struct({ product: Schema.String, level: Schema.Number })
const Sale = Schema.Struct({ product: Schema.String, qty: Schema.Number })

const stock = Array.from({ length: 30 }, (_, i) => ({ product: `p${i % 5}`, level: 100 + i }))
const sales = Array.from({ length: 60 }, (_, i) => ({ product: `p${(i * 3) % 5}`, qty: 1 + (i % 4) }))

const setup = (stockPartitions: number, salesPartitions: number) =>
  Effect.gen(function* () {
    const broker = yield* InMemory.make
    yield* InMemory.createTopic(broker, "stock", stockPartitions)
    yield* InMemory.createTopic(broker, "sales", salesPartitions)
    yield* InMemory.produce(
      broker,
      "stock",
      stock.map((s) => ({ key: s.product, value: JSON.stringify(s) }))
    )
    yield* InMemory.produce(
      broker,
      "sales",
      sales.map((s) => ({ key: s.product, value: JSON.stringify(s) }))
    )
    return broker
  })

const inventory = (broker: InMemory.Broker, partitions: { stock: number; sales: number }) =>
  Effect.gen(function* () {
    const decoded = <A>(topic: string, schema: Schema.Codec<A, string>) =>
      Effect.map(InMemory.source(broker, { topic, group: "inventory" }), (s) =>
        s.pipe(Pipeline.decode(schema), Pipeline.deadLetters(InMemory.sink(broker, "dlq")))
      )
    const stockIn = yield* decoded("stock", Schema.fromJsonString(Stock))
    const salesIn = yield* decoded("sales", Schema.fromJsonString(Sale))
    return yield* Join.join({
      name: "inventory",
      left: {
        stream: stockIn,
        partitions: partitions.stock,
        key: (s) => s.product,
        codec: StateStore.jsonCodec(Stock)
      },
      right: {
        stream: salesIn,
        partitions: partitions.sales,
        key: (s) => s.product,
        codec: StateStore.numberCodec,
        // Units sold so far.
        update: (sold, sale) => Option.getOrElse(sold, () => 0) + sale.qty
      },
      output: (j) => [
        JSON.stringify({
          product: j.key,
          level: Option.getOrNull(Option.map(j.left, (s) => s.level)),
          sold: Option.getOrElse(j.right, () => 0)
        })
      ]
    }).pipe(
      Pipeline.route((s) => [Pipeline.to("out", s)]),
      Pipeline.runRouted({ out: InMemory.sink(broker, "inventory") })
    )
  }).pipe(Effect.scoped)

describe("Join", () => {
  it.effect("join - state on both sides: each product's last output has its last stock level and all units sold", () =>
    Effect.gen(function* () {
      const broker = yield* setup(3, 3)
      yield* inventory(broker, { stock: 3, sales: 3 })
      const out = (yield* InMemory.messages(broker, "inventory")).map((m) => JSON.parse(String(m.value)))
      assert.strictEqual(out.length, stock.length + sales.length)
      const last = new Map<string, { level: number | null; sold: number }>()
      // Outputs of one product are in one partition, in order.
      for (const o of out) {
        const prev = last.get(o.product)
        if (prev !== undefined) assert.isAtLeast(o.sold, prev.sold)
        last.set(o.product, { level: o.level, sold: o.sold })
      }
      for (const product of ["p0", "p1", "p2", "p3", "p4"]) {
        const levels = stock.filter((s) => s.product === product)
        assert.deepStrictEqual(last.get(product), {
          level: levels[levels.length - 1]!.level,
          sold: sales.filter((s) => s.product === product).reduce((a, s) => a + s.qty, 0)
        })
      }
      const committed = yield* InMemory.committed(broker, "inventory", "sales")
      assert.strictEqual(
        [...committed.values()].reduce((a, b) => a + Number(b), 0),
        sales.length
      )
    }).pipe(Effect.provide(StateStore.layerMemory()), Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("join - inputs that are not co-partitioned fail at start with a clear error", () =>
    Effect.gen(function* () {
      const broker = yield* setup(3, 4)
      const error = yield* Effect.flip(inventory(broker, { stock: 3, sales: 4 }))
      assert.strictEqual(error._tag, "TopologyError")
      if (error._tag === "TopologyError") {
        assert.strictEqual(error.reason, "NotCoPartitioned")
        assert.include(error.message, "3 partitions and the right 4")
      }
      assert.deepStrictEqual(yield* InMemory.committed(broker, "inventory", "sales"), new Map())
    }).pipe(Effect.provide(StateStore.layerMemory()), Effect.provideService(Metric.MetricRegistry, new Map()))
  )
})
