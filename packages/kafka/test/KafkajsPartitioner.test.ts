import { createRequire } from "node:module"
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"

// The kafkajs patch (patches/kafkajs@2.2.4.patch) hashes keys with 32-bit
// integer arithmetic instead of a Long per operation. The partition of a keyed
// record must not move, so the hash is checked against a reference written
// from the Java client's definition (int arithmetic that wraps at 32 bits,
// here BigInts cut to 32 bits) and against the Java client's own test vectors.

const require = createRequire(import.meta.url)
const murmur2: (key: Buffer | string) => number = require("kafkajs/src/producer/partitioners/default/murmur2")
interface PartitionerArgs {
  readonly topic: string
  readonly partitionMetadata: ReadonlyArray<{ readonly partitionId: number; readonly leader: number }>
  readonly message: { readonly key?: string | null; readonly partition?: number }
}
const defaultPartitioner: () => (args: PartitionerArgs) => number = require("kafkajs/src/producer/partitioners/default")

const int32 = (value: bigint): bigint => BigInt.asIntN(32, value)
const M = 0x5bd1e995n
/** `>>>` on a Java int: the unsigned shift of its 32-bit pattern. */
const unsignedShift = (value: bigint, bits: bigint): bigint => BigInt.asUintN(32, value) >> bits

const reference = (data: Uint8Array): number => {
  const length = data.length
  let h = int32(0x9747b28cn ^ BigInt(length))
  for (let i = 0; i + 4 <= length; i += 4) {
    let k = int32(
      BigInt(data[i]!) | (BigInt(data[i + 1]!) << 8n) | (BigInt(data[i + 2]!) << 16n) | (BigInt(data[i + 3]!) << 24n)
    )
    k = int32(k * M)
    k = int32(k ^ unsignedShift(k, 24n))
    k = int32(k * M)
    h = int32(int32(h * M) ^ k)
  }
  const tail = length & ~3
  const rest = length % 4
  if (rest >= 3) h = int32(h ^ (BigInt(data[tail + 2]!) << 16n))
  if (rest >= 2) h = int32(h ^ (BigInt(data[tail + 1]!) << 8n))
  if (rest >= 1) h = int32(int32(h ^ BigInt(data[tail]!)) * M)
  h = int32(h ^ unsignedShift(h, 13n))
  h = int32(h * M)
  h = int32(h ^ unsignedShift(h, 15n))
  return Number(h)
}

describe("kafkajs murmur2 (patched)", () => {
  it("hashes as the Java client's test vectors say", () => {
    const vectors: ReadonlyArray<readonly [string, number]> = [
      ["21", -973932308],
      ["foobar", -790332482],
      ["a-little-bit-long-string", -985981536],
      ["a-little-bit-longer-string", -1486304829],
      ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971],
      ["abc", 479470107]
    ]
    for (const [key, hash] of vectors) assert.strictEqual(murmur2(key), hash, key)
  })

  it("hashes any bytes (every tail length) as the 32-bit reference", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 67 }), (bytes) => {
        assert.strictEqual(murmur2(Buffer.from(bytes)), reference(bytes))
      }),
      { numRuns: 3_000 }
    )
  })

  it("hashes a string key as its UTF-8 bytes", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 30 }), (key) => {
        assert.strictEqual(murmur2(key), reference(Buffer.from(key)))
      }),
      { numRuns: 1_000 }
    )
  })
})

describe("kafkajs default partitioner (patched)", () => {
  // Partition 1 has no leader: only records without a key avoid it.
  const partitionMetadata = [0, 1, 2, 3].map((partitionId) => ({ partitionId, leader: partitionId === 1 ? -1 : 0 }))

  it("places a keyed record by its hash, over every partition", () => {
    const partitioner = defaultPartitioner()
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (key) => {
        const partition = partitioner({ topic: "t", partitionMetadata, message: { key } })
        assert.strictEqual(partition, (reference(Buffer.from(key)) & 0x7fffffff) % 4)
      }),
      { numRuns: 500 }
    )
  })

  it("keeps a record's own partition, and spreads the rest over partitions with a leader", () => {
    const partitioner = defaultPartitioner()
    assert.strictEqual(partitioner({ topic: "t", partitionMetadata, message: { key: "k", partition: 1 } }), 1)
    const unkeyed = Array.from({ length: 30 }, () => partitioner({ topic: "t", partitionMetadata, message: {} }))
    assert.deepStrictEqual([...new Set(unkeyed)].sort(), [0, 2, 3])
  })
})
