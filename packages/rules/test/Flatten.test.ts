import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { flatten } from "../src/Flatten.ts"

describe("Flatten", () => {
  it("flatten - nested objects, arrays, nulls, numbers, booleans and bigints", () => {
    const flat = flatten({
      loan: { loanAmount: 50000, rate: 0.1, big: 1e21, tiny: 5e-7, neg: -2.5, closedAt: null, open: true },
      tags: ["a", { k: "v" }, null, []],
      id: 12345678901234567890n,
      empty: {},
      name: ""
    })
    assert.deepStrictEqual(
      { ...flat },
      {
        "loan.loanAmount": "50000",
        "loan.rate": "0.1",
        "loan.big": "1e+21",
        "loan.tiny": "5e-7",
        "loan.neg": "-2.5",
        "loan.open": "true",
        "tags.0": "a",
        "tags.1.k": "v",
        id: "12345678901234567890",
        name: ""
      }
    )
  })

  it("flatten - a map that is already flat is returned as it is; one non-string value makes it a tree", () => {
    const flat: Record<string, string> = { "loan.loanAmount": "50000", "tags.0": "a" }
    assert.strictEqual<unknown>(flatten(flat), flat)
    assert.deepStrictEqual({ ...flatten({ "loan.loanAmount": 50000, "tags.0": "a" }) }, flat)
    assert.deepStrictEqual({ ...flatten(flatten({ a: { b: [1, { c: true }] } })) }, { "a.b.0": "1", "a.b.1.c": "true" })
  })

  it("flatten - a scalar or null root gives an empty map; __proto__ is an ordinary key", () => {
    assert.deepStrictEqual({ ...flatten(5) }, {})
    assert.deepStrictEqual({ ...flatten(null) }, {})
    const flat = flatten(JSON.parse(`{"__proto__": {"x": 1}}`))
    assert.strictEqual(flat["__proto__.x"], "1")
  })

  it("flatten - every number reads back as itself, every leaf of a JSON tree has its key", () => {
    const leaf = fc.oneof(fc.string(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean())
    fc.assert(
      fc.property(
        fc.dictionary(fc.stringMatching(/^[a-z]{1,4}$/), fc.dictionary(fc.stringMatching(/^[a-z]{1,4}$/), leaf)),
        (tree) => {
          const flat = flatten(tree)
          let leaves = 0
          for (const [k, inner] of Object.entries(tree)) {
            for (const [k2, value] of Object.entries(inner)) {
              leaves++
              const text = flat[`${k}.${k2}`]
              if (typeof value === "number") assert.strictEqual(Number(text), value === 0 ? 0 : value)
              else assert.strictEqual(text, String(value))
            }
          }
          assert.strictEqual(Object.keys(flat).length, leaves)
        }
      )
    )
  })
})
