/**
 * PostgreSQL log sequence numbers. The server prints an LSN as two hex halves
 * (`16/B374D848`); the replication protocol carries it as a 64-bit integer.
 * Here it is a `bigint`, so LSNs compare with `<` and survive JSON as exact
 * integers.
 *
 * @since 0.1.0
 */

/**
 * A position in the write-ahead log.
 *
 * @since 0.1.0
 * @category models
 */
export type Lsn = bigint

/**
 * Reads `X/Y` text.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (text: string): Lsn => {
  const [hi, lo] = text.split("/")
  if (hi === undefined || lo === undefined || !/^[0-9A-Fa-f]{1,8}$/.test(hi) || !/^[0-9A-Fa-f]{1,8}$/.test(lo)) {
    throw new RangeError(`not an LSN: ${text}`)
  }
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`)
}

/**
 * Writes `X/Y` text, as PostgreSQL prints it.
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (lsn: Lsn): string =>
  `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`
