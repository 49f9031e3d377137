/**
 * Decoding and encoding of JSON record values for any job's models: UTF-8
 * checked strictly, the fields a model names as decimals kept as decimal text
 * in both directions, and decode failures classified for dead-letter reasons.
 *
 * @since 0.1.0
 */
import { Result, Schema, SchemaIssue } from "effect"
import { InvalidEvent, RunnerError } from "../RunnerError.ts"
import { numberText, parseKeepingNumberText, stringifyWithNumberText } from "./Json.ts"

/**
 * Options shared by `decoder` and `encoder`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Fields whose JSON numbers are read and written through their decimal text. */
  readonly decimalFields?: ReadonlySet<string> | undefined
}

const none: ReadonlySet<string> = new Set()

const utf8 = new TextDecoder("utf-8", { fatal: true })
const utf8Encoder = new TextEncoder()
const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1()

const invalid = (kind: InvalidEvent["kind"], detail: string) =>
  Result.fail(new RunnerError({ reason: new InvalidEvent({ kind, detail }) }))

/**
 * A strict decoder of JSON bytes into `schema`'s type; a failure says which
 * check failed (size, UTF-8, JSON, fields).
 *
 * @since 0.1.0
 * @category constructors
 */
export const decoder = <S extends Schema.Codec<unknown, unknown>>(
  schema: S,
  options: Options & { readonly maxBytes?: number } = {}
) => {
  const decimalFields = options.decimalFields ?? none
  const decodeFields = Schema.decodeUnknownResult(schema as Schema.Codec<S["Type"], unknown>)
  const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY
  return (bytes: Uint8Array): Result.Result<S["Type"], RunnerError> => {
    // Checked before anything is parsed, so a huge value costs no more than its length.
    if (bytes.length > maxBytes) {
      return invalid("too-large", `the record value is ${bytes.length} bytes, more than the ${maxBytes} allowed`)
    }
    let text: string
    try {
      text = utf8.decode(bytes)
    } catch {
      return invalid("invalid-utf8", "the record value is not valid UTF-8")
    }
    let json: unknown
    try {
      json = parseKeepingNumberText(text, decimalFields)
    } catch (error) {
      return invalid("invalid-json", error instanceof Error ? error.message : String(error))
    }
    const decoded = decodeFields(json, { errors: "all" })
    if (Result.isSuccess(decoded)) return Result.succeed(decoded.success)
    const detail = formatIssue(decoded.failure.issue)
      .issues.map((i) => `${i.path?.map(String).join(".") || "(root)"}: ${i.message}`)
      .join("; ")
    return invalid("invalid-fields", detail)
  }
}

/**
 * An encoder of `schema`'s type into JSON bytes, decimals written exactly.
 *
 * @since 0.1.0
 * @category constructors
 */
export const encoder = <S extends Schema.Codec<unknown, unknown>>(schema: S, options: Options = {}) => {
  const decimalFields = options.decimalFields ?? none
  const encodeFields = Schema.encodeSync(schema as Schema.Codec<S["Type"], unknown>)
  return (value: S["Type"]): Uint8Array =>
    utf8Encoder.encode(stringifyWithNumberText(encodeFields(value), decimalFields))
}

/**
 * Writes an object already in its encoded form (see `decimal`) as JSON bytes,
 * for encoders of typed values that need no schema pass.
 *
 * @since 0.1.0
 * @category encoding
 */
export const writeJson = (encoded: object): Uint8Array => utf8Encoder.encode(JSON.stringify(encoded))

/**
 * A decimal's text, written by `writeJson` verbatim as a JSON number.
 *
 * @since 0.1.0
 * @category encoding
 */
export const decimal: (text: string) => unknown = numberText
