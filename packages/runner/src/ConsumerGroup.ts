/**
 * How a consuming command behaves as a member of its consumer group: the
 * session timeout, heartbeat interval and rebalance timeout it asks the group
 * for, and the fetch sizes it asks the broker for (`Config.consumerGroup`),
 * passed to `KafkaSource`.
 *
 * Static membership (KIP-345: a restarted member with the same
 * `group.instance.id` takes its partitions back without a rebalance) needs a
 * Kafka client that sends group instance ids in JoinGroup. kafkajs 2.2.4, the
 * client in use, does not, so an explicit `--group-instance-id` /
 * `GROUP_INSTANCE_ID` fails the command at start with one line rather than
 * running as a dynamic member that only looks static. `POD_NAME` alone (set on
 * every pod by the manifests) is a default, not a request: it is reported once
 * and the member joins dynamically.
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
 * The group timing as `KafkaSource.Options` takes it; unset values are left
 * out, so the source keeps its defaults.
 *
 * @since 0.1.0
 * @category models
 */
export interface Timing {
  readonly sessionTimeout?: number
  readonly heartbeatInterval?: number
  readonly rebalanceTimeout?: number
  readonly fetchMinBytes?: number
  readonly fetchMaxWait?: number
}

/**
 * The line a command fails with when static membership is asked for.
 *
 * @since 0.1.0
 * @category constants
 */
export const staticMembershipUnsupported =
  "static membership needs a Kafka client that supports KIP-345 group instance ids; kafkajs 2.2.4 does not send them"

const optional = <K extends keyof Timing>(key: K, value: Option.Option<number>): Timing =>
  Option.match(value, { onNone: () => ({}), onSome: (ms) => ({ [key]: ms }) })

/**
 * Resolves the consumer-group settings from flags, then the environment; fails
 * when a group instance id is asked for explicitly (see the module comment),
 * or when the heartbeat is not shorter than the session timeout.
 *
 * @since 0.1.0
 * @category constructors
 */
export const load = (overrides: Config.Overrides<typeof Config.consumerGroup> = {}) =>
  Effect.gen(function* () {
    const v = yield* Config.load(Config.consumerGroup, overrides)
    if (Option.isSome(v.groupInstanceId)) {
      const source = Option.isSome(overrides.groupInstanceId ?? Option.none())
        ? "--group-instance-id"
        : "GROUP_INSTANCE_ID"
      return yield* new RunnerError({
        reason: new Startup({ detail: staticMembershipUnsupported, settings: `${source}: unset it` })
      })
    }
    const pod = yield* EffectConfig.option(EffectConfig.String("POD_NAME")).pipe(
      Effect.orElseSucceed(() => Option.none<string>())
    )
    if (Option.isSome(pod))
      yield* Effect.logInfo("POD_NAME is set but static membership is not available; joining as a dynamic member").pipe(
        Effect.annotateLogs({ podName: pod.value })
      )
    const session = Option.getOrElse(v.sessionTimeout, () => 30_000)
    if (Option.isSome(v.heartbeatInterval) && v.heartbeatInterval.value >= session)
      return yield* new RunnerError({
        reason: new Startup({
          detail: `the heartbeat interval (${v.heartbeatInterval.value}ms) must be shorter than the session timeout (${session}ms)`,
          settings: "KAFKA_HEARTBEAT_INTERVAL_MS or --heartbeat-interval"
        })
      })
    return {
      ...optional("sessionTimeout", v.sessionTimeout),
      ...optional("heartbeatInterval", v.heartbeatInterval),
      ...optional("rebalanceTimeout", v.rebalanceTimeout),
      ...optional("fetchMinBytes", v.fetchMinBytes),
      ...optional("fetchMaxWait", v.fetchMaxWait)
    } satisfies Timing
  })
