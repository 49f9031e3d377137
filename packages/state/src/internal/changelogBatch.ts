// The records of one changelog produce, encoded at once into one Buffer in
// Kafka's record format (magic 2: length, attributes, timestamp delta, offset
// delta, key, value, headers), and handed to kafkajs as the batch's records
// (`encodedRecords`, see the kafkajs patch). kafkajs builds an encoder per
// record, copies it into the batch and copies the batch again; a flush of a
// keyed counter sends a record per event, so that path was a large share of
// the durable store's CPU per event. kafkajs still writes the batch header
// (producer id, epoch, sequence, CRC), so idempotence works as before.
import type { Change } from "./partition.ts"

/** What kafkajs takes as a partition's records: the bytes and how many records they hold. */
export interface EncodedRecords {
  readonly buffer: Buffer
  readonly count: number
}

const zigZag = (n: number): number => ((n << 1) ^ (n >> 31)) >>> 0

const sizeOfVarInt = (n: number): number => {
  let z = zigZag(n)
  let size = 1
  while (z >= 0x80) {
    z >>>= 7
    size++
  }
  return size
}

const writeVarInt = (buffer: Buffer, at: number, n: number): number => {
  let z = zigZag(n)
  while (z >= 0x80) {
    buffer[at++] = (z & 0x7f) | 0x80
    z >>>= 7
  }
  buffer[at++] = z
  return at
}

// A key's UTF-8 length: its length when it is ASCII (checked in a loop,
// which for short keys costs far less than a call into Buffer.byteLength),
// -1 otherwise.
const asciiLength = (key: string): number => {
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) >= 0x80) return -1
  return key.length
}

/**
 * Encodes the changes `[from, to)` (`keys[i]` changed to `values[i]`) as the records of one batch: offset deltas
 * from 0, timestamp deltas 0 (kafkajs stamps the batch with the send time,
 * as it does for messages without a timestamp), no headers; a `null` change
 * is a tombstone (a null value).
 */
export const encodeRecords = (
  keys: ReadonlyArray<string>,
  values: ReadonlyArray<Change>,
  from: number,
  to: number
): EncodedRecords => {
  const count = to - from
  // Two passes: sizes first (kept, a key's UTF-8 length costs a scan), then one allocation.
  const keyBytes = new Int32Array(count)
  const bodies = new Int32Array(count)
  let total = 0
  for (let i = 0; i < count; i++) {
    const key = keys[from + i]!
    const value = values[from + i]!
    const ascii = asciiLength(key)
    const k = ascii >= 0 ? ascii : Buffer.byteLength(key, "utf8")
    // Negative: not ASCII, written by Buffer#write.
    keyBytes[i] = ascii >= 0 ? k : -k
    // attributes (1) + timestamp delta 0 (1) + offset delta + key + value + header count 0 (1)
    const body =
      3 +
      sizeOfVarInt(i) +
      sizeOfVarInt(k) +
      k +
      (value === null ? 1 : sizeOfVarInt(value.byteLength) + value.byteLength)
    bodies[i] = body
    total += sizeOfVarInt(body) + body
  }
  const buffer = Buffer.allocUnsafe(total)
  let at = 0
  for (let i = 0; i < count; i++) {
    const key = keys[from + i]!
    const value = values[from + i]!
    at = writeVarInt(buffer, at, bodies[i]!)
    buffer[at++] = 0 // attributes
    buffer[at++] = 0 // timestamp delta
    at = writeVarInt(buffer, at, i)
    const k = keyBytes[i]!
    if (k >= 0) {
      at = writeVarInt(buffer, at, k)
      // Byte by byte: Buffer#write is a native call per key, a large part of a short record's encoding.
      for (let j = 0; j < k; j++) buffer[at + j] = key.charCodeAt(j)
      at += k
    } else {
      at = writeVarInt(buffer, at, -k)
      at += buffer.write(key, at, -k, "utf8")
    }
    if (value === null) {
      at = writeVarInt(buffer, at, -1)
    } else {
      at = writeVarInt(buffer, at, value.byteLength)
      buffer.set(value, at)
      at += value.byteLength
    }
    buffer[at++] = 0 // header count
  }
  return { buffer, count }
}
