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
import { type DeadLetter, type Envelope, Pipeline, Receipt } from "@sluice/core"
import type { RulesError, ScriptFilter } from "@sluice/rules"
import { Effect, type Sink, Stream } from "effect"
import * as Actions from "./Actions.ts"
import type { StateManager } from "./StateManager.ts"
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
  readonly state: StateManager
  readonly filter: ScriptFilter.ScriptFilter["Service"]
  readonly actions: ReadonlyArray<Actions.Action>
}

const utf8 = new TextEncoder()

// The filter's decision; a runtime error is a rejection, counted and logged.
const decide = (filter: ScriptFilter.ScriptFilter["Service"], enriched: Parameters<typeof TriggerFilter.context>[0]) =>
  filter.test(TriggerFilter.context(enriched)).pipe(
    Effect.tap((pass) => TriggerMetrics.count(TriggerMetrics.filterDecisions, { outcome: pass ? "pass" : "reject" })),
    Effect.catch((error: RulesError.RulesError) =>
      Effect.as(
        Effect.andThen(
          TriggerMetrics.count(TriggerMetrics.filterDecisions, { outcome: "error" }),
          Effect.logWarning("filter failed on an event; rejected").pipe(
            Effect.annotateLogs({ event_id: enriched.event.event_id, error: error.message })
          )
        ),
        false
      )
    )
  )

/**
 * The undeliverable actions of a chunk of events, each a child of its
 * record's receipt; the records' own share is acknowledged here.
 *
 * @since 0.1.0
 * @category running
 */
export const stream = <E, R, E1, R1, E2, R2>(options: Options<E, R, E1, R1, E2, R2>) =>
  options.records.pipe(
    Pipeline.decode(UserEvent.fromJson),
    Pipeline.deadLetters(options.sinks.deadLetters),
    Stream.chunks,
    Stream.mapEffect((chunk) =>
      Effect.gen(function* () {
        const enriched = yield* options.state.enrich(chunk)
        const failures = yield* Effect.forEach(
          enriched,
          (e) =>
            Effect.flatMap(decide(options.filter, e.value), (pass) =>
              pass ? Actions.runAll(options.actions, TriggerFilter.toJson(e.value)) : Effect.succeed([])
            ),
          { concurrency: 64 }
        )
        const out: Array<Envelope.Envelope<Uint8Array>> = []
        const done: Array<Receipt.Receipt> = []
        for (let i = 0; i < enriched.length; i++) {
          const e = enriched[i]!
          const failed = failures[i]!
          const receipts = Receipt.children(e.receipt, 1 + failed.length)
          done.push(receipts[0]!)
          for (let j = 0; j < failed.length; j++) {
            out.push({ origin: e.origin, value: utf8.encode(JSON.stringify(failed[j])), receipt: receipts[j + 1]! })
          }
        }
        yield* Receipt.ackAll(done)
        return out
      })
    ),
    Stream.flattenIterable
  )

/**
 * Runs the trigger until the records end (or forever, on Kafka).
 *
 * @since 0.1.0
 * @category running
 */
export const run = <E, R, E1, R1, E2, R2>(options: Options<E, R, E1, R1, E2, R2>) =>
  Stream.run(stream(options), options.sinks.failed)
