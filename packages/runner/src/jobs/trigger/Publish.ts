/**
 * Publishes generated user events to the input topic at a rate, a chunk at
 * a time, pacing on the `Clock`.
 *
 * @since 0.1.0
 */
import { KafkaError, type KafkaLike } from "@sluice/kafka"
import { Clock, Duration, Effect } from "effect"
import * as Generator from "./Generator.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends Generator.Options {
  readonly topic: string
  readonly count: number
  readonly eventsPerSecond: number
}

const CHUNK = 100

/**
 * Publishes `count` events; answers how many were sent.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (producer: KafkaLike.Producer, options: Options): Effect.Effect<number, KafkaError.KafkaError> =>
  Effect.gen(function* () {
    const events = Generator.events(options, options.count)
    const start = yield* Clock.currentTimeMillis
    for (let i = 0; i < events.length; i += CHUNK) {
      const chunk = events.slice(i, i + CHUNK)
      yield* KafkaError.attempt("send", () =>
        producer.send({ topic: options.topic, acks: -1, messages: chunk.map(Generator.toMessage) })
      )
      // Paced against the start, so a slow send is caught up rather than added.
      const due = start + ((i + chunk.length) / options.eventsPerSecond) * 1000
      const now = yield* Clock.currentTimeMillis
      if (due > now) yield* Effect.sleep(Duration.millis(due - now))
    }
    return events.length
  })
