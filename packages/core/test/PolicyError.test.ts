import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { CircuitOpen, isRetryable, PolicyError, Timeout, Unavailable } from "../src/PolicyError.ts"

describe("PolicyError", () => {
  it.effect("isRetryable - a timeout or an open circuit may clear, Unavailable says itself", () =>
    Effect.sync(() => {
      const unavailable = (retryable: boolean) =>
        new PolicyError({ reason: new Unavailable({ operation: "db", attempts: 1, retryable, cause: "x" }) })
      assert.isTrue(isRetryable(new PolicyError({ reason: new Timeout({ operation: "db", timeoutMillis: 5 }) })))
      assert.isTrue(isRetryable(new PolicyError({ reason: new CircuitOpen({ operation: "db", retryAfterMillis: 5 }) })))
      assert.isTrue(isRetryable(unavailable(true)))
      assert.isFalse(isRetryable(unavailable(false)))
      assert.isFalse(isRetryable(new Error("plain")))
    })
  )
})
