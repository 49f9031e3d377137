/**
 * JSON records checked against a JSON Schema kept in a schema registry, in
 * the Confluent wire format (magic byte, schema id, then UTF-8 JSON).
 * Encoding runs the Effect codec's encoder, checks the result against the
 * serde's JSON Schema, registers that schema under the topic's subject once
 * (or only looks it up, with `autoRegister: false`) and frames the JSON with
 * its id. Decoding fetches the writer's schema by the record's id once,
 * checks the JSON against it, then decodes it with the codec.
 *
 * JSON Schema is checked with Ajv (draft-07, every problem reported). A
 * record that fails (not framed, unknown id, not JSON, not matching the
 * writer's schema or the codec) is a `KafkaError` with a `Decode` reason,
 * fit for a dead letter.
 *
 * @since 0.1.0
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv"
import { Effect, Schema } from "effect"
import * as ConfluentWire from "./ConfluentWire.ts"
import * as KafkaError from "./KafkaError.ts"
import * as SchemaRegistry from "./SchemaRegistry.ts"
import type { Serde } from "./Serde.ts"
import { describeSchemaError } from "./Serde.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<A, I> {
  /** The topic the serde writes and reads; it names the subject. */
  readonly topic: string
  /** The JSON Schema records are written with: parsed, or its text. */
  readonly schema: object | string
  /** Types the values: what it encodes to must match `schema`. */
  readonly codec: Schema.Codec<A, I>
  /** Whether the serde is for keys; values by default. */
  readonly isKey?: boolean | undefined
  /** `TopicNameStrategy` by default; the record strategies use the schema's `title`. */
  readonly subjectNameStrategy?: SchemaRegistry.SubjectNameStrategy | undefined
  /** Register the schema on first use (default true); when false it must be registered already. */
  readonly autoRegister?: boolean | undefined
  /** Writer schemas kept, by id; 100 by default. */
  readonly maxWriterSchemas?: number | undefined
}

const message = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

const describeErrors = (errors: ReadonlyArray<ErrorObject> | null | undefined): string =>
  (errors ?? [])
    .map((e) => {
      const where = e.instancePath === "" ? "" : `${e.instancePath.slice(1).replaceAll("/", ".")}: `
      return `${where}${e.message ?? e.keyword}`
    })
    .join("; ")

const utf8Decoder = new TextDecoder("utf-8", { fatal: true })
const utf8Encoder = new TextEncoder()

/**
 * A serde for JSON values with their JSON Schema in the registry.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function* <A, I>(
  options: Options<A, I>
): Effect.fn.Return<Serde<A>, KafkaError.KafkaError, SchemaRegistry.SchemaRegistry> {
  const registry = yield* SchemaRegistry.SchemaRegistry
  // One Ajv per serde: it keeps compiled schemas by their $id.
  const ajv = new Ajv({ allErrors: true, strict: false })
  const failMake = (detail: string, cause?: unknown) =>
    new KafkaError.KafkaError({
      operation: "JsonSchemaSerde.make",
      reason: new KafkaError.Encode({ detail }),
      ...(cause === undefined ? {} : { cause })
    })
  const text = typeof options.schema === "string" ? options.schema : JSON.stringify(options.schema)
  const own = yield* Effect.try({
    try: () => {
      const parsed: unknown = JSON.parse(text)
      return { parsed, validate: ajv.compile(parsed as object) }
    },
    catch: (cause) => failMake(`invalid JSON Schema: ${message(cause)}`, cause)
  })
  const title =
    typeof own.parsed === "object" && own.parsed !== null && "title" in own.parsed
      ? String(own.parsed.title)
      : undefined
  const subject = yield* Effect.try({
    try: () =>
      SchemaRegistry.subjectName(
        options.subjectNameStrategy ?? "TopicNameStrategy",
        options.topic,
        options.isKey ?? false,
        title
      ),
    catch: (cause) => failMake(message(cause), cause)
  })
  const definition: SchemaRegistry.SchemaDefinition = { schemaType: "JSON", schema: text }
  const schemaId =
    options.autoRegister === false
      ? Effect.map(registry.lookup(subject, definition), (found) => found.id)
      : registry.register(subject, definition)

  const maxWriters = options.maxWriterSchemas ?? 100
  const validators = new Map<number, ValidateFunction>()
  const validatorFor = (id: number): Effect.Effect<ValidateFunction, KafkaError.KafkaError> => {
    const known = validators.get(id)
    if (known !== undefined) return Effect.succeed(known)
    return registry.schemaById(id).pipe(
      Effect.catchIf(
        (error) => SchemaRegistry.errorCode(error) === 40403,
        () => Effect.fail(KafkaError.decode(`unknown schema id ${id}`))
      ),
      Effect.flatMap((writer) =>
        writer.schemaType !== "JSON"
          ? Effect.fail(KafkaError.decode(`schema id ${id} is ${writer.schemaType}, not JSON Schema`))
          : Effect.try({
              // The same text compiles to the serde's own validator.
              try: () => (writer.schema === text ? own.validate : ajv.compile(JSON.parse(writer.schema) as object)),
              catch: (cause) =>
                KafkaError.decode(`schema id ${id} is not a usable JSON Schema: ${message(cause)}`, cause)
            })
      ),
      Effect.tap((validate) =>
        Effect.sync(() => {
          if (validators.size >= maxWriters) validators.delete(validators.keys().next().value as number)
          validators.set(id, validate)
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
        if (!own.validate(encoded)) return yield* Effect.fail(KafkaError.encode(describeErrors(own.validate.errors)))
        const id = yield* schemaId
        return ConfluentWire.frame(id, utf8Encoder.encode(JSON.stringify(encoded)))
      }),
    decode: (bytes) =>
      Effect.gen(function* () {
        const framed = yield* ConfluentWire.unframe(bytes)
        const validate = yield* validatorFor(framed.schemaId)
        const json: unknown = yield* Effect.try({
          try: (): unknown => JSON.parse(utf8Decoder.decode(framed.payload)),
          catch: (cause) => KafkaError.decode(`invalid JSON: ${message(cause)}`, cause)
        })
        if (!validate(json)) {
          return yield* Effect.fail(
            KafkaError.decode(`does not match schema id ${framed.schemaId}: ${describeErrors(validate.errors)}`)
          )
        }
        return yield* decodeValue(json, { errors: "all" }).pipe(
          Effect.mapError((error) => KafkaError.decode(describeSchemaError(error), error))
        )
      })
  }
})
