/**
 * The trigger's actions on an event that passed the filter: `debug` logs
 * the enriched event as one JSON line; `webhook` POSTs it to
 * `actions.webhook.url` with `@sluice/sinks`' webhook client (3-second
 * attempts, retries with backoff, a breaker, an `Idempotency-Key` header
 * from `event_id` so a receiver can drop what a replay sends twice). Several
 * actions run per event. An action that cannot deliver answers a
 * `Failed` record instead of failing, which the job writes to
 * `trigger-actions-failed` for `sluice trigger replay-actions`.
 *
 * @since 0.1.0
 */

import type { WebhookSink } from "@sluice/sinks"
import { Effect, Option, Schema } from "effect"
import * as TriggerMetrics from "./TriggerMetrics.ts"

/**
 * An undeliverable action, as written to the failed-actions topic.
 *
 * @since 0.1.0
 * @category models
 */
export const Failed = Schema.Struct({
  action: Schema.String,
  event_id: Schema.String,
  user_id: Schema.String,
  error: Schema.String,
  body: Schema.Unknown
})

/**
 * @since 0.1.0
 * @category models
 */
export type Failed = typeof Failed.Type

/**
 * One action: answers `None` when done, `Some(failed)` when it gave up.
 *
 * @since 0.1.0
 * @category models
 */
export interface Action {
  readonly name: string
  readonly run: (body: { readonly event_id: string; readonly user_id: string }) => Effect.Effect<Option.Option<Failed>>
}

/**
 * Logs the enriched event as one JSON line.
 *
 * @since 0.1.0
 * @category constructors
 */
export const debug: Action = {
  name: "debug",
  run: (body) =>
    Effect.as(
      Effect.andThen(
        Effect.logInfo(JSON.stringify(body)).pipe(Effect.annotateLogs({ action: "debug" })),
        TriggerMetrics.count(TriggerMetrics.actions, { action: "debug", outcome: "delivered" })
      ),
      Option.none()
    )
}

/**
 * POSTs the enriched event through a webhook client, keyed by `event_id`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const webhook = (client: WebhookSink.Client): Action => ({
  name: "webhook",
  run: (body) =>
    client.post(body, body.event_id).pipe(
      Effect.andThen(TriggerMetrics.count(TriggerMetrics.actions, { action: "webhook", outcome: "delivered" })),
      Effect.as(Option.none<Failed>()),
      Effect.catch((error) =>
        Effect.gen(function* () {
          yield* TriggerMetrics.count(TriggerMetrics.actions, { action: "webhook", outcome: "failed" })
          yield* Effect.logWarning("webhook action failed; the event goes to the failed-actions topic").pipe(
            Effect.annotateLogs({ event_id: body.event_id, error: error.message })
          )
          return Option.some<Failed>({
            action: "webhook",
            event_id: body.event_id,
            user_id: body.user_id,
            error: error.message,
            body
          })
        })
      )
    )
})

/**
 * Runs every action on one event, concurrently; answers the failures.
 *
 * @since 0.1.0
 * @category combinators
 */
export const runAll = (
  actions: ReadonlyArray<Action>,
  body: { readonly event_id: string; readonly user_id: string }
): Effect.Effect<Array<Failed>> => {
  // One action (the usual case) runs as is, without a fiber per action.
  if (actions.length === 1) {
    return Effect.map(actions[0]!.run(body), (outcome) => (Option.isSome(outcome) ? [outcome.value] : []))
  }
  return Effect.map(
    Effect.forEach(actions, (action) => action.run(body), { concurrency: "unbounded" }),
    (outcomes) => outcomes.filter(Option.isSome).map((o) => o.value)
  )
}
