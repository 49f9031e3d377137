/**
 * The large-claims job as a composition over `@sluice/core`: it reads the
 * enriched payments, keeps those whose claim was found with an amount at or
 * above the threshold (`LargeClaims.isLarge`) and writes them to the `large`
 * sink; the other records are acknowledged and dropped, and undecodable ones
 * go to the dead-letter sink with the reason. Outputs keep their input's
 * origin, so a Kafka sink writes them under the same key.
 *
 * @since 0.1.0
 */
import type * as DeadLetter from "@sluice/core/DeadLetter"
import type * as Envelope from "@sluice/core/Envelope"
import * as Pipeline from "@sluice/core/Pipeline"
import type { BigDecimal, Effect, Sink, Stream } from "effect"
import { decodeRecords } from "../internal/decodeRecords.ts"
import * as Log from "../Log.ts"
import * as EnrichedPayment from "./EnrichedPayment.ts"
import * as LargeClaims from "./LargeClaims.ts"

/**
 * The sinks of the job: `large` receives JSON bytes, `deadLetters` the
 * undecodable records.
 *
 * @since 0.1.0
 * @category models
 */
export interface Sinks<E, R> {
  readonly large: Sink.Sink<unknown, Envelope.Envelope<Uint8Array>, unknown, E, R>
  readonly deadLetters: Sink.Sink<unknown, Envelope.Envelope<DeadLetter.DeadLetter>, unknown, E, R>
}

/**
 * Options of `run`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<ES, RS, EK, RK> {
  /** The enriched payments, e.g. a Kafka source's stream. */
  readonly records: Stream.Stream<Envelope.Envelope<Envelope.Payload>, ES, RS>
  readonly sinks: Sinks<EK, RK>
  /** The smallest claim amount that is large. */
  readonly threshold: BigDecimal.BigDecimal
}

/**
 * Runs the large-claims job until `records` ends or a sink fails. Written
 * records are counted by `sluice_records_out_total` with output `large` and
 * status `LARGE`.
 *
 * @since 0.1.0
 * @category running
 */
export const run = <ES, RS, EK, RK>(options: Options<ES, RS, EK, RK>): Effect.Effect<void, ES | EK, RS | RK> =>
  options.records.pipe(
    decodeRecords(EnrichedPayment.decode),
    Pipeline.deadLetters(options.sinks.deadLetters),
    Pipeline.filter((payment) => LargeClaims.isLarge(payment, options.threshold)),
    Pipeline.route((payment) => [Pipeline.to("large", EnrichedPayment.encode(payment), "LARGE")]),
    Pipeline.runRouted({ large: options.sinks.large }),
    Log.withJob("large-claims")
  )
