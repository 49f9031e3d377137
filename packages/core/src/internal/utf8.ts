/**
 * UTF-8 encoding of the short strings the operators write: keys, small JSON
 * state values, dead-letter headers.
 *
 * `TextEncoder.encode` allocates a fresh `ArrayBuffer` for every call; on
 * Node, `Buffer.from(s, "utf8")` slices small results out of a shared pool
 * instead. For 30-byte strings `node packages/core/bench/utf8.bench.ts` measured
 * 0.05–0.21 of the standard encoder's time per string, and the pool
 * adds far less garbage, which is what the per-record state paths produce.
 * Off Node, the standard encoder is used. Callers must respect `byteOffset`
 * (a pooled result is a view into a larger buffer), as every reader in the
 * project does.
 */
interface NodeBufferLike {
  from(text: string, encoding: "utf8"): Uint8Array
}

const nodeBuffer = (globalThis as { readonly Buffer?: NodeBufferLike }).Buffer
const encoder = new TextEncoder()

/** @internal */
export const encodeUtf8: (text: string) => Uint8Array =
  nodeBuffer !== undefined ? (text) => nodeBuffer.from(text, "utf8") : (text) => encoder.encode(text)
