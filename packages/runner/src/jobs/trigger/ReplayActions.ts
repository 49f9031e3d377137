/**
 * `sluice trigger replay-actions`: sends the webhook actions that
 * `trigger-actions-failed` holds once more, with their original body and
 * `Idempotency-Key` (the `event_id`), so a receiver that got one of them
 * after all drops it. It reads the topic with a consumer group of its own
 * (`<consumer-group-id>-replay-actions`), from the earliest record the first
 * time, and acknowledges a record only once it is delivered: while the
 * receiver still fails it retries every few seconds and commits nothing past
 * the record, so a stopped replay resumes where it was. Records of other
 * actions or that are not failed actions are logged and skipped. It runs
 * until interrupted.
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { KafkaSource } from "@sluice/kafka"
import { WebhookSink } from "@sluice/sinks"
import { Duration, Effect, Option, Schedule, Schema, Stream } from "effect"
import { RunnerError, Startup } from "../../RunnerError.ts"
import * as Services from "../../Services.ts"
import * as Actions from "./Actions.ts"
import type * as TriggerConfig from "./TriggerConfig.ts"

const decodeFailed = Schema.decodeUnknownOption(Schema.fromJsonString(Actions.Failed))
const text = new TextDecoder()

/**
 * Replays the failed webhook actions until interrupted.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (config: TriggerConfig.TriggerConfig) =>
  Effect.gen(function* () {
    if (Option.isNone(config.actions.webhook)) {
      return yield* new RunnerError({
        reason: new Startup({ detail: "no webhook to replay to", settings: "ACTIONS_WEBHOOK_URL or --webhook-url" })
      })
    }
    const webhook = config.actions.webhook.value
    const post = yield* WebhookSink.makeClient({ url: webhook.url, timeout: Duration.millis(webhook.timeoutMs) })
    const client = yield* Services.kafkaClient(config)
    const records = yield* KafkaSource.make(client, {
      topics: [config.topics.actionsFailed],
      groupId: `${config.groupId}-replay-actions`
    })
    yield* Effect.logInfo("replaying failed actions").pipe(
      Effect.annotateLogs({ topic: config.topics.actionsFailed, url: webhook.url })
    )
    yield* records.pipe(
      Stream.mapEffect((e) => {
        const value = e.value === null ? "" : typeof e.value === "string" ? e.value : text.decode(e.value)
        const failed = decodeFailed(value)
        if (Option.isNone(failed) || failed.value.action !== "webhook") {
          return Effect.andThen(
            Effect.logWarning("not a failed webhook action; skipped").pipe(
              Effect.annotateLogs({ partition: e.origin.partition, offset: String(e.origin.offset) })
            ),
            e.receipt.ack
          )
        }
        const action = failed.value
        // Held until delivered: the policy's own retries, then again every 5 seconds.
        return post.post(action.body, action.event_id).pipe(
          Effect.tapError((error) =>
            Effect.logWarning("replay not delivered yet; retrying").pipe(
              Effect.annotateLogs({ event_id: action.event_id, error: error.message })
            )
          ),
          Effect.retry(Schedule.spaced("5 seconds")),
          Effect.andThen(Effect.logDebug("replayed").pipe(Effect.annotateLogs({ event_id: action.event_id }))),
          Effect.andThen(e.receipt.ack)
        )
      }),
      Stream.runDrain
    )
  }).pipe(Effect.provide(NodeHttpClient.layerUndici))
