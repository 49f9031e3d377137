// Schema parsing and compatibility rules of the embedded registry: Avro via
// avsc's schema resolution, JSON Schema via a structural subset.
import avro from "avsc"

/** The schema languages the registry accepts. */
export type SchemaType = "AVRO" | "JSON"

/** The compatibility levels, as the registry's config endpoints spell them. */
export const levels = [
  "NONE",
  "BACKWARD",
  "BACKWARD_TRANSITIVE",
  "FORWARD",
  "FORWARD_TRANSITIVE",
  "FULL",
  "FULL_TRANSITIVE"
] as const

export type Level = (typeof levels)[number]

export const isLevel = (value: unknown): value is Level => typeof value === "string" && levels.some((l) => l === value)

/** A parsed schema: its canonical text (what "same schema" compares) and its tree. */
export interface Parsed {
  readonly canonical: string
  readonly tree: unknown
}

const errorText = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/** Parses and validates a schema; a string result is why it is invalid. */
export const parse = (type: SchemaType, text: string): Parsed | string => {
  let tree: unknown
  try {
    tree = JSON.parse(text)
  } catch (cause) {
    return `Invalid schema: not JSON (${errorText(cause)})`
  }
  if (type === "AVRO") {
    try {
      avro.Type.forSchema(tree as avro.Schema)
    } catch (cause) {
      return `Invalid schema: ${errorText(cause)}`
    }
  } else if (typeof tree !== "boolean" && (typeof tree !== "object" || tree === null || Array.isArray(tree))) {
    return "Invalid schema: a JSON Schema is an object or a boolean"
  }
  // Whitespace and formatting do not make a different schema.
  return { canonical: JSON.stringify(tree), tree }
}

const avroProblems = (reader: unknown, writer: unknown): ReadonlyArray<string> => {
  try {
    avro.Type.forSchema(reader as avro.Schema).createResolver(avro.Type.forSchema(writer as avro.Schema))
    return []
  } catch (cause) {
    return [errorText(cause)]
  }
}

type Json = { readonly [key: string]: unknown }

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

const typesOf = (schema: Json): ReadonlyArray<string> | undefined => {
  const type = schema.type
  if (typeof type === "string") return [type]
  if (Array.isArray(type)) return type.filter((t): t is string => typeof t === "string")
  return undefined
}

const stringList = (value: unknown): ReadonlyArray<string> =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : []

// Whether every value valid under `writer` is valid under `reader`, for the
// parts of JSON Schema that schemas of records use: types, properties,
// required, closed objects (additionalProperties false), enums and items.
const jsonProblems = (reader: unknown, writer: unknown, path: string): ReadonlyArray<string> => {
  if (reader === true || (isObject(reader) && Object.keys(reader).length === 0)) return []
  if (reader === false) return writer === false ? [] : [`${path}: the new schema accepts nothing`]
  if (!isObject(reader)) return []
  const w: Json = isObject(writer) ? writer : {}
  const problems: Array<string> = []
  const readerTypes = typesOf(reader)
  const writerTypes = typesOf(w)
  if (readerTypes !== undefined) {
    const accepted = (t: string) => readerTypes.includes(t) || (t === "integer" && readerTypes.includes("number"))
    if (writerTypes === undefined) problems.push(`${path}: type narrowed to ${readerTypes.join("|")}`)
    else
      for (const t of writerTypes)
        if (!accepted(t)) problems.push(`${path}: type changed from ${t} to ${readerTypes.join("|")}`)
  }
  if (Array.isArray(reader.enum)) {
    const allowed = reader.enum.map((v) => JSON.stringify(v))
    const before = Array.isArray(w.enum) ? w.enum.map((v) => JSON.stringify(v)) : undefined
    if (before === undefined) problems.push(`${path}: enum added`)
    else for (const v of before) if (!allowed.includes(v)) problems.push(`${path}: enum value ${v} removed`)
  }
  const readerProps = isObject(reader.properties) ? reader.properties : {}
  const writerProps = isObject(w.properties) ? w.properties : {}
  const writerRequired = stringList(w.required)
  for (const name of stringList(reader.required)) {
    const property = readerProps[name]
    const hasDefault = isObject(property) && "default" in property
    if (!writerRequired.includes(name) && !hasDefault) {
      problems.push(`${path}.${name}: required property added without a default`)
    }
  }
  if (reader.additionalProperties === false) {
    for (const name of Object.keys(writerProps)) {
      if (!(name in readerProps)) problems.push(`${path}.${name}: property removed from a closed schema`)
    }
    if (w.additionalProperties !== false) problems.push(`${path}: schema closed to additional properties`)
  }
  for (const [name, property] of Object.entries(readerProps)) {
    if (name in writerProps) problems.push(...jsonProblems(property, writerProps[name], `${path}.${name}`))
  }
  if (reader.items !== undefined && w.items !== undefined) {
    problems.push(...jsonProblems(reader.items, w.items, `${path}[]`))
  }
  return problems
}

/** Why data written with `writer` cannot be read with `reader`; empty when it can. */
export const readProblems = (type: SchemaType, reader: unknown, writer: unknown): ReadonlyArray<string> =>
  type === "AVRO" ? avroProblems(reader, writer) : jsonProblems(reader, writer, "#")

/**
 * Why `candidate` breaks `level` against `existing` (oldest first); empty
 * when it does not. Non-transitive levels look at the latest schema only.
 */
export const check = (
  type: SchemaType,
  level: Level,
  candidate: unknown,
  existing: ReadonlyArray<unknown>
): ReadonlyArray<string> => {
  if (level === "NONE" || existing.length === 0) return []
  const against = level.endsWith("_TRANSITIVE") ? existing : existing.slice(-1)
  const backward = level.startsWith("BACKWARD") || level.startsWith("FULL")
  const forward = level.startsWith("FORWARD") || level.startsWith("FULL")
  return against.flatMap((previous) => [
    ...(backward ? readProblems(type, candidate, previous).map((p) => `new schema cannot read old data: ${p}`) : []),
    ...(forward ? readProblems(type, previous, candidate).map((p) => `old schema cannot read new data: ${p}`) : [])
  ])
}
