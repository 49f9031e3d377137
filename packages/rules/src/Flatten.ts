/**
 * The flat data model: a JSON tree turned into one string map whose keys are
 * dot paths, the shape of a Flink `MAP<STRING, STRING>` of attributes.
 *
 * `{ loan: { loanAmount: 50000, tags: ["a", "b"], closedAt: null } }` becomes
 * `{ "loan.loanAmount": "50000", "loan.tags.0": "a", "loan.tags.1": "b" }`:
 *
 * - objects and arrays contribute one key per leaf; array elements are keyed
 *   by their index;
 * - a number is written as its JSON text (the shortest text that reads back as
 *   the same number, so `0.1` stays `"0.1"` and `1e21` is `"1e+21"`); a bigint
 *   by its digits; booleans as `"true"` / `"false"`; strings unchanged;
 * - `null` has no key, as a missing value in a SQL map, so `"k" in attrs`
 *   tells present values from absent ones; an empty object or array has no
 *   key either;
 * - a scalar at the root has no path to go under and gives an empty map.
 *
 * A tree that is already flat (every value a string) is returned unchanged.
 * Keys that themselves contain dots are not escaped, as in the seed's model:
 * `{ "a.b": 1 }` and `{ a: { b: 1 } }` flatten alike.
 *
 * @since 0.1.0
 */

/**
 * A flattened tree: dot paths to string values. A map built by `flatten` has
 * no prototype, so a key such as `__proto__` is an ordinary key.
 *
 * @since 0.1.0
 * @category models
 */
export type FlatMap = Record<string, string>

const leafText = (value: unknown): string | undefined => {
  switch (typeof value) {
    case "string":
      return value
    case "number":
      // the same text JSON.stringify writes for a finite number
      return String(value)
    case "bigint":
      return value.toString()
    case "boolean":
      return value ? "true" : "false"
    default:
      return undefined
  }
}

const walk = (out: FlatMap, prefix: string, value: unknown): void => {
  if (value === null || value === undefined) return
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) walk(out, prefix === "" ? String(i) : `${prefix}.${i}`, value[i])
    return
  }
  if (typeof value === "object") {
    const keys = Object.keys(value)
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!
      walk(out, prefix === "" ? key : `${prefix}.${key}`, (value as Record<string, unknown>)[key])
    }
    return
  }
  if (prefix === "") return
  const text = leafText(value)
  if (text !== undefined) out[prefix] = text
}

/**
 * Whether `value` is already a flat map: an object (not an array) whose own
 * values are all strings.
 *
 * @since 0.1.0
 * @category guards
 */
export const isFlat = (value: unknown): value is FlatMap => {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false
  // Object.keys over for-in: a map of hundreds of keys is in dictionary mode, where for-in is about twice as slow
  const keys = Object.keys(value)
  for (let i = 0; i < keys.length; i++) {
    if (typeof (value as Record<string, unknown>)[keys[i]!] !== "string") return false
  }
  return true
}

/**
 * Flattens a JSON tree into a string map with dot-path keys. A map that is
 * already flat is returned as it is, not copied, so records that arrive in the
 * flat model cost one scan.
 *
 * @since 0.1.0
 * @category constructors
 */
export const flatten = (value: unknown): FlatMap => {
  if (isFlat(value)) return value
  const out: FlatMap = Object.create(null)
  walk(out, "", value)
  return out
}
