import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Decimal from "../src/Decimal.ts"
import * as PgText from "../src/internal/pgtext.ts"
import * as Json from "../src/Json.ts"
import * as Lsn from "../src/Lsn.ts"

const json = (v: unknown) => Json.stringify(v)
const convert = (oid: number, typeMod: number, text: string, mode: PgText.DecimalMode = "precise") =>
  PgText.converter(oid, typeMod, mode).convert(text)

// numeric(p, s) has typmod ((p << 16) | s) + 4
const numericMod = (p: number, s: number) => ((p << 16) | s) + 4

describe("PgText", () => {
  it("converter - Debezium's PostgreSQL type mapping", () => {
    assert.strictEqual(convert(16, -1, "t"), true)
    assert.strictEqual(convert(23, -1, "-42"), -42)
    assert.strictEqual(convert(20, -1, "9007199254740993"), 9007199254740993n)
    assert.strictEqual(json(convert(701, -1, "0.30000000000000004")), "0.30000000000000004")
    assert.strictEqual(convert(701, -1, "NaN"), "NaN")
    assert.strictEqual(convert(1700, numericMod(10, 2), "1234.50"), "AeI6")
    assert.strictEqual(convert(1700, numericMod(10, 2), "-19.99"), "+DE=")
    assert.deepStrictEqual(convert(1700, -1, "0.125"), { scale: 3, value: "fQ==" })
    assert.strictEqual(convert(1700, numericMod(10, 2), "1234.50", "string"), "1234.50")
    assert.strictEqual(json(convert(1700, -1, "0.10000000000000000001", "double")), "0.10000000000000000001")
    assert.strictEqual(convert(1082, -1, "2026-03-16"), 20528)
    assert.strictEqual(convert(1083, -1, "09:26:53.589793"), 34_013_589_793)
    assert.strictEqual(convert(1083, 3, "09:26:53.589"), 34_013_589)
    assert.strictEqual(convert(1114, -1, "2026-03-14 09:26:53.589793"), 1_773_480_413_589_793)
    assert.strictEqual(convert(1114, 0, "2026-03-14 09:27:00"), 1_773_480_420_000)
    assert.strictEqual(convert(1184, -1, "2026-03-14 11:26:53.5+02"), "2026-03-14T09:26:53.5Z")
    assert.strictEqual(convert(1184, -1, "2026-03-14 09:26:53+05:30"), "2026-03-14T03:56:53Z")
    assert.strictEqual(convert(1266, -1, "01:00:00.25+02"), "23:00:00.25Z")
    assert.strictEqual(convert(3802, -1, '{"a": 1}'), '{"a": 1}')
    assert.strictEqual(convert(17, -1, "\\x0102ff"), "AQL/")
    assert.strictEqual(convert(25, -1, "plain"), "plain")
  })

  it("converter - a numeric's text and its precise bytes are the same decimal", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 17n), max: 10n ** 17n }), fc.integer({ min: 0, max: 10 }), (n, s) => {
        const digits = (n < 0n ? -n : n).toString().padStart(s + 1, "0")
        const text = `${n < 0n ? "-" : ""}${s === 0 ? digits : `${digits.slice(0, -s)}.${digits.slice(-s)}`}`
        const b64 = convert(1700, numericMod(28, s), text) as string
        assert.strictEqual(Decimal.unscaledFromBase64(b64), n)
        const variable = convert(1700, -1, text) as { scale: number; value: string }
        assert.strictEqual(variable.scale, s)
        assert.strictEqual(Decimal.unscaledFromBase64(variable.value), n)
      })
    )
  })

  it("converter - timestamps agree with the platform's date arithmetic", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -2_000_000_000_000, max: 7_000_000_000_000 }),
        fc.integer({ min: 0, max: 999 }),
        (ms, us) => {
          const iso = new Date(ms).toISOString() // YYYY-MM-DDTHH:MM:SS.mmmZ
          const text = `${iso.slice(0, 10)} ${iso.slice(11, 23)}${String(us).padStart(3, "0")}`
          assert.strictEqual(BigInt(convert(1114, -1, text) as number), BigInt(ms) * 1000n + BigInt(us))
        }
      )
    )
  })
})

describe("Lsn", () => {
  it("parse/format - the server's X/Y text", () => {
    assert.strictEqual(Lsn.parse("16/B374D848"), 0x16b374d848n)
    assert.strictEqual(Lsn.format(0x16b374d848n), "16/B374D848")
    assert.strictEqual(Lsn.format(Lsn.parse("0/0")), "0/0")
    assert.throws(() => Lsn.parse("nope"))
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (n) => {
        assert.strictEqual(Lsn.parse(Lsn.format(n)), n)
      })
    )
  })
})
