/**
 * The claims lookup's failures as the tests' fake lookups fail: each a real
 * `LookupError`, so the job maps them the way it maps the real lookup's.
 */
import { LookupError } from "@sluice/lookup"

/** The database did not answer; `retryable: false` for a failure that would repeat. */
export const unavailable = (detail: string, retryable = true): LookupError.LookupError =>
  new LookupError.LookupError({
    reason: new LookupError.Unavailable({ lookup: "claims", retryable, detail, cause: null })
  })

/** The lookup timed out. */
export const timeout = (timeoutMillis: number): LookupError.LookupError =>
  new LookupError.LookupError({ reason: new LookupError.Timeout({ lookup: "claims", timeoutMillis, cause: null }) })

/** The breaker rejected the lookup. */
export const circuitOpen = (retryAfterMillis = 1000): LookupError.LookupError =>
  new LookupError.LookupError({ reason: new LookupError.CircuitOpen({ lookup: "claims", retryAfterMillis }) })
