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
import * as Envelope from "@sluice/core/Envelope"
import * as Pipeline from "@sluice/core/Pipeline"
import { type BigDecimal, Effect, type Result, type Sink, Stream } from "effect"
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
 * How the job reads enriched payments and writes large ones when they are
 * not JSON (the Avro topics, see `ClaimsAvro`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Codec<E> {
  readonly decode: <ES, RS>(
    records: Stream.Stream<Envelope.Envelope<Envelope.Payload>, ES, RS>
  ) => Stream.Stream<
    Envelope.Envelope<Result.Result<EnrichedPayment.EnrichedPayment, DeadLetter.DeadLetter>>,
    ES | E,
    RS
  >
  readonly encode: (payment: EnrichedPayment.EnrichedPayment) => Effect.Effect<Uint8Array, E>
}

/**
 * Options of `run`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<ES, RS, S extends Sinks, CE = never> {
  /** The enriched payments, e.g. a Kafka source's stream. */
  readonly records: Stream.Stream<Envelope.Envelope<Envelope.Payload>, ES, RS>
  readonly sinks: S
  /** The smallest claim amount that is large. */
  readonly threshold: BigDecimal.BigDecimal
  /** Reads and writes values other than JSON; JSON when absent. */
  readonly codec?: Codec<CE> | undefined
}

/**
 * Runs the large-claims job until `records` ends or a sink fails. Written
 * records are counted by `sluice_records_out_total` with output `large` and
 * status `LARGE`.
 *
 * @since 0.1.0
 * @category running
 */
export const run = <ES, RS, S extends Sinks, CE = never>(
  options: Options<ES, RS, S, CE>
): Effect.Effect<void, ES | CE | SinkError<S[keyof S]>, RS | SinkServices<S[keyof S]>> => {
  const codec = options.codec
  if (codec !== undefined) {
    return codec.decode(options.records).pipe(
      Pipeline.deadLetters(options.sinks.deadLetters),
      Pipeline.filter((payment) => LargeClaims.isLarge(payment, options.threshold)),
      Stream.mapEffect((e) => Effect.map(codec.encode(e.value), (bytes) => Envelope.make(e.origin, bytes, e.receipt))),
      Pipeline.route((bytes) => [Pipeline.to("large", bytes, "LARGE")]),
      Pipeline.runRouted({ large: options.sinks.large }),
      Log.withJob("large-claims")
    ) as Effect.Effect<void, ES | CE | SinkError<S[keyof S]>, RS | SinkServices<S[keyof S]>>
  }
  return options.records.pipe(
    decodeRecords(EnrichedPayment.decode),
    Pipeline.deadLetters(options.sinks.deadLetters),
    Pipeline.filter((payment) => LargeClaims.isLarge(payment, options.threshold)),
    Pipeline.route((payment) => [Pipeline.to("large", EnrichedPayment.encode(payment), "LARGE")]),
    Pipeline.runRouted({ large: options.sinks.large }),
    Log.withJob("large-claims")
  ) as Effect.Effect<void, ES | SinkError<S[keyof S]>, RS | SinkServices<S[keyof S]>>
}
