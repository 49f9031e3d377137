/**
 * The Kafka outputs of a consuming job under its processing guarantee: an
 * idempotent producer shared by the job's sinks (at-least-once), or Kafka
 * transactions whose hooks the job's source takes (exactly-once), so a job
 * wires either with the same two lines.
 *
 * ```ts
 * const outputs = yield* KafkaOutputs.make(client, groupId, guarantee)
 * const records = yield* KafkaSource.make(client, { topics, groupId, ...outputs.source })
 * yield* records.pipe(Stream.run(outputs.to("enriched-payments")))
 * ```
 *
 * @since 0.1.0
 */
import type { PolicyError } from "@sluice/core"
import {
  type KafkaClient,
  type KafkaError,
  KafkaSink,
  MemberTransactions,
  TransactionalSink,
  Transactions
} from "@sluice/kafka"
import { type Duration, Effect, type Scope, type Sink } from "effect"
import type { ProcessingGuarantee, TransactionScope } from "./ProcessingGuarantee.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface KafkaOutputs {
  /** What the job's `KafkaSource` options take: the transactions' hooks in exactly-once mode. */
  readonly source: { readonly transactions?: Transactions.Hooks }
  /** A sink writing to `topic`; `options` apply in exactly-once mode. */
  readonly to: (
    topic: string,
    options?: TransactionalSink.Options
  ) => Sink.Sink<void, KafkaSink.Input, never, KafkaError.KafkaError | PolicyError.PolicyError>
  /** The transactions (exactly-once), for the job's state stores and re-keying topics. */
  readonly transactions: Transactions.Transactions | undefined
}

/**
 * The outputs of the consumer group `groupId`; producers close with the
 * scope. Make them before the source, so the source's last commit still has them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  client: KafkaClient.KafkaClient["Service"],
  groupId: string,
  guarantee: ProcessingGuarantee,
  options?: {
    /**
     * Exactly-once commit cycles that never hold the source
     * (`Transactions`' `pipelined`): only for jobs whose every output goes
     * through `to` without `transactionOf`, and which have no state store.
     */
    readonly pipelined?: boolean | undefined
    /**
     * How often the transactions commit (`--commit-interval`); `Transactions`'
     * default (100 ms, 50 ms pipelined) when undefined. Ignored at-least-once.
     */
    readonly commitInterval?: Duration.Duration | undefined
    /**
     * One transaction per member (`MemberTransactions`, KIP-447) instead of
     * one per input partition; pipelined jobs only.
     */
    readonly transactionScope?: TransactionScope | undefined
    /** The consumer's static group instance id: it makes a member-wide transactional id stable. */
    readonly groupInstanceId?: string | undefined
  }
): Effect.Effect<KafkaOutputs, KafkaError.KafkaError, Scope.Scope> =>
  Effect.gen(function* () {
    if (guarantee === "exactly-once") {
      const member = options?.transactionScope === "member"
      if (member && options?.pipelined !== true) {
        return yield* Effect.die(new Error("member-wide transactions need a pipelined commit cycle"))
      }
      const transactions = member
        ? yield* MemberTransactions.make(client, {
            groupId,
            commitInterval: options?.commitInterval,
            groupInstanceId: options?.groupInstanceId
          })
        : yield* Transactions.make(client, {
            groupId,
            pipelined: options?.pipelined,
            commitInterval: options?.commitInterval
          })
      return {
        source: { transactions: transactions.hooks },
        to: (topic, options) => TransactionalSink.make(transactions, topic, options),
        transactions
      }
    }
    const producer = yield* KafkaSink.producer(client)
    return { source: {}, to: (topic) => KafkaSink.make(producer, topic), transactions: undefined }
  })
