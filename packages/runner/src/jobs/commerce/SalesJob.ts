/**
 * `sluice commerce sales` as a composition over `@sluice/core`: the orders'
 * contributions (`OrderStream`) in hopping windows of one hour sliding by
 * five minutes (`SalesMetrics`), each change of a window upserted into
 * `realtime_sales_metrics` (key `metric_id`, the window's start and end), the
 * input records acknowledged once the rows they changed are committed.
 *
 * The windows are one global aggregate, so the job reads the `orders` topic
 * as one stream of event time: the topic must have one partition (what
 * Debezium creates for a table), and the command refuses another count.
 * Event time is `order_date`; the watermark trails the highest order date by
 * 5 minutes, and a window accepts orders until 10 minutes past its end.
 * An order whose every window has closed is late: it changes nothing and is
 * counted in `sluice_late_events_total`. Each window a chunk of orders
 * changed is upserted once per chunk (`emit: "coalesced"`), with its value
 * at the end of the chunk.
 *
 * @since 0.3.0
 */
import type * as DeadLetter from "@sluice/core/DeadLetter"
import type * as Envelope from "@sluice/core/Envelope"
import * as Pipeline from "@sluice/core/Pipeline"
import * as Window from "@sluice/core/Window"
import type { PgUpsertSink } from "@sluice/sinks"
import { Option, type Sink, Stream } from "effect"
import * as Log from "../../Log.ts"
import * as IsoTime from "./IsoTime.ts"
import * as OrderStream from "./OrderStream.ts"
import * as SalesMetrics from "./SalesMetrics.ts"

/**
 * The windows' settings.
 *
 * @since 0.3.0
 * @category constants
 */
export const settings = {
  size: 3_600_000,
  slide: 300_000,
  grace: 600_000,
  outOfOrderness: 300_000
} as const

/**
 * The key of a window's row: its start and end in ISO 8601.
 *
 * @since 0.3.0
 * @category rows
 */
export const metricId = (start: number, end: number): string => `${IsoTime.format(start)}/${IsoTime.format(end)}`

/**
 * The row of a window.
 *
 * @since 0.3.0
 * @category rows
 */
export const toRow = (result: Window.Result<SalesMetrics.Metrics>): PgUpsertSink.Row => ({
  metric_id: metricId(result.start, result.end),
  window_start: IsoTime.format(result.start),
  window_end: IsoTime.format(result.end),
  total_revenue: result.value.totalRevenue,
  order_count: result.value.orderCount,
  avg_order_value: Option.getOrNull(result.value.averageOrderValue),
  unique_customers: result.value.uniqueCustomers
})

/**
 * The sinks of the job.
 *
 * @since 0.3.0
 * @category models
 */
export interface Sinks<E1, R1, E2, R2> {
  /** Upserts rows of `realtime_sales_metrics`. */
  readonly metrics: Sink.Sink<unknown, Envelope.Envelope<PgUpsertSink.Row>, unknown, E1, R1>
  readonly deadLetters: Sink.Sink<unknown, Envelope.Envelope<DeadLetter.DeadLetter>, unknown, E2, R2>
}

/**
 * The job's stream, up to the rows, for `run` and tests.
 *
 * @since 0.3.0
 * @category running
 */
export const rows = <E, R, E2, R2>(
  records: Stream.Stream<Envelope.Envelope<Envelope.Payload>, E, R>,
  deadLetters: Sink.Sink<unknown, Envelope.Envelope<DeadLetter.DeadLetter>, unknown, E2, R2>
) =>
  records.pipe(
    OrderStream.deltas(deadLetters),
    Window.aggregate({
      name: "commerce-sales",
      key: () => "all",
      timestamp: (delta) => delta.at,
      window: Window.hopping({ size: settings.size, slide: settings.slide }),
      aggregator: SalesMetrics.aggregator,
      grace: settings.grace,
      emit: "coalesced",
      watermark: { outOfOrderness: settings.outOfOrderness }
    }),
    Pipeline.filter(Window.isResult),
    Stream.map((e) => ({ ...e, value: toRow(e.value as Window.Result<SalesMetrics.Metrics>) }))
  )

/**
 * Runs the sales job until `records` ends or a sink fails.
 *
 * @since 0.3.0
 * @category running
 */
export const run = <E, R, E1, R1, E2, R2>(
  records: Stream.Stream<Envelope.Envelope<Envelope.Payload>, E, R>,
  sinks: Sinks<E1, R1, E2, R2>
) => rows(records, sinks.deadLetters).pipe(Stream.run(sinks.metrics), Log.withJob("commerce-sales"))
