/**
 * User events for the trigger's demo and tests: many users, each active in
 * sessions of a few consecutive events, page views most of the time, all
 * drawn from a seeded sequence so the same seed gives the same events. The
 * events are keyed by user id, as the trigger's input must be.
 *
 * @since 0.1.0
 */
import type { UserEvent } from "./UserEvent.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly seed: number
  /** Distinct users; 1,000 by default. */
  readonly users?: number | undefined
  /** Share of page views (0..1); 0.6 by default. */
  readonly pageViewShare?: number | undefined
  /** Epoch ms of the first event; events are 100 ms apart. */
  readonly startMillis?: number | undefined
}

const others = [
  ["click", ["add_to_cart", "banner", "checkout_button"]],
  ["purchase", ["order_completed"]]
] as const
const pages = ["home_page", "product_page", "cart_page"]

// mulberry32: small, fast and good enough for test data.
const prng = (seed: number) => {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/**
 * The user id of user number `n`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const userId = (n: number): string => `user-${String(n).padStart(6, "0")}`

/**
 * The first `count` events for `options`, in order.
 *
 * @since 0.1.0
 * @category constructors
 */
export const events = (options: Options, count: number): Array<UserEvent> => {
  const rng = prng(options.seed)
  const users = options.users ?? 1000
  const pageViews = options.pageViewShare ?? 0.6
  const start = options.startMillis ?? 1_767_225_600_000
  const out: Array<UserEvent> = []
  let user = ""
  let left = 0
  for (let i = 0; i < count; i++) {
    if (left === 0) {
      // A new session: a user and how many events it has.
      user = userId(1 + Math.floor(rng() * users))
      left = 1 + Math.floor(rng() * 5)
    }
    left--
    const pageView = rng() < pageViews
    const [eventType, names] = pageView ? (["page_view", pages] as const) : others[Math.floor(rng() * others.length)]!
    out.push({
      event_id: `evt-${options.seed}-${i}`,
      user_id: user,
      event_type: eventType,
      event_name: names[Math.floor(rng() * names.length)]!,
      timestamp: start + i * 100,
      properties: { session_event: left }
    })
  }
  return out
}

const utf8 = new TextEncoder()

/**
 * An event as a Kafka message: keyed by user id, the value JSON.
 *
 * @since 0.1.0
 * @category converters
 */
export const toMessage = (event: UserEvent) => ({
  key: Buffer.from(utf8.encode(event.user_id)),
  value: Buffer.from(utf8.encode(JSON.stringify(event)))
})
