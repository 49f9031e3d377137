/**
 * Routing rules as code: a YAML file, validated with `effect/Schema`, whose
 * every rule is compiled and type-checked when it is loaded.
 *
 * ```yaml
 * mode: first-match              # or fan-out; required
 * default: unmatched-events      # topic for records no rule matches, or:
 * # drop-unmatched: true         # say explicitly that they may be dropped
 * rules:
 *   - name: large-loans
 *     when: after.event_type == "LoanCreated" && attrs.loan.loanAmount > 100000
 *     to: filtered-large-loan-events
 *     model: nested              # or flat: attrs["loan.loanAmount"]
 *     project: [after.id, after.updated_attributes.loan]   # optional
 * ```
 *
 * Exactly one of `default` and `drop-unmatched: true` is required, so an
 * unmatched record is never dropped without the file saying so. Unknown keys
 * are errors (a misspelt `when` must not turn into a rule that never runs).
 * Any problem is one `RulesError` whose message is one line naming the file,
 * the rule and the position.
 *
 * @since 0.1.0
 */
import { Effect, Result, Schema, SchemaIssue } from "effect"
import { isScalar, LineCounter, parseDocument } from "yaml"
import * as Expression from "./Expression.ts"
import { InvalidRuleFile, RulesError } from "./RulesError.ts"
import type * as Shape from "./Shape.ts"

/**
 * How a record is matched against the rules: `first-match` stops at the first
 * rule that matches, `fan-out` sends the record to every rule that matches.
 *
 * @since 0.1.0
 * @category models
 */
export type Mode = "first-match" | "fan-out"

/**
 * How a rule sees the attribute subtree (see `Shape`).
 *
 * @since 0.1.0
 * @category models
 */
export type Model = "nested" | "flat"

const NonEmpty = Schema.String.check(Schema.isNonEmpty())

/**
 * One rule as written in the file.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RuleDocument = Schema.Struct({
  name: NonEmpty,
  when: NonEmpty,
  to: NonEmpty,
  model: Schema.Literals(["nested", "flat"]),
  project: Schema.optionalKey(Schema.Array(NonEmpty))
})

/**
 * The file as written.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RuleFileDocument = Schema.Struct({
  mode: Schema.Literals(["first-match", "fan-out"]),
  default: Schema.optionalKey(NonEmpty),
  "drop-unmatched": Schema.optionalKey(Schema.Boolean),
  rules: Schema.Array(RuleDocument)
})

/**
 * A compiled rule.
 *
 * @since 0.1.0
 * @category models
 */
export interface Rule {
  readonly name: string
  readonly to: string
  readonly model: Model
  /** Dot paths to keep in the output, each split into steps; `undefined` keeps the whole record. */
  readonly project: ReadonlyArray<ReadonlyArray<string>> | undefined
  readonly when: Expression.Expression
}

/**
 * What happens to a record no rule matches.
 *
 * @since 0.1.0
 * @category models
 */
export type Unmatched = { readonly _tag: "Default"; readonly topic: string } | { readonly _tag: "Drop" }

/**
 * A loaded, compiled rule file.
 *
 * @since 0.1.0
 * @category models
 */
export interface Rules {
  /** The file name, used in messages and as the `rules` metric attribute. */
  readonly source: string
  /** The text the rules were compiled from, to tell a changed file from an unchanged one. */
  readonly text: string
  readonly mode: Mode
  readonly unmatched: Unmatched
  readonly rules: ReadonlyArray<Rule>
  readonly shape: Shape.Shape
}

const fail = (source: string, detail: string, extra: { rule?: string; fileLine?: number } = {}) =>
  Result.fail(
    new RulesError({
      reason: new InvalidRuleFile({
        source,
        detail: detail.replace(/\s*\n\s*/g, " "),
        ...(extra.rule === undefined ? {} : { rule: extra.rule }),
        ...(extra.fileLine === undefined ? {} : { fileLine: extra.fileLine })
      })
    })
  )

const getIn = (value: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let current = value
  for (const step of path) {
    if (current === null || typeof current !== "object") return undefined
    current = (current as Record<PropertyKey, unknown>)[step]
  }
  return current
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

const pathText = (path: ReadonlyArray<PropertyKey>): string =>
  path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("")

// `when: true` reads as a YAML boolean; as CEL it is the same text, so keep it as text
const whenAsText = (raw: unknown): unknown => {
  const rules = (raw as { rules?: unknown } | null)?.rules
  if (!Array.isArray(rules)) return raw
  return {
    ...(raw as object),
    rules: rules.map((r: unknown) =>
      r !== null && typeof r === "object" && typeof (r as { when?: unknown }).when === "boolean"
        ? { ...r, when: String((r as { when: boolean }).when) }
        : r
    )
  }
}

/**
 * Parses and compiles a rule file's text, without an Effect.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parseResult = (source: string, text: string, shape: Shape.Shape): Result.Result<Rules, RulesError> => {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  const lineOf = (offset: number | undefined): number | undefined =>
    offset === undefined ? undefined : lines.linePos(offset).line
  const nodeLine = (path: ReadonlyArray<string | number>): number | undefined => {
    const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined
    return lineOf(node?.range?.[0])
  }
  const firstError = doc.errors[0]
  if (firstError !== undefined) {
    const fileLine = lineOf(firstError.pos[0])
    return fail(source, `not valid YAML: ${firstError.message.split("\n")[0]}`, {
      ...(fileLine === undefined ? {} : { fileLine })
    })
  }
  const raw = whenAsText(doc.toJS())
  const decoded = Schema.decodeUnknownResult(RuleFileDocument)(raw, { onExcessProperty: "error" })
  if (Result.isFailure(decoded)) {
    const issue = formatter(decoded.failure.issue).issues[0]
    const path = (issue?.path ?? []).map((p) => (typeof p === "object" && p !== null ? p.key : p))
    const rawRules = (raw as { rules?: unknown } | null)?.rules
    const ruleIndex = path[0] === "rules" && typeof path[1] === "number" ? path[1] : undefined
    const ruleName =
      ruleIndex !== undefined && Array.isArray(rawRules)
        ? (rawRules[ruleIndex] as { name?: unknown } | null)?.name
        : undefined
    const nodePath = path.filter((p): p is string | number => typeof p === "string" || typeof p === "number")
    let fileLine: number | undefined
    for (let n = nodePath.length; n >= 0 && fileLine === undefined; n--) fileLine = nodeLine(nodePath.slice(0, n))
    const actual = getIn(raw, path)
    const got =
      actual === undefined || (actual !== null && typeof actual === "object") ? "" : `, got ${JSON.stringify(actual)}`
    return fail(source, `${path.length === 0 ? "" : `at ${pathText(path)}: `}${issue?.message ?? "invalid"}${got}`, {
      ...(typeof ruleName === "string"
        ? { rule: ruleName }
        : ruleIndex !== undefined
          ? { rule: `#${ruleIndex + 1}` }
          : {}),
      ...(fileLine === undefined ? {} : { fileLine })
    })
  }
  const file = decoded.success
  if ((file.default !== undefined) === (file["drop-unmatched"] === true)) {
    return fail(
      source,
      file.default === undefined
        ? "unmatched records need a destination: set `default: <topic>` or `drop-unmatched: true`"
        : "`default` and `drop-unmatched: true` contradict each other: keep one",
      { fileLine: 1 }
    )
  }
  const seen = new Set<string>()
  const rules: Array<Rule> = []
  for (let i = 0; i < file.rules.length; i++) {
    const doc_ = file.rules[i]!
    const ruleLine = nodeLine(["rules", i])
    if (seen.has(doc_.name)) {
      return fail(source, "duplicate rule name", {
        rule: doc_.name,
        ...(ruleLine === undefined ? {} : { fileLine: ruleLine })
      })
    }
    seen.add(doc_.name)
    const whenNode = doc.getIn(["rules", i, "when"], true)
    let whenLine = nodeLine(["rules", i, "when"])
    // a block scalar's text starts on the line after its `|` or `>` indicator
    if (whenLine !== undefined && isScalar(whenNode) && String(whenNode.type).startsWith("BLOCK")) whenLine++
    const compiled = Expression.compileResult(doc_.model === "flat" ? shape.flat : shape.nested, doc_.when, {
      source,
      rule: doc_.name,
      expect: "bool",
      ...(whenLine === undefined ? {} : { fileLine: whenLine })
    })
    if (Result.isFailure(compiled)) return Result.fail(compiled.failure)
    rules.push({
      name: doc_.name,
      to: doc_.to,
      model: doc_.model,
      project: doc_.project?.map((p) => p.split(".")),
      when: compiled.success
    })
  }
  return Result.succeed({
    source,
    text,
    mode: file.mode,
    unmatched: file.default !== undefined ? { _tag: "Default", topic: file.default } : { _tag: "Drop" },
    rules,
    shape
  })
}

/**
 * Parses and compiles a rule file's text.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parse = (source: string, text: string, shape: Shape.Shape): Effect.Effect<Rules, RulesError> =>
  Effect.suspend(() => Effect.fromResult(parseResult(source, text, shape)))
