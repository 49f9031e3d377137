/**
 * Conversions between record bytes and typed values. `json(schema)` reads
 * UTF-8 JSON and checks it against an Effect `Schema`; a record that fails
 * comes back as a `KafkaError` whose `Decode` reason is one readable line,
 * meant for the reason header of a dead letter, e.g.
 * `amount: Expected string, got 12.5; occurred_at: Missing key`.
 *
 * @since 0.1.0
 */
import { Effect, Schema, SchemaIssue } from "effect"
import * as KafkaError from "./KafkaError.ts"

/**
 * Turns values into record bytes and back.
 *
 * @since 0.1.0
 * @category models
 */
export interface Serde<A> {
  readonly encode: (value: A) => Effect.Effect<Uint8Array, KafkaError.KafkaError>
  /** `null` is a record without a value (a tombstone). */
  readonly decode: (bytes: Uint8Array | null) => Effect.Effect<A, KafkaError.KafkaError>
}

const utf8Decoder = new TextDecoder("utf-8", { fatal: true })
const utf8Encoder = new TextEncoder()

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (out, key) => (typeof key === "number" ? `${out}[${key}]` : out === "" ? String(key) : `${out}.${String(key)}`),
    ""
  )

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * One line listing every problem a schema found, each prefixed with the
 * path of the field it concerns.
 *
 * @since 0.1.0
 * @category utils
 */
export const describeSchemaError = (error: Schema.SchemaError): string =>
  formatIssues(error.issue)
    .issues.map(({ path, message }) => {
      const where = formatPath((path ?? []).map((p) => (typeof p === "object" && p !== null ? p.key : p)))
      return where === "" ? message : `${where}: ${message}`
    })
    .join("; ")

const text = (bytes: Uint8Array | null): Effect.Effect<string, KafkaError.KafkaError> =>
  bytes === null
    ? Effect.fail(KafkaError.decode("record has no value"))
    : Effect.try({
        try: () => utf8Decoder.decode(bytes),
        catch: (cause) => KafkaError.decode("value is not valid UTF-8", cause)
      })

/**
 * UTF-8 text.
 *
 * @since 0.1.0
 * @category constructors
 */
export const string: Serde<string> = {
  encode: (value) => Effect.succeed(utf8Encoder.encode(value)),
  decode: text
}

/**
 * JSON checked against `schema`: decoding parses the JSON and decodes it with
 * the schema (reporting every problem, not just the first); encoding runs the
 * schema's encoder and writes compact JSON.
 *
 * @since 0.1.0
 * @category constructors
 */
export const json = <A, I>(schema: Schema.Codec<A, I>): Serde<A> => {
  const decodeValue = Schema.decodeUnknownEffect(schema)
  const encodeValue = Schema.encodeEffect(schema)
  return {
    decode: (bytes) =>
      text(bytes).pipe(
        Effect.flatMap((source) =>
          Effect.try({
            try: (): unknown => JSON.parse(source),
            catch: (cause) =>
              KafkaError.decode(`invalid JSON: ${cause instanceof Error ? cause.message : String(cause)}`, cause)
          })
        ),
        Effect.flatMap((value) =>
          decodeValue(value, { errors: "all" }).pipe(
            Effect.mapError((error) => KafkaError.decode(describeSchemaError(error), error))
          )
        )
      ),
    encode: (value) =>
      encodeValue(value, { errors: "all" }).pipe(
        Effect.mapError((error) => KafkaError.encode(describeSchemaError(error), error)),
        Effect.flatMap((encoded) =>
          Effect.try({
            try: () => utf8Encoder.encode(JSON.stringify(encoded)),
            catch: (cause) => KafkaError.encode(cause instanceof Error ? cause.message : String(cause), cause)
          })
        )
      )
  }
}
