/**
 * Writes a routed output as the text of the change event it was read from,
 * instead of serializing the tree again: the event's own text with the
 * attribute column's JSON string written as the JSON it holds (or, in the
 * flat model, as the flat map) and `filterMetadata` added at the end.
 *
 * Why: an output that carries the event unchanged (no projection) is its
 * input plus two edits, and serializing the whole tree again was the
 * largest part of writing it (at 400 B, as much as parsing it). The text
 * is written as the source wrote it (its spacing, every digit of its
 * numbers), still JSON with the same values as the serialized tree.
 *
 * Only used where the edits are certain; anything else answers `undefined`
 * and the caller serializes the tree:
 *
 * - the event is the whole record value (no `{ schema, payload }` wrapper),
 *   and has no field of its own named `key` or `filterMetadata` (the router
 *   adds or replaces those);
 * - every field of the output other than `before` and `after` is the very
 *   value read, and each row is either the row read or a copy of it that
 *   differs only in the attribute column;
 * - each row whose column was a JSON string is found in the text as that
 *   string, written as `JSON.stringify` writes it, once per such row; the
 *   column appears as a key nowhere else.
 *
 * @since 0.1.0
 */

type Json = { readonly [k: string]: unknown }

/**
 * A row of the event as read: the row the router sees (its attribute column
 * parsed into a tree) and the column's text.
 *
 * @since 0.1.0
 * @category models
 */
export interface RowSource {
  readonly decoded: Json
  readonly raw: string
}

/**
 * The text of a change event and its rows whose attribute column was a JSON string.
 *
 * @since 0.1.0
 * @category models
 */
export interface Source {
  readonly text: string
  readonly before: RowSource | undefined
  readonly after: RowSource | undefined
}

const rowNames = ["before", "after"] as const

// A row of the output: the row read (its column written as the column's text) or a copy with a new column value.
const rowReplacement = (
  output: unknown,
  read: unknown,
  source: RowSource | undefined,
  column: string
): string | null | undefined => {
  if (source === undefined) return output === read ? null : undefined
  if (output === source.decoded) return source.raw
  if (output === null || typeof output !== "object") return undefined
  const row = output as Json
  const keys = Object.keys(row)
  if (keys.length !== Object.keys(source.decoded).length) return undefined
  for (const k of keys) if (k !== column && row[k] !== source.decoded[k]) return undefined
  try {
    return JSON.stringify(row[column])
  } catch {
    return undefined
  }
}

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09

/**
 * The output's text, or `undefined` when it must be serialized. `record` is
 * the router's input for the event, `output` a routed value of it (with
 * `filterMetadata`), `column` the attribute column.
 *
 * @since 0.1.0
 * @category writing
 */
export const write = (
  source: Source,
  record: Json,
  output: Json & { readonly filterMetadata: unknown },
  column: string
): string | undefined => {
  const keys = Object.keys(output)
  // the record's fields (its `key` among them) plus `filterMetadata`
  if (keys.length !== Object.keys(record).length + 1) return undefined
  for (const k of keys) {
    if (k === "filterMetadata" || k === "before" || k === "after") continue
    if (!(k in record) || output[k] !== record[k]) return undefined
  }
  const replacements: Array<readonly [string, string]> = []
  for (const name of rowNames) {
    const source_ = source[name]
    const replacement = rowReplacement(output[name], record[name], source_, column)
    if (replacement === undefined) return undefined
    if (replacement !== null && source_ !== undefined) replacements.push([JSON.stringify(source_.raw), replacement])
  }
  // Two rows with the same text but different replacements could not be told apart.
  if (replacements.length === 2 && replacements[0]![0] === replacements[1]![0]) {
    if (replacements[0]![1] !== replacements[1]![1]) return undefined
  }
  const text = source.text
  const needle = JSON.stringify(column)
  let out = ""
  let from = 0
  let found = 0
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + needle.length)) {
    // an escaped quote inside some other string, not the start of a key
    if (at > 0 && text.charCodeAt(at - 1) === 0x5c) continue
    let i = at + needle.length
    while (i < text.length && isSpace(text.charCodeAt(i))) i++
    // not a key (a string value that happens to be the column's name)
    if (text.charCodeAt(i) !== 0x3a) continue
    i++
    while (i < text.length && isSpace(text.charCodeAt(i))) i++
    if (text.charCodeAt(i) !== 0x22) continue // not a string: no row of `replacements`, left as written
    const match = replacements.find(([literal]) => text.startsWith(literal, i))
    if (match === undefined) return undefined
    out += text.slice(from, i) + match[1]
    from = i + match[0].length
    found++
  }
  if (found !== replacements.length) return undefined
  let end = text.length
  while (end > from && isSpace(text.charCodeAt(end - 1))) end--
  if (end === from || text.charCodeAt(end - 1) !== 0x7d) return undefined
  return `${out}${text.slice(from, end - 1)},"filterMetadata":${JSON.stringify(output.filterMetadata)}}`
}
