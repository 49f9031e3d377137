import { DateTime } from "effect"
import { describe, expect, it } from "vitest"
import * as IsoTime from "../src/jobs/commerce/IsoTime.ts"

// The reference is Effect's own formatting, which the jobs used before.
const reference = (ms: number) => DateTime.formatIso(DateTime.makeUnsafe(ms))

describe("IsoTime.format", () => {
  it("writes the text DateTime.formatIso writes, across the range of a Date", () => {
    const max = 8.64e15
    const times = [0, -1, 1, 999, 1_767_225_599_999, 253_402_300_800_000, -62_167_219_200_001, max, -max]
    // Deterministic spread over the whole range, and over the bench's 100 days at ms precision.
    let x = 12345
    const next = () => {
      x = (x * 1103515245 + 12345) % 2147483648
      return x / 2147483648
    }
    for (let i = 0; i < 2000; i++) times.push(Math.round((next() * 2 - 1) * max))
    for (let i = 0; i < 2000; i++) times.push(1_767_225_600_000 + Math.floor(next() * 100 * 86_400_000))
    // In order, as the jobs' times mostly come (the date part is kept from the call before), and
    // a fraction of a millisecond, which Date truncates.
    for (let t = -3 * 86_400_000; t < 3 * 86_400_000; t += 997_331) times.push(t, t + 0.5)
    for (const t of times) expect(IsoTime.format(t), String(t)).toBe(reference(t))
  })

  it("throws where DateTime.makeUnsafe throws", () => {
    for (const t of [Number.NaN, 8.64e15 + 1, Number.POSITIVE_INFINITY]) {
      expect(() => reference(t)).toThrow()
      expect(() => IsoTime.format(t)).toThrow(RangeError)
    }
  })
})
