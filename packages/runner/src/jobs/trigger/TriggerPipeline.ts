/**
 * The event trigger as a composition over `@sluice/core`: events are
 * decoded (invalid ones logged, counted and sent to the dead-letter sink),
 * enriched a chunk at a time by the state manager, filtered by the script
 * filter (a runtime error rejects the event and is counted), and every
 * passing event goes through each configured action. What an action could
 * not deliver goes to the `failed` sink as JSON; a record is acknowledged
 * once its state is durable, its actions are done and its failures written.
 *
 * The pipeline knows neither Kafka nor HTTP: records, sinks, the state
 * manager, the filter and the actions are parameters.
 *
 * @since 0.1.0
 */
import { type DeadLetter, type Envelope, Pipeline, Receipt, type StateError } from "@sluice/core"
import type { ScriptFilter } from "@sluice/rules"
import { Effect, Result, type Sink, Stream } from "effect"
import * as Actions from "./Actions.ts"
import * as Deliveries from "./Deliveries.ts"
import type * as StateManager from "./StateManager.ts"
import * as TriggerFilter from "./TriggerFilter.ts"
import * as TriggerMetrics from "./TriggerMetrics.ts"
import * as UserEvent from "./UserEvent.ts"

/**
 * Where undeliverable actions and undecodable records go.
 *
 * @since 0.1.0
 * @category models
 */
export interface Sinks<E1, R1, E2, R2> {
  readonly failed: Sink.Sink<unknown, Envelope.Envelope<Uint8Array>, unknown, E1, R1>
  readonly deadLetters: Sink.Sink<unknown, Envelope.Envelope<DeadLetter.DeadLetter>, unknown, E2, R2>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<E, R, E1, R1, E2, R2> {
  readonly records: Stream.Stream<Envelope.Envelope<Envelope.Payload>, E, R>
  readonly sinks: Sinks<E1, R1, E2, R2>
  readonly state: StateManager.StateManager
  readonly filter: ScriptFilter.ScriptFilter["Service"]
  readonly actions: ReadonlyArray<Actions.Action>
  /** Deliveries in flight at once over all users; 64 by default. */
  readonly deliveriesInFlight?: number | undefined
  /** Chunks whose deliveries may start while an older one is still delivering; 4 by default. */
  readonly chunksAhead?: number | undefined
}

const utf8 = new TextEncoder()
const none: ReadonlyArray<Actions.Failed> = []

// The filter's decisions on a chunk, in order: one evaluation per event and one metric update per
// outcome, with no effect per event (most events are rejected and need nothing else). A runtime error
// is a rejection, counted and logged.
const decideAll = (
  filter: ScriptFilter.ScriptFilter["Service"],
  enriched: ReadonlyArray<Envelope.Envelope<StateManager.Enriched>>
): Effect.Effect<Array<boolean>> =>
  Effect.flatMap(filter.testAll(enriched.map((e) => TriggerFilter.context(e.value))), (results) =>
    Effect.gen(function* () {
      const pass: Array<boolean> = new Array(results.length)
      let passed = 0
      let rejected = 0
      const errors: Array<number> = []
      for (let i = 0; i < results.length; i++) {
        const result = results[i]!
        if (Result.isFailure(result)) {
          errors.push(i)
          pass[i] = false
        } else {
          pass[i] = result.success
          if (result.success) passed++
          else rejected++
        }
      }
      if (passed > 0) yield* TriggerMetrics.count(TriggerMetrics.filterDecisions, { outcome: "pass" }, passed)
      if (rejected > 0) yield* TriggerMetrics.count(TriggerMetrics.filterDecisions, { outcome: "reject" }, rejected)
      if (errors.length > 0) {
        yield* TriggerMetrics.count(TriggerMetrics.filterDecisions, { outcome: "error" }, errors.length)
        for (const i of errors) {
          const result = results[i]!
          yield* Effect.logWarning("filter failed on an event; rejected").pipe(
            Effect.annotateLogs({
              event_id: enriched[i]!.value.event.event_id,
              error: Result.isFailure(result) ? result.failure.message : ""
            })
          )
        }
      }
      return pass
    })
  )

/** Deliveries in flight at once over all users, as in the hand-written loop of the benchmark. */
const DELIVERIES_IN_FLIGHT = 64
/**
 * Chunks enriched and filtered, their deliveries started, ahead of the
 * oldest chunk still delivering. Bounds the records held in the job on top
 * of what the source tracks.
 */
const CHUNKS_AHEAD = 4

// A chunk whose deliveries are under way.
interface Started {
  readonly enriched: ReadonlyArray<Envelope.Envelope<StateManager.Enriched>>
  readonly passing: ReadonlyArray<number>
  readonly outcomes: Effect.Effect<Array<ReadonlyArray<Actions.Failed>>>
}

/**
 * The undeliverable actions of a chunk of events, each a child of its
 * record's receipt; the records' own share is acknowledged here, once every
 * action of the chunk is done.
 *
 * Chunks are enriched and filtered in order, one at a time; their actions
 * run through `Deliveries`: at most 64 deliveries in flight over all users,
 * each user's in the order of its events, and the next chunks' deliveries
 * start while a chunk's last ones finish (up to `CHUNKS_AHEAD` chunks).
 *
 * @since 0.1.0
 * @category running
 */
export const stream = <E, R, E1, R1, E2, R2>(options: Options<E, R, E1, R1, E2, R2>) =>
  Stream.unwrap(
    Effect.map(Deliveries.make({ concurrency: options.deliveriesInFlight ?? DELIVERIES_IN_FLIGHT }), (deliveries) =>
      options.records.pipe(
        Pipeline.decode(UserEvent.fromJson),
        Pipeline.deadLetters(options.sinks.deadLetters),
        Stream.chunks,
        Stream.mapEffect(
          (chunk): Effect.Effect<Started, StateError.StateError> =>
            Effect.gen(function* () {
              const enriched = yield* options.state.enrich(chunk)
              const pass = yield* decideAll(options.filter, enriched)
              // Only the passing events run actions.
              const passing: Array<number> = []
              for (let i = 0; i < pass.length; i++) if (pass[i]) passing.push(i)
              const outcomes = yield* deliveries.submit(
                passing.map((i) => {
                  const value = enriched[i]!.value
                  return {
                    user: value.event.user_id,
                    run: Effect.suspend(() => Actions.runAll(options.actions, TriggerFilter.toJson(value)))
                  }
                })
              )
              return { enriched, passing, outcomes }
            })
        ),
        Stream.buffer({ capacity: options.chunksAhead ?? CHUNKS_AHEAD }),
        Stream.mapEffect((started) =>
          Effect.gen(function* () {
            const { enriched, passing } = started
            const outcomes = yield* started.outcomes
            const failures: Array<ReadonlyArray<Actions.Failed>> = new Array(enriched.length).fill(none)
            for (let k = 0; k < passing.length; k++) failures[passing[k]!] = outcomes[k]!
            const out: Array<Envelope.Envelope<Uint8Array>> = []
            const done: Array<Receipt.Receipt> = []
            for (let i = 0; i < enriched.length; i++) {
              const e = enriched[i]!
              const failed = failures[i]!
              const receipts = Receipt.children(e.receipt, 1 + failed.length)
              done.push(receipts[0]!)
              for (let j = 0; j < failed.length; j++) {
                out.push({
                  origin: e.origin,
                  value: utf8.encode(JSON.stringify(failed[j])),
                  receipt: receipts[j + 1]!
                })
              }
            }
            yield* Receipt.ackAll(done)
            return out
          })
        ),
        Stream.flattenIterable
      )
    )
  )

/**
 * Runs the trigger until the records end (or forever, on Kafka).
 *
 * @since 0.1.0
 * @category running
 */
export const run = <E, R, E1, R1, E2, R2>(options: Options<E, R, E1, R1, E2, R2>) =>
  Stream.run(stream(options), options.sinks.failed)
