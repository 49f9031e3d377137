/**
 * The Confluent wire format of a record value or key written with a schema
 * registry: a magic byte `0`, the schema id as a 4-byte big-endian integer,
 * then the payload in the schema's format (Avro binary, JSON text). Readers
 * find the writer's schema by that id, which is what lets a schema evolve
 * while old records stay readable.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import * as KafkaError from "./KafkaError.ts"

/**
 * The first byte of every framed record.
 *
 * @since 0.1.0
 * @category constants
 */
export const magicByte = 0

/**
 * Bytes before the payload: the magic byte and the schema id.
 *
 * @since 0.1.0
 * @category constants
 */
export const headerLength = 5

/**
 * A record split into the id of its writer's schema and its payload.
 *
 * @since 0.1.0
 * @category models
 */
export interface Framed {
  readonly schemaId: number
  /** A view into the record's bytes, not a copy. */
  readonly payload: Uint8Array
}

/**
 * Prefixes `payload` with the magic byte and `schemaId`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const frame = (schemaId: number, payload: Uint8Array): Uint8Array => {
  const out = Buffer.allocUnsafe(headerLength + payload.length)
  out[0] = magicByte
  out.writeUInt32BE(schemaId, 1)
  out.set(payload, headerLength)
  return out
}

/**
 * Splits a framed record; a missing value, a record shorter than the header
 * or another first byte is a decode error (the record was not written with
 * a registry-aware serializer).
 *
 * @since 0.1.0
 * @category destructors
 */
export const unframe = (bytes: Uint8Array | null): Effect.Effect<Framed, KafkaError.KafkaError> => {
  if (bytes === null) return Effect.fail(KafkaError.decode("record has no value"))
  if (bytes.length < headerLength) {
    return Effect.fail(KafkaError.decode(`record of ${bytes.length} bytes is shorter than the schema registry header`))
  }
  if (bytes[0] !== magicByte) {
    return Effect.fail(KafkaError.decode(`unknown magic byte ${bytes[0]}: not in the schema registry wire format`))
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return Effect.succeed({ schemaId: view.getUint32(1, false), payload: bytes.subarray(headerLength) })
}
