// Decoding and encoding of JSON record values shared by the claims models:
// UTF-8 checked strictly, amounts kept as decimal text in both directions,
// and decode failures classified for dead-letter reasons.
import { Result, Schema, SchemaIssue } from "effect"
import { InvalidEvent, RunnerError } from "../RunnerError.ts"
import { numberText, parseKeepingNumberText, stringifyWithNumberText } from "./json.ts"

/** Fields whose JSON numbers are read and written through their decimal text. */
export const decimalFields: ReadonlySet<string> = new Set(["payment_amount", "claim_amount"])

const utf8 = new TextDecoder("utf-8", { fatal: true })
const utf8Encoder = new TextEncoder()
const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1()

const invalid = (kind: InvalidEvent["kind"], detail: string) =>
  Result.fail(new RunnerError({ reason: new InvalidEvent({ kind, detail }) }))

export const decoder = <S extends Schema.Codec<unknown, unknown>>(
  schema: S,
  options: { readonly maxBytes?: number } = {}
) => {
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

export const encoder = <S extends Schema.Codec<unknown, unknown>>(schema: S) => {
  const encodeFields = Schema.encodeSync(schema as Schema.Codec<S["Type"], unknown>)
  return (value: S["Type"]): Uint8Array =>
    utf8Encoder.encode(stringifyWithNumberText(encodeFields(value), decimalFields))
}

/**
 * Writes an object already in its encoded form (see `decimal`) as JSON bytes,
 * for encoders of typed values that need no schema pass.
 */
export const writeJson = (encoded: object): Uint8Array => utf8Encoder.encode(JSON.stringify(encoded))

/** A decimal's text, written by `writeJson` verbatim as a JSON number. */
export const decimal: (text: string) => unknown = numberText
