/**
 * JSON that keeps numbers exact. Debezium writes `int64` columns (and
 * `NanoTimestamp`s) as JSON numbers that can exceed 2^53, and decimals in
 * `double` mode as JSON numbers whose text is the value Debezium meant.
 * `JSON.parse` rounds both to the nearest binary double before any schema sees
 * them. `parse` reads the number's source text instead (the `context.source`
 * argument of the reviver, available since Node 21):
 *
 * - an integer outside the safe range becomes a `bigint`, exactly;
 * - for the keys named in `capture`, the source text of a number is kept on
 *   the side, so a decimal codec can read `0.10000000000000000001` as written.
 *
 * `stringify` is the reverse: a `bigint` is written as a bare JSON number.
 * `column` is the codec of a `json`/`jsonb` column.
 *
 * @since 0.1.0
 */
import { Result, Schema } from "effect"
import * as ConnectSchema from "./ConnectSchema.ts"
import { fallible } from "./internal/codec.ts"

/**
 * A parsed JSON document plus the source text of the captured numbers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Parsed {
  readonly value: unknown
  /** The source text of the number at `holder[key]`, when `key` was captured. */
  readonly sourceOf: (holder: object, key: string) => string | undefined
}

interface ReviverContext {
  readonly source?: string
}

const integerText = /^-?\d+$/

const noSources: Parsed["sourceOf"] = () => undefined

// A digit run that may be an integer past 2^53: 17 digits or more, or 16
// starting with 9 (2^53 is 9007199254740992). Anything else is a safe
// integer, or not an integer, for which `JSON.parse` alone is exact.
const mayBeUnsafeInteger = /\d{17}|9\d{15}/

/**
 * Whether `JSON.parse` alone gives what `parseExact` would: no number that
 * may be an unsafe integer, and no captured key in the text. A key may be
 * written with escapes, so any backslash counts as a possible captured key.
 * Errs towards `false`, which only costs time.
 */
const plainEnough = (text: string, capture: ReadonlySet<string> | undefined): boolean => {
  if (mayBeUnsafeInteger.test(text)) return false
  if (capture === undefined || capture.size === 0) return true
  if (text.includes("\\")) return false
  for (const key of capture) if (text.includes(`"${key}"`)) return false
  return true
}

/**
 * Parses JSON text; throws `SyntaxError` like `JSON.parse` on bad input.
 * Text without a possibly unsafe integer or a captured key (most change
 * events: their micro timestamps have 16 digits) is parsed by `JSON.parse`
 * alone, without the reviver, which costs a function call per value.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (text: string, capture?: ReadonlySet<string>): Parsed =>
  plainEnough(text, capture) ? { value: JSON.parse(text), sourceOf: noSources } : parseExact(text, capture)

/**
 * `parse` always through the reviver, reading every number's source text;
 * `parse` takes this path only when it needs to (exported for its tests).
 *
 * @since 0.3.0
 * @category parsing
 */
export const parseExact = (text: string, capture?: ReadonlySet<string>): Parsed => {
  const sources = new WeakMap<object, Map<string, string>>()
  const value: unknown = JSON.parse(
    text,
    function (this: unknown, key: string, value: unknown, context?: ReviverContext): unknown {
      if (typeof value !== "number" || context?.source === undefined) return value
      const source = context.source
      if (!Number.isSafeInteger(value) && integerText.test(source)) return BigInt(source)
      if (capture?.has(key) && typeof this === "object" && this !== null) {
        let byKey = sources.get(this)
        if (byKey === undefined) {
          byKey = new Map()
          sources.set(this, byKey)
        }
        byKey.set(key, source)
      }
      return value
    }
  )
  return { value, sourceOf: (holder, key) => sources.get(holder)?.get(key) }
}

interface RawJson {
  readonly rawJSON: (text: string) => unknown
}

// `JSON.rawJSON` is in Node 21+, not yet in TypeScript's lib.
const rawJSON = (JSON as unknown as RawJson).rawJSON

/**
 * Writes JSON text; `bigint`s become bare JSON numbers with all their digits.
 *
 * @since 0.1.0
 * @category formatting
 */
export const stringify = (value: unknown): string | undefined =>
  JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? rawJSON(v.toString()) : v))

/**
 * A `json`/`jsonb` column (`io.debezium.data.Json`): Debezium writes the
 * document as a JSON string; this codec decodes it to the JSON value (exact
 * numbers as in `parse`) and encodes it back to text.
 *
 * @since 0.1.0
 * @category codecs
 */
export const column: Schema.Codec<unknown, string> = ConnectSchema.annotate(
  fallible(
    Schema.String,
    Schema.Unknown,
    (text) => {
      try {
        return Result.succeed(parse(text).value)
      } catch {
        return Result.fail("expected a JSON document")
      }
    },
    (value) => {
      const text = stringify(value)
      return text === undefined ? Result.fail("not a JSON value") : Result.succeed(text)
    }
  ),
  { type: "string", name: "io.debezium.data.Json", version: 1 }
)
