/**
 * The trigger's state manager: keeps a checkpoint per `user_id` in a state
 * store with a time to live that every event of the user renews, and asks
 * the Profile API only on a user's first event, after the checkpoint
 * expired, or (sooner) when the checkpoint is an empty one left by a failed
 * call and `retryEmptyAfter` has passed.
 *
 * Records are handled a chunk at a time: the chunk's distinct users are
 * read from the store, the ones to load are asked for concurrently (the
 * lookup coalesces concurrent asks for one user), then each user's
 * checkpoint is written once with a fresh time to live and the store is
 * flushed before any output leaves, so a record is acknowledged only once
 * its state is durable. A failed call never fails the chunk: the user gets
 * an empty checkpoint and the event goes on.
 *
 * @since 0.1.0
 */

import type { Envelope, StateError, StateStore } from "@sluice/core"
import type { Lookup } from "@sluice/lookup"
import { Clock, Duration, Effect, Option, Result } from "effect"
import * as Checkpoint from "./Checkpoint.ts"
import * as TriggerMetrics from "./TriggerMetrics.ts"
import type { UserEvent } from "./UserEvent.ts"

/**
 * An event with the checkpoint of its user.
 *
 * @since 0.1.0
 * @category models
 */
export interface Enriched {
  readonly event: UserEvent
  readonly checkpoint: Checkpoint.Checkpoint
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly store: StateStore.Store<Checkpoint.Checkpoint>
  readonly lookup: Lookup.Lookup<string, Checkpoint.ProfileRecord>
  /** Time to live of a checkpoint, renewed by each event; 10 minutes by default. */
  readonly ttl?: Duration.Input | undefined
  /** How long an empty checkpoint is used before the API is asked again; 30 seconds by default. */
  readonly retryEmptyAfter?: Duration.Input | undefined
  /** Most Profile API asks in flight per chunk; 64 by default. */
  readonly concurrency?: number | undefined
  /** How often a partition's expired checkpoints are dropped from the store; every second by default. */
  readonly expireEvery?: Duration.Input | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface StateManager {
  /** Enriches a chunk of events, in order. */
  readonly enrich: (
    events: ReadonlyArray<Envelope.Envelope<UserEvent>>
  ) => Effect.Effect<Array<Envelope.Envelope<Enriched>>, StateError.StateError>
}

type Load = "hit" | "miss" | "retry"

/**
 * A state manager over a store and a Profile API lookup.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): StateManager => {
  const store = options.store
  const ttl = Duration.fromInputUnsafe(options.ttl ?? "10 minutes")
  const retryEmptyMillis = Duration.toMillis(Duration.fromInputUnsafe(options.retryEmptyAfter ?? "30 seconds"))
  const concurrency = options.concurrency ?? 64
  const expireEveryMillis = Duration.toMillis(Duration.fromInputUnsafe(options.expireEvery ?? "1 second"))
  const assigned = new Set<number>()
  // When each partition's expired entries were last dropped. A read never answers an expired entry
  // (the store checks on `get`), so dropping them is only reclaiming space; doing it on every chunk
  // would scan the whole partition (in memory) per chunk, which grows with the number of users.
  const lastExpired = new Map<number, number>()

  const enrich = (events: ReadonlyArray<Envelope.Envelope<UserEvent>>) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      // Users by partition, in first-seen order.
      const users = new Map<string, { readonly partition: number; readonly user: string; state: Load }>()
      const checkpoints = new Map<string, Checkpoint.Checkpoint>()
      const partitions = new Set<number>()
      for (const e of events) {
        const partition = e.origin.partition
        if (!assigned.has(partition)) {
          yield* store.assign([partition])
          assigned.add(partition)
        }
        partitions.add(partition)
        const id = `${partition}/${e.value.user_id}`
        if (users.has(id)) continue
        const current = yield* store.get(partition, e.value.user_id)
        let state: Load = "miss"
        if (Option.isSome(current)) {
          const stale = current.value.empty && now - current.value.loadedAt >= retryEmptyMillis
          if (stale) state = "retry"
          else {
            state = "hit"
            checkpoints.set(id, current.value)
          }
        }
        users.set(id, { partition, user: e.value.user_id, state })
      }
      const toLoad = Array.from(users.entries()).filter(([, u]) => u.state !== "hit")
      const answers = yield* Effect.forEach(toLoad, ([, u]) => Effect.result(options.lookup.get(u.user)), {
        concurrency
      })
      let failed = 0
      let firstFailure = ""
      for (let i = 0; i < toLoad.length; i++) {
        const [id] = toLoad[i]!
        const answer = answers[i]!
        if (Result.isFailure(answer)) {
          failed++
          if (firstFailure === "") firstFailure = answer.failure.message
          checkpoints.set(id, Checkpoint.empty(now, true))
        } else if (Option.isSome(answer.success)) {
          checkpoints.set(id, Checkpoint.loaded(answer.success.value, now))
        } else checkpoints.set(id, Checkpoint.empty(now, false))
      }
      if (failed > 0) {
        yield* Effect.logWarning("Profile API unavailable: continuing with empty checkpoints").pipe(
          Effect.annotateLogs({ users: failed, error: firstFailure })
        )
      }
      const found = answers.filter((a) => Result.isSuccess(a) && Option.isSome(a.success)).length
      yield* TriggerMetrics.count(TriggerMetrics.profileCalls, { outcome: "ok" }, found)
      yield* TriggerMetrics.count(TriggerMetrics.profileCalls, { outcome: "failed" }, failed)
      yield* TriggerMetrics.count(TriggerMetrics.profileCalls, { outcome: "not_found" }, toLoad.length - found - failed)
      // One write per user renews its time to live from now, as each of its events would.
      for (const [id, u] of users) yield* store.set(u.partition, u.user, checkpoints.get(id)!, { ttl, now })
      for (const p of partitions) {
        if (now - (lastExpired.get(p) ?? Number.NEGATIVE_INFINITY) < expireEveryMillis) continue
        lastExpired.set(p, now)
        yield* store.expire(p)
      }
      yield* store.flush(partitions)
      const out: Array<Envelope.Envelope<Enriched>> = new Array(events.length)
      for (let i = 0; i < events.length; i++) {
        const e = events[i]!
        const value = { event: e.value, checkpoint: checkpoints.get(`${e.origin.partition}/${e.value.user_id}`)! }
        out[i] = { origin: e.origin, value, receipt: e.receipt }
      }
      // A user's first event of the chunk is the miss (or retry); the later ones find what it loaded.
      const misses = countOf(toLoad, "miss")
      const retries = toLoad.length - misses
      yield* TriggerMetrics.count(TriggerMetrics.stateLookups, { outcome: "hit" }, events.length - toLoad.length)
      yield* TriggerMetrics.count(TriggerMetrics.stateLookups, { outcome: "miss" }, misses)
      yield* TriggerMetrics.count(TriggerMetrics.stateLookups, { outcome: "retry" }, retries)
      return out
    })

  return { enrich }
}

const countOf = (users: ReadonlyArray<readonly [string, { readonly state: Load }]>, state: Load): number =>
  users.filter(([, u]) => u.state === state).length
