import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as TimerQueue from "../src/internal/timerQueue.ts"
import * as StateStore from "../src/StateStore.ts"

// The reference: every pending timer in a map, the due ones found by sorting them all by their
// store key, as a store's `range` returns them.
const reference = () => {
  const live = new Map<string, number>()
  const taken = new Set<string>()
  return {
    add: (id: string, time: number) => {
      if (live.get(id) === time) return
      live.set(id, time)
      taken.delete(id)
    },
    remove: (id: string) => {
      live.delete(id)
      taken.delete(id)
    },
    takeDue: (upTo: number) => {
      const due = [...live]
        .filter(([id, time]) => time <= upTo && !taken.has(id))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      for (const [id] of due) taken.add(id)
      return due
    },
    peek: () => {
      let earliest = Number.POSITIVE_INFINITY
      for (const [id, time] of live) if (!taken.has(id) && time < earliest) earliest = time
      return earliest
    },
    size: () => live.size
  }
}

const op = fc.oneof(
  fc.record({
    kind: fc.constant("add" as const),
    time: fc.integer({ min: 0, max: 60 }),
    key: fc.integer({ min: 0, max: 4 })
  }),
  fc.record({
    kind: fc.constant("remove" as const),
    time: fc.integer({ min: 0, max: 60 }),
    key: fc.integer({ min: 0, max: 4 })
  }),
  fc.record({ kind: fc.constant("take" as const), time: fc.integer({ min: 0, max: 60 }), key: fc.constant(0) }),
  // Removes a timer taken earlier, as a fired timer's acknowledgement does.
  fc.record({ kind: fc.constant("done" as const), time: fc.nat(), key: fc.constant(0) })
)

describe("TimerQueue", () => {
  it("takes, peeks and counts as a full sort of the pending timers does", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 50, maxLength: 400, size: "max" }), (ops) => {
        const queue = TimerQueue.make()
        const model = reference()
        const taken: Array<string> = []
        for (const { kind, time, key } of ops) {
          const id = StateStore.timeKey(time, `k${key}`)
          if (kind === "add") {
            queue.add(id, time)
            model.add(id, time)
          } else if (kind === "remove") {
            queue.remove(id)
            model.remove(id)
          } else if (kind === "done") {
            if (taken.length === 0) continue
            const done = taken.splice(time % taken.length, 1)[0]!
            queue.remove(done)
            model.remove(done)
          } else {
            const got = queue.takeDue(time)
            assert.deepStrictEqual(got, model.takeDue(time))
            for (const [id] of got) taken.push(id)
          }
          assert.strictEqual(queue.peek(), model.peek())
          assert.strictEqual(queue.size(), model.size())
        }
      }),
      { numRuns: 300 }
    )
  })

  it("keeps its order through the rebuilds that drop cancelled timers", () => {
    const queue = TimerQueue.make()
    const kept: Array<readonly [string, number]> = []
    // Nine in ten timers are cancelled: the dead entries outnumber the live ones many times over.
    for (let i = 0; i < 50_000; i++) {
      const time = (i * 7_919) % 100_003
      const id = StateStore.timeKey(time, `k${i}`)
      queue.add(id, time)
      if (i % 10 === 0) kept.push([id, time])
      else queue.remove(id)
    }
    kept.sort(([a], [b]) => (a < b ? -1 : 1))
    assert.strictEqual(queue.size(), kept.length)
    assert.deepStrictEqual(
      queue.takeDue(50_000),
      kept.filter(([, time]) => time <= 50_000)
    )
    assert.deepStrictEqual(
      queue.takeDue(Number.MAX_SAFE_INTEGER),
      kept.filter(([, time]) => time > 50_000)
    )
  })
})
