/**
 * `sluice commerce anomalies` as a composition over `@sluice/core`: the
 * orders' contributions (`OrderStream`) re-keyed by customer, a keyed process
 * judging each new order by the rules of `Anomalies`, and each alert upserted
 * into `anomaly_alerts` (key `alert_id`) and written as JSON to the
 * `anomaly-alerts` topic.
 *
 * @since 0.3.0
 */
import type * as DeadLetter from "@sluice/core/DeadLetter"
import type * as Envelope from "@sluice/core/Envelope"
import * as Keyed from "@sluice/core/Keyed"
import * as Pipeline from "@sluice/core/Pipeline"
import type * as Repartition from "@sluice/core/Repartition"
import * as StateStore from "@sluice/core/StateStore"
import type { PgUpsertSink } from "@sluice/sinks"
import { BigDecimal, DateTime, Effect, Option, type Sink, type Stream } from "effect"
import * as Log from "../../Log.ts"
import * as Anomalies from "./Anomalies.ts"
import * as CommerceMetrics from "./CommerceMetrics.ts"
import type * as OrderDelta from "./OrderDelta.ts"
import * as OrderDeltaCodec from "./OrderDeltaCodec.ts"
import * as OrderStream from "./OrderStream.ts"

/**
 * An alert on one order.
 *
 * @since 0.3.0
 * @category models
 */
export interface OrderAlert extends Anomalies.Alert {
  readonly order: OrderDelta.OrderDelta
}

/**
 * The row of an alert.
 *
 * @since 0.3.0
 * @category rows
 */
export const toRow = (a: OrderAlert): PgUpsertSink.Row => ({
  alert_id: `${a.order.order_id}:${a.rule}`,
  customer_id: a.order.customer_id,
  order_id: a.order.order_id,
  anomaly_type: a.rule,
  severity: a.severity,
  description: a.description,
  order_amount: BigDecimal.scale(a.order.amount, 2),
  order_date: DateTime.makeUnsafe(a.order.at)
})

const encoder = new TextEncoder()

/**
 * The sinks of the job.
 *
 * @since 0.3.0
 * @category models
 */
export interface Sinks<E1, R1, E2, R2, E3, R3> {
  readonly alerts: Sink.Sink<unknown, Envelope.Envelope<PgUpsertSink.Row>, unknown, E1, R1>
  readonly topic: Sink.Sink<unknown, Envelope.Envelope<Uint8Array>, unknown, E2, R2>
  readonly deadLetters: Sink.Sink<unknown, Envelope.Envelope<DeadLetter.DeadLetter>, unknown, E3, R3>
}

/**
 * Runs the anomaly job until `records` ends or a sink fails.
 *
 * @since 0.3.0
 * @category running
 */
export const run = <E, R, E1, R1, E2, R2, E3, R3, E4>(
  records: Stream.Stream<Envelope.Envelope<Envelope.Payload>, E, R>,
  sinks: Sinks<E1, R1, E2, R2, E3, R3>,
  byCustomer: Repartition.Topic<E4>
) =>
  records.pipe(
    OrderStream.deltas(sinks.deadLetters),
    Pipeline.repartition(byCustomer, {
      key: (delta) => String(delta.customer_id),
      schema: OrderDeltaCodec.codec
    }),
    Keyed.process({
      name: "commerce-anomalies",
      key: (delta) => String(delta.customer_id),
      codec: StateStore.jsonCodec(Anomalies.State),
      timestamp: (delta) => delta.at,
      onRecord: (ctx, delta) => {
        if (delta.change !== "c") return Effect.succeed([])
        const judged = Anomalies.judge(
          Option.getOrElse(ctx.state, () => Anomalies.empty),
          delta.amount,
          delta.at
        )
        ctx.set(judged.state)
        return Effect.as(
          Effect.forEach(judged.alerts, (alert) => CommerceMetrics.countAlert(alert.rule, alert.severity), {
            discard: true
          }),
          judged.alerts.map((alert): OrderAlert => ({ ...alert, order: delta }))
        )
      }
    }),
    Pipeline.route((a) => {
      const row = toRow(a)
      const json = {
        alert_id: `${a.order.order_id}:${a.rule}`,
        customer_id: a.order.customer_id,
        order_id: a.order.order_id,
        anomaly_type: a.rule,
        severity: a.severity,
        description: a.description,
        order_amount: BigDecimal.format(BigDecimal.scale(a.order.amount, 2)),
        order_date: DateTime.formatIso(DateTime.makeUnsafe(a.order.at))
      }
      return [Pipeline.to("alerts", row), Pipeline.to("topic", encoder.encode(JSON.stringify(json)), a.rule)]
    }),
    Pipeline.runRouted({ alerts: sinks.alerts, topic: sinks.topic }),
    Log.withJob("commerce-anomalies")
  )
