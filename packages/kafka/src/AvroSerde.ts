/**
 * Avro records in the Confluent wire format, with their schemas in a schema
 * registry. Encoding registers the schema under the topic's subject (or only
 * looks it up, with `autoRegister: false`) once, then frames each record
 * with its id. Decoding reads the writer's schema id from each record,
 * fetches that schema once, and resolves it against the serde's own schema,
 * so records written with an older or newer compatible schema read as the
 * current one.
 *
 * Logical types map to Effect values: `decimal` (over `bytes` or `fixed`) to
 * an exact `BigDecimal` (a value with more places than the scale, or more
 * digits than the precision, is refused, never rounded), `timestamp-millis`
 * to a `DateTime.Utc`.
 *
 * A record that cannot be read (not in the wire format, an id the registry
 * does not know, a payload that does not match its schema) fails with a
 * `KafkaError` whose reason is `Decode`, fit for a dead letter; a registry
 * that cannot be reached fails with a retryable reason instead.
 *
 * ```ts
 * import { BigDecimal, Effect, Schema } from "effect"
 * import { AvroSerde } from "@sluice/kafka"
 *
 * const Payment = Schema.Struct({ payment_id: Schema.String, payment_amount: Schema.BigDecimal })
 * const serde = AvroSerde.make({
 *   topic: "payment-events",
 *   schema: {
 *     type: "record",
 *     name: "Payment",
 *     fields: [
 *       { name: "payment_id", type: "string" },
 *       { name: "payment_amount", type: { type: "bytes", logicalType: "decimal", precision: 10, scale: 2 } }
 *     ]
 *   },
 *   codec: Payment
 * }) // Effect<Serde<Payment>, KafkaError, SchemaRegistry>
 * ```
 *
 * @since 0.1.0
 */
import avro from "avsc"
import { Effect, Schema } from "effect"
import * as ConfluentWire from "./ConfluentWire.ts"
import { forSchemaOptions } from "./internal/avroLogicalTypes.ts"
import * as KafkaError from "./KafkaError.ts"
import * as SchemaRegistry from "./SchemaRegistry.ts"
import type { Serde } from "./Serde.ts"
import { describeSchemaError } from "./Serde.ts"

/**
 * An Avro schema: parsed JSON, or its text.
 *
 * @since 0.1.0
 * @category models
 */
export type AvroSchema = avro.Schema | string

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<A, I> {
  /** The topic the serde writes and reads; it names the subject. */
  readonly topic: string
  /** The schema records are written with and read as. */
  readonly schema: AvroSchema
  /** Types the values: decoding checks what Avro produced, encoding runs its encoder first. */
  readonly codec: Schema.Codec<A, I>
  /** Whether the serde is for keys; values by default. */
  readonly isKey?: boolean | undefined
  /** `TopicNameStrategy` by default. */
  readonly subjectNameStrategy?: SchemaRegistry.SubjectNameStrategy | undefined
  /** Register the schema on first use (default true); when false it must be registered already. */
  readonly autoRegister?: boolean | undefined
  /** Writer schemas kept, by id; 100 by default. */
  readonly maxWriterSchemas?: number | undefined
}

// avsc does not export its resolver class by name.
type Resolver = ReturnType<avro.Type["createResolver"]>

const message = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/**
 * Parses an Avro schema with the serde's logical types.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parse = (schema: AvroSchema): avro.Type =>
  avro.Type.forSchema(typeof schema === "string" ? (JSON.parse(schema) as avro.Schema) : schema, forSchemaOptions())

// The first problem avsc finds in a value, with its path, for an encode error.
const invalidValue = (type: avro.Type, value: unknown): string | undefined => {
  let problem: string | undefined
  type.isValid(value, {
    errorHook: (path, bad) => {
      if (problem !== undefined) return
      const shown = typeof bad === "bigint" ? `${bad}n` : JSON.stringify(bad)
      problem = `${path.length === 0 ? "value" : path.join(".")}: ${shown === undefined ? String(bad) : shown} does not match the schema`
    }
  })
  return problem
}

/**
 * A serde for Avro records with their schema in the registry.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function* <A, I>(
  options: Options<A, I>
): Effect.fn.Return<Serde<A>, KafkaError.KafkaError, SchemaRegistry.SchemaRegistry> {
  const registry = yield* SchemaRegistry.SchemaRegistry
  const type = yield* Effect.try({
    try: () => parse(options.schema),
    catch: (cause) =>
      new KafkaError.KafkaError({
        operation: "AvroSerde.make",
        reason: new KafkaError.Encode({ detail: `invalid Avro schema: ${message(cause)}` }),
        cause
      })
  })
  const definition: SchemaRegistry.SchemaDefinition = {
    schemaType: "AVRO",
    schema: typeof options.schema === "string" ? options.schema : JSON.stringify(options.schema)
  }
  const subject = yield* Effect.try({
    try: () =>
      SchemaRegistry.subjectName(
        options.subjectNameStrategy ?? "TopicNameStrategy",
        options.topic,
        options.isKey ?? false,
        type.name
      ),
    catch: (cause) =>
      new KafkaError.KafkaError({
        operation: "AvroSerde.make",
        reason: new KafkaError.Encode({ detail: message(cause) }),
        cause
      })
  })
  // The registry client caches the id, so this is one request per serde.
  const schemaId =
    options.autoRegister === false
      ? Effect.map(registry.lookup(subject, definition), (found) => found.id)
      : registry.register(subject, definition)

  // Resolvers by writer id, bounded: a topic has few writer schemas.
  const maxWriters = options.maxWriterSchemas ?? 100
  const resolvers = new Map<number, Resolver | null>()
  const resolverFor = (id: number): Effect.Effect<Resolver | null, KafkaError.KafkaError> => {
    const known = resolvers.get(id)
    if (known !== undefined) return Effect.succeed(known)
    return registry.schemaById(id).pipe(
      Effect.catchIf(
        (error) => SchemaRegistry.errorCode(error) === 40403,
        () => Effect.fail(KafkaError.decode(`unknown schema id ${id}`))
      ),
      Effect.flatMap((writer) => {
        if (writer.schemaType !== "AVRO") {
          return Effect.fail(KafkaError.decode(`schema id ${id} is ${writer.schemaType}, not Avro`))
        }
        return Effect.try({
          try: () => {
            const writerType = parse(writer.schema)
            // The same schema reads without resolution, which is faster.
            return writerType.equals(type) ? null : type.createResolver(writerType)
          },
          catch: (cause) => KafkaError.decode(`schema id ${id} cannot be read as ${subject}: ${message(cause)}`, cause)
        })
      }),
      Effect.tap((resolver) =>
        Effect.sync(() => {
          if (resolvers.size >= maxWriters) resolvers.delete(resolvers.keys().next().value as number)
          resolvers.set(id, resolver)
        })
      )
    )
  }

  const decodeValue = Schema.decodeUnknownEffect(options.codec)
  const encodeValue = Schema.encodeEffect(options.codec)

  return {
    encode: (value) =>
      Effect.gen(function* () {
        const encoded = yield* encodeValue(value, { errors: "all" }).pipe(
          Effect.mapError((error) => KafkaError.encode(describeSchemaError(error), error))
        )
        const id = yield* schemaId
        const payload = yield* Effect.try({
          try: () => type.toBuffer(encoded),
          catch: (cause) => KafkaError.encode(invalidValue(type, encoded) ?? message(cause), cause)
        })
        return ConfluentWire.frame(id, payload)
      }),
    decode: (bytes) =>
      Effect.gen(function* () {
        const framed = yield* ConfluentWire.unframe(bytes)
        const resolver = yield* resolverFor(framed.schemaId)
        const buffer = Buffer.from(framed.payload.buffer, framed.payload.byteOffset, framed.payload.byteLength)
        const value: unknown = yield* Effect.try({
          try: (): unknown => (resolver === null ? type.fromBuffer(buffer) : type.fromBuffer(buffer, resolver)),
          catch: (cause) =>
            KafkaError.decode(`payload does not match schema id ${framed.schemaId}: ${message(cause)}`, cause)
        })
        return yield* decodeValue(value, { errors: "all" }).pipe(
          Effect.mapError((error) => KafkaError.decode(describeSchemaError(error), error))
        )
      })
  }
})
