/**
 * The baseline of the trigger benchmark: the seed's pipeline written by hand
 * on kafkajs. Per fetched batch: decode the events, fetch the profile of each
 * user not in a `Map` cache with a 10-minute TTL (concurrent fetches for one
 * user shared), evaluate the same CEL filter as the job, POST every passing
 * event to the webhook with its `Idempotency-Key`, each user's events in
 * order and 64 users in flight at most (the job's limits); then kafkajs
 * commits the batch. No retries, breaker, rate limit,
 * dead letters, durable state or metrics. Runs until SIGTERM.
 *
 *   node packages/runner/bench/jobs/triggerLoop.ts --brokers host:port --input t --group g
 *     --profile-api URL --webhook URL --filter "CEL"
 */
import { parseArgs } from "node:util"
import * as Expression from "@sluice/rules/Expression"
import { Result } from "effect"
import { Kafka, logLevel } from "kafkajs"
import * as TriggerFilter from "../../src/jobs/trigger/TriggerFilter.ts"

const { values } = parseArgs({
  options: {
    brokers: { type: "string" },
    input: { type: "string" },
    group: { type: "string" },
    "profile-api": { type: "string" },
    webhook: { type: "string" },
    filter: { type: "string" }
  }
})
const { brokers, input, group, webhook } = values as Record<string, string>
const profileApi = values["profile-api"]!
const compiled = Expression.compileResult(TriggerFilter.environment, values.filter!, {
  source: "bench",
  expect: "bool"
})
if (Result.isFailure(compiled)) throw new Error(compiled.failure.message)
const filter = compiled.success

const TTL_MS = 10 * 60_000
const IN_FLIGHT = 64

interface Profile {
  readonly profile: Record<string, unknown>
  readonly visit: Record<string, unknown>
  readonly history: ReadonlyArray<Record<string, unknown>>
}
const empty: Profile = { profile: {}, visit: {}, history: [] }
const cache = new Map<string, { readonly at: number; readonly value: Promise<Profile> }>()

const profileOf = (user: string): Promise<Profile> => {
  const now = Date.now()
  const hit = cache.get(user)
  if (hit !== undefined && now - hit.at < TTL_MS) return hit.value
  const value = fetch(`${profileApi}/users/${encodeURIComponent(user)}`).then(
    (r) => (r.ok ? (r.json() as Promise<Profile>) : (r.body?.cancel().then(() => empty) ?? empty)),
    () => empty
  )
  cache.set(user, { at: now, value })
  return value
}

// Runs `f` over `xs` with at most IN_FLIGHT at a time.
const pool = async <A>(xs: ReadonlyArray<A>, f: (a: A) => Promise<void>) => {
  let next = 0
  const worker = async () => {
    while (next < xs.length) await f(xs[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, xs.length) }, worker))
}

let delivered = 0

// One event: its user's profile, the filter, and a POST if it passes.
const handle = async (event: Record<string, unknown> & { event_id: string; user_id: string }) => {
  const p = await profileOf(event.user_id)
  const view = {
    eventId: event.event_id,
    userId: event.user_id,
    eventType: event.event_type,
    eventName: event.event_name,
    timestamp: event.timestamp,
    properties: event.properties ?? {}
  }
  const pass = Expression.testResult(filter, { event: view, user: p.profile, visit: p.visit, history: p.history })
  if (Result.isFailure(pass) || !pass.success) return
  const response = await fetch(webhook, {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": event.event_id },
    body: JSON.stringify({ ...event, user: p.profile, visit: p.visit, history: p.history })
  }).catch(() => undefined)
  await response?.body?.cancel()
  delivered++
}
const kafka = new Kafka({ brokers: brokers.split(","), clientId: "bench-trigger-loop", logLevel: logLevel.NOTHING })
const consumer = kafka.consumer({ groupId: group })
await consumer.connect()
await consumer.subscribe({ topics: [input], fromBeginning: true })
await consumer.run({
  eachBatch: async ({ batch }) => {
    const events: Array<Record<string, unknown> & { event_id: string; user_id: string }> = []
    for (const m of batch.messages) {
      try {
        events.push(JSON.parse(m.value!.toString()))
      } catch {
        // Invalid input is skipped, as the seed does.
      }
    }
    // Each user's events in order (as the job delivers them), users concurrently, IN_FLIGHT at most.
    const byUser = new Map<string, Array<(typeof events)[number]>>()
    for (const event of events) {
      const own = byUser.get(event.user_id)
      if (own === undefined) byUser.set(event.user_id, [event])
      else own.push(event)
    }
    await pool([...byUser.values()], async (own) => {
      for (const event of own) await handle(event)
    })
  }
})
process.once("SIGTERM", () => {
  console.log(`delivered ${delivered}`)
  void consumer.disconnect().finally(() => process.exit(0))
})
