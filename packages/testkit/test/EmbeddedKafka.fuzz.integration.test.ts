import * as net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Kafka, logLevel } from "kafkajs"
import * as EmbeddedKafka from "../src/EmbeddedKafka.ts"
import { SUPPORTED } from "../src/internal/protocol/apiKeys.ts"
import { connectRaw } from "./rawClient.ts"

/** A small deterministic PRNG (mulberry32) so a failing case can be replayed. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const frame = (body: Buffer, declared = body.length): Buffer => {
  const head = Buffer.alloc(4)
  head.writeInt32BE(declared | 0)
  return Buffer.concat([head, body])
}

/** Writes bytes, then waits briefly for the broker to answer or close; never fails. */
const poke = (port: number, bytes: Buffer): Promise<void> =>
  new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port }, () => s.write(bytes))
    const done = () => {
      s.destroy()
      resolve()
    }
    s.on("error", done)
    s.on("close", done)
    s.on("data", () => {})
    s.setTimeout(50, done)
  })

describe("EmbeddedKafka under bad input", () => {
  it.live("make - survives fuzzed frames and keeps serving clients", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make({ maxRequestBytes: 1024 * 1024 })
      yield* Effect.promise(async () => {
        const rand = prng(42)
        const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)))
        const cases: Array<Buffer> = []
        for (let i = 0; i < 40; i++) cases.push(bytes(1 + Math.floor(rand() * 200)))
        cases.push(frame(bytes(10), 0x7fffffff))
        cases.push(frame(bytes(10), -5))
        cases.push(frame(bytes(10), 2 * 1024 * 1024))
        cases.push(frame(bytes(3), 3))
        cases.push(frame(bytes(100), 200))
        const header = (key: number, version: number) => {
          const b = Buffer.alloc(10)
          b.writeInt16BE(key, 0)
          b.writeInt16BE(version, 2)
          b.writeInt32BE(1, 4)
          b.writeInt16BE(-1, 8)
          return b
        }
        cases.push(frame(header(999, 0)), frame(header(-1, 0)), frame(header(0, 99)), frame(header(1, 0)))
        // Valid headers with random or truncated bodies for every supported version of every API.
        for (const [key, min, max] of SUPPORTED) {
          for (let v = min; v <= max; v++) {
            cases.push(frame(Buffer.concat([header(key, v), bytes(Math.floor(rand() * 64))])))
            cases.push(frame(Buffer.concat([header(key, v), Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0])])))
          }
        }
        for (const c of cases) await poke(broker.port, c)

        // An unsupported ApiVersions version still gets an answer (KIP-511): error 35 with our ranges.
        const raw = await connectRaw(broker.port)
        const body = await raw.request(18, 99, () => {})
        assert.strictEqual(body.readInt16BE(0), 35)
        assert.strictEqual(body.readInt32BE(2), SUPPORTED.length)
        raw.close()
      })
      const values = yield* Effect.promise(async () => {
        const kafka = new Kafka({ brokers: [broker.bootstrap], clientId: "after-fuzz", logLevel: logLevel.NOTHING })
        const producer = kafka.producer()
        await producer.connect()
        await producer.send({ topic: "still-alive", messages: [{ value: "yes" }] })
        await producer.disconnect()
        const consumer = kafka.consumer({ groupId: "alive", maxWaitTimeInMs: 100 })
        const got: Array<string> = []
        await consumer.connect()
        await consumer.subscribe({ topic: "still-alive", fromBeginning: true })
        await consumer.run({
          eachMessage: async ({ message }) => {
            got.push(message.value!.toString())
          }
        })
        const deadline = performance.now() + 10_000
        while (got.length === 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20))
        await consumer.disconnect()
        return got
      })
      assert.deepStrictEqual(values, ["yes"])
    })
  )
})
