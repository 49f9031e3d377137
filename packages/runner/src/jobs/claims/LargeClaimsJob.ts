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
import * as Log from "../../Log.ts"
import { decodeRecords } from "../../records/DecodeRecords.ts"
import type { SinkError, SinkServices } from "../../records/SinkTypes.ts"
import * as EnrichedPayment from "./EnrichedPayment.ts"
import * as LargeClaims from "./LargeClaims.ts"

/**
 * The sinks of the job: `large` receives JSON bytes, `deadLetters` the
 * undecodable records.
 *
 * @since 0.1.0
 * @category models
 */
export interface Sinks {
  readonly large: Sink.Sink<unknown, Envelope.Envelope<Uint8Array>, unknown, unknown, unknown>
  readonly deadLetters: Sink.Sink<unknown, Envelope.Envelope<DeadLetter.DeadLetter>, unknown, unknown, unknown>
}

/**
 * Options of `run`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<ES, RS, S extends Sinks> {
  /** The enriched payments, e.g. a Kafka source's stream. */
  readonly records: Stream.Stream<Envelope.Envelope<Envelope.Payload>, ES, RS>
  readonly sinks: S
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
export const run = <ES, RS, S extends Sinks>(
  options: Options<ES, RS, S>
): Effect.Effect<void, ES | SinkError<S[keyof S]>, RS | SinkServices<S[keyof S]>> =>
  options.records.pipe(
    decodeRecords(EnrichedPayment.decode),
    Pipeline.deadLetters(options.sinks.deadLetters),
    Pipeline.filter((payment) => LargeClaims.isLarge(payment, options.threshold)),
    Pipeline.route((payment) => [Pipeline.to("large", EnrichedPayment.encode(payment), "LARGE")]),
    Pipeline.runRouted({ large: options.sinks.large }),
    Log.withJob("large-claims")
  ) as Effect.Effect<void, ES | SinkError<S[keyof S]>, RS | SinkServices<S[keyof S]>>
