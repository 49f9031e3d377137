import { assert, describe, it } from "@effect/vitest"
import { isoTimestamp } from "../src/records/IsoTimestamp.ts"

describe("isoTimestamp", () => {
  it("isoTimestamp - writes what Date.toISOString writes, across leap days, centuries and the year range", () => {
    const instants = [
      0,
      1,
      999,
      Date.UTC(2024, 1, 29, 23, 59, 59, 999),
      Date.UTC(2024, 2, 1),
      Date.UTC(2000, 1, 29, 12),
      Date.UTC(2100, 1, 28, 23, 59, 59, 999),
      Date.UTC(2100, 2, 1),
      Date.UTC(9999, 11, 31, 23, 59, 59, 999),
      Date.UTC(10000, 0, 1),
      Date.UTC(1969, 11, 31, 23, 59, 59, 999),
      Date.UTC(-1, 0, 1),
      1.5
    ]
    // And a pseudo-random walk over a few millennia, a month and a few days at a time.
    let millis = Date.UTC(1970, 0, 1)
    for (let i = 0; i < 20_000; i++) {
      millis += ((i * 7_919) % 40) * 86_400_000 + ((i * 104_729) % 86_400_000)
      instants.push(millis)
    }
    for (const instant of instants) assert.strictEqual(isoTimestamp(instant), new Date(instant).toISOString())
  })
})
