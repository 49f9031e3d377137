/**
 * `ReadCommitted.readCommitted` for tests: bounded, and a failure is a defect.
 */
import type { KafkaClient } from "@sluice/kafka"
import { type Duration, Effect } from "effect"
import * as ReadCommitted from "../../src/ReadCommitted.ts"

/** Every committed record of `topic`; empty when the topic does not exist. */
export const readCommitted = (
  client: KafkaClient.KafkaClient["Service"],
  topic: string,
  timeout: Duration.Input = "120 seconds"
) => ReadCommitted.readCommitted(client, topic).pipe(Effect.timeout(timeout), Effect.orDie)
