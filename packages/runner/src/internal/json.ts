// JSON helpers that keep decimal amounts exact in both directions. Reading:
// the reviver's third argument (JSON.parse source text access, in V8 since
// 11.4) gives the literal text of a number, so `0.10` arrives as "0.10" and
// never passes through a double. Writing: `JSON.rawJSON` emits the decimal
// text as a JSON number without going through a double either.

interface ReviverContext {
  readonly source?: string
}

type Reviver = (this: unknown, key: string, value: unknown, context?: ReviverContext) => unknown

const parseJson = JSON.parse as (text: string, reviver: Reviver) => unknown
const rawJson = (JSON as unknown as { readonly rawJSON: (text: string) => unknown }).rawJSON

/** Parses JSON; numbers under any of `keys` become their source text. */
export const parseKeepingNumberText = (text: string, keys: ReadonlySet<string>): unknown =>
  parseJson(text, (key, value, context) =>
    typeof value === "number" && keys.has(key) && context?.source !== undefined ? context.source : value
  )

/** Serialises JSON; string values under any of `keys` are written verbatim as JSON numbers. */
export const stringifyWithNumberText = (value: unknown, keys: ReadonlySet<string>): string =>
  JSON.stringify(value, (key, v: unknown) => (typeof v === "string" && keys.has(key) ? rawJson(v) : v))
