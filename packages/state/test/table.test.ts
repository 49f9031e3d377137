import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import type { Change } from "../src/internal/partition.ts"
import { Budget, type Entry, sizeOf, Table } from "../src/internal/table.ts"

// A partition's table driven through the steps the store takes (changes,
// reads, flushes taken, acknowledged or failed, local writes), against a
// plain map of what the partition holds: after every step the newest value
// of every key (entry, else disk) and the running count must match it.
type Step =
  | { readonly _tag: "set"; readonly key: number; readonly value: number }
  | { readonly _tag: "delete"; readonly key: number }
  | { readonly _tag: "read"; readonly key: number }
  | { readonly _tag: "flush" }
  | { readonly _tag: "ack" }
  | { readonly _tag: "fail" }
  | { readonly _tag: "write" }

const key = fc.integer({ min: 0, max: 30 })
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ _tag: fc.constant("set" as const), key, value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ _tag: fc.constant("delete" as const), key }),
  fc.record({ _tag: fc.constant("read" as const), key }),
  fc.constant({ _tag: "flush" as const }),
  fc.constant({ _tag: "ack" as const }),
  fc.constant({ _tag: "fail" as const }),
  fc.constant({ _tag: "write" as const })
)

interface Taken {
  readonly entries: ReadonlyArray<Entry<number>>
  readonly values: ReadonlyArray<Change>
  readonly flush: number
}

const run = (initial: ReadonlyMap<string, number>, steps: ReadonlyArray<Step>, budgetBytes: number) => {
  const disk = new Map<string, Uint8Array>([...initial].map(([k, v]) => [k, Uint8Array.of(0, v)]))
  const reference = new Map(initial)
  const budget = new Budget(budgetBytes)
  const table = new Table<number>(budget, { count: disk.size, checkpoint: 0n, onDisk: (k) => disk.has(k) })
  const inFlight: Array<Taken> = []
  let flushes = 0
  const newest = (k: string): number | undefined => {
    const entry = table.entries.get(k)
    if (entry?.cached === true) return entry.present ? entry.value : undefined
    const bytes = entry?.bytes !== undefined ? entry.bytes : disk.get(k)
    return bytes === undefined || bytes === null ? undefined : bytes[1]
  }
  for (const s of steps) {
    switch (s._tag) {
      case "set": {
        const k = `k${s.key}`
        table.change(k, Uint8Array.of(0, s.value), true, s.value, sizeOf(k, 2))
        reference.set(k, s.value)
        break
      }
      case "delete": {
        const k = `k${s.key}`
        table.change(k, null, true, undefined, sizeOf(k, 0))
        reference.delete(k)
        break
      }
      case "read": {
        const k = `k${s.key}`
        const entry = table.entries.get(k)
        if (entry?.cached === true) break
        const found = newest(k)
        table.remember(entry, k, found !== undefined, found, sizeOf(k, found === undefined ? 0 : 2))
        break
      }
      case "flush": {
        if (table.unsent.length === 0) break
        const entries = table.unsent
        table.unsent = []
        const flush = ++flushes
        const values = entries.map((entry) => {
          entry.unsent = false
          entry.sending++
          entry.flush = flush
          return entry.bytes as Change
        })
        inFlight.push({ entries, values, flush })
        break
      }
      case "ack": {
        const taken = inFlight.shift()
        if (taken === undefined) break
        taken.entries.forEach((entry, i) => {
          entry.sending--
          entry.acked = taken.values[i]!
          if (!entry.hasAcked) {
            entry.hasAcked = true
            table.acked.push(entry)
          }
        })
        break
      }
      case "fail": {
        const taken = inFlight.shift()
        if (taken === undefined) break
        for (const entry of taken.entries) {
          entry.sending--
          if (!entry.unsent) {
            entry.unsent = true
            table.unsent.push(entry)
          }
        }
        break
      }
      case "write": {
        const batch = table.acked
        table.acked = []
        for (const entry of batch) {
          if (entry.acked === null) disk.delete(entry.key)
          else disk.set(entry.key, entry.acked as Uint8Array)
          entry.hasAcked = false
          entry.acked = undefined
          entry.writes++
        }
        for (const entry of batch) {
          entry.writes--
          table.settle(entry)
        }
        break
      }
    }
    assert.strictEqual(table.count, reference.size)
    for (let i = 0; i <= 30; i++) assert.strictEqual(newest(`k${i}`), reference.get(`k${i}`))
    assert.isAtMost(budget.bytes, budget.limit)
  }
  return { table, disk, reference }
}

describe("Table", () => {
  it("answers every key's newest value and counts live keys, whatever stage its change is at", () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          key.map((k) => `k${k}`),
          fc.integer({ min: 0, max: 255 })
        ),
        fc.array(step, { maxLength: 200 }),
        fc.constantFrom(0, 5 * sizeOf("k00", 2), 1 << 20),
        (initial, steps, budgetBytes) => {
          run(new Map(Object.entries(initial)), steps, budgetBytes)
        }
      ),
      { numRuns: 300 }
    )
  })

  it("once every change is flushed, acknowledged and written, the disk equals the state and only cached entries stay", () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 200 }), fc.constantFrom(0, 1 << 20), (steps, budgetBytes) => {
        const drain: Array<Step> = [
          { _tag: "flush" },
          ...Array.from({ length: steps.length + 1 }, () => ({ _tag: "ack" as const })),
          { _tag: "write" }
        ]
        const { table, disk, reference } = run(new Map(), [...steps, ...drain], budgetBytes)
        assert.deepStrictEqual(new Map([...disk].map(([k, bytes]) => [k, bytes[1]])), reference)
        for (const entry of table.entries.values()) {
          assert.isTrue(entry.clean && entry.cached && entry.bytes === undefined)
        }
        if (budgetBytes === 0) assert.strictEqual(table.entries.size, 0)
      }),
      { numRuns: 300 }
    )
  })
})
