import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { PartitionLog } from "../src/internal/broker/partitionLog.ts"
import { ApiKey } from "../src/internal/protocol/apiKeys.ts"
import { checkBatch, decodeRecords, encodeBatch } from "../src/internal/protocol/recordBatch.ts"
import { decodeFetchResponse, fetchBody, makeHarness } from "./brokerHarness.ts"

const append = (log: PartitionLog, values: ReadonlyArray<string>) => {
  const batch = encodeBatch(values.map((v) => ({ value: Buffer.from(v) })))
  const c = checkBatch(batch, 0, batch.length)
  if (c._tag !== "Ok") throw new Error(c._tag)
  return log.append(batch, c.header)
}

const values = (records: Buffer): Array<string> => {
  const out: Array<string> = []
  for (let at = 0; at < records.length; ) {
    const c = checkBatch(records, at, records.length)
    if (c._tag !== "Ok") throw new Error(c._tag)
    for (const r of decodeRecords(records.subarray(at, at + c.header.size))) out.push(r.value!.toString())
    at += c.header.size
  }
  return out
}

describe("Fetch long-poll", () => {
  it.effect("fetch - a parked fetch with minBytes > 1 keeps one waiter per partition however many appends arrive", () =>
    Effect.sync(() => {
      const h = makeHarness()
      h.store.create("t", 3)
      const logs = h.store.topics.get("t")!
      const fetch = h.call(
        ApiKey.Fetch,
        4,
        fetchBody(
          "t",
          [
            [0, 0],
            [1, 0],
            [2, 0]
          ],
          { maxWaitMs: 1000, minBytes: 64 * 1024 }
        )
      )
      assert.deepStrictEqual(fetch.replies, [])
      const sent: Array<string> = []
      for (let i = 0; i < 200; i++) {
        const v = `m${i}`
        sent.push(v)
        append(logs[i % 2]!, [v])
        // The old code re-armed every partition at each append: waiters grew by one per append.
        for (const log of logs) assert.isAtMost(log.waiterCount, 1)
      }
      assert.deepStrictEqual(fetch.replies, [])
      append(logs[2]!, ["x".repeat(70 * 1024)])
      assert.strictEqual(fetch.replies.length, 1)
      for (const log of logs) assert.strictEqual(log.waiterCount, 0)
      assert.isTrue(h.timers[0]!.cancelled)
      const parts = decodeFetchResponse(fetch.replies[0]!, 4)[0]!.partitions
      const got = [...values(parts[0]!.records), ...values(parts[1]!.records)]
      assert.deepStrictEqual(got.sort(), [...sent].sort())
      assert.strictEqual(values(parts[2]!.records)[0]!.length, 70 * 1024)
    })
  )

  it.effect("fetch - a parked fetch answers once at maxWait with what arrived, and leaves no waiter behind", () =>
    Effect.sync(() => {
      const h = makeHarness()
      h.store.create("t", 2)
      const logs = h.store.topics.get("t")!
      const fetch = h.call(
        ApiKey.Fetch,
        4,
        fetchBody(
          "t",
          [
            [0, 0],
            [1, 0]
          ],
          { maxWaitMs: 20, minBytes: 64 * 1024 }
        )
      )
      append(logs[0]!, ["a", "b"])
      append(logs[0]!, ["c"])
      h.timers[0]!.fire()
      h.timers[0]!.fire()
      assert.strictEqual(fetch.replies.length, 1)
      for (const log of logs) assert.strictEqual(log.waiterCount, 0)
      const parts = decodeFetchResponse(fetch.replies[0]!, 4)[0]!.partitions
      assert.deepStrictEqual(values(parts[0]!.records), ["a", "b", "c"])
      assert.deepStrictEqual(values(parts[1]!.records), [])
      append(logs[1]!, ["late"])
      assert.strictEqual(fetch.replies.length, 1)
    })
  )

  it.effect("fetch - deleting the topic answers a parked fetch at once", () =>
    Effect.sync(() => {
      const h = makeHarness()
      h.store.create("t", 1)
      const fetch = h.call(ApiKey.Fetch, 4, fetchBody("t", [[0, 0]], { maxWaitMs: 1000, minBytes: 1024 }))
      h.store.delete("t")
      assert.strictEqual(fetch.replies.length, 1)
      assert.strictEqual(decodeFetchResponse(fetch.replies[0]!, 4)[0]!.partitions[0]!.errorCode, 3)
    })
  )
})
