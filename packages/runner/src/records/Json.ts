/**
 * JSON helpers that keep decimal amounts exact in both directions. Reading:
 * the reviver's third argument (JSON.parse source text access, in V8 since
 * 11.4) gives the literal text of a number, so `0.10` arrives as "0.10" and
 * never passes through a double. Writing: `JSON.rawJSON` emits the decimal
 * text as a JSON number without going through a double either.
 *
 * A reviver is called back for every value of the document, which costs more
 * than the parse itself on small records. Most records name each decimal key
 * once, as a key of the top-level object, and have no escapes; for those the
 * number's text is read straight from the document after a plain parse (see
 * `numberTextAt`). Anything else goes through the reviver.
 *
 * @since 0.1.0
 */

interface ReviverContext {
  readonly source?: string
}

type Reviver = (this: unknown, key: string, value: unknown, context?: ReviverContext) => unknown

const parseJson = JSON.parse as (text: string, reviver?: Reviver) => unknown
const rawJson = (JSON as unknown as { readonly rawJSON: (text: string) => unknown }).rawJSON

const parseWithReviver = (text: string, keys: ReadonlySet<string>): unknown =>
  parseJson(text, (key, value, context) =>
    typeof value === "number" && keys.has(key) && context?.source !== undefined ? context.source : value
  )

// A JSON number as the grammar writes it, after the key's colon.
const numberAfterColon = /\s*:\s*(-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/y

// Where the document has no backslash, every `"` delimits a string, so the
// quoted key occurs only as a string token; occurring once in all, and being
// a key of the top-level object, that occurrence is the top-level key and
// there is no other value under that key anywhere in the document.
const onlyOccurrence = (text: string, token: string): number | undefined => {
  const at = text.indexOf(token)
  return at < 0 || text.indexOf(token, at + 1) >= 0 ? undefined : at
}

/**
 * Parses JSON; numbers under any of `keys` become their source text.
 *
 * @since 0.1.0
 * @category json
 */
export const parseKeepingNumberText = (text: string, keys: ReadonlySet<string>): unknown => {
  const parsed = parseJson(text)
  if (typeof parsed !== "object" || parsed === null) return parsed
  if (text.includes("\\")) return parseWithReviver(text, keys)
  const fields = parsed as Record<string, unknown>
  for (const key of keys) {
    const token = `"${key}"`
    if (!text.includes(token)) continue
    const at = Array.isArray(parsed) || !Object.hasOwn(fields, key) ? undefined : onlyOccurrence(text, token)
    if (at === undefined) return parseWithReviver(text, keys)
    const value = fields[key]
    if (typeof value !== "number") continue
    numberAfterColon.lastIndex = at + token.length
    const source = numberAfterColon.exec(text)?.[1]
    if (source === undefined || Number(source) !== value) return parseWithReviver(text, keys)
    fields[key] = source
  }
  return parsed
}

/**
 * Serialises JSON; string values under any of `keys` are written verbatim as JSON numbers.
 *
 * @since 0.1.0
 * @category json
 */
export const stringifyWithNumberText = (value: unknown, keys: ReadonlySet<string>): string =>
  JSON.stringify(value, (key, v: unknown) => (typeof v === "string" && keys.has(key) ? rawJson(v) : v))

/**
 * A decimal's text as a value that `JSON.stringify` writes verbatim as a JSON
 * number, for encoders that build the object to write themselves.
 *
 * @since 0.1.0
 * @category json
 */
export const numberText = (text: string): unknown => rawJson(text)
