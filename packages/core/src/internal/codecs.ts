// Byte codecs for the accumulators of the built-in aggregators and for the
// operators' own state entries. Plain bytes rather than JSON: accumulators
// hold infinities (an empty min) and sets, which JSON does not keep.
import { BigDecimal } from "effect"
import type { Codec } from "../StateStore.ts"
import { encodeUtf8 } from "./utf8.ts"

const decoder = new TextDecoder()

export const float64: Codec<number> = {
  encode: (value) => {
    const bytes = new Uint8Array(8)
    new DataView(bytes.buffer).setFloat64(0, value)
    return bytes
  },
  decode: (bytes) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat64(0)
}

export const text: Codec<string> = {
  encode: (value) => encodeUtf8(value),
  decode: (bytes) => decoder.decode(bytes)
}

export const bigDecimal: Codec<BigDecimal.BigDecimal> = {
  encode: (value) => encodeUtf8(BigDecimal.format(value)),
  decode: (bytes) => BigDecimal.fromStringUnsafe(decoder.decode(bytes))
}

export const stringSet: Codec<Set<string>> = {
  encode: (value) => encodeUtf8(JSON.stringify([...value])),
  decode: (bytes) => new Set(JSON.parse(decoder.decode(bytes)) as Array<string>)
}

// A list of byte strings, each prefixed by its length (4 bytes, big-endian).
export const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  let length = 0
  for (const p of parts) length += 4 + p.length
  const out = new Uint8Array(length)
  const view = new DataView(out.buffer)
  let at = 0
  for (const p of parts) {
    view.setUint32(at, p.length)
    out.set(p, at + 4)
    at += 4 + p.length
  }
  return out
}

export const split = (bytes: Uint8Array): Array<Uint8Array> => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const parts: Array<Uint8Array> = []
  for (let at = 0; at < bytes.length; ) {
    const length = view.getUint32(at)
    parts.push(bytes.subarray(at + 4, at + 4 + length))
    at += 4 + length
  }
  return parts
}

export const tuple = <A, B>(a: Codec<A>, b: Codec<B>): Codec<readonly [A, B]> => ({
  encode: ([x, y]) => concat([a.encode(x), b.encode(y)]),
  decode: (bytes) => {
    const [x, y] = split(bytes)
    return [a.decode(x!), b.decode(y!)]
  }
})
