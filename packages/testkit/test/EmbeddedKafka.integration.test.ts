import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { CompressionTypes, type Consumer, Kafka, logLevel } from "kafkajs"
import * as EmbeddedKafka from "../src/EmbeddedKafka.ts"
import { ApiKey } from "../src/internal/protocol/apiKeys.ts"
import { Reader } from "../src/internal/protocol/reader.ts"
import { encodeBatch } from "../src/internal/protocol/recordBatch.ts"
import { connectRaw } from "./rawClient.ts"

const kafkaFor = (bootstrap: string, clientId = "test", extra: Partial<ConstructorParameters<typeof Kafka>[0]> = {}) =>
  new Kafka({ brokers: [bootstrap], clientId, logLevel: logLevel.NOTHING, retry: { retries: 3 }, ...extra })

/** Polls `cond` every 20 ms, failing after `timeoutMs`. */
const waitFor = async (what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000) => {
  const deadline = performance.now() + timeoutMs
  while (!(await cond())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "sluice-broker-"))

describe("EmbeddedKafka", () => {
  it.live("make - kafkajs produces and consumes with keys and headers", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make({ defaultPartitions: 2 })
      const received = yield* Effect.promise(async () => {
        const kafka = kafkaFor(broker.bootstrap)
        const producer = kafka.producer()
        await producer.connect()
        await producer.send({
          topic: "round-trip",
          messages: Array.from({ length: 20 }, (_, i) => ({
            key: `k${i}`,
            value: `v${i}`,
            headers: { index: String(i) }
          }))
        })
        await producer.disconnect()
        const consumer = kafka.consumer({ groupId: "rt", maxWaitTimeInMs: 100 })
        await consumer.connect()
        await consumer.subscribe({ topic: "round-trip", fromBeginning: true })
        const got: Array<{ key: string; value: string; header: string }> = []
        await consumer.run({
          eachMessage: async ({ message }) => {
            got.push({
              key: message.key?.toString() ?? "",
              value: message.value?.toString() ?? "",
              header: message.headers?.index?.toString() ?? ""
            })
          }
        })
        await waitFor("20 messages", () => got.length >= 20)
        await consumer.disconnect()
        return got
      })
      assert.strictEqual(received.length, 20)
      for (const r of received) {
        assert.strictEqual(r.key, `k${r.header}`)
        assert.strictEqual(r.value, `v${r.header}`)
      }
      const ends = yield* broker.endOffsets("round-trip")
      assert.strictEqual(
        ends.reduce((a, b) => a + b, 0),
        20
      )
    })
  )

  it.live("make - kafkajs admin creates, lists and deletes topics", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make({ autoCreateTopics: false })
      const result = yield* Effect.promise(async () => {
        const admin = kafkaFor(broker.bootstrap).admin()
        await admin.connect()
        const created = await admin.createTopics({ topics: [{ topic: "a", numPartitions: 4 }, { topic: "b" }] })
        const again = await admin.createTopics({ topics: [{ topic: "a", numPartitions: 4 }] })
        const listed = (await admin.listTopics()).sort()
        const meta = await admin.fetchTopicMetadata({ topics: ["a"] })
        await admin.deleteTopics({ topics: ["a"] })
        const after = await admin.listTopics()
        await admin.disconnect()
        return { created, again, listed, partitions: meta.topics[0]!.partitions.length, after }
      })
      assert.isTrue(result.created)
      assert.isFalse(result.again)
      assert.deepStrictEqual(result.listed, ["a", "b"])
      assert.strictEqual(result.partitions, 4)
      assert.deepStrictEqual(result.after, ["b"])
    })
  )

  it.live("make - a group of three shares six partitions through a leave and a crash", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make({ minSessionTimeoutMs: 500, initialRebalanceDelayMs: 300 })
      yield* broker.createTopic("shared", 6)
      yield* Effect.promise(async () => {
        const seen = new Set<string>()
        const assignments = new Map<string, ReadonlyArray<number>>()
        // The crashed member's sockets: destroying them and refusing reconnects stops its heartbeats
        // without a LeaveGroup.
        const sockets = new Set<net.Socket>()
        let dead = false
        const crashing = kafkaFor(broker.bootstrap, "crash", {
          retry: { retries: 0 },
          socketFactory: ({ host, port, onConnect }) => {
            const s = net.connect({ host, port: dead ? 1 : port }, onConnect)
            sockets.add(s)
            return s
          }
        })
        const start = async (name: string, kafka: Kafka) => {
          const c = kafka.consumer({
            groupId: "six",
            sessionTimeout: 1500,
            rebalanceTimeout: 3000,
            heartbeatInterval: 100,
            maxWaitTimeInMs: 100,
            retry: { retries: 0, restartOnFailure: async () => false }
          })
          c.on(c.events.GROUP_JOIN, (e) => {
            assignments.set(name, e.payload.memberAssignment.shared ?? [])
          })
          await c.connect()
          await c.subscribe({ topic: "shared", fromBeginning: true })
          await c.run({
            eachMessage: async ({ message }) => {
              seen.add(message.value!.toString())
            }
          })
          return c
        }
        const a = await start("a", kafkaFor(broker.bootstrap, "a"))
        const b = await start("b", kafkaFor(broker.bootstrap, "b"))
        const c = await start("c", crashing)
        c.on(c.events.CRASH, () => {})
        const covered = (names: ReadonlyArray<string>) => {
          const parts = names.flatMap((n) => assignments.get(n) ?? [])
          return parts.length === 6 && new Set(parts).size === 6
        }
        await waitFor("three members", async () => covered(["a", "b", "c"]) && (await count()) === 3)
        assert.isTrue(["a", "b", "c"].every((n) => (assignments.get(n) ?? []).length === 2))
        const producer = kafkaFor(broker.bootstrap).producer()
        await producer.connect()
        const produce = async (round: number) => {
          for (let p = 0; p < 6; p++) {
            await producer.send({
              topic: "shared",
              messages: Array.from({ length: 5 }, (_, i) => ({ partition: p, value: `${round}-${p}-${i}` }))
            })
          }
        }
        const all = (round: number) =>
          Array.from({ length: 30 }, (_, i) => `${round}-${Math.floor(i / 5)}-${i % 5}`).every((v) => seen.has(v))
        async function count() {
          return (await Effect.runPromise(broker.describeGroup("six"))).members
        }

        await produce(1)
        await waitFor("round 1", () => all(1))

        dead = true
        for (const s of sockets) s.destroy()
        await waitFor("crash evicted", async () => (await count()) === 2 && covered(["a", "b"]))
        await produce(2)
        await waitFor("round 2", () => all(2))

        await b.disconnect()
        await waitFor("b left", async () => (await count()) === 1 && covered(["a"]))
        await produce(3)
        await waitFor("round 3", () => all(3))

        await producer.disconnect()
        await a.disconnect()
        // The crashed member cannot reach the broker any more; do not wait on its shutdown.
        void c.disconnect().catch(() => {})
      })
    })
  )

  it.live("make - a restarted consumer resumes at the committed offset", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make()
      yield* broker.createTopic("resume", 1)
      const second = yield* Effect.promise(async () => {
        const kafka = kafkaFor(broker.bootstrap)
        const producer = kafka.producer()
        await producer.connect()
        const send = (from: number, n: number) =>
          producer.send({ topic: "resume", messages: Array.from({ length: n }, (_, i) => ({ value: `m${from + i}` })) })
        const consume = async () => {
          const got: Array<string> = []
          const consumer = kafka.consumer({ groupId: "resume-group", maxWaitTimeInMs: 100 })
          await consumer.connect()
          await consumer.subscribe({ topic: "resume", fromBeginning: true })
          await consumer.run({
            eachMessage: async ({ message }) => {
              got.push(message.value!.toString())
            }
          })
          return { got, consumer }
        }
        await send(0, 10)
        const first = await consume()
        await waitFor("first 10", () => first.got.length >= 10)
        await first.consumer.disconnect()
        await send(10, 5)
        const next = await consume()
        await waitFor("next 5", () => next.got.length >= 5)
        await next.consumer.disconnect()
        await producer.disconnect()
        const admin = kafka.admin()
        await admin.connect()
        const { groups } = await admin.listGroups()
        const described = await admin.describeGroups(["resume-group"])
        await admin.disconnect()
        assert.deepStrictEqual(groups, [{ groupId: "resume-group", protocolType: "consumer" }])
        assert.strictEqual(described.groups[0]!.state, "Empty")
        return next.got
      })
      assert.deepStrictEqual(second, ["m10", "m11", "m12", "m13", "m14"])
      const committed = yield* broker.committedOffsets("resume-group")
      assert.strictEqual(committed.get("resume")?.get(0), 15)
    })
  )

  it.live("make - a restart with a data directory keeps messages and offsets, and survives a torn write", () =>
    Effect.gen(function* () {
      const dataDir = tmpDir()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const broker = yield* EmbeddedKafka.make({ dataDir, fsync: "always" })
          yield* broker.createTopic("durable", 2)
          yield* Effect.promise(async () => {
            const kafka = kafkaFor(broker.bootstrap)
            const producer = kafka.producer()
            await producer.connect()
            for (let i = 0; i < 4; i++) {
              await producer.send({
                topic: "durable",
                messages: Array.from({ length: 5 }, (_, j) => ({ partition: i % 2, value: `d${i * 5 + j}` }))
              })
            }
            await producer.disconnect()
            // A commit from outside the group protocol (generation -1), as admin tools send.
            const raw = await connectRaw(broker.port)
            const res = new Reader(
              await raw.request(ApiKey.OffsetCommit, 5, (w) => {
                w.string("keeper").int32(-1).string("")
                w.int32(1).string("durable").int32(1).int32(0).int64(7).nullableString(null)
              })
            )
            raw.close()
            res.int32()
            res.int32()
            res.string()
            res.int32()
            res.int32()
            assert.strictEqual(res.int16(), 0)
          })
        })
      )
      // A torn last write: half a batch header at the end of a segment.
      const segDir = path.join(dataDir, "durable-1")
      const segment = path.join(segDir, fs.readdirSync(segDir)[0]!)
      fs.appendFileSync(segment, Buffer.from([0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1]))
      fs.appendFileSync(path.join(dataDir, "offsets.log"), Buffer.from([0, 0, 0, 40, 1, 2]))
      const broker = yield* EmbeddedKafka.make({ dataDir })
      assert.deepStrictEqual(yield* broker.endOffsets("durable"), [10, 10])
      assert.strictEqual((yield* broker.committedOffsets("keeper")).get("durable")?.get(0), 7)
      const values = yield* Effect.promise(async () => {
        const kafka = kafkaFor(broker.bootstrap)
        const producer = kafka.producer()
        await producer.connect()
        await producer.send({ topic: "durable", messages: [{ partition: 1, value: "after" }] })
        await producer.disconnect()
        const consumer = kafka.consumer({ groupId: "reader", maxWaitTimeInMs: 100 })
        const got: Array<string> = []
        await consumer.connect()
        await consumer.subscribe({ topic: "durable", fromBeginning: true })
        await consumer.run({
          eachMessage: async ({ message }) => {
            got.push(message.value!.toString())
          }
        })
        await waitFor("21 messages", () => got.length >= 21)
        await consumer.disconnect()
        return got
      })
      assert.strictEqual(new Set(values).size, 21)
      assert.isTrue(values.includes("after"))
      fs.rmSync(dataDir, { recursive: true, force: true })
    })
  )

  it.live("make - gzip batches from an idempotent kafkajs producer, timestamp lookup and byte retention", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make({ retentionBytes: 4096 })
      yield* broker.createTopic("zipped", 1)
      const result = yield* Effect.promise(async () => {
        const kafka = kafkaFor(broker.bootstrap)
        const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
        await producer.connect()
        for (let i = 0; i < 20; i++) {
          await producer.send({
            topic: "zipped",
            compression: CompressionTypes.GZIP,
            messages: Array.from({ length: 10 }, (_, j) => ({
              value: `${i}-${j}-${"z".repeat(100)}-${Math.random()}`,
              timestamp: String(1_000_000 + i * 10 + j)
            }))
          })
        }
        await producer.disconnect()
        const admin = kafka.admin()
        await admin.connect()
        const byTime = await admin.fetchTopicOffsetsByTimestamp("zipped", 1_000_195)
        const earliest = await admin.fetchTopicOffsets("zipped")
        await admin.disconnect()
        const consumer = kafka.consumer({ groupId: "zip", maxWaitTimeInMs: 100 })
        const got: Array<string> = []
        await consumer.connect()
        await consumer.subscribe({ topic: "zipped", fromBeginning: true })
        await consumer.run({
          eachMessage: async ({ message }) => {
            got.push(message.value!.toString())
          }
        })
        await waitFor("tail of the log", () => got.some((v) => v.startsWith("19-9-")))
        await consumer.disconnect()
        return { byTime: byTime[0]!.offset, low: earliest[0]!.low, high: earliest[0]!.high, got }
      })
      assert.strictEqual(result.byTime, "195")
      assert.strictEqual(result.high, "200")
      const low = Number(result.low)
      // Retention dropped whole old batches: the log starts at a batch boundary after 0.
      assert.isTrue(low > 0 && low % 10 === 0)
      assert.strictEqual(result.got.length, 200 - low)
      assert.deepStrictEqual(yield* broker.startOffsets("zipped"), [low])
    })
  )

  it.live("make - a parked fetch answers when data arrives, or empty when its wait ends", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make()
      yield* broker.createTopic("parked", 1)
      yield* Effect.promise(async () => {
        const fetcher = await connectRaw(broker.port)
        const producer = await connectRaw(broker.port)
        const fetch = (maxWaitMs: number) =>
          fetcher.request(ApiKey.Fetch, 11, (w) => {
            w.int32(-1)
              .int32(maxWaitMs)
              .int32(1)
              .int32(1024 * 1024)
              .int8(0)
              .int32(0)
              .int32(-1)
            w.int32(1)
              .string("parked")
              .int32(1)
              .int32(0)
              .int32(-1)
              .int64(0)
              .int64(-1)
              .int32(1024 * 1024)
            w.int32(0).string("")
          })
        const recordsSize = (body: Buffer) => {
          const r = new Reader(body)
          r.int32()
          r.int16()
          r.int32()
          r.int32()
          r.string()
          r.int32()
          r.int32()
          assert.strictEqual(r.int16(), 0)
          r.int64()
          r.int64()
          r.int64()
          r.int32()
          r.int32()
          return r.int32()
        }
        const t0 = performance.now()
        assert.strictEqual(recordsSize(await fetch(300)), 0)
        assert.isAtLeast(performance.now() - t0, 250)

        // A fetch that would wait 30 s returns as soon as a batch is appended.
        const parked = fetch(30_000)
        await new Promise((r) => setTimeout(r, 50))
        const batch = encodeBatch([{ value: Buffer.from("wake") }])
        await producer.request(ApiKey.Produce, 7, (w) => {
          w.nullableString(null).int16(1).int32(1000)
          w.int32(1).string("parked").int32(1).int32(0).bytes(batch)
        })
        assert.strictEqual(recordsSize(await parked), batch.length)
        fetcher.close()
        producer.close()
      })
    })
  )

  it.live("make - fetch honours partition max bytes, max bytes and min bytes", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make()
      yield* broker.createTopic("sized", 2)
      yield* Effect.promise(async () => {
        const client = await connectRaw(broker.port)
        const batch = encodeBatch([{ value: Buffer.alloc(100, 1) }])
        for (let i = 0; i < 3; i++) {
          for (const partition of [0, 1]) {
            await client.request(ApiKey.Produce, 7, (w) => {
              w.nullableString(null).int16(1).int32(1000)
              w.int32(1).string("sized").int32(1).int32(partition).bytes(batch)
            })
          }
        }
        const fetch = async (opts: { maxWait: number; minBytes: number; maxBytes: number; partitionMax: number }) => {
          const body = await client.request(ApiKey.Fetch, 11, (w) => {
            w.int32(-1).int32(opts.maxWait).int32(opts.minBytes).int32(opts.maxBytes).int8(0).int32(0).int32(-1)
            w.int32(1).string("sized").int32(2)
            for (const p of [0, 1]) w.int32(p).int32(-1).int64(0).int64(-1).int32(opts.partitionMax)
            w.int32(0).string("")
          })
          const r = new Reader(body)
          r.int32()
          r.int16()
          r.int32()
          r.int32()
          r.string()
          const sizes: Array<number> = []
          const n = r.int32()
          for (let i = 0; i < n; i++) {
            r.int32()
            r.int16()
            r.int64()
            r.int64()
            r.int64()
            r.int32()
            r.int32()
            const size = r.int32()
            r.offset += size
            sizes.push(size)
          }
          return sizes
        }
        const b = batch.length
        // A limit below one batch still returns one whole batch (KIP-74), so consumers cannot stall.
        assert.deepStrictEqual(await fetch({ maxWait: 0, minBytes: 1, maxBytes: 1 << 20, partitionMax: 1 }), [b, b])
        assert.deepStrictEqual(await fetch({ maxWait: 0, minBytes: 1, maxBytes: 1 << 20, partitionMax: 2 * b }), [
          2 * b,
          2 * b
        ])
        // The response limit is shared: the second partition gets what the first left.
        assert.deepStrictEqual(await fetch({ maxWait: 0, minBytes: 1, maxBytes: 2 * b, partitionMax: 1 << 20 }), [
          2 * b,
          0
        ])
        // minBytes above what exists: the fetch waits out maxWait, then answers with what it has.
        const t0 = performance.now()
        assert.deepStrictEqual(
          await fetch({ maxWait: 200, minBytes: 1 << 20, maxBytes: 1 << 20, partitionMax: 1 << 20 }),
          [3 * b, 3 * b]
        )
        assert.isAtLeast(performance.now() - t0, 150)
        client.close()
      })
    })
  )

  it.live("make - retention deletes whole segment files of a durable partition", () =>
    Effect.gen(function* () {
      const dataDir = tmpDir()
      const broker = yield* EmbeddedKafka.make({ dataDir, retentionBytes: 2000, segmentBytes: 500 })
      yield* broker.createTopic("rolling", 1)
      yield* Effect.promise(async () => {
        const producer = kafkaFor(broker.bootstrap).producer()
        await producer.connect()
        for (let i = 0; i < 30; i++) {
          await producer.send({ topic: "rolling", messages: [{ value: "r".repeat(150) }] })
        }
        await producer.disconnect()
      })
      const [start] = yield* broker.startOffsets("rolling")
      const files = fs.readdirSync(path.join(dataDir, "rolling-0")).sort()
      assert.isTrue(start! > 0)
      // The oldest remaining segment starts at or before the log start, and fewer than 30 batches remain on disk.
      assert.isAtMost(Number.parseInt(files[0]!, 10), start!)
      assert.isBelow(files.length, 30)
      assert.isAtLeast(files.length, 2)
      fs.rmSync(dataDir, { recursive: true, force: true })
    })
  )

  it.live("make - an idempotent producer's retried batch is stored once", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make()
      yield* broker.createTopic("idem", 1)
      const results = yield* Effect.promise(async () => {
        const client = await connectRaw(broker.port)
        const init = new Reader(
          await client.request(ApiKey.InitProducerId, 1, (w) => {
            w.nullableString(null).int32(60_000)
          })
        )
        init.int32()
        assert.strictEqual(init.int16(), 0)
        const producerId = init.int64n()
        const produce = async (baseSequence: number) => {
          const batch = encodeBatch([{ value: Buffer.from("a") }, { value: Buffer.from("b") }], {
            producerId,
            producerEpoch: 0,
            baseSequence
          })
          const r = new Reader(
            await client.request(ApiKey.Produce, 7, (w) => {
              w.nullableString(null).int16(-1).int32(1000)
              w.int32(1).string("idem").int32(1).int32(0).bytes(batch)
            })
          )
          r.int32()
          r.string()
          r.int32()
          r.int32()
          return { errorCode: r.int16(), baseOffset: r.int64n() }
        }
        const out = [await produce(0), await produce(0), await produce(2), await produce(7)]
        client.close()
        return out
      })
      assert.deepStrictEqual(results.slice(0, 3), [
        { errorCode: 0, baseOffset: 0 },
        { errorCode: 0, baseOffset: 0 },
        { errorCode: 0, baseOffset: 2 }
      ])
      assert.strictEqual(results[3]!.errorCode, 45)
      assert.deepStrictEqual(yield* broker.endOffsets("idem"), [4])
    })
  )
})

export type { Consumer }
