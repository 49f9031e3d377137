/**
 * Text parsers shared by environment variables and CLI flags, so a value is
 * accepted or rejected the same way whichever way it was given. Each returns
 * the value or the phrase that completes "expected ...".
 *
 * @since 0.1.0
 */
import { Duration, Redacted } from "effect"

/**
 * A parsed value, or the phrase that completes "expected ...".
 *
 * @since 0.1.0
 * @category models
 */
export type Parsed<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly expected: string }

/**
 * A text parser.
 *
 * @since 0.1.0
 * @category models
 */
export type Parser<A> = (text: string) => Parsed<A>

const ok = <A>(value: A): Parsed<A> => ({ ok: true, value })
const expected = (what: string): Parsed<never> => ({ ok: false, expected: what })

/**
 * Any non-blank text, trimmed.
 *
 * @since 0.1.0
 * @category parsers
 */
export const nonEmpty: Parser<string> = (text) => (text.trim() === "" ? expected("a non-empty value") : ok(text.trim()))

/**
 * A Kafka topic name.
 *
 * @since 0.1.0
 * @category parsers
 */
export const topic: Parser<string> = (text) =>
  /^[A-Za-z0-9._-]{1,249}$/.test(text) ? ok(text) : expected("a Kafka topic name: letters, digits, '.', '_' or '-'")

/**
 * A comma-separated list of host:port.
 *
 * @since 0.1.0
 * @category parsers
 */
export const hostList: Parser<ReadonlyArray<string>> = (text) => {
  const hosts = text
    .split(",")
    .map((h) => h.trim())
    .filter((h) => h !== "")
  return hosts.length > 0 && hosts.every((h) => /^[^\s:]+:\d{1,5}$/.test(h))
    ? ok(hosts)
    : expected("a comma-separated list of host:port")
}

/**
 * An integer within bounds.
 *
 * @since 0.1.0
 * @category parsers
 */
export const int =
  (min: number, max: number = Number.MAX_SAFE_INTEGER): Parser<number> =>
  (text) => {
    const n = /^-?\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN
    return Number.isSafeInteger(n) && n >= min && n <= max
      ? ok(n)
      : expected(max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer between ${min} and ${max}`)
  }

/**
 * A port number (0 picks any free port).
 *
 * @since 0.1.0
 * @category parsers
 */
export const port: Parser<number> = (text) => {
  const r = int(0, 65535)(text)
  return r.ok ? r : expected("a port number between 0 and 65535")
}

/**
 * A number above 0.
 *
 * @since 0.1.0
 * @category parsers
 */
export const positiveNumber: Parser<number> = (text) => {
  const n = /^\d+(\.\d+)?$/.test(text.trim()) ? Number(text.trim()) : Number.NaN
  return Number.isFinite(n) && n > 0 ? ok(n) : expected("a number > 0")
}

/**
 * A fraction between 0 and 1.
 *
 * @since 0.1.0
 * @category parsers
 */
export const fraction: Parser<number> = (text) => {
  const n = /^\d+(\.\d+)?$/.test(text.trim()) ? Number(text.trim()) : Number.NaN
  return n >= 0 && n <= 1 ? ok(n) : expected("a fraction between 0 and 1")
}

const units: Record<string, number> = {
  ms: 1,
  millis: 1,
  s: 1000,
  sec: 1000,
  seconds: 1000,
  second: 1000,
  m: 60_000,
  min: 60_000,
  minutes: 60_000,
  minute: 60_000,
  h: 3_600_000,
  hours: 3_600_000,
  hour: 3_600_000
}

/**
 * A duration such as 500ms, 5s, 2m or 1h.
 *
 * @since 0.1.0
 * @category parsers
 */
export const duration: Parser<Duration.Duration> = (text) => {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/.exec(text.trim())
  const factor = m ? units[m[2]!] : undefined
  return m && factor !== undefined
    ? ok(Duration.millis(Number(m[1]) * factor))
    : expected("a duration such as 500ms, 5s, 2m or 1h")
}

/**
 * A duration above zero, such as 50ms or 2s: for intervals, where 0 would
 * spin.
 *
 * @since 0.1.0
 * @category parsers
 */
export const positiveDuration: Parser<Duration.Duration> = (text) => {
  const r = duration(text)
  return r.ok && Duration.isGreaterThan(r.value, Duration.zero)
    ? r
    : expected("a duration above 0 such as 50ms, 5s, 2m or 1h")
}

/**
 * A postgres:// or postgresql:// URL, kept secret.
 *
 * @since 0.1.0
 * @category parsers
 */
export const databaseUrl: Parser<Redacted.Redacted<string>> = (text) => {
  try {
    const url = new URL(text)
    if (url.protocol === "postgres:" || url.protocol === "postgresql:") return ok(Redacted.make(text))
    // duckdb:<path> or duckdb::memory:, a database in the process
    if (url.protocol === "duckdb:" && text.length > "duckdb:".length) return ok(Redacted.make(text))
  } catch {
    // fall through to the message below
  }
  return expected("a postgres:// or postgresql:// URL, or duckdb:<path>")
}

/**
 * One of the given words.
 *
 * @since 0.1.0
 * @category parsers
 */
export const oneOf =
  <const L extends ReadonlyArray<string>>(literals: L): Parser<L[number]> =>
  (text) =>
    literals.includes(text) ? ok(text as L[number]) : expected(`one of ${literals.join(", ")}`)

/**
 * A default written as text in the source; a bad one is a programming error.
 *
 * @since 0.1.0
 * @category parsers
 */
export const unsafe = <A>(parser: Parser<A>, text: string): A => {
  const r = parser(text)
  if (!r.ok) throw new Error(`invalid built-in default ${JSON.stringify(text)}: expected ${r.expected}`)
  return r.value
}
