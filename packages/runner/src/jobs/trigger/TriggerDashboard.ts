/**
 * What the trigger shows on the dashboard: the Profile API lookup's latency
 * and the circuit breakers (the Profile API's and the webhook's).
 *
 * @since 0.1.0
 */
import * as Dashboard from "../../http/Dashboard.ts"

/**
 * The dashboard of the trigger.
 *
 * @since 0.1.0
 * @category constants
 */
export const dashboard: Dashboard.Spec = {
  outcomes: { outputs: [], success: [] },
  panels: [Dashboard.lookupLatency, Dashboard.breakers]
}
