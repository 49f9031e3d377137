/**
 * The one error of `@sluice/rules`. Its `reason` says what went wrong:
 *
 * - `InvalidExpression`: a CEL expression did not parse or did not type-check
 *   against its environment; it names the source (a file, or `<inline>`), the
 *   rule when there is one, and the line and column inside the expression.
 * - `InvalidRuleFile`: a rule or filter file could not be read, was not YAML,
 *   or did not have the required shape.
 * - `EvaluationFailed`: an expression failed on one record (a missing key, a
 *   comparison of a string with a number, a result that is not a boolean). The
 *   caller rejects that record (fail-safe) and the failure is counted.
 *
 * Every reason renders as one line, so a command can print it and stop.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * A CEL expression that does not compile: a syntax error or a type error.
 * `line` and `column` are 1-based and count inside the expression text;
 * `fileLine` is the line of the file the expression starts on, when known.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidExpression extends Schema.TaggedClass<InvalidExpression>()("InvalidExpression", {
  source: Schema.String,
  rule: Schema.optionalKey(Schema.String),
  fileLine: Schema.optionalKey(Schema.Number),
  line: Schema.Number,
  column: Schema.Number,
  detail: Schema.String
}) {}

/**
 * A rule or filter file that cannot be used: unreadable, not YAML, or not the
 * documented shape. `rule` names the offending rule when the problem is inside
 * one, `fileLine` the line of the file when known.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRuleFile extends Schema.TaggedClass<InvalidRuleFile>()("InvalidRuleFile", {
  source: Schema.String,
  rule: Schema.optionalKey(Schema.String),
  fileLine: Schema.optionalKey(Schema.Number),
  detail: Schema.String
}) {}

/**
 * An expression that failed while evaluating one record.
 *
 * @since 0.1.0
 * @category errors
 */
export class EvaluationFailed extends Schema.TaggedClass<EvaluationFailed>()("EvaluationFailed", {
  expression: Schema.String,
  detail: Schema.String
}) {}

/**
 * Why an operation of this package failed.
 *
 * @since 0.1.0
 * @category errors
 */
export type RulesErrorReason = InvalidExpression | InvalidRuleFile | EvaluationFailed

const where = (source: string, fileLine: number | undefined): string =>
  fileLine === undefined ? source : `${source}:${fileLine}`

const describe = (r: RulesErrorReason): string => {
  switch (r._tag) {
    case "InvalidExpression":
      return `${where(r.source, r.fileLine)}: ${r.rule === undefined ? "" : `rule "${r.rule}": `}expression ${r.line}:${r.column}: ${r.detail}`
    case "InvalidRuleFile":
      return `${where(r.source, r.fileLine)}: ${r.rule === undefined ? "" : `rule "${r.rule}": `}${r.detail}`
    case "EvaluationFailed":
      return `${r.expression}: evaluation failed: ${r.detail}`
  }
}

/**
 * The single error type of `@sluice/rules`; `message` is one line.
 *
 * @since 0.1.0
 * @category errors
 */
export class RulesError extends Schema.TaggedError<RulesError>()("RulesError", {
  reason: Schema.Union([InvalidExpression, InvalidRuleFile, EvaluationFailed])
}) {
  override get message(): string {
    return describe(this.reason)
  }

  /**
   * Whether trying again may succeed. Never for an expression or a file: the
   * same text fails the same way until someone edits it. An evaluation failure
   * depends only on the record and the rule, so it repeats as well.
   */
  get isRetryable(): boolean {
    return false
  }
}

/**
 * Tests whether a value is a `RulesError`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isRulesError = (u: unknown): u is RulesError => u instanceof RulesError
