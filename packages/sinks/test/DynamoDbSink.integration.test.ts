import { ScanCommand } from "@aws-sdk/client-dynamodb"
import { assert, describe, it } from "@effect/vitest"
import { Envelope, Receipt } from "@sluice/core"
import { BigDecimal, ConfigProvider, Effect, Exit, Stream } from "effect"
import * as DynamoDbSink from "../src/DynamoDbSink.ts"
import type * as DynamoLike from "../src/DynamoLike.ts"
import { dynaliteClient, startDynalite } from "./utils/Dynalite.ts"

interface Segment {
  readonly customer_id: number
  readonly segment: string
  readonly monetary_value: string
}

const origin = (offset: number): Envelope.Origin => ({
  topic: "segments",
  partition: 0,
  offset: BigInt(offset),
  key: null,
  headers: [],
  timestamp: 0
})

const toItem = (s: Segment): DynamoDbSink.Item => ({
  customer_id: s.customer_id,
  segment: s.segment,
  monetary_value: BigDecimal.fromStringUnsafe(s.monetary_value)
})

// 0..count-1 over 37 customers, so keys repeat within and across chunks;
// amounts with 18 significant digits, more than a double holds.
const segments = (count: number, round = 0): Array<Segment> =>
  Array.from({ length: count }, (_, i) => ({
    customer_id: (i * 7) % 37,
    segment: ["VIP", "Regular", "New", "At-Risk"][(i + round) % 4]!,
    monetary_value: `${123456789012 + i * 1000 + round}.${String((i * 7919) % 1_000_000).padStart(6, "0")}`
  }))

const reference = (input: ReadonlyArray<Segment>): Array<string> => {
  const last = new Map<number, Segment>()
  for (const s of input) last.set(s.customer_id, s)
  return Array.from(last.values())
    .map((s) => `${s.customer_id}|${s.segment}|${BigDecimal.format(BigDecimal.fromStringUnsafe(s.monetary_value))}`)
    .sort()
}

// The raw attribute values, numbers as the text DynamoDB stores.
const scan = (dynamo: DynamoDbSink.DynamoClient["Service"], table: string) =>
  Effect.map(
    Effect.promise(() => dynamo.client.send(new ScanCommand({ TableName: table }))),
    (out) =>
      (out.Items ?? [])
        .map(
          (item) =>
            `${item.customer_id!.N}|${item.segment!.S}|${BigDecimal.format(BigDecimal.fromStringUnsafe(item.monetary_value!.N!))}`
        )
        .sort()
  )

const envelopes = (input: ReadonlyArray<Segment>, acked: Set<number>) =>
  input.map((s, i) => Envelope.make(origin(i), s, Receipt.make(Effect.sync(() => acked.add(i)))))

const definition: DynamoDbSink.TableDefinition = {
  name: "customer-segments",
  hashKey: { name: "customer_id", type: "N" }
}

describe("DynamoDbSink", { timeout: 30_000 }, () => {
  it.live("make - items equal a last-write-wins reference with exact decimals; a replay leaves them unchanged", () =>
    Effect.gen(function* () {
      const dynamo = yield* dynaliteClient()
      const table = yield* DynamoDbSink.createTable(dynamo, definition)
      assert.strictEqual(table, "cdc-platform-customer-segments")
      // Creating it again is not an error.
      yield* DynamoDbSink.createTable(dynamo, definition)
      const input = segments(180)
      const acked = new Set<number>()
      const sink = DynamoDbSink.make(dynamo.doc, { name: table, key: ["customer_id"] }, toItem)
      yield* Stream.fromIterable(envelopes(input, acked)).pipe(Stream.rechunk(60), Stream.run(sink))
      assert.strictEqual(acked.size, input.length)
      assert.deepStrictEqual(yield* scan(dynamo, table), reference(input))
      // Stored decimals a double would have rounded, so they cannot have passed through one.
      const amounts = (yield* scan(dynamo, table)).map((row) => row.split("|")[2]!)
      assert.isAbove(amounts.filter((a) => String(Number(a)) !== a).length, amounts.length / 2)
      yield* Stream.fromIterable(envelopes(input, new Set())).pipe(Stream.rechunk(7), Stream.run(sink))
      assert.deepStrictEqual(yield* scan(dynamo, table), reference(input))
    }).pipe(Effect.scoped)
  )

  it.live("make - unprocessed items are sent again until written, and only they", () =>
    Effect.gen(function* () {
      const dynamo = yield* dynaliteClient()
      const table = yield* DynamoDbSink.createTable(dynamo, definition)
      // Real writes, but the first three requests of every group write only their first 5 items.
      const sent: Array<number> = []
      const stingy: DynamoLike.BatchWriter = {
        batchWrite: async (input) => {
          const requests = input.RequestItems[table]!
          sent.push(requests.length)
          if (sent.length <= 3 && requests.length > 5) {
            await dynamo.doc.batchWrite({ RequestItems: { [table]: requests.slice(0, 5) } })
            return { UnprocessedItems: { [table]: requests.slice(5) } }
          }
          return dynamo.doc.batchWrite(input)
        }
      }
      const input = segments(25, 1)
      const acked = new Set<number>()
      const sink = DynamoDbSink.make(stingy, { name: table, key: ["customer_id"] }, toItem, {
        unprocessed: { base: "5 millis" },
        concurrency: 1
      })
      yield* Stream.fromIterable(envelopes(input, acked)).pipe(Stream.rechunk(25), Stream.run(sink))
      assert.deepStrictEqual(sent, [25, 20, 15, 10])
      assert.strictEqual(acked.size, 25)
      assert.deepStrictEqual(yield* scan(dynamo, table), reference(input))
    }).pipe(Effect.scoped)
  )

  it.live("make - items still unprocessed when the retries run out fail the chunk, receipts unacknowledged", () =>
    Effect.gen(function* () {
      const dynamo = yield* dynaliteClient()
      const table = yield* DynamoDbSink.createTable(dynamo, definition)
      let calls = 0
      const never: DynamoLike.BatchWriter = {
        batchWrite: async (input) => {
          calls++
          return { UnprocessedItems: input.RequestItems }
        }
      }
      const acked = new Set<number>()
      const exit = yield* Stream.fromIterable(envelopes(segments(3), acked)).pipe(
        Stream.run(
          DynamoDbSink.make(never, { name: table, key: ["customer_id"] }, toItem, {
            unprocessed: { base: "1 millis", retries: 4 }
          })
        ),
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(calls, 5)
      assert.strictEqual(acked.size, 0)
      const error = yield* Effect.flip(
        DynamoDbSink.writer(
          never,
          { name: table, key: ["customer_id"] },
          { unprocessed: { base: "1 millis", retries: 1 } }
        ).write(segments(3).map(toItem))
      )
      assert.strictEqual(error.reason._tag, "Unprocessed")
      assert.isTrue(error.isRetryable)
    }).pipe(Effect.scoped)
  )

  it.live("layerConfig - reads AWS_REGION, DYNAMODB_ENDPOINT and TABLE_PREFIX", () =>
    Effect.gen(function* () {
      const { endpoint } = yield* startDynalite
      const config = yield* DynamoDbSink.clientConfig.pipe(
        Effect.provideService(
          ConfigProvider.ConfigProvider,
          ConfigProvider.fromEnv({
            env: { AWS_REGION: "eu-west-1", DYNAMODB_ENDPOINT: endpoint, TABLE_PREFIX: "shop" }
          })
        )
      )
      assert.deepStrictEqual(config, { region: "eu-west-1", endpoint, tablePrefix: "shop" })
      const defaults = yield* DynamoDbSink.clientConfig.pipe(
        Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: {} }))
      )
      assert.deepStrictEqual(defaults, { region: "us-east-1", tablePrefix: "cdc-platform" })
      const dynamo = yield* dynaliteClient("shop")
      assert.strictEqual(yield* DynamoDbSink.createTable(dynamo, definition), "shop-customer-segments")
    }).pipe(Effect.scoped)
  )
})
