/**
 * A user's checkpoint, the state the trigger keeps per `user_id`: the
 * profile, the current visit and the event history from the Profile API,
 * with the time they were loaded. An empty checkpoint stands for a Profile
 * API that could not answer: events go on with it, and it is asked again
 * after a short delay instead of being kept for the whole time to live.
 *
 * @since 0.1.0
 */
import { StateStore } from "@sluice/core"
import { Schema } from "effect"

const Fields = Schema.Record(Schema.String, Schema.Unknown)

/**
 * What the Profile API answers for a user (`GET /users/{id}`).
 *
 * @since 0.1.0
 * @category models
 */
export const ProfileRecord = Schema.Struct({
  profile: Fields,
  visit: Fields,
  history: Schema.Array(Fields)
})

/**
 * @since 0.1.0
 * @category models
 */
export type ProfileRecord = typeof ProfileRecord.Type

/**
 * The per-user state.
 *
 * @since 0.1.0
 * @category models
 */
export const Checkpoint = Schema.Struct({
  user: Fields,
  visit: Fields,
  history: Schema.Array(Fields),
  /** True when the Profile API failed and nothing was loaded. */
  empty: Schema.Boolean,
  /** When the Profile API was last asked, epoch ms. */
  loadedAt: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export type Checkpoint = typeof Checkpoint.Type

/**
 * The checkpoint's codec in a state store.
 *
 * @since 0.1.0
 * @category codecs
 */
export const codec: StateStore.Codec<Checkpoint> = StateStore.jsonCodec(Checkpoint)

/**
 * A checkpoint from the Profile API's answer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const loaded = (record: ProfileRecord, now: number): Checkpoint => ({
  user: record.profile,
  visit: record.visit,
  history: record.history,
  empty: false,
  loadedAt: now
})

/**
 * The checkpoint of a user the API could not answer for (failed), or does
 * not know (`empty: false`: there is nothing to retry).
 *
 * @since 0.1.0
 * @category constructors
 */
export const empty = (now: number, failed: boolean): Checkpoint => ({
  user: {},
  visit: {},
  history: [],
  empty: failed,
  loadedAt: now
})
