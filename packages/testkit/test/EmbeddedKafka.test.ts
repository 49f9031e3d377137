import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import * as EmbeddedKafka from "../src/EmbeddedKafka.ts"
import { ApiKey } from "../src/internal/protocol/apiKeys.ts"
import { Reader } from "../src/internal/protocol/reader.ts"
import { connectRaw, type RawClient } from "./rawClient.ts"

const join = async (client: RawClient, sessionTimeoutMs: number) => {
  const r = new Reader(
    await client.request(ApiKey.JoinGroup, 3, (w) => {
      w.string("clocked").int32(sessionTimeoutMs).int32(sessionTimeoutMs).string("").string("consumer")
      w.int32(1).string("range").bytes(Buffer.alloc(0))
    })
  )
  r.int32()
  const errorCode = r.int16()
  const generationId = r.int32()
  r.string()
  r.string()
  return { errorCode, generationId, memberId: r.string() }
}

const heartbeat = async (client: RawClient, generationId: number, memberId: string) => {
  const r = new Reader(
    await client.request(ApiKey.Heartbeat, 2, (w) => {
      w.string("clocked").int32(generationId).string(memberId)
    })
  )
  r.int32()
  return r.int16()
}

describe("EmbeddedKafka", () => {
  it.effect("make - evicts a member whose session expires on the Effect clock", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make({ minSessionTimeoutMs: 1000 })
      const client = yield* Effect.promise(() => connectRaw(broker.port))
      const member = yield* Effect.promise(() => join(client, 1000))
      assert.strictEqual(member.errorCode, 0)
      assert.deepStrictEqual(yield* broker.describeGroup("clocked"), { state: "CompletingRebalance", members: 1 })

      yield* TestClock.adjust("900 millis")
      assert.strictEqual(yield* Effect.promise(() => heartbeat(client, member.generationId, member.memberId)), 0)
      yield* TestClock.adjust("900 millis")
      assert.strictEqual((yield* broker.describeGroup("clocked")).members, 1)

      yield* TestClock.adjust("200 millis")
      assert.deepStrictEqual(yield* broker.describeGroup("clocked"), { state: "Empty", members: 0 })
      assert.strictEqual(yield* Effect.promise(() => heartbeat(client, member.generationId, member.memberId)), 25)
      client.close()
    })
  )

  it.effect("make - rejects session timeouts outside the configured bounds", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make({ minSessionTimeoutMs: 1000, maxSessionTimeoutMs: 5000 })
      const client = yield* Effect.promise(() => connectRaw(broker.port))
      assert.strictEqual((yield* Effect.promise(() => join(client, 10))).errorCode, 26)
      assert.strictEqual((yield* Effect.promise(() => join(client, 60_000))).errorCode, 26)
      client.close()
    })
  )

  it.effect("make - fails with a typed error when the port is taken or the data directory is unusable", () =>
    Effect.gen(function* () {
      const first = yield* EmbeddedKafka.make()
      const taken = yield* Effect.flip(Effect.scoped(EmbeddedKafka.make({ port: first.port })))
      assert.strictEqual(taken.reason, "Listen")
      assert.isTrue(taken.isRetryable)
      const file = path.join(os.tmpdir(), `sluice-not-a-dir-${process.pid}`)
      fs.writeFileSync(file, "x")
      const storage = yield* Effect.flip(Effect.scoped(EmbeddedKafka.make({ dataDir: file })))
      fs.rmSync(file)
      assert.strictEqual(storage.reason, "Storage")
      assert.isFalse(storage.isRetryable)
    })
  )

  it.effect("make - helpers create topics and report offsets; duplicate topics fail", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make()
      yield* broker.createTopic("helpers", 3)
      assert.deepStrictEqual(yield* broker.endOffsets("helpers"), [0, 0, 0])
      assert.deepStrictEqual(yield* broker.topics, ["helpers"])
      const dup = yield* Effect.flip(broker.createTopic("helpers", 1))
      assert.strictEqual(dup.reason, "Topic")
      const missing = yield* Effect.flip(broker.endOffsets("nope"))
      assert.strictEqual(missing.reason, "Topic")
      assert.isTrue(broker.bootstrap.endsWith(`:${broker.port}`))
    })
  )
})

layer(EmbeddedKafka.layer({ defaultPartitions: 4 }))("EmbeddedKafka.layer", (it) => {
  it.effect("layer - provides a running broker to the suite", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.EmbeddedKafka
      yield* broker.createTopic("from-layer")
      assert.deepStrictEqual(yield* broker.endOffsets("from-layer"), [0, 0, 0, 0])
      const client = yield* Effect.promise(() => connectRaw(broker.port))
      const r = new Reader(yield* Effect.promise(() => client.request(ApiKey.ApiVersions, 2, () => {})))
      assert.strictEqual(r.int16(), 0)
      client.close()
    })
  )
})
