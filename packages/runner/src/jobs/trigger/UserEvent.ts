/**
 * The input of the event trigger: one user-tracking event per record of
 * `user-tracking-events`, as JSON with snake_case fields. The topic is keyed
 * by `user_id`, which is what puts all of a user's events in one partition
 * and so under one owner of that user's state.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * One user-tracking event. `timestamp` is epoch milliseconds or an ISO
 * string, as producers send either; `properties` is free-form.
 *
 * @since 0.1.0
 * @category models
 */
export const UserEvent = Schema.Struct({
  event_id: Schema.NonEmptyString,
  user_id: Schema.NonEmptyString,
  event_type: Schema.NonEmptyString,
  event_name: Schema.String,
  timestamp: Schema.Union([Schema.Number, Schema.String]),
  properties: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown))
})

/**
 * @since 0.1.0
 * @category models
 */
export type UserEvent = typeof UserEvent.Type

/**
 * The event as JSON text, what `Pipeline.decode` takes.
 *
 * @since 0.1.0
 * @category schemas
 */
export const fromJson = Schema.fromJsonString(UserEvent)

/**
 * The event as the filter sees it, with the camelCase names of the seed's
 * filter language (`event.eventType`).
 *
 * @since 0.1.0
 * @category converters
 */
export const toFilterView = (event: UserEvent) => ({
  eventId: event.event_id,
  userId: event.user_id,
  eventType: event.event_type,
  eventName: event.event_name,
  timestamp: event.timestamp,
  properties: event.properties ?? {}
})
