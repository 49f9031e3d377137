// The dashboard page's own script, run against a stand-in document with a
// process's real /api/stats and /metrics: what a job's panel tests check
// their brute-force counts against.
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import type * as Stats from "../../src/http/Stats.ts"

/** The page's inline script. */
export const script = (html: string) => {
  const match = /<script>([\s\S]*)<\/script>/.exec(html)
  assert.isNotNull(match)
  return match![1]!
}

/** What the script writes into an element. */
export interface Element {
  textContent: string
  innerHTML: string
  setAttribute: () => void
}

/** Runs the page's script once, answering its fetches with `stats` and `metrics`; returns the elements it wrote. */
export const runPage = (html: string, stats: Stats.Stats, metrics: string) =>
  Effect.promise(async () => {
    const elements = new Map<string, Element>()
    const document = {
      getElementById: (id: string) => {
        let e = elements.get(id)
        if (e === undefined) {
          e = { textContent: "", innerHTML: "", setAttribute: () => {} }
          elements.set(id, e)
        }
        return e
      }
    }
    const fetch = async (url: string) => ({
      ok: true,
      status: 200,
      json: async () => JSON.parse(JSON.stringify(stats)) as unknown,
      text: async () => (url === "/metrics" ? metrics : "")
    })
    new Function("document", "fetch", "setInterval", "performance", script(html))(document, fetch, () => 0, {
      now: () => 1000
    })
    // The script's fetches resolve over a few turns of the event loop.
    for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve))
    return elements
  })

/** Deterministic picks among `kinds`, spread unevenly. */
export const picks = <A extends string>(kinds: ReadonlyArray<A>, n: number, seed: number): Array<A> =>
  Array.from({ length: n }, (_, i) => kinds[(i * 7 + seed + Math.floor(i / 3)) % kinds.length]!)

/** Counts of each value, by brute force. */
export const tally = <A extends string>(xs: ReadonlyArray<A>) => {
  const out = new Map<A, number>()
  for (const x of xs) out.set(x, (out.get(x) ?? 0) + 1)
  return out
}

/** A panel's two-column table as label → shown figure. */
export const rows = (e: Element) =>
  Object.fromEntries(
    [...e.innerHTML.matchAll(/<tr><td>([^<]*)<\/td><td class="n">([^<]*)<\/td><\/tr>/g)].map((m) => [m[1]!, m[2]!])
  )
