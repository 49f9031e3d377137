/**
 * Cuts a chunk of raw records into consecutive slices of about `maxBytes`
 * of values each (a record larger than that is a slice of its own), so the
 * router works through a big chunk a slice at a time.
 *
 * Why: the source hands over up to its buffer size (1,024 records) at once,
 * about 9 MB at 8 KB a record. Routed whole, every record's parsed tree and
 * output text are alive together (tens of MB, beyond the young generation,
 * so they are promoted and collected by full mark-compacts), and the chunk
 * became one produce request of 9 MB, which the Kafka client encodes by
 * doubling and copying its buffers. A slice of about 1 MB keeps both close to
 * what one fetched batch of a partition is.
 *
 * @since 0.1.0
 */
import type { Envelope } from "@sluice/core"

/**
 * Bytes of values per slice by default: about one fetched batch of a
 * partition (the source asks for 1 MiB per partition).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxBytes = 1024 * 1024

const sizeOf = (value: Envelope.Payload): number =>
  value === null ? 0 : typeof value === "string" ? value.length : value.byteLength

/**
 * The slices of `chunk`, in order; the chunk itself when it fits in one.
 *
 * @since 0.1.0
 * @category slicing
 */
export const slices = <A extends { readonly value: Envelope.Payload }>(
  chunk: ReadonlyArray<A>,
  maxBytes: number = defaultMaxBytes
): ReadonlyArray<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  let start = 0
  let bytes = 0
  for (let i = 0; i < chunk.length; i++) {
    const size = sizeOf(chunk[i]!.value)
    if (i > start && bytes + size > maxBytes) {
      out.push(chunk.slice(start, i))
      start = i
      bytes = 0
    }
    bytes += size
  }
  if (start === 0) return [chunk]
  out.push(chunk.slice(start))
  return out
}
