/**
 * Routes one record through compiled rules: which rules matched, to which
 * topics, with which (projected) value.
 *
 * - `first-match`: the rules are tried in file order; the first that matches
 *   decides, and the rules after it are not evaluated.
 * - `fan-out`: every rule is evaluated; each one that matches gives an output.
 * - No match: `Unmatched` with the file's default topic, or with no topic when
 *   the file says `drop-unmatched: true`.
 * - A rule that fails on the record (a missing key, a type mismatch) rejects
 *   the whole record: `Rejected`, with no outputs, so the caller can send it to
 *   a dead-letter topic and nothing is routed by half a rule set (fail-safe).
 *
 * Each output value is the record (or its `project`ion), with the attribute
 * subtree flattened for `flat` rules, and a `filterMetadata` field: the rule's
 * name and when it matched (`matchedAt`, epoch milliseconds from `Clock`).
 *
 * `route` and `routeAll` record the metrics of `RulesMetrics`; `routeAll`
 * adds the counts of a whole batch before updating them, which is cheaper.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Metric } from "effect"
import type * as Context from "effect/Context"
import * as Expression from "./Expression.ts"
import { type FlatMap, flatten } from "./Flatten.ts"
import type * as RuleFile from "./RuleFile.ts"
import type { RulesError } from "./RulesError.ts"
import * as RulesMetrics from "./RulesMetrics.ts"
import { attributesVariable, getPath } from "./Shape.ts"

/**
 * A record as the router sees it: a JSON object whose top-level fields are the
 * shape's variables.
 *
 * @since 0.1.0
 * @category models
 */
export type Record = Readonly<globalThis.Record<string, unknown>>

/**
 * The `filterMetadata` every output carries.
 *
 * @since 0.1.0
 * @category models
 */
export interface FilterMetadata {
  readonly ruleName: string
  /** Epoch milliseconds. */
  readonly matchedAt: number
}

/**
 * One routed copy of a record.
 *
 * @since 0.1.0
 * @category models
 */
export interface Output {
  readonly rule: string
  readonly topic: string
  readonly value: Record & { readonly filterMetadata: FilterMetadata }
}

/**
 * What the router decided for one record.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome =
  | { readonly _tag: "Routed"; readonly outputs: ReadonlyArray<Output> }
  | { readonly _tag: "Unmatched"; readonly topic: string | undefined; readonly value: Record }
  | { readonly _tag: "Rejected"; readonly rule: string; readonly error: RulesError }

/**
 * Per-rule counts gathered while routing, indexed like `rules.rules`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tally {
  readonly matched: Array<number>
  readonly routed: Array<number>
  readonly errors: Array<number>
  unmatched: number
}

/**
 * A tally of zeros for `rules`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeTally = (rules: RuleFile.Rules): Tally => ({
  matched: rules.rules.map(() => 0),
  routed: rules.rules.map(() => 0),
  errors: rules.rules.map(() => 0),
  unmatched: 0
})

/** Copies the values at `paths` into a fresh tree; missing paths are left out. */
const project = (record: Record, paths: ReadonlyArray<ReadonlyArray<string>>): globalThis.Record<string, unknown> => {
  const out: globalThis.Record<string, unknown> = {}
  for (const path of paths) {
    const value = getPath(record, path)
    if (value === undefined) continue
    let node = out
    for (let i = 0; i < path.length - 1; i++) {
      const step = path[i]!
      const next = node[step]
      if (next === null || typeof next !== "object") node[step] = {}
      node = node[step] as globalThis.Record<string, unknown>
    }
    node[path[path.length - 1]!] = value
  }
  return out
}

/** `value` with the subtree at `path` replaced, copying the objects on the way. */
const replaceAt = (value: Record, path: ReadonlyArray<string>, index: number, replacement: unknown): Record => {
  const step = path[index]!
  if (index === path.length - 1) return { ...value, [step]: replacement }
  const child = value[step]
  if (child === null || typeof child !== "object") return value
  return { ...value, [step]: replaceAt(child as Record, path, index + 1, replacement) }
}

/**
 * Routes one record without an Effect. `matchedAt` stamps the outputs;
 * `tally`, when given, is incremented.
 *
 * @since 0.1.0
 * @category combinators
 */
export const routeUnsafe = (rules: RuleFile.Rules, record: Record, matchedAt: number, tally?: Tally): Outcome => {
  const shape = rules.shape
  let attributes: unknown
  let nestedContext: Record | undefined
  let flatContext: Record | undefined
  let flatAttributes: FlatMap | undefined
  let outputs: Array<Output> | undefined
  let outputRules: Array<number> | undefined
  const list = rules.rules
  for (let i = 0; i < list.length; i++) {
    const rule = list[i]!
    let context: Record
    if (rule.model === "nested") {
      if (nestedContext === undefined) {
        attributes ??= getPath(record, shape.attributes)
        nestedContext = { ...record, [attributesVariable]: attributes ?? {} }
      }
      context = nestedContext
    } else {
      if (flatContext === undefined) {
        attributes ??= getPath(record, shape.attributes)
        flatAttributes = flatten(attributes)
        flatContext = { ...record, [attributesVariable]: flatAttributes }
      }
      context = flatContext
    }
    let result: unknown
    try {
      result = rule.when.evaluateUnsafe(context)
    } catch (e) {
      if (tally !== undefined) tally.errors[i]!++
      return { _tag: "Rejected", rule: rule.name, error: Expression.evaluationFailed(rule.when, e) }
    }
    if (result !== true) {
      if (result === false) continue
      if (tally !== undefined) tally.errors[i]!++
      return {
        _tag: "Rejected",
        rule: rule.name,
        error: Expression.evaluationFailed(rule.when, `expected a bool result, got ${typeof result}`)
      }
    }
    if (tally !== undefined) tally.matched[i]!++
    let value: Record = rule.project === undefined ? record : project(record, rule.project)
    if (rule.model === "flat") {
      const subtree = rule.project === undefined ? attributes : getPath(value, shape.attributes)
      if (subtree !== undefined && subtree !== null) {
        value = replaceAt(
          value,
          shape.attributes,
          0,
          rule.project === undefined && flatAttributes !== undefined ? flatAttributes : flatten(subtree)
        )
      }
    }
    const output: Output = {
      rule: rule.name,
      topic: rule.to,
      value: { ...value, filterMetadata: { ruleName: rule.name, matchedAt } }
    }
    if (rules.mode === "first-match") {
      if (tally !== undefined) tally.routed[i]!++
      return { _tag: "Routed", outputs: [output] }
    }
    if (outputs === undefined || outputRules === undefined) {
      outputs = []
      outputRules = []
    }
    outputs.push(output)
    outputRules.push(i)
  }
  if (outputs !== undefined) {
    // counted only now: a later rule that fails rejects the record and routes none of them
    if (tally !== undefined) for (const i of outputRules ?? []) tally.routed[i]!++
    return { _tag: "Routed", outputs }
  }
  if (tally !== undefined) tally.unmatched++
  return {
    _tag: "Unmatched",
    topic: rules.unmatched._tag === "Default" ? rules.unmatched.topic : undefined,
    value: record
  }
}

const flushTally = (rules: RuleFile.Rules, tally: Tally, context: Context.Context<never>): void => {
  const file = rules.source
  for (let i = 0; i < rules.rules.length; i++) {
    const rule = rules.rules[i]!
    if (tally.matched[i]! > 0) {
      Metric.withAttributes(RulesMetrics.matched, { rules: file, rule: rule.name }).updateUnsafe(
        tally.matched[i]!,
        context
      )
    }
    if (tally.routed[i]! > 0) {
      Metric.withAttributes(RulesMetrics.routed, { rules: file, rule: rule.name, topic: rule.to }).updateUnsafe(
        tally.routed[i]!,
        context
      )
    }
    if (tally.errors[i]! > 0) {
      Metric.withAttributes(RulesMetrics.errors, { rules: file, rule: rule.name }).updateUnsafe(
        tally.errors[i]!,
        context
      )
    }
  }
  if (tally.unmatched > 0) {
    Metric.withAttributes(RulesMetrics.unmatched, {
      rules: file,
      outcome: rules.unmatched._tag === "Default" ? "default" : "dropped"
    }).updateUnsafe(tally.unmatched, context)
  }
}

/**
 * Routes a batch of records, stamping them with the `Clock`'s time when the
 * batch started and updating the metrics once for the batch (latency once
 * per record).
 *
 * @since 0.1.0
 * @category combinators
 */
export const routeAll = (rules: RuleFile.Rules, records: ReadonlyArray<Record>): Effect.Effect<Array<Outcome>> =>
  Effect.gen(function* () {
    const clock = yield* Clock.Clock
    const context = yield* Effect.context<never>()
    const latency = RulesMetrics.evaluationMicrosOf(rules.source)
    const tally = makeTally(rules)
    const out: Array<Outcome> = new Array(records.length)
    // One time for the batch, as a batch is routed in far less than a millisecond per record.
    const matchedAt = clock.currentTimeMillisUnsafe()
    // One clock reading per record instead of three (its end is the next one's start); the histogram is updated
    // after the loop, so its own cost is in no record's time.
    const ticks: Array<bigint> = new Array(records.length + 1)
    ticks[0] = clock.monotonicTimeNanosUnsafe()
    for (let i = 0; i < records.length; i++) {
      out[i] = routeUnsafe(rules, records[i]!, matchedAt, tally)
      ticks[i + 1] = clock.monotonicTimeNanosUnsafe()
    }
    for (let i = 0; i < records.length; i++) latency.updateUnsafe(Number(ticks[i + 1]! - ticks[i]!) / 1000, context)
    flushTally(rules, tally, context)
    return out
  })

/**
 * Routes one record and records its metrics.
 *
 * @since 0.1.0
 * @category combinators
 */
export const route = (rules: RuleFile.Rules, record: Record): Effect.Effect<Outcome> =>
  Effect.map(routeAll(rules, [record]), (outcomes) => outcomes[0]!)
