/**
 * The attribute column's text kept with the tree read from it, so a routed
 * output that carries the tree unchanged (the nested model) writes that text
 * again instead of serializing the tree: at 8 KB of attributes, writing the
 * tree was most of the cost of writing an output, and its text is already at
 * hand.
 *
 * The text is written as it was read: valid JSON (it was just parsed), with
 * its numbers' digits and its spacing as the source wrote them (PostgreSQL's
 * `jsonb` text puts a space after `:` and `,`). A tree the router rebuilt (the
 * flat model's map, a projection of part of it) has no text and is
 * serialized as before.
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"

// Trees as read, to the text they were read from; a tree no output holds any more is collected with its text.
const texts = new WeakMap<object, string>()

/**
 * Texts shorter than this are not remembered: serializing a small tree costs
 * less than splicing its text into the output (`cdc-route-cpu.bench.ts`
 * prints both ways of writing at a payload size).
 *
 * @since 0.1.0
 * @category constants
 */
export const minTextLength = 2048

/**
 * Remembers that `tree` was read from `text` (when the text is long enough to
 * be worth it); answers `tree`.
 *
 * @since 0.1.0
 * @category reading
 */
export const remember = <A>(tree: A, text: string, minLength: number = minTextLength): A => {
  if (text.length >= minLength && tree !== null && typeof tree === "object") texts.set(tree, text)
  return tree
}

// Stands in for a tree while the rest of the output is serialized. The NUL
// and the random part keep it from meeting a value of the record.
const nonce = randomUUID()
const placeholderOf = (row: string) => `\u0000${nonce}:${row}`

type Json = { readonly [k: string]: unknown }

/**
 * Writes `value` (an output of the router: a change event whose `before` and
 * `after` rows may hold the `column` tree) with `write`, the trees that have
 * a text written as that text.
 *
 * @since 0.1.0
 * @category writing
 */
export const stringify = (
  value: Json,
  column: string,
  write: (value: unknown) => string | undefined
): string | undefined => {
  let replaced: Json | undefined
  const splices: Array<readonly [string, string]> = []
  for (const row of ["before", "after"] as const) {
    const fields = value[row]
    if (fields === null || typeof fields !== "object") continue
    const tree = (fields as Json)[column]
    if (tree === null || typeof tree !== "object") continue
    const text = texts.get(tree)
    if (text === undefined) continue
    const placeholder = placeholderOf(row)
    replaced = { ...(replaced ?? value), [row]: { ...fields, [column]: placeholder } }
    splices.push([JSON.stringify(placeholder), text])
  }
  if (replaced === undefined) return write(value)
  let out = write(replaced)
  if (out === undefined) return undefined
  for (const [placeholder, text] of splices) {
    const at = out.indexOf(placeholder)
    // not found: the writer wrote the row otherwise; serialize the trees after all
    if (at < 0) return write(value)
    out = out.slice(0, at) + text + out.slice(at + placeholder.length)
  }
  return out
}
