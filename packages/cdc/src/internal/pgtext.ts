/**
 * PostgreSQL's text output of a column value → the JSON value and Connect
 * type Debezium's PostgreSQL connector writes for it (with
 * `time.precision.mode=adaptive`). The same function serves the snapshot
 * (columns selected as `::text`) and the stream (pgoutput sends text), so both
 * produce identical records. The connection must use `DateStyle=ISO` and
 * `TimeZone=UTC`.
 */
import { BigDecimal, DateTime, Option } from "effect"
import type * as ConnectSchema from "../ConnectSchema.ts"
import * as Decimal from "../Decimal.ts"

export type DecimalMode = "precise" | "string" | "double"

export interface Converter {
  readonly type: ConnectSchema.ConnectType
  readonly convert: (text: string) => unknown
}

interface RawJson {
  readonly rawJSON: (text: string) => unknown
}
const rawJSON = (JSON as unknown as RawJson).rawJSON

/** Debezium's placeholder for an unchanged TOASTed value it did not receive. */
export const unavailable = "__debezium_unavailable_value"

const time = (name: string, type: string): ConnectSchema.ConnectType => ({
  type,
  name: `io.debezium.time.${name}`,
  version: 1
})

const int64 = (text: string): number | bigint => {
  const n = BigInt(text)
  return n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(n) : n
}

const dateText = /^(\d{4,})-(\d{2})-(\d{2})( BC)?$/
const daysOf = (text: string): number | null => {
  const m = dateText.exec(text)
  if (m === null || m[4] !== undefined) return null
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / 86_400_000
}

const timeText = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?/
const microsOfDay = (text: string): bigint | null => {
  const m = timeText.exec(text)
  if (m === null) return null
  const seconds = (Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])
  return BigInt(seconds) * 1_000_000n + BigInt((m[4] ?? "").padEnd(6, "0"))
}

const offsetText = /([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?$/
const offsetMicros = (text: string): bigint => {
  const m = offsetText.exec(text)
  if (m === null) return 0n
  const seconds = (Number(m[2]) * 60 + Number(m[3] ?? 0)) * 60 + Number(m[4] ?? 0)
  return (m[1] === "-" ? -1n : 1n) * BigInt(seconds) * 1_000_000n
}

/** Microseconds since the epoch of `YYYY-MM-DD HH:MM:SS[.ffffff][±HH[:MM]]`. */
const epochMicros = (text: string): bigint | null => {
  const [datePart, timePart] = text.split(" ")
  if (datePart === undefined || timePart === undefined) return null
  const days = daysOf(datePart)
  const tod = microsOfDay(timePart)
  if (days === null || tod === null) return null
  return BigInt(days) * 86_400_000_000n + tod - offsetMicros(timePart.slice(8))
}

const fraction = (micros: bigint): string =>
  micros === 0n ? "" : `.${micros.toString().padStart(6, "0").replace(/0+$/, "")}`

const isoUtc = (micros: bigint): string => {
  const ms = Number(micros / 1000n) - (micros % 1000n < 0n ? 1 : 0)
  const seconds = Math.floor(ms / 1000)
  const sub = micros - BigInt(seconds) * 1_000_000n
  return `${DateTime.formatIso(DateTime.makeUnsafe(seconds * 1000)).slice(0, 19)}${fraction(sub)}Z`
}

const precisionOf = (typeMod: number): number => (typeMod < 0 ? 6 : typeMod)

/** The converter of a column of type `oid` with modifier `typeMod`. */
export const converter = (oid: number, typeMod: number, decimals: DecimalMode): Converter => {
  switch (oid) {
    case 16:
      return { type: { type: "boolean" }, convert: (t) => t === "t" }
    case 21:
      return { type: { type: "int16" }, convert: Number }
    case 23:
      return { type: { type: "int32" }, convert: Number }
    case 20:
    case 26:
      return { type: { type: "int64" }, convert: int64 }
    case 700:
      return { type: { type: "float" }, convert: (t) => (Number.isFinite(Number(t)) ? rawJSON(t) : t) }
    case 701:
      return { type: { type: "double" }, convert: (t) => (Number.isFinite(Number(t)) ? rawJSON(t) : t) }
    case 1700: {
      const scale = typeMod < 0 ? undefined : (typeMod - 4) & 0xffff
      const precision = typeMod < 0 ? undefined : ((typeMod - 4) >> 16) & 0xffff
      if (decimals === "string") return { type: { type: "string" }, convert: (t) => t }
      // The column's own text is the exact decimal: written as a bare JSON number.
      if (decimals === "double") return { type: { type: "double" }, convert: (t) => (t === "NaN" ? null : rawJSON(t)) }
      const parse = (t: string) => Option.getOrUndefined(BigDecimal.fromString(t))
      if (scale === undefined) {
        return {
          type: {
            type: "struct",
            name: Decimal.VariableScaleDecimalName,
            version: 1,
            fields: [
              { field: "scale", type: "int32" },
              { field: "value", type: "bytes" }
            ]
          },
          convert: (t) => {
            const d = parse(t)
            return d === undefined ? null : { scale: d.scale, value: Decimal.unscaledToBase64(d.value) }
          }
        }
      }
      return {
        type: {
          type: "bytes",
          name: Decimal.DecimalName,
          version: 1,
          parameters: { scale: String(scale), "connect.decimal.precision": String(precision) }
        },
        convert: (t) => {
          const d = parse(t)
          return d === undefined ? null : Decimal.unscaledToBase64(d.value * 10n ** BigInt(scale - d.scale))
        }
      }
    }
    case 1082:
      return { type: time("Date", "int32"), convert: daysOf }
    case 1083: {
      const micro = precisionOf(typeMod) > 3
      return micro
        ? { type: time("MicroTime", "int64"), convert: (t) => int64(String(microsOfDay(t))) }
        : { type: time("Time", "int32"), convert: (t) => Number((microsOfDay(t) ?? 0n) / 1000n) }
    }
    case 1114: {
      const micro = precisionOf(typeMod) > 3
      return {
        type: time(micro ? "MicroTimestamp" : "Timestamp", "int64"),
        convert: (t) => {
          const us = epochMicros(t)
          return us === null ? null : int64(String(micro ? us : us / 1000n))
        }
      }
    }
    case 1184:
      return {
        type: time("ZonedTimestamp", "string"),
        convert: (t) => {
          const us = epochMicros(t)
          return us === null ? null : isoUtc(us)
        }
      }
    case 1266:
      return {
        type: time("ZonedTime", "string"),
        convert: (t) => {
          const local = microsOfDay(t)
          if (local === null) return null
          const day = 86_400_000_000n
          const utc = (((local - offsetMicros(t.slice(8))) % day) + day) % day
          const s = Number(utc / 1_000_000n)
          const two = (v: number) => String(v).padStart(2, "0")
          return `${two(Math.floor(s / 3600))}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}${fraction(utc % 1_000_000n)}Z`
        }
      }
    case 114:
    case 3802:
      return { type: { type: "string", name: "io.debezium.data.Json", version: 1 }, convert: (t) => t }
    case 2950:
      return { type: { type: "string", name: "io.debezium.data.Uuid", version: 1 }, convert: (t) => t }
    case 17:
      return {
        type: { type: "bytes" },
        convert: (t) => Buffer.from(t.startsWith("\\x") ? t.slice(2) : t, "hex").toString("base64")
      }
    default:
      return { type: { type: "string" }, convert: (t) => t }
  }
}
