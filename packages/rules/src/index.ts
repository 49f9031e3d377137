/**
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Expression from "./Expression.ts"
/**
 * @since 0.1.0
 */
export * as Flatten from "./Flatten.ts"
/**
 * @since 0.1.0
 */
export * as Router from "./Router.ts"
/**
 * @since 0.1.0
 */
export * as RuleFile from "./RuleFile.ts"
/**
 * @since 0.1.0
 */
export * as RuleSet from "./RuleSet.ts"
/**
 * @since 0.1.0
 */
export * as RulesError from "./RulesError.ts"
/**
 * @since 0.1.0
 */
export * as RulesMetrics from "./RulesMetrics.ts"
/**
 * @since 0.1.0
 */
export * as ScriptFilter from "./ScriptFilter.ts"
/**
 * @since 0.1.0
 */
export * as Shape from "./Shape.ts"
