import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as RuleFile from "../src/RuleFile.ts"
import * as Shape from "../src/Shape.ts"

const errorOf = (text: string) =>
  Effect.flip(RuleFile.parse("rules.yaml", text, Shape.debezium)).pipe(Effect.map((e) => e.message))

const file = (...rules: ReadonlyArray<string>) => ["mode: first-match", "default: other", "rules:", ...rules].join("\n")

const rule = (name: string, when: string, model = "nested") =>
  [`  - name: ${name}`, `    when: ${when}`, "    to: t", `    model: ${model}`].join("\n")

describe("RuleFile", () => {
  it.effect("parse - a valid file compiles every rule with its mode, model and default", () =>
    Effect.gen(function* () {
      const rules = yield* RuleFile.parse(
        "rules.yaml",
        file(rule("a", "op == 'c'"), `${rule("b", `attrs["loan.x"] == "1"`, "flat")}\n    project: [after.id]`),
        Shape.debezium
      )
      assert.strictEqual(rules.mode, "first-match")
      assert.deepStrictEqual(rules.unmatched, { _tag: "Default", topic: "other" })
      assert.deepStrictEqual(
        rules.rules.map((r) => [r.name, r.model, r.to, r.project]),
        [
          ["a", "nested", "t", undefined],
          ["b", "flat", "t", [["after", "id"]]]
        ]
      )
    })
  )

  it.effect("parse - a type error is one line naming the file, its line, the rule and the position", () =>
    Effect.gen(function* () {
      const message = yield* errorOf(file(rule("ok", "op == 'c'"), rule("bad", "op == 'c' && op > 1")))
      assert.strictEqual(message, `rules.yaml:9: rule "bad": expression 1:14: no such overload: string > int`)
    })
  )

  it.effect("parse - a block expression reports the line inside the expression and the file line it starts on", () =>
    Effect.gen(function* () {
      const message = yield* errorOf(
        file(
          [
            "  - name: multi",
            "    when: |",
            "      op == 'c' &&",
            "        nope > 2",
            "    to: t",
            "    model: flat"
          ].join("\n")
        )
      )
      assert.strictEqual(message, `rules.yaml:6: rule "multi": expression 2:3: Unknown variable: nope`)
    })
  )

  it.effect("parse - the shape problems of a file are one line each", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [string, RegExp]> = [
        [file(rule("s", "op ==")), /^rules\.yaml:5: rule "s": expression 1:6: Unexpected token: EOF$/],
        [
          file(rule("f", `attrs["a"] > 1`, "flat")),
          /^rules\.yaml:5: rule "f": expression 1:1: no such overload: string > int$/
        ],
        [file(rule("n", "op")), /^rules\.yaml:5: rule "n": expression 1:1: expected a bool expression, found string$/],
        [
          file(rule("m", "true", "deep")),
          /^rules\.yaml:7: rule "m": at rules\[0\]\.model: Expected "nested" \| "flat", got "deep"$/
        ],
        [file(`${rule("x", "true")}\n    wen: false`), /^rules\.yaml:\d+: rule "x": at rules\[0\]\.wen: .+$/],
        [file(rule("d", "true"), rule("d", "false")), /^rules\.yaml:8: rule "d": duplicate rule name$/],
        [
          file().replace("mode: first-match", "mode: all"),
          /^rules\.yaml:1: at mode: Expected "first-match" \| "fan-out", got "all"$/
        ],
        [["mode: fan-out", "rules: []"].join("\n"), /^rules\.yaml:1: unmatched records need a destination: .+$/],
        [
          ["mode: fan-out", "default: x", "drop-unmatched: true", "rules: []"].join("\n"),
          /^rules\.yaml:1: .+contradict.+$/
        ],
        ["mode: [\nrules: x: y", /^rules\.yaml:\d+: not valid YAML: .+$/]
      ]
      for (const [text, expected] of cases) {
        const message = yield* errorOf(text)
        assert.match(message, expected)
        assert.notInclude(message, "\n")
      }
    })
  )
})
