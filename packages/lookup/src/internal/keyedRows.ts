/**
 * What the SQL lookups do with a batch's rows: decode them all at once and key
 * them by the lookup's `key`, as plain loops (no effect per row). A row that
 * does not decode fails the whole batch, not retryable: the table and the
 * decoder disagree, and asking again will not change that.
 */
import type { Schema } from "effect"
import { Effect, Result } from "effect"
import { LookupError, Unavailable } from "../LookupError.ts"
import * as RowDecoder from "../RowDecoder.ts"

/** How a lookup's options say to decode rows: a batch decoder, or a schema per row. */
export type Decoding<V> =
  | {
      /** Decodes the rows of a batch (fast: see `RowDecoder.struct`). */
      readonly decoder: RowDecoder.RowDecoder<V>
    }
  | {
      /** Decodes one row; the generic path, several times slower per row than a `RowDecoder`. */
      readonly schema: Schema.Decoder<V>
    }

export const keyedRows = <K, V>(
  name: string,
  decoding: Decoding<V>,
  key: (value: V) => K
): ((rows: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyMap<K, V>, LookupError>) => {
  const decoder = "decoder" in decoding ? decoding.decoder : RowDecoder.fromSchema(decoding.schema)
  return (rows) => {
    const decoded = decoder.decodeRows(rows)
    if (Result.isFailure(decoded)) {
      return Effect.fail(
        new LookupError({
          reason: new Unavailable({
            lookup: name,
            retryable: false,
            detail: `a row did not match the schema: ${decoded.failure}`,
            cause: undefined
          })
        })
      )
    }
    const byKey = new Map<K, V>()
    for (const value of decoded.success) byKey.set(key(value), value)
    return Effect.succeed(byKey)
  }
}
