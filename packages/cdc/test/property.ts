import { Effect } from "effect"
import * as fc from "fast-check"

/** Checks an Effect-valued property with fast-check; a failure or defect falsifies it. */
export const property = <A>(
  arbitrary: fc.Arbitrary<A>,
  check: (a: A) => Effect.Effect<void, unknown>,
  parameters?: fc.Parameters<[A]>
): Effect.Effect<void> =>
  Effect.promise(() =>
    fc.assert(
      fc.asyncProperty(arbitrary, (a) => Effect.runPromise(check(a))),
      parameters
    )
  )
