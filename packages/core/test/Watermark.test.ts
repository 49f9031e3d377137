import { assert, describe, it } from "@effect/vitest"
import * as Watermark from "../src/Watermark.ts"

describe("Watermark", () => {
  it("Tracker - the minimum over partitions of the highest event time minus the out-of-orderness", () => {
    const w = Watermark.make({ outOfOrderness: 100 })
    w.observe(0, 1000, 0)
    assert.strictEqual(w.advance(0), 900)
    w.observe(1, 500, 0)
    // A new partition cannot take the watermark back.
    assert.strictEqual(w.advance(0), 900)
    w.observe(1, 2000, 0)
    w.observe(0, 1500, 0)
    assert.strictEqual(w.advance(0), 1400)
    // An older record does not lower a partition's watermark.
    w.observe(0, 10, 0)
    assert.strictEqual(w.advance(0), 1400)
    assert.strictEqual(w.partitionWatermark(1), 1900)
  })

  it("Tracker - a revoked partition no longer holds the watermark back; an assigned one waits for records", () => {
    const w = Watermark.make()
    w.observe(0, 100, 0)
    w.observe(1, 5000, 0)
    assert.strictEqual(w.advance(0), 100)
    w.revoke([0])
    assert.strictEqual(w.advance(0), 5000)
    w.assign([2], 0)
    w.observe(1, 9000, 0)
    assert.strictEqual(w.advance(0), 5000)
    w.observe(2, 7000, 0)
    assert.strictEqual(w.advance(0), 7000)
    assert.deepStrictEqual([...w.assigned].sort(), [1, 2])
  })

  it("Tracker - idle partitions are skipped after idleTimeout; all idle advances with the clock only if asked", () => {
    const still = Watermark.make({ idleTimeout: 1000 })
    const moving = Watermark.make({ idleTimeout: 1000, advanceWhenIdle: true })
    for (const w of [still, moving]) {
      w.observe(0, 100, 0)
      w.observe(1, 50_000, 500)
      assert.strictEqual(w.advance(999), 100)
      assert.strictEqual(w.advance(1000), 50_000)
    }
    assert.strictEqual(still.advance(10_500), 50_000)
    // Idle since 1500 (last record at 500 + 1000): 50 000 plus the 10 s since the last record.
    assert.strictEqual(moving.advance(10_500), 60_000)
  })

  it("extractors - record timestamp and field", () => {
    const envelope = {
      origin: { topic: "t", partition: 0, offset: 0n, key: null, headers: [], timestamp: 42 },
      value: { at: 7 },
      receipt: { ack: undefined as never }
    }
    assert.strictEqual(Watermark.recordTimestamp(envelope.value, envelope), 42)
    assert.strictEqual(Watermark.field((v: { at: number }) => v.at)(envelope.value, envelope), 7)
  })
})
