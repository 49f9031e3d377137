import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import { sizeOf, ValueCache } from "../src/internal/valueCache.ts"

describe("ValueCache", () => {
  it("answers with the newest value of a cached key, stays within its budget and evicts in bulk", () => {
    const budget = 50 * sizeOf("key-000", 8)
    const cache = new ValueCache<number>(budget)
    const reference = new Map<string, Option.Option<number>>()
    // A deterministic mix of writes and deletes over 3 partitions and 200 keys.
    let seed = 7
    const next = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
      return seed
    }
    for (let i = 0; i < 20_000; i++) {
      const partition = next() % 3
      const key = `key-${String(next() % 200).padStart(3, "0")}`
      const value = next() % 5 === 0 ? Option.none<number>() : Option.some(i)
      cache.set(partition, key, value, sizeOf(key, 8))
      reference.set(`${partition}/${key}`, value)
      assert.isAtMost(cache.bytes, budget)
    }
    let cached = 0
    for (const [id, value] of reference) {
      const [partition, key] = id.split("/") as [string, string]
      const found = cache.get(Number(partition), key)
      if (found === undefined) continue
      cached++
      assert.deepStrictEqual(found, value)
    }
    // Evicting down to three quarters of the budget keeps most of it in use.
    assert.isAtLeast(cached, 35)
    cache.drop(0)
    cache.drop(1)
    cache.drop(2)
    assert.strictEqual(cache.bytes, 0)
  })

  it("keeps nothing bigger than its budget, and nothing at all with a budget of 0", () => {
    const cache = new ValueCache<string>(0)
    cache.set(0, "a", Option.some("x"), sizeOf("a", 1))
    assert.isUndefined(cache.get(0, "a"))
    assert.strictEqual(cache.bytes, 0)
  })
})
