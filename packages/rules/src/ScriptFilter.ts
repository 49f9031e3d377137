/**
 * A filter written as one CEL expression in a file (the event trigger's
 * `filter.script-path`), compiled and type-checked against a declared
 * environment (for the trigger: `event`, `user`, `visit`, `history`), and
 * reloaded when the file changes, exactly as `RuleSet` reloads rule files.
 *
 * `test` answers `true` (pass) or `false` (reject). A runtime failure is a
 * `RulesError` (`EvaluationFailed`) for the caller to treat as a rejection
 * (fail-safe) and is counted in `sluice_filter_results_total{outcome="error"}`.
 *
 * @since 0.1.0
 */
import { Context, type Duration, Effect, Layer, Metric, Result, type Scope } from "effect"
import * as Expression from "./Expression.ts"
import { readText, watch } from "./internal/watch.ts"
import type { RulesError } from "./RulesError.ts"
import * as RulesMetrics from "./RulesMetrics.ts"

/**
 * The filter service.
 *
 * @since 0.1.0
 * @category services
 */
export class ScriptFilter extends Context.Service<
  ScriptFilter,
  {
    /** The expression in force now. */
    readonly current: Effect.Effect<Expression.Expression>
    /** Reloads applied since the start. */
    readonly version: Effect.Effect<number>
    readonly test: (context: Readonly<Record<string, unknown>>) => Effect.Effect<boolean, RulesError>
    /** Each context's outcome, in order: `true` (pass), `false` (reject) or the runtime error. */
    readonly testAll: (
      contexts: ReadonlyArray<Readonly<Record<string, unknown>>>
    ) => Effect.Effect<Array<Result.Result<boolean, RulesError>>>
  }
>()("@sluice/rules/ScriptFilter") {}

/**
 * Where the filter comes from and what it may refer to.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The name in messages and metrics; the path for `make`. */
  readonly source: string
  readonly environment: Expression.Environment
  /** How often the file is read again; default 1 second. */
  readonly pollInterval?: Duration.Input
}

/**
 * Compiles a filter's text: one boolean CEL expression.
 *
 * @since 0.1.0
 * @category constructors
 */
export const compileResult = (
  source: string,
  environment: Expression.Environment,
  text: string
): Result.Result<Expression.Expression, RulesError> =>
  Expression.compileResult(environment, text.trim(), { source, expect: "bool" })

type Outcome = "pass" | "reject" | "error"

// The counter of each (source, outcome), built once: a counter with attributes caches its series key,
// so updating the same instance skips re-encoding the attributes on every record.
const counters = new Map<string, Metric.Counter<number>>()
const counterOf = (source: string, outcome: Outcome): Metric.Counter<number> => {
  const key = `${outcome}\u0000${source}`
  let counter = counters.get(key)
  if (counter === undefined) {
    counter = Metric.withAttributes(RulesMetrics.filterResults, { source, outcome })
    counters.set(key, counter)
  }
  return counter
}

const outcomeOf = (result: Result.Result<boolean, RulesError>): Outcome =>
  Result.isFailure(result) ? "error" : result.success ? "pass" : "reject"

/**
 * Evaluates a compiled filter and counts the outcome.
 *
 * @since 0.1.0
 * @category combinators
 */
export const test = (
  source: string,
  filter: Expression.Expression,
  context: Readonly<Record<string, unknown>>
): Effect.Effect<boolean, RulesError> =>
  Effect.suspend(() => {
    const result = Expression.testResult(filter, context)
    return Metric.update(counterOf(source, outcomeOf(result)), 1).pipe(Effect.andThen(Effect.fromResult(result)))
  })

/**
 * Evaluates a compiled filter on each context, in order, and counts the
 * outcomes (one update per outcome).
 *
 * @since 0.1.0
 * @category combinators
 */
export const testAll = (
  source: string,
  filter: Expression.Expression,
  contexts: ReadonlyArray<Readonly<Record<string, unknown>>>
): Effect.Effect<Array<Result.Result<boolean, RulesError>>> =>
  Effect.suspend(() => {
    const results = contexts.map((context) => Expression.testResult(filter, context))
    const counts: Record<Outcome, number> = { pass: 0, reject: 0, error: 0 }
    for (const result of results) counts[outcomeOf(result)]++
    const updates: Array<Effect.Effect<void>> = []
    for (const outcome of ["pass", "reject", "error"] as const) {
      if (counts[outcome] > 0) updates.push(Metric.update(counterOf(source, outcome), counts[outcome]))
    }
    return Effect.as(Effect.all(updates, { discard: true }), results)
  })

/**
 * A filter whose text comes from `read`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSource = (
  options: Options & { readonly read: Effect.Effect<string, RulesError> }
): Effect.Effect<ScriptFilter["Service"], RulesError, Scope.Scope> =>
  Effect.gen(function* () {
    const watched = yield* watch({
      source: options.source,
      read: options.read,
      compile: (text) => compileResult(options.source, options.environment, text),
      interval: options.pollInterval ?? "1 second"
    })
    return ScriptFilter.of({
      current: watched.current,
      version: watched.version,
      test: (context) => Effect.flatMap(watched.current, (filter) => test(options.source, filter, context)),
      testAll: (contexts) => Effect.flatMap(watched.current, (filter) => testAll(options.source, filter, contexts))
    })
  })

/**
 * A filter read from the file at `options.source`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<ScriptFilter["Service"], RulesError, Scope.Scope> =>
  fromSource({ ...options, read: readText(options.source) })

/**
 * Provides `ScriptFilter` from a filter file.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<ScriptFilter, RulesError> =>
  Layer.effect(ScriptFilter, make(options))
