/**
 * CEL expressions compiled once and type-checked against a declared
 * environment, then evaluated many times.
 *
 * An `Environment` declares the variables an expression may use and their CEL
 * types: a type name (`"string"`, `"dyn"`, `"map<string, string>"`,
 * `"list<map<string, dyn>>"`) or an object schema whose fields are checked at
 * compile time (`{ eventType: "string", userId: "string" }`), so a misspelt
 * field is an error before the first record arrives. Values are plain
 * JavaScript: JSON numbers are CEL `double`s, and CEL compares them with int
 * literals as numbers (`amount > 100000` works on `150000`).
 *
 * Compilation fails with a `RulesError` whose reason is `InvalidExpression`
 * (line and column inside the expression, one-line message); evaluation fails
 * with `EvaluationFailed`.
 *
 * @example
 * ```ts
 * const env = Expression.makeEnvironment({ event: { eventType: "string" }, user: "map<string, dyn>" })
 * const filter = yield* Expression.compile(env, `event.eventType == "page_view" && user.country == "US"`, { expect: "bool" })
 * const pass = yield* Expression.test(filter, { event: { eventType: "page_view" }, user: { country: "US" } })
 * ```
 *
 * @since 0.1.0
 */
import { Environment as CelEnvironment, type ParseResult } from "@marcbachmann/cel-js"
import { Effect, Result, Schema } from "effect"
import { EvaluationFailed, InvalidExpression, RulesError } from "./RulesError.ts"

/**
 * The declared type of a variable: a CEL type name, or an object schema whose
 * fields are CEL type names or nested schemas.
 *
 * @since 0.1.0
 * @category models
 */
export type VariableType = string | { readonly [field: string]: VariableType }

/**
 * Variables by name, with their declared types.
 *
 * @since 0.1.0
 * @category models
 */
export type Variables = Readonly<Record<string, VariableType>>

/**
 * A set of declared variables, ready to compile expressions against.
 *
 * @since 0.1.0
 * @category models
 */
export interface Environment {
  readonly variables: Variables
  /** The cel-js environment; building one is costly, so it is built once here. */
  readonly cel: CelEnvironment
}

/**
 * Declares an environment. Optional chaining (`attrs[?"k"].orValue("")`,
 * `a.?b`) is enabled, since records often lack a field.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeEnvironment = (variables: Variables): Environment => {
  const cel = new CelEnvironment({ enableOptionalTypes: true })
  for (const [name, type] of Object.entries(variables)) {
    if (typeof type === "string") cel.registerVariable(name, type)
    else cel.registerVariable({ name, schema: toSchema(type) })
  }
  return { variables, cel }
}

interface CelSchema {
  [field: string]: string | CelSchema
}

const toSchema = (type: { readonly [field: string]: VariableType }): CelSchema => {
  const out: CelSchema = {}
  for (const [field, t] of Object.entries(type)) out[field] = typeof t === "string" ? t : toSchema(t)
  return out
}

/**
 * A compiled expression. `evaluateUnsafe` throws on a runtime failure; use
 * `evaluate` or `test` unless on a hot path that catches itself.
 *
 * @since 0.1.0
 * @category models
 */
export interface Expression {
  /** What the expression is called in messages: `file: rule "name"`, or the source. */
  readonly name: string
  readonly text: string
  /** The type the checker inferred (`bool`, `dyn`, `string`, ...). */
  readonly resultType: string
  readonly evaluateUnsafe: (context: Readonly<Record<string, unknown>>) => unknown
}

/**
 * Where an expression comes from, for error messages, and what it must return.
 *
 * @since 0.1.0
 * @category models
 */
export interface CompileOptions {
  /** A file name, or `<inline>` (the default). */
  readonly source?: string
  readonly rule?: string
  /** The line of the file the expression starts on. */
  readonly fileLine?: number
  /** `"bool"` rejects expressions whose type is neither `bool` nor `dyn`. */
  readonly expect?: "bool"
}

/** 1-based line and column of `offset` in `text`. */
const position = (text: string, offset: number): { line: number; column: number } => {
  let line = 1
  let column = 1
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === "\n") {
      line++
      column = 1
    } else column++
  }
  return { line, column }
}

interface CelErrorLike {
  readonly summary?: unknown
  readonly range?: { readonly start: number } | undefined
}

const summaryOf = (e: unknown): string => {
  const summary = (e as CelErrorLike | null)?.summary
  if (typeof summary === "string") return summary
  return e instanceof Error ? e.message.split("\n")[0]! : String(e)
}

const invalid = (text: string, options: CompileOptions, offset: number, detail: string): RulesError => {
  const { line, column } = position(text, offset)
  return new RulesError({
    reason: new InvalidExpression({
      source: options.source ?? "<inline>",
      ...(options.rule === undefined ? {} : { rule: options.rule }),
      ...(options.fileLine === undefined ? {} : { fileLine: options.fileLine }),
      line,
      column,
      detail: detail.replace(/\s*\n\s*/g, " ")
    })
  })
}

/**
 * Compiles and type-checks `text` against `env`, without an Effect; for
 * loaders that compile many expressions in one go.
 *
 * @since 0.1.0
 * @category constructors
 */
export const compileResult = (
  env: Environment,
  text: string,
  options: CompileOptions = {}
): Result.Result<Expression, RulesError> => {
  let parsed: ParseResult
  try {
    parsed = env.cel.parse(text)
  } catch (e) {
    return Result.fail(invalid(text, options, (e as CelErrorLike).range?.start ?? 0, summaryOf(e)))
  }
  const checked = parsed.check()
  if (!checked.valid) {
    return Result.fail(
      invalid(text, options, checked.error?.range?.start ?? 0, summaryOf(checked.error ?? "type check failed"))
    )
  }
  const resultType = checked.type ?? "dyn"
  if (options.expect === "bool" && resultType !== "bool" && resultType !== "dyn") {
    return Result.fail(invalid(text, options, 0, `expected a bool expression, found ${resultType}`))
  }
  const source = options.source ?? "<inline>"
  return Result.succeed({
    name: options.rule === undefined ? source : `${source}: rule "${options.rule}"`,
    text,
    resultType,
    evaluateUnsafe: parsed
  })
}

/**
 * Compiles and type-checks `text` against `env`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const compile = (
  env: Environment,
  text: string,
  options: CompileOptions = {}
): Effect.Effect<Expression, RulesError> => Effect.suspend(() => Effect.fromResult(compileResult(env, text, options)))

/**
 * Turns anything an evaluation threw into an `EvaluationFailed` error.
 *
 * @since 0.1.0
 * @category errors
 */
export const evaluationFailed = (expression: Expression, cause: unknown): RulesError =>
  new RulesError({ reason: new EvaluationFailed({ expression: expression.name, detail: summaryOf(cause) }) })

/**
 * Evaluates an expression; a runtime failure is an `EvaluationFailed` error.
 *
 * @since 0.1.0
 * @category combinators
 */
export const evaluate = (
  expression: Expression,
  context: Readonly<Record<string, unknown>>
): Effect.Effect<unknown, RulesError> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(expression.evaluateUnsafe(context))
    } catch (e) {
      return Effect.fail(evaluationFailed(expression, e))
    }
  })

/**
 * Evaluates a predicate without an Effect: `true`/`false`, or the failure
 * (a runtime error, or a result that is not a boolean, which a `dyn`-typed
 * expression can produce).
 *
 * @since 0.1.0
 * @category combinators
 */
export const testResult = (
  expression: Expression,
  context: Readonly<Record<string, unknown>>
): Result.Result<boolean, RulesError> => {
  let out: unknown
  try {
    out = expression.evaluateUnsafe(context)
  } catch (e) {
    return Result.fail(evaluationFailed(expression, e))
  }
  return typeof out === "boolean"
    ? Result.succeed(out)
    : Result.fail(evaluationFailed(expression, `expected a bool result, got ${typeof out}`))
}

/**
 * Evaluates a predicate: `true` or `false`, or an `EvaluationFailed` error
 * that the caller treats as a rejection (fail-safe).
 *
 * @since 0.1.0
 * @category combinators
 */
export const test = (
  expression: Expression,
  context: Readonly<Record<string, unknown>>
): Effect.Effect<boolean, RulesError> => Effect.suspend(() => Effect.fromResult(testResult(expression, context)))

/**
 * Evaluates an expression and decodes its value with `schema`, for results
 * other than booleans (a topic name, a score); a value of another type is an
 * `EvaluationFailed` error. CEL ints arrive as bigints, doubles as numbers.
 *
 * @example
 * ```ts
 * const topic = yield* Expression.evaluateAs(Schema.String)(expression, { after })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const evaluateAs =
  <A>(schema: Schema.Decoder<A>) =>
  (expression: Expression, context: Readonly<Record<string, unknown>>): Effect.Effect<A, RulesError> =>
    Effect.flatMap(evaluate(expression, context), (value) => {
      const decoded = Schema.decodeUnknownResult(schema)(value)
      return Result.isSuccess(decoded)
        ? Effect.succeed(decoded.success)
        : Effect.fail(evaluationFailed(expression, `unexpected result: ${decoded.failure.message}`))
    })
