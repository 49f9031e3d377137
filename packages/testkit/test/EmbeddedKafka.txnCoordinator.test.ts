import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { PartitionLog } from "../src/internal/broker/partitionLog.ts"
import {
  type PendingOffset,
  TransactionCoordinator,
  type TxnRecord
} from "../src/internal/broker/transactionCoordinator.ts"
import { ApiKey } from "../src/internal/protocol/apiKeys.ts"
import { checkBatch, encodeBatch } from "../src/internal/protocol/recordBatch.ts"
import { TRANSACTIONAL_BIT } from "../src/internal/protocol/transactions.ts"
import { decodeFetchResponse, fetchBody, makeHarness } from "./brokerHarness.ts"

const appendTxn = (log: PartitionLog, producerId: number, producerEpoch: number, baseSequence: number, n: number) => {
  const batch = encodeBatch(
    Array.from({ length: n }, (_, i) => ({ value: Buffer.from(`v${i}`) })),
    { producerId, producerEpoch, baseSequence, attributes: TRANSACTIONAL_BIT }
  )
  const c = checkBatch(batch, 0, batch.length)
  if (c._tag !== "Ok") throw new Error(c._tag)
  return log.append(batch, c.header)
}

const coordinator = (logs: ReadonlyArray<PartitionLog>, records: Array<TxnRecord>, commits: Array<PendingOffset>) =>
  new TransactionCoordinator({
    now: () => 0,
    maxTimeoutMs: 60_000,
    partition: (_topic, p) => logs[p],
    allocateProducerId: () => 7,
    commitOffsets: (o) => commits.push(...o),
    checkMember: () => 0,
    persist: (r) => records.push(r)
  })

describe("TransactionCoordinator", () => {
  it.effect("recover - a commit interrupted after its Prepare state is finished from the persisted record", () =>
    Effect.sync(() => {
      const h = makeHarness()
      h.store.create("t", 2)
      const logs = h.store.topics.get("t")!
      const records: Array<TxnRecord> = []
      const commits: Array<PendingOffset> = []
      const before = coordinator(logs, records, commits)
      const init = before.initProducerId("tx", 10_000)
      assert.deepStrictEqual(
        before.addPartitions("tx", init.producerId, 0, [
          ["t", 0],
          ["t", 1]
        ]),
        [0, 0]
      )
      assert.strictEqual(before.addOffsets("tx", init.producerId, 0, "g"), 0)
      assert.strictEqual(
        before.txnOffsetCommit("tx", init.producerId, 0, "g", [
          { topic: "in", partition: 0, committed: { offset: 42, metadata: null } }
        ]),
        0
      )
      appendTxn(logs[0]!, init.producerId, 0, 0, 3)
      appendTxn(logs[1]!, init.producerId, 0, 0, 2)
      assert.deepStrictEqual(
        logs.map((l) => l.lastStableOffset),
        [0, 0]
      )
      // The broker stopped right after recording PrepareCommit: replay that record into a fresh coordinator.
      const last = records[records.length - 1]!
      const after = coordinator(logs, [], commits)
      after.restore({ ...last, status: "PrepareCommit" })
      after.recover()
      assert.deepStrictEqual(
        logs.map((l) => l.lastStableOffset),
        [4, 3]
      )
      assert.deepStrictEqual(
        logs.map((l) => l.abortedBetween(0, 10).length),
        [0, 0]
      )
      assert.deepStrictEqual(after.describe("tx"), { status: "CompleteCommit", producerEpoch: 0 })
      assert.deepStrictEqual(
        commits.map((c) => [c.group, c.topic, c.partition, c.committed.offset]),
        [["g", "in", 0, 42]]
      )
    })
  )

  it.effect(
    "fetch - read_committed stops at the last stable offset and lists the aborted transactions it returns",
    () =>
      Effect.sync(() => {
        const h = makeHarness()
        h.store.create("t", 1)
        const log = h.store.topics.get("t")!
        const txns = h.broker.txns
        const a = txns.initProducerId("a", 10_000)
        const b = txns.initProducerId("b", 10_000)
        txns.addPartitions("a", a.producerId, 0, [["t", 0]])
        appendTxn(log[0]!, a.producerId, 0, 0, 2) // 0-1
        txns.addPartitions("b", b.producerId, 0, [["t", 0]])
        appendTxn(log[0]!, b.producerId, 0, 0, 2) // 2-3
        assert.strictEqual(txns.endTxn("a", a.producerId, 0, false), 0) // marker at 4
        const whileOpen = decodeFetchResponse(
          h.call(ApiKey.Fetch, 4, fetchBody("t", [[0, 0]], { isolation: 1 })).replies[0]!,
          4
        )
        const p = whileOpen[0]!.partitions[0]!
        assert.strictEqual(p.lastStableOffset, 2)
        assert.strictEqual(p.highWatermark, 5)
        assert.deepStrictEqual(p.aborted, [{ producerId: a.producerId, firstOffset: 0 }])
        // read_uncommitted sees everything and gets no aborted list.
        const uncommitted = decodeFetchResponse(h.call(ApiKey.Fetch, 4, fetchBody("t", [[0, 0]])).replies[0]!, 4)
        assert.isNull(uncommitted[0]!.partitions[0]!.aborted)
        assert.isAbove(uncommitted[0]!.partitions[0]!.records.length, p.records.length)
        assert.strictEqual(txns.endTxn("b", b.producerId, 0, true), 0) // marker at 5
        const done = decodeFetchResponse(
          h.call(ApiKey.Fetch, 4, fetchBody("t", [[0, 2]], { isolation: 1 })).replies[0]!,
          4
        )
        assert.strictEqual(done[0]!.partitions[0]!.lastStableOffset, 6)
        // Fetching from offset 2 the aborted range 0–4 still overlaps the returned batches.
        assert.deepStrictEqual(done[0]!.partitions[0]!.aborted, [{ producerId: a.producerId, firstOffset: 0 }])
        const tail = decodeFetchResponse(
          h.call(ApiKey.Fetch, 4, fetchBody("t", [[0, 5]], { isolation: 1 })).replies[0]!,
          4
        )
        assert.isNull(tail[0]!.partitions[0]!.aborted)
      })
  )

  it.effect(
    "fetch - a parked read_committed fetch sleeps through uncommitted appends and answers when the commit marker lands",
    () =>
      Effect.sync(() => {
        const h = makeHarness()
        h.store.create("t", 2)
        const logs = h.store.topics.get("t")!
        const txns = h.broker.txns
        const a = txns.initProducerId("a", 10_000)
        const fetch = h.call(
          ApiKey.Fetch,
          4,
          fetchBody(
            "t",
            [
              [0, 0],
              [1, 0]
            ],
            { maxWaitMs: 500, minBytes: 1, isolation: 1 }
          )
        )
        txns.addPartitions("a", a.producerId, 0, [
          ["t", 0],
          ["t", 1]
        ])
        appendTxn(logs[0]!, a.producerId, 0, 0, 2)
        appendTxn(logs[1]!, a.producerId, 0, 0, 1)
        // Nothing it could return: an answer now would be empty, and the reader would only ask again.
        assert.deepStrictEqual(fetch.replies, [])
        for (const log of logs) assert.strictEqual(log.waiterCount, 1)
        assert.strictEqual(txns.endTxn("a", a.producerId, 0, true), 0)
        // Answered by a marker, not by the timer.
        assert.strictEqual(fetch.replies.length, 1)
        assert.isTrue(h.timers.find((t) => t.ms === 500)!.cancelled)
        for (const log of logs) assert.strictEqual(log.waiterCount, 0)
        const parts = decodeFetchResponse(fetch.replies[0]!, 4)[0]!.partitions
        // The first marker written (partition 0's) already gave it data to return.
        assert.strictEqual(parts[0]!.lastStableOffset, 3)
        assert.isAbove(parts[0]!.records.length, 0)
      })
  )

  it.effect("produce - transactional data is refused outside the transaction and from a fenced epoch", () =>
    Effect.sync(() => {
      const h = makeHarness()
      h.store.create("t", 2)
      const txns = h.broker.txns
      const first = txns.initProducerId("x", 10_000)
      assert.strictEqual(txns.checkProduce("x", first.producerId, 0, "t", 0), 48)
      txns.addPartitions("x", first.producerId, 0, [["t", 0]])
      assert.strictEqual(txns.checkProduce("x", first.producerId, 0, "t", 0), 0)
      assert.strictEqual(txns.checkProduce("x", first.producerId, 0, "t", 1), 48)
      const second = txns.initProducerId("x", 10_000)
      assert.strictEqual(second.producerEpoch, 1)
      assert.strictEqual(txns.checkProduce("x", first.producerId, 0, "t", 0), 47)
      assert.deepStrictEqual(txns.addPartitions("x", first.producerId, 0, [["t", 1]]), [47])
      assert.strictEqual(txns.endTxn("x", first.producerId, 0, true), 47)
      assert.strictEqual(txns.initProducerId("x", 10_000_000).errorCode, 50)
      assert.deepStrictEqual(txns.addPartitions("x", second.producerId, 1, [["nope", 0]]), [3])
    })
  )
})
