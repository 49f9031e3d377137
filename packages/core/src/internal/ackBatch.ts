/**
 * Acknowledging a chunk as one step. While `Receipt.ackAll` acknowledges a
 * chunk's receipts, plain-code receipts can leave the work that is the same
 * for every record (reading the clock, updating a metric, waking waiters) to
 * the end of the chunk: they register a flush here once per chunk and
 * accumulate into it, rather than paying a metric lookup per record.
 *
 * JavaScript runs one `ackAll` loop at a time (the loop is synchronous), so
 * one module-level batch is enough; nested batches flush at the outermost end.
 */

let depth = 0
let flushes: Array<() => void> = []

/** Whether an `ackAll` loop is acknowledging a chunk right now. */
export const active = (): boolean => depth > 0

/**
 * Runs `flush` when the current batch ends. Call it only while `active()`,
 * once per batch and consumer (keep a flag: `flush` should clear it).
 */
export const atEnd = (flush: () => void): void => {
  flushes.push(flush)
}

/**
 * Runs `body` as one batch: receipts acknowledged inside it may defer their
 * per-chunk work to its end. Flushes run even if `body` throws.
 */
export const run = (body: () => void): void => {
  depth++
  try {
    body()
  } finally {
    if (--depth === 0 && flushes.length > 0) {
      const pending = flushes
      flushes = []
      for (const flush of pending) flush()
    }
  }
}
