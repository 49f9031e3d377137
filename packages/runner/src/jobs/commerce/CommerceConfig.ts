/**
 * The configuration of the commerce jobs: the shared settings (see `Config`)
 * plus the Debezium topic prefix, the job topics and the consumer group.
 *
 * | setting | variable | flag | default |
 * | --- | --- | --- | --- |
 * | topicPrefix | CDC_TOPIC_PREFIX | --topic-prefix | dbserver1.public |
 * | deadLetterTopic | COMMERCE_DLQ_TOPIC | --dlq-topic | commerce-dlq |
 * | segmentChangesTopic | SEGMENT_CHANGES_TOPIC | --segment-changes-topic | customer-segment-changes |
 * | anomalyAlertsTopic | ANOMALY_ALERTS_TOPIC | --anomaly-alerts-topic | anomaly-alerts |
 * | groupId | COMMERCE_GROUP_ID | --group-id | sluice-commerce |
 * | sink | COMMERCE_SINK | --sink | postgres |
 * | tablePrefix | TABLE_PREFIX | --table-prefix | cdc-platform |
 * | awsRegion | AWS_REGION | --aws-region | us-east-1 |
 * | dynamodbEndpoint | DYNAMODB_ENDPOINT | --dynamodb-endpoint | AWS's |
 * | stateDir | COMMERCE_STATE_DIR | --state-dir | none (state in memory) |
 *
 * @since 0.3.0
 */
import { Effect, Option } from "effect"
import * as Config from "../../Config.ts"
import * as Flags from "../../Flags.ts"
import * as Parse from "../../Parse.ts"
import type { RunnerError } from "../../RunnerError.ts"
import * as Model from "./Model.ts"

/**
 * Every setting of the commerce jobs, in the order errors are reported.
 *
 * @since 0.3.0
 * @category settings
 */
export const settings = {
  bootstrapServers: Config.shared.bootstrapServers,
  topicPrefix: Config.setting(
    "CDC_TOPIC_PREFIX",
    "topic-prefix",
    "Prefix of the Debezium topics (<prefix>.orders, ...)",
    Parse.topic,
    "dbserver1.public"
  ),
  deadLetterTopic: Config.setting(
    "COMMERCE_DLQ_TOPIC",
    "dlq-topic",
    "Topic of change events the commerce jobs cannot read",
    Parse.topic,
    "commerce-dlq"
  ),
  segmentChangesTopic: Config.setting(
    "SEGMENT_CHANGES_TOPIC",
    "segment-changes-topic",
    "Topic of customer segment changes",
    Parse.topic,
    "customer-segment-changes"
  ),
  anomalyAlertsTopic: Config.setting(
    "ANOMALY_ALERTS_TOPIC",
    "anomaly-alerts-topic",
    "Topic of anomaly alerts",
    Parse.topic,
    "anomaly-alerts"
  ),
  sink: Config.setting(
    "COMMERCE_SINK",
    "sink",
    "Where the commerce results go: postgres or dynamodb",
    Parse.oneOf(["postgres", "dynamodb"]),
    "postgres"
  ),
  tablePrefix: Config.setting(
    "TABLE_PREFIX",
    "table-prefix",
    "Prefix of the DynamoDB table names (<prefix>-customer-segments, ...)",
    Parse.nonEmpty,
    "cdc-platform"
  ),
  awsRegion: Config.setting(
    "AWS_REGION",
    "aws-region",
    "AWS region of the DynamoDB tables",
    Parse.nonEmpty,
    "us-east-1"
  ),
  dynamodbEndpoint: Config.setting(
    "DYNAMODB_ENDPOINT",
    "dynamodb-endpoint",
    "A DynamoDB endpoint other than AWS's (DynamoDB Local, dynalite)",
    Parse.nonEmpty
  ),
  stateDir: Config.setting(
    "COMMERCE_STATE_DIR",
    "state-dir",
    "Directory of the jobs' durable state (local stores plus changelog topics); in memory when unset",
    Parse.nonEmpty
  ),
  databaseUrl: Config.shared.databaseUrl,
  metricsPort: Config.shared.metricsPort,
  groupId: Config.setting(
    "COMMERCE_GROUP_ID",
    "group-id",
    "Kafka consumer group prefix",
    Parse.nonEmpty,
    "sluice-commerce"
  ),
  clientId: Config.shared.clientId
} as const

/**
 * The raw configuration flags of the commerce commands, for `load`.
 *
 * @since 0.3.0
 * @category flags
 */
export const settingFlags = Flags.settingFlags(settings)

/**
 * The resolved configuration of the commerce jobs.
 *
 * @since 0.3.0
 * @category models
 */
export interface CommerceConfig extends Config.Shared {
  readonly topics: {
    readonly orders: string
    readonly orderItems: string
    readonly products: string
    readonly deadLetter: string
    readonly segmentChanges: string
    readonly anomalyAlerts: string
  }
  readonly groupId: string
  readonly sink: "postgres" | "dynamodb"
  /** Where the jobs keep durable state; none keeps it in memory, lost on a restart. */
  readonly stateDir: Option.Option<string>
  /** The PostgreSQL schema of the tables, when not the default (the demo's own). */
  readonly databaseSchema?: string | undefined
  readonly dynamodb: {
    readonly tablePrefix: string
    readonly region: string
    readonly endpoint: Option.Option<string>
  }
}

/**
 * Resolves the commerce configuration from flags, then the environment, then the defaults.
 *
 * @since 0.3.0
 * @category constructors
 */
export const load = (overrides: Config.Overrides<typeof settings> = {}): Effect.Effect<CommerceConfig, RunnerError> =>
  Effect.map(Config.load(settings, overrides), (v) => {
    const prefix = Config.get(v.topicPrefix)
    return {
      bootstrapServers: Config.get(v.bootstrapServers),
      topics: {
        orders: Model.topicOf(prefix, "orders"),
        orderItems: Model.topicOf(prefix, "order_items"),
        products: Model.topicOf(prefix, "products"),
        deadLetter: Config.get(v.deadLetterTopic),
        segmentChanges: Config.get(v.segmentChangesTopic),
        anomalyAlerts: Config.get(v.anomalyAlertsTopic)
      },
      databaseUrl: v.databaseUrl,
      metricsPort: Config.get(v.metricsPort),
      groupId: Config.get(v.groupId),
      sink: Config.get(v.sink),
      stateDir: v.stateDir,
      dynamodb: {
        tablePrefix: Config.get(v.tablePrefix),
        region: Config.get(v.awsRegion),
        endpoint: v.dynamodbEndpoint
      },
      clientId: Config.get(v.clientId)
    }
  })

/**
 * The configuration as plain JSON for display, without database credentials.
 *
 * @since 0.3.0
 * @category formatting
 */
export const toDisplay = (config: CommerceConfig): Record<string, unknown> => ({
  ...config,
  databaseUrl: Option.match(config.databaseUrl, { onNone: () => null, onSome: Config.displayUrl }),
  dynamodb: { ...config.dynamodb, endpoint: Option.getOrNull(config.dynamodb.endpoint) },
  stateDir: Option.getOrNull(config.stateDir)
})
