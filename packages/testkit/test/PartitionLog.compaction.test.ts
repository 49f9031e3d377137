/**
 * Compaction of one partition log with a small active segment (`segment.bytes`),
 * checked against brute force: after every pass the closed part holds exactly
 * the latest record per key among the records ever written below the active
 * segment, and the active segment is the very batches that were appended.
 */
import { assert, describe, it } from "@effect/vitest"
import { PartitionLog } from "../src/internal/broker/partitionLog.ts"
import { parseConfig } from "../src/internal/broker/topicConfig.ts"
import { checkBatch, decodeRecords, encodeBatch } from "../src/internal/protocol/recordBatch.ts"

interface Rec {
  readonly offset: number
  readonly key: string | null
  readonly value: string | null
}

/** A small deterministic generator (mulberry32), so a failure replays. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const show = (r: Rec): string => `${r.offset}:${r.key}=${r.value}`

const stored = (log: PartitionLog): Array<Buffer> => {
  const out: Array<Buffer> = []
  log.read(0, Number.MAX_SAFE_INTEGER, out)
  return out
}

const recordsOf = (batches: ReadonlyArray<Buffer>): Array<Rec> =>
  batches.flatMap((b) =>
    decodeRecords(b).map((r) => ({
      offset: r.offset,
      key: r.key === null ? null : r.key.toString("latin1"),
      value: r.value === null ? null : r.value.toString("latin1")
    }))
  )

/** The newest batches holding at most `segmentBytes`, at least one: the active segment, by brute force. */
const activeCount = (sizes: ReadonlyArray<number>, segmentBytes: number): number => {
  let n = 1
  let bytes = sizes[sizes.length - 1]!
  while (n < sizes.length && bytes + sizes[sizes.length - 1 - n]! <= segmentBytes) {
    bytes += sizes[sizes.length - 1 - n]!
    n++
  }
  return n
}

/** Latest record per key among `records` (keyless ones all kept), in offset order; tombstones dropped when asked. */
const latestPerKey = (records: ReadonlyArray<Rec>, dropTombstones: boolean): Array<Rec> => {
  const last = new Map<string, number>()
  for (const r of records) if (r.key !== null) last.set(r.key, r.offset)
  return records.filter(
    (r) => r.key === null || (last.get(r.key) === r.offset && !(dropTombstones && r.value === null))
  )
}

const run = (seed: number, segmentBytes: number, deleteRetentionMs: number) => {
  const random = prng(seed)
  const log = new PartitionLog("t", 0, 0, segmentBytes)
  const written: Array<Rec> = []
  const appended: Array<Buffer> = []
  let passes = 0
  let changedPasses = 0
  for (let step = 0; step < 600; step++) {
    const size = 1 + Math.floor(random() * 5)
    const inputs = Array.from({ length: size }, () => {
      const roll = random()
      return {
        key: roll < 0.05 ? null : Buffer.from(`k${Math.floor(random() * 30)}`),
        value: roll > 0.9 ? null : Buffer.from(`v${step}-${Math.floor(random() * 1000)}`)
      }
    })
    const batch = encodeBatch(inputs)
    const c = checkBatch(batch, 0, batch.length)
    if (c._tag !== "Ok") throw new Error(c._tag)
    const base = log.nextOffset
    assert.strictEqual(log.append(batch, c.header).errorCode, 0)
    appended.push(batch)
    inputs.forEach((r, i) => {
      written.push({
        offset: base + i,
        key: r.key === null ? null : r.key.toString("latin1"),
        value: r.value === null ? null : r.value.toString("latin1")
      })
    })
    if (random() < 0.15) {
      // The clock moves by the retention (or not at all) so tombstones seen at one pass may go at the next.
      const now = step * 10
      if (log.compact(now, deleteRetentionMs)) changedPasses++
      passes++
      const batches = stored(log)
      const active = activeCount(
        appended.map((b) => b.length),
        segmentBytes
      )
      // The active segment: the appended batches themselves, never rewritten.
      const tail = batches.slice(batches.length - active)
      const appendedTail = appended.slice(appended.length - active)
      assert.strictEqual(tail.length, active)
      tail.forEach((b, i) => {
        assert.isTrue(b === appendedTail[i], `active batch ${i} was rewritten`)
      })
      // The closed part: latest per key over everything written below the active segment.
      const activeBase = recordsOf([appendedTail[0]!])[0]!.offset
      const closed = recordsOf(batches.slice(0, batches.length - active)).map(show)
      const reference = latestPerKey(
        written.filter((r) => r.offset < activeBase),
        deleteRetentionMs === 0
      ).map(show)
      assert.deepStrictEqual(closed, reference, `seed ${seed}, pass ${passes}`)
    }
  }
  return { passes, changedPasses, batches: stored(log).length, appended: appended.length }
}

describe("PartitionLog compaction with segment.bytes", () => {
  it("compact - closed segments hold the latest record per key, the active segment is never rewritten", () => {
    for (const seed of [1, 2, 3]) {
      for (const segmentBytes of [1, 600, 5_000]) {
        const r = run(seed, segmentBytes, 1_000_000)
        // The workload must exercise compaction: passes that removed records.
        assert.isAbove(r.changedPasses, 5)
        assert.isBelow(r.batches, r.appended)
      }
    }
  })

  it("compact - with no delete retention, closed tombstones go at the first pass that sees them", () => {
    for (const seed of [4, 5]) {
      const r = run(seed, 600, 0)
      assert.isAbove(r.changedPasses, 5)
    }
  })

  it("needsCompaction - not due while everything written is in the active segment", () => {
    const log = new PartitionLog("t", 0, 0, 10_000)
    const append = (key: string, value: string | null) => {
      const batch = encodeBatch([{ key: Buffer.from(key), value: value === null ? null : Buffer.from(value) }])
      const c = checkBatch(batch, 0, batch.length)
      if (c._tag !== "Ok") throw new Error(c._tag)
      log.append(batch, c.header)
      return batch.length
    }
    let bytes = 0
    // The same key over and over: everything but the last record is superseded, yet none of it is closed.
    while (bytes + 100 < 10_000) bytes += append("k", "v")
    assert.isFalse(log.needsCompaction(0, 0))
    const before = stored(log)
    assert.isFalse(log.compact(0, 0))
    assert.deepStrictEqual(stored(log), before)
    // A tombstone in the active segment is not removed, however old it gets.
    append("k", null)
    assert.isFalse(log.compact(1_000_000, 0))
    // Writing past segment.bytes closes the oldest batches; now compaction is due and removes them.
    while (bytes < 20_000) bytes += append("k", "w")
    assert.isTrue(log.needsCompaction(0, 0.5))
    assert.isTrue(log.compact(0, 0))
    assert.isFalse(log.needsCompaction(0, 0))
  })

  it("parseConfig - segment.bytes is a positive integer, absent means the broker's default", () => {
    const parsed = parseConfig({ "cleanup.policy": "compact", "segment.bytes": "4096" })
    assert.strictEqual(typeof parsed === "number" ? parsed : parsed.segmentBytes, 4096)
    const absent = parseConfig({ "cleanup.policy": "compact" })
    assert.isTrue(typeof absent !== "number" && absent.segmentBytes === undefined)
    for (const bad of ["0", "-1", "1.5", "", "big"]) assert.isNumber(parseConfig({ "segment.bytes": bad }))
  })
})
