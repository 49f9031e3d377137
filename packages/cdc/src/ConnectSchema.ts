/**
 * Kafka Connect schemas, the `schema` half of a record written with
 * `schemas.enable=true`. Decoding reads them for one thing a bare payload
 * cannot say: the scale of a `precise` decimal. Encoding writes them, so a
 * consumer configured for Debezium's schema-carrying JSON reads our records.
 *
 * Field codecs of this package carry their Connect type; plain `effect/Schema`
 * primitives are mapped (`String` → `string`, `Number` → `double`, `Int` →
 * `int64`, `BigInt` → `int64`, `Boolean` → `boolean`), and `annotate` gives a
 * type to any other field schema.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * A Connect type: a primitive, or a named logical type on top of one
 * (`org.apache.kafka.connect.data.Decimal` on `bytes`, `io.debezium.time.Date`
 * on `int32`...).
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectType {
  readonly type: string
  readonly optional?: boolean
  readonly name?: string
  readonly version?: number
  readonly parameters?: Readonly<Record<string, string>>
  readonly fields?: ReadonlyArray<ConnectField>
}

/**
 * A field of a Connect `struct`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectField extends ConnectType {
  readonly field: string
}

const registry = new WeakMap<object, ConnectType>()

/**
 * Declares the Connect type a field schema is written with; returns the schema.
 *
 * @since 0.1.0
 * @category annotations
 */
export const annotate = <S extends Schema.Top>(schema: S, type: ConnectType): S => {
  registry.set(schema, type)
  return schema
}

annotate(Schema.String, { type: "string" })
annotate(Schema.Number, { type: "double" })
annotate(Schema.Finite, { type: "double" })
annotate(Schema.Int, { type: "int64" })
annotate(Schema.BigInt, { type: "int64" })
annotate(Schema.Boolean, { type: "boolean" })

const isNull = (s: object): boolean => s === Schema.Null

/**
 * The Connect type of a field schema, or `undefined` when none is known.
 * `Schema.NullOr(x)` is `x` made optional.
 *
 * @since 0.1.0
 * @category getters
 */
export const typeOf = (schema: object): ConnectType | undefined => {
  const direct = registry.get(schema)
  if (direct !== undefined) return direct
  const members = (schema as { readonly members?: ReadonlyArray<object> }).members
  if (Array.isArray(members) && members.length === 2 && members.some(isNull)) {
    const inner = members.find((m) => !isNull(m))
    const type = inner === undefined ? undefined : typeOf(inner)
    return type === undefined ? undefined : { ...type, optional: true }
  }
  return undefined
}

/**
 * Reads a `schema` object loosely: the fields of a struct, or `undefined` when
 * it is not one.
 *
 * @since 0.1.0
 * @category getters
 */
export const structFields = (schema: unknown): ReadonlyArray<ConnectField> | undefined => {
  if (typeof schema !== "object" || schema === null) return undefined
  const fields = (schema as { readonly fields?: unknown }).fields
  if (!Array.isArray(fields)) return undefined
  return fields.filter(
    (f): f is ConnectField => typeof f === "object" && f !== null && typeof (f as ConnectField).field === "string"
  )
}

/**
 * The field called `name` of a struct schema.
 *
 * @since 0.1.0
 * @category getters
 */
export const field = (schema: unknown, name: string): ConnectField | undefined =>
  structFields(schema)?.find((f) => f.field === name)
