/**
 * How a consuming command behaves as a member of its consumer group: the
 * session timeout, heartbeat interval and rebalance timeout it asks the group
 * for, its group instance id and the fetch sizes it asks the broker for
 * (`Config.consumerGroup`), passed to `KafkaSource`.
 *
 * Static membership (KIP-345): with a group instance id the member keeps its
 * place in the group across restarts. A process killed and restarted under
 * the same id gets its partitions back at once, without a rebalance of the
 * others. The price: a static member never sends LeaveGroup, so one that stops
 * for good (scale-in) is removed only when its session times out, and its
 * partitions wait until then. The id comes from `--group-instance-id` /
 * `GROUP_INSTANCE_ID`, else from `POD_NAME` (the manifests set it from the
 * name of a StatefulSet's pod, which stays the same across restarts).
 * `HOSTNAME` is deliberately not a default: it is set in every shell and
 * container, and a Deployment's pods get a new name on every restart, which
 * would leave each dead incarnation holding its partitions for a session.
 *
 * @since 0.1.0
 */
import { Effect, Config as EffectConfig, Option } from "effect"
import * as Config from "./Config.ts"
import * as Flags from "./Flags.ts"
import { RunnerError, Startup } from "./RunnerError.ts"

/**
 * The consumer-group flags of every consuming command.
 *
 * @since 0.1.0
 * @category flags
 */
export const flags = Flags.settingFlags(Config.consumerGroup)

/**
 * The group settings as `KafkaSource.Options` takes them; unset values are
 * left out, so the source keeps its defaults (and joins as a dynamic member).
 *
 * @since 0.1.0
 * @category models
 */
export interface Timing {
  readonly sessionTimeout?: number
  readonly heartbeatInterval?: number
  readonly rebalanceTimeout?: number
  readonly groupInstanceId?: string
  readonly fetchMinBytes?: number
  readonly fetchMaxWait?: number
  readonly fetchIdleWait?: number
}

const optional = <K extends keyof Timing>(key: K, value: Option.Option<NonNullable<Timing[K]>>): Timing =>
  Option.match(value, { onNone: () => ({}), onSome: (v) => ({ [key]: v }) })

/**
 * Resolves the consumer-group settings from flags, then the environment (the
 * group instance id falling back to a non-empty `POD_NAME`); fails when the
 * heartbeat is not shorter than the session timeout.
 *
 * @since 0.1.0
 * @category constructors
 */
export const load = (overrides: Config.Overrides<typeof Config.consumerGroup> = {}) =>
  Effect.gen(function* () {
    const v = yield* Config.load(Config.consumerGroup, overrides)
    const pod = yield* EffectConfig.option(EffectConfig.String("POD_NAME")).pipe(
      Effect.map(Option.map((name) => name.trim())),
      Effect.map(Option.filter((name) => name !== "")),
      Effect.orElseSucceed(() => Option.none<string>())
    )
    const groupInstanceId = Option.orElse(v.groupInstanceId, () => pod)
    const session = Option.getOrElse(v.sessionTimeout, () => 30_000)
    if (Option.isSome(v.heartbeatInterval) && v.heartbeatInterval.value >= session)
      return yield* new RunnerError({
        reason: new Startup({
          detail: `the heartbeat interval (${v.heartbeatInterval.value}ms) must be shorter than the session timeout (${session}ms)`,
          settings: "KAFKA_HEARTBEAT_INTERVAL_MS or --heartbeat-interval"
        })
      })
    if (Option.isSome(groupInstanceId))
      yield* Effect.logInfo("joining the consumer group as a static member").pipe(
        Effect.annotateLogs({ groupInstanceId: groupInstanceId.value })
      )
    return {
      ...optional("sessionTimeout", v.sessionTimeout),
      ...optional("heartbeatInterval", v.heartbeatInterval),
      ...optional("rebalanceTimeout", v.rebalanceTimeout),
      ...optional("groupInstanceId", groupInstanceId),
      ...optional("fetchMinBytes", v.fetchMinBytes),
      ...optional("fetchMaxWait", v.fetchMaxWait),
      ...optional("fetchIdleWait", v.fetchIdleWait)
    } satisfies Timing
  })
