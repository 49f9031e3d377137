/**
 * The shape of the records rules are written against: the top-level variables
 * a rule may name, with their CEL types, and the path of the attribute
 * subtree the two data models present differently.
 *
 * Both models see every declared variable unchanged (`op`, `after`,
 * `source`, ...) plus `attrs`, the attribute subtree:
 *
 * - `nested`: `attrs` is the JSON tree itself (`attrs.loan.loanAmount`, the
 *   same value as `after.updated_attributes.loan.loanAmount`);
 * - `flat`: `attrs` is that tree flattened to a `map<string, string>` with
 *   dot-path keys (`attrs["loan.loanAmount"]`), see `Flatten`.
 *
 * @since 0.1.0
 */
import * as Expression from "./Expression.ts"

/**
 * A record shape and the two environments compiled from it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Shape {
  readonly variables: Expression.Variables
  /** Path of the attribute subtree, e.g. `["after", "updated_attributes"]`. */
  readonly attributes: ReadonlyArray<string>
  readonly nested: Expression.Environment
  readonly flat: Expression.Environment
}

/**
 * The name under which both models expose the attribute subtree.
 *
 * @since 0.1.0
 * @category constants
 */
export const attributesVariable = "attrs"

/**
 * Declares a shape. `attributes` is a dot path (`"after.updated_attributes"`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: { readonly variables: Expression.Variables; readonly attributes: string }): Shape => {
  if (attributesVariable in options.variables) {
    throw new Error(`the variable name "${attributesVariable}" is reserved for the attribute subtree`)
  }
  return {
    variables: options.variables,
    attributes: options.attributes.split("."),
    nested: Expression.makeEnvironment({ ...options.variables, [attributesVariable]: "dyn" }),
    flat: Expression.makeEnvironment({ ...options.variables, [attributesVariable]: "map<string, string>" })
  }
}

/**
 * A Debezium change event (`before`, `after`, `source`, `op`, `ts_ms`, and
 * the record key as `key`), with the business attributes in
 * `after.updated_attributes` as in the seed's entity tables.
 *
 * @since 0.1.0
 * @category shapes
 */
export const debezium: Shape = make({
  variables: {
    op: "string",
    before: "dyn",
    after: "dyn",
    source: "map<string, dyn>",
    ts_ms: "dyn",
    key: "dyn"
  },
  attributes: "after.updated_attributes"
})

/**
 * Reads the value at `path` in `value`, or `undefined` when any step is missing.
 *
 * @since 0.1.0
 * @category combinators
 */
export const getPath = (value: unknown, path: ReadonlyArray<string>): unknown => {
  let current = value
  for (const step of path) {
    if (current === null || typeof current !== "object") return undefined
    current = (current as Record<string, unknown>)[step]
  }
  return current
}
