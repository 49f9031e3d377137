/**
 * `sluice commerce segments` as a composition over `@sluice/core`: the
 * orders' contributions (`OrderStream`) re-keyed by customer through an
 * internal topic, a keyed process holding each customer's RFM state
 * (`Segments`) with event-time deadlines at the latest order + 30 and + 90
 * days (one pending timer, see `dueOf`), and two outputs: the customer's row, upserted into
 * `customer_segments`, and, when the segment changed, a JSON record on the
 * segment-changes topic. Event time is `order_date`; the watermark trails
 * the highest order date of each internal partition by 5 minutes.
 *
 * @since 0.3.0
 */
import type * as DeadLetter from "@sluice/core/DeadLetter"
import type * as Envelope from "@sluice/core/Envelope"
import * as Keyed from "@sluice/core/Keyed"
import * as Pipeline from "@sluice/core/Pipeline"
import type * as Repartition from "@sluice/core/Repartition"
import type { PgUpsertSink } from "@sluice/sinks"
import type { Stream } from "effect"
import { BigDecimal, Effect, Option, type Sink } from "effect"
import * as Log from "../../Log.ts"
import * as IsoTime from "./IsoTime.ts"
import * as OrderDelta from "./OrderDelta.ts"
import * as OrderDeltaCodec from "./OrderDeltaCodec.ts"
import * as OrderStream from "./OrderStream.ts"
import * as Segments from "./Segments.ts"
import * as StateCodec from "./StateCodec.ts"

/**
 * How far the watermark trails the highest order date.
 *
 * @since 0.3.0
 * @category constants
 */
export const outOfOrderness = 300_000

/**
 * What the keyed process emits for one change of a customer.
 *
 * @since 0.3.0
 * @category models
 */
export interface Update {
  readonly customerId: number
  readonly state: Segments.State
  readonly segment: Segments.Segment
  /** The previous segment, when it changed. */
  readonly changedFrom: Option.Option<Segments.Segment>
}

const initial = (at: number): Segments.State => ({
  frequency: 0,
  monetary: BigDecimal.fromBigInt(0n),
  lastOrderAt: null,
  asOf: at,
  idle: "active"
})

const atRisk = (last: number) => last + Segments.thresholds.atRiskDays * Segments.DAY
const churned = (last: number) => last + Segments.thresholds.churnedDays * Segments.DAY

/**
 * When the customer's next idle change is due: at-risk 30 days after the
 * latest order while active, churned 90 days after it while at risk.
 *
 * One event-time timer per customer, at or before this time, is kept
 * pending (`Keyed`'s timers are state like any other: each set or cancel is
 * a write to the store and its changelog). An order that moves the deadline
 * later leaves the pending timer alone; when that timer fires early, it sets
 * one at the current deadline. Cancelling and setting two timers on every
 * order was four timer writes per order, most of the job's state writes.
 */
const dueOf = (s: Segments.State): number | undefined =>
  s.lastOrderAt === null
    ? undefined
    : s.idle === "active"
      ? atRisk(s.lastOrderAt)
      : s.idle === "at-risk"
        ? churned(s.lastOrderAt)
        : undefined

const update = (
  customerId: number,
  before: Option.Option<Segments.State>,
  state: Segments.State
): ReadonlyArray<Update> => {
  const segment = Segments.segmentOf(state)
  const previous = Option.map(before, Segments.segmentOf)
  const changedFrom =
    Option.isSome(previous) && previous.value === segment
      ? Option.none()
      : Option.some(Option.getOrElse(previous, () => "None" as const))
  return [{ customerId, state, segment, changedFrom }]
}

/**
 * The customer row of an update.
 *
 * @since 0.3.0
 * @category rows
 */
export const toRow = (u: Update): PgUpsertSink.Row => ({
  customer_id: u.customerId,
  segment: u.segment,
  recency_days: Segments.recencyDays(u.state),
  frequency: u.state.frequency,
  monetary_value: BigDecimal.scale(u.state.monetary, 2),
  last_order_at: u.state.lastOrderAt === null ? null : IsoTime.format(u.state.lastOrderAt),
  as_of: IsoTime.format(u.state.asOf)
})

const encoder = new TextEncoder()

/**
 * The segment-change record of an update, as JSON bytes.
 *
 * @since 0.3.0
 * @category rows
 */
export const toChange = (u: Update, from: Segments.Segment): Uint8Array =>
  encoder.encode(
    JSON.stringify({
      customer_id: u.customerId,
      from,
      to: u.segment,
      frequency: u.state.frequency,
      monetary_value: BigDecimal.format(BigDecimal.scale(u.state.monetary, 2)),
      as_of: IsoTime.format(u.state.asOf)
    })
  )

/**
 * The sinks of the job.
 *
 * @since 0.3.0
 * @category models
 */
export interface Sinks<E1, R1, E2, R2, E3, R3> {
  readonly segments: Sink.Sink<unknown, Envelope.Envelope<PgUpsertSink.Row>, unknown, E1, R1>
  readonly changes: Sink.Sink<unknown, Envelope.Envelope<Uint8Array>, unknown, E2, R2>
  readonly deadLetters: Sink.Sink<unknown, Envelope.Envelope<DeadLetter.DeadLetter>, unknown, E3, R3>
}

/**
 * The job's stream of customer updates, for `run` and tests.
 *
 * @since 0.3.0
 * @category running
 */
export const updates = <E, R, E3, R3, E4>(
  records: Stream.Stream<Envelope.Envelope<Envelope.Payload>, E, R>,
  deadLetters: Sink.Sink<unknown, Envelope.Envelope<DeadLetter.DeadLetter>, unknown, E3, R3>,
  byCustomer: Repartition.Topic<E4>
) =>
  records.pipe(
    OrderStream.deltas(deadLetters),
    Pipeline.repartition(byCustomer, {
      key: (delta) => String(delta.customer_id),
      schema: OrderDeltaCodec.codec
    }),
    Keyed.process({
      name: "commerce-segments",
      key: (delta) => String(delta.customer_id),
      codec: StateCodec.codec,
      timestamp: (delta) => delta.at,
      watermark: { outOfOrderness },
      onRecord: (ctx, delta) => {
        const before = ctx.state
        const current = Option.getOrElse(before, () => initial(delta.at))
        let next: Segments.State = {
          ...current,
          frequency: current.frequency + delta.sign,
          monetary: BigDecimal.sum(current.monetary, OrderDelta.signedAmount(delta))
        }
        // Only a later order moves the latest order date, and with it the deadlines.
        if (delta.sign === 1 && (current.lastOrderAt === null || delta.at > current.lastOrderAt)) {
          const pending = dueOf(current)
          next = { ...next, lastOrderAt: delta.at, asOf: delta.at, idle: "active" }
          // A timer at or before the old deadline is pending; the new one is later unless the
          // customer was at risk (its timer is then at the churn date) or churned (none pending).
          const due = atRisk(delta.at)
          if (pending === undefined || pending > due) ctx.setTimer(due, "event-time")
        }
        ctx.set(next)
        return Effect.succeed(update(Number(ctx.key), before, next))
      },
      onTimer: (ctx, timer) => {
        if (Option.isNone(ctx.state)) return Effect.succeed([])
        let state = ctx.state.value
        let due = dueOf(state)
        if (due === undefined) return Effect.succeed([])
        // An earlier deadline, since moved by a later order: wait for the current one.
        if (timer.time < due) {
          ctx.setTimer(due, "event-time")
          return Effect.succeed([])
        }
        const out: Array<Update> = []
        // Every change due by the timer's time, each as of its own deadline.
        while (due !== undefined && due <= timer.time) {
          const before = state
          state = { ...state, idle: state.idle === "active" ? "at-risk" : "churned", asOf: due }
          out.push(...update(Number(ctx.key), Option.some(before), state))
          due = dueOf(state)
        }
        if (due !== undefined) ctx.setTimer(due, "event-time")
        ctx.set(state)
        return Effect.succeed(out)
      }
    }),
    Pipeline.route((u) =>
      Option.match(u.changedFrom, {
        onNone: () => [Pipeline.to("segments", toRow(u))],
        onSome: (from) => [Pipeline.to("segments", toRow(u)), Pipeline.to("changes", toChange(u, from), u.segment)]
      })
    )
  )

/**
 * Runs the segmentation job until `records` ends or a sink fails.
 *
 * @since 0.3.0
 * @category running
 */
export const run = <E, R, E1, R1, E2, R2, E3, R3, E4>(
  records: Stream.Stream<Envelope.Envelope<Envelope.Payload>, E, R>,
  sinks: Sinks<E1, R1, E2, R2, E3, R3>,
  byCustomer: Repartition.Topic<E4>
) =>
  updates(records, sinks.deadLetters, byCustomer).pipe(
    Pipeline.runRouted({ segments: sinks.segments, changes: sinks.changes }),
    Log.withJob("commerce-segments")
  )
