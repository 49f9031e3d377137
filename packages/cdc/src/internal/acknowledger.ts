/**
 * What the capture tells the server about its progress. The slot's confirmed
 * position is the only thing that decides what the server sends again after
 * a restart, so it moves only when the caller acknowledges, with one
 * exception that cannot lose anything: when every emitted record is
 * acknowledged and no transaction is open, a keepalive's position (all WAL
 * the server has already looked at) is confirmed, so quiet tables do not
 * hold WAL.
 */
import { Clock, Effect } from "effect"
import * as Pgoutput from "./pgoutput.ts"

export interface Acknowledger {
  /**
   * Starts sending status updates through `send` (the replication stream).
   * `floor` is the slot's confirmed position when the stream starts: no
   * status goes below it (a snapshot acknowledged only in part would
   * otherwise report a position just before it).
   */
  readonly attach: (send: (message: Buffer) => void, floor?: bigint) => Effect.Effect<void>
  readonly detach: Effect.Effect<void>
  /** Every record with `lsn` at most this one is durable. */
  readonly acknowledge: (lsn: bigint) => Effect.Effect<void>
  /** A record with this `lsn` was handed to the consumer. */
  readonly emitted: (lsn: bigint) => void
  readonly inTransaction: (open: boolean) => void
  readonly keepalive: (walEnd: bigint, replyRequested: boolean) => Effect.Effect<void>
  /** Repeats the last status, so the server hears from us on quiet streams. */
  readonly tick: Effect.Effect<void>
  readonly acknowledged: Effect.Effect<bigint>
}

export const make = (): Acknowledger => {
  let acked = -1n
  let lastEmitted = -1n
  let open = false
  let confirmed = -1n
  let send: ((message: Buffer) => void) | undefined

  const report = (flush: bigint, force: boolean) =>
    Effect.gen(function* () {
      if (send === undefined || flush < 0n || (flush <= confirmed && !force)) return
      if (flush > confirmed) confirmed = flush
      send(Pgoutput.statusUpdate(confirmed, yield* Clock.currentTimeMillis))
    })

  // "Flushed up to lsn + 1": the transaction whose commit is at `lsn` is done.
  const ackedFlush = () => (acked < 0n ? -1n : acked + 1n)

  return {
    attach: (s, floor = -1n) =>
      Effect.suspend(() => {
        send = s
        if (floor > confirmed) confirmed = floor
        // A new stream starts outside any transaction.
        open = false
        return report(ackedFlush(), true)
      }),
    detach: Effect.sync(() => {
      send = undefined
    }),
    acknowledge: (lsn) =>
      Effect.suspend(() => {
        if (lsn > acked) acked = lsn
        return report(ackedFlush(), false)
      }),
    emitted: (lsn) => {
      if (lsn > lastEmitted) lastEmitted = lsn
    },
    inTransaction: (o) => {
      open = o
    },
    keepalive: (walEnd, replyRequested) =>
      Effect.suspend(() => {
        const idle = !open && lastEmitted <= acked
        return report(idle && walEnd > ackedFlush() ? walEnd : ackedFlush(), replyRequested)
      }),
    tick: Effect.suspend(() => report(confirmed, true)),
    acknowledged: Effect.sync(() => acked)
  }
}
