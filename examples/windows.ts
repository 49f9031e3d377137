/**
 * The README's windowed job: orders are decoded, grouped by product in
 * 10-minute event-time windows (revenue, order count, distinct customers),
 * each closed window is written to `sales-10m`, and orders that arrive after
 * their window closed go to `orders-late`. Runs on the in-memory broker and
 * state store: `node examples/windows.ts`; the last line is a JSON summary.
 */
// #region readme
import { Aggregator, InMemory, Pipeline, StateStore, Window } from "@sluice/core"
import { BigDecimal, Effect, Schema } from "effect"

const Order = Schema.Struct({
  product: Schema.String,
  customer: Schema.String,
  amount: Schema.BigDecimalFromString,
  at: Schema.Number // event time, epoch ms
})
type Order = typeof Order.Type
const OrderJson = Schema.fromJsonString(Order)

const job = (broker: InMemory.Broker) =>
  Effect.gen(function* () {
    const records = yield* InMemory.source(broker, { topic: "orders", group: "sales" })
    yield* records.pipe(
      Pipeline.decode(OrderJson),
      Pipeline.deadLetters(InMemory.sink(broker, "orders-dlq")),
      Window.aggregate({
        name: "sales-10m",
        key: (o: Order) => o.product, // the topic is keyed by product
        timestamp: (o) => o.at,
        window: Window.tumbling("10 minutes"), // or hopping({ size, slide }), session(gap)
        aggregator: Aggregator.struct({
          orders: Aggregator.count,
          revenue: Aggregator.sum((o: Order) => o.amount),
          customers: Aggregator.distinctCount((o: Order) => o.customer)
        }),
        grace: "1 minute", // required: no hidden default
        emit: "final", // or "updates"
        watermark: { outOfOrderness: "30 seconds" }
      }),
      Pipeline.route((out) =>
        out._tag === "Late"
          ? [Pipeline.to("late", Schema.encodeSync(OrderJson)(out.value))]
          : [
              Pipeline.to(
                "sales",
                JSON.stringify({
                  product: out.key,
                  start: new Date(out.start).toISOString(),
                  orders: out.value.orders,
                  revenue: BigDecimal.format(out.value.revenue),
                  customers: out.value.customers
                })
              )
            ]
      ),
      Pipeline.runRouted({
        sales: InMemory.sink(broker, "sales-10m"),
        late: InMemory.sink(broker, "orders-late") // acknowledged, hence committed, once written
      })
    )
  }).pipe(Effect.scoped, Effect.provide(StateStore.layerMemory()))
// #endregion

const noon = Date.UTC(2026, 0, 1, 12, 0, 0)
const minute = 60_000
const order = (product: string, customer: string, amount: string, minutes: number) =>
  JSON.stringify({ product, customer, amount, at: noon + minutes * minute })

/** The records produced to `orders`, in this order: one is late, one is not an order. */
export const inputs: ReadonlyArray<{ readonly key: string; readonly value: string }> = [
  { key: "p1", value: order("p1", "c1", "10.00", 1) },
  { key: "p2", value: order("p2", "c2", "5.50", 3) },
  { key: "p1", value: order("p1", "c3", "2.25", 4) },
  { key: "p1", value: order("p1", "c1", "1.00", 9.9) },
  { key: "p2", value: order("p2", "c2", "3.00", 12) },
  { key: "p1", value: order("p1", "c4", "4.00", 8) }, // its window closed at 12:11 (end + grace)
  { key: "p1", value: "{not an order" },
  { key: "p1", value: order("p1", "c1", "7.00", 10.5) },
  { key: "p2", value: order("p2", "c5", "1.00", 25) }
]

const text = new TextDecoder()
const read = (broker: InMemory.Broker, topic: string) =>
  Effect.map(InMemory.messages(broker, topic), (messages) =>
    messages.map((m) => (typeof m.value === "string" || m.value === null ? (m.value ?? "") : text.decode(m.value)))
  )

const main = Effect.gen(function* () {
  const broker = yield* InMemory.make
  yield* InMemory.createTopic(broker, "orders", 1)
  yield* InMemory.produce(broker, "orders", inputs)
  yield* job(broker)
  const sales = (yield* read(broker, "sales-10m")).map((v) => JSON.parse(v))
  const late = (yield* read(broker, "orders-late")).map((v) => JSON.parse(v))
  const deadLetters = (yield* read(broker, "orders-dlq")).length
  const committed = Number((yield* InMemory.committed(broker, "sales", "orders")).get(0) ?? -1n)
  console.log(`produced ${inputs.length} records to orders`)
  for (const s of sales) console.log(`sales-10m:   ${JSON.stringify(s)}`)
  for (const l of late) console.log(`orders-late: ${JSON.stringify(l)}`)
  console.log(`orders-dlq:  ${deadLetters} records; committed offset ${committed}`)
  console.log(JSON.stringify({ sales, late, deadLetters, committed }))
})

if (import.meta.main) Effect.runPromise(main)
