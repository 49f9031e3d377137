import { assert, describe, it } from "@effect/vitest"
import { Receipt } from "@sluice/core"
import * as ByteSlices from "../src/jobs/cdc/ByteSlices.ts"
import * as CdcSink from "../src/jobs/cdc/CdcSink.ts"

// A deterministic spread of sizes: empty, small, around the limit, beyond it.
const sizes = (seed: number, n: number, max: number): Array<number> => {
  let x = seed
  return Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2147483648
    return x % (max * 2)
  })
}

const bytesOf = (value: Uint8Array | string | null) =>
  value === null ? 0 : typeof value === "string" ? value.length : value.byteLength

// What a greedy cut must satisfy, checked against the input rather than against figures.
const checkSlices = <A>(
  input: ReadonlyArray<A>,
  out: ReadonlyArray<ReadonlyArray<A>>,
  size: (a: A) => number,
  max: number
) => {
  assert.deepStrictEqual(out.flat(), [...input], "every record once, in order")
  for (let i = 0; i < out.length; i++) {
    const slice = out[i]!
    assert.isAbove(slice.length, 0)
    const total = slice.reduce((a, r) => a + size(r), 0)
    if (slice.length > 1) assert.isAtMost(total, max, `slice ${i} within the limit`)
    // greedy: the next slice's first record would not have fitted
    if (i + 1 < out.length) assert.isAbove(total + size(out[i + 1]![0]!), max, `slice ${i} is as long as it can be`)
  }
}

describe("ByteSlices", () => {
  it("cuts a chunk into greedy slices of at most maxBytes of values, every record once and in order", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const max = 1000
      const input = sizes(seed, 300, max).map((n, i) => ({ i, value: n % 7 === 0 ? null : new Uint8Array(n) }))
      checkSlices(input, ByteSlices.slices(input, max), (r) => bytesOf(r.value), max)
    }
  })

  it("a chunk that fits is handed back as it is, and an empty chunk is one empty slice", () => {
    const input = [{ value: "abc" }, { value: null }]
    const out = ByteSlices.slices(input, 1000)
    assert.strictEqual(out.length, 1)
    assert.strictEqual(out[0], input)
    assert.deepStrictEqual(ByteSlices.slices([], 10), [[]])
  })
})

describe("CdcSink.requests", () => {
  it("cuts a chunk into requests of at most maxBytes, keeping every record, each partition's order and the headers", () => {
    for (const seed of [11, 12, 13]) {
      const max = 2000
      const chunk: Array<CdcSink.Outgoing> = sizes(seed, 400, max).map((n, i) => ({
        topic: i % 9 === 0 ? undefined : `t${i % 3}`,
        key: `k${i % 5}`,
        value: "v".repeat(n),
        receipt: Receipt.none,
        ...(i % 4 === 0 ? { headers: [["h", new TextEncoder().encode(String(i))] as const] } : {})
      }))
      const requests = CdcSink.requests(chunk, max)
      // Requests flattened in order give back the written records, per topic in order.
      const written = chunk.filter((r) => r.topic !== undefined)
      for (const topic of ["t0", "t1", "t2"]) {
        const expected = written.filter((r) => r.topic === topic).map((r) => `${r.key}:${r.value}`)
        const got = requests.flatMap((req) =>
          req.filter((t) => t.topic === topic).flatMap((t) => t.messages.map((m) => `${m.key}:${m.value}`))
        )
        assert.deepStrictEqual(got, expected, `topic ${topic}`)
      }
      const withHeaders = requests.flatMap((req) => req.flatMap((t) => t.messages)).filter((m) => m.headers)
      assert.strictEqual(withHeaders.length, written.filter((r) => r.headers !== undefined).length)
      // The cut is the greedy one over the written records.
      const perRequest = requests.map((req) => req.flatMap((t) => t.messages))
      const size = (m: { key?: unknown; value?: unknown }) => String(m.key).length + String(m.value).length
      for (let i = 0; i < perRequest.length; i++) {
        const total = perRequest[i]!.reduce((a, m) => a + size(m), 0)
        if (perRequest[i]!.length > 1) assert.isAtMost(total, max)
      }
      assert.strictEqual(perRequest.flat().length, written.length)
    }
  })
})
