/**
 * The trigger's filter: one CEL expression in a file (`filter.script-path`)
 * over `event`, `user`, `visit` and `history`, through `@sluice/rules`'
 * `ScriptFilter` (compiled and type-checked at start, reloaded when the file
 * changes). The seed's example reads the same in CEL:
 *
 * ```
 * event.eventType == "page_view" && user.country == "US"
 * ```
 *
 * @since 0.1.0
 */
import { Expression } from "@sluice/rules"
import type { Enriched } from "./StateManager.ts"
import * as UserEvent from "./UserEvent.ts"

/**
 * What a filter may refer to: `event` with its declared fields (so a typo is
 * an error at start), the profile as `user`, the `visit`, and the `history`
 * list; the API's records are open maps.
 *
 * @since 0.1.0
 * @category constants
 */
export const environment: Expression.Environment = Expression.makeEnvironment({
  event: {
    eventId: "string",
    userId: "string",
    eventType: "string",
    eventName: "string",
    timestamp: "dyn",
    properties: "map<string, dyn>"
  },
  user: "map<string, dyn>",
  visit: "map<string, dyn>",
  history: "list<map<string, dyn>>"
})

/**
 * The filter's variables for one enriched event.
 *
 * @since 0.1.0
 * @category converters
 */
export const context = (enriched: Enriched): Readonly<Record<string, unknown>> => ({
  event: UserEvent.toFilterView(enriched.event),
  user: enriched.checkpoint.user,
  visit: enriched.checkpoint.visit,
  history: enriched.checkpoint.history
})

/**
 * The enriched event as the actions send it: the event as received and the
 * user's profile, visit and history.
 *
 * @since 0.1.0
 * @category converters
 */
export const toJson = (enriched: Enriched) => ({
  ...enriched.event,
  user: enriched.checkpoint.user,
  visit: enriched.checkpoint.visit,
  history: enriched.checkpoint.history
})
