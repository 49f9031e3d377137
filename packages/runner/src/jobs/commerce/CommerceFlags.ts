/**
 * The flags of `sluice commerce generate`.
 *
 * @since 0.3.0
 */
import * as Flags from "../../Flags.ts"
import * as Parse from "../../Parse.ts"

/**
 * @since 0.3.0
 * @category flags
 */
export const seed = Flags.parsed("seed", Parse.int(0), "Seed of the generated history").pipe(Flags.withDefault(2, "2"))

/**
 * @since 0.3.0
 * @category flags
 */
export const orders = Flags.parsed("orders", Parse.int(1, 10_000_000), "Orders to generate (an hour apart)").pipe(
  Flags.withDefault(2400, "2400")
)

/**
 * @since 0.3.0
 * @category flags
 */
export const customers = Flags.parsed("customers", Parse.int(10, 10_000_000), "Customers").pipe(
  Flags.withDefault(50, "50")
)

/**
 * @since 0.3.0
 * @category flags
 */
export const eventsPerSecond = Flags.parsed("events-per-second", Parse.int(1, 1_000_000), "Records per second").pipe(
  Flags.withDefault(500, "500")
)
