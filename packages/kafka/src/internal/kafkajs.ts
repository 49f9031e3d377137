/**
 * The only module that imports kafkajs: it turns `KafkaClient.Options` into a
 * kafkajs configuration and routes kafkajs log lines into the Effect logger.
 */

import type { LogLevel } from "effect"
import { Duration, Redacted } from "effect"
import type { KafkaConfig, LogEntry, SASLOptions } from "kafkajs"
import { Kafka, logLevel as KafkaLogLevel } from "kafkajs"
import type * as KafkaLike from "../KafkaLike.ts"

/** The subset of `KafkaClient.Options` that shapes the kafkajs instance. */
export interface Settings {
  readonly brokers: ReadonlyArray<string>
  readonly clientId: string
  readonly tls:
    | boolean
    | {
        readonly ca?: string | ReadonlyArray<string>
        readonly cert?: string
        readonly key?: Redacted.Redacted<string>
        readonly rejectUnauthorized?: boolean
        readonly servername?: string
      }
  readonly sasl:
    | {
        readonly mechanism: "plain" | "scram-sha-256" | "scram-sha-512"
        readonly username: string
        readonly password: Redacted.Redacted<string>
      }
    | undefined
  readonly requestTimeout: Duration.Duration
  readonly logLevel: LogLevel.LogLevel
  readonly retry: KafkaLike.RetryConfig | undefined
}

/** One kafkajs log line, reduced to fields that never hold credentials. */
export interface LogLine {
  readonly level: LogLevel.Severity
  readonly namespace: string
  readonly message: string
  readonly broker: string | undefined
  readonly error: string | undefined
}

const toKafkaLevel = (level: LogLevel.LogLevel): KafkaLogLevel => {
  switch (level) {
    case "None":
      return KafkaLogLevel.NOTHING
    case "Fatal":
    case "Error":
      return KafkaLogLevel.ERROR
    case "Warn":
      return KafkaLogLevel.WARN
    case "Info":
      return KafkaLogLevel.INFO
    case "Debug":
    case "Trace":
    case "All":
      return KafkaLogLevel.DEBUG
  }
}

const fromKafkaLevel = (level: KafkaLogLevel): LogLevel.Severity =>
  level <= KafkaLogLevel.ERROR
    ? "Error"
    : level === KafkaLogLevel.WARN
      ? "Warn"
      : level === KafkaLogLevel.INFO
        ? "Info"
        : "Debug"

const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined)

/** The kafkajs configuration for `settings`; `log` receives every log line. */
export const config = (settings: Settings, log: (line: LogLine) => void): KafkaConfig => {
  const sasl: SASLOptions | undefined =
    settings.sasl === undefined
      ? undefined
      : {
          mechanism: settings.sasl.mechanism,
          username: settings.sasl.username,
          password: Redacted.value(settings.sasl.password)
        }
  const tls = settings.tls
  const ssl =
    typeof tls === "boolean"
      ? tls
      : {
          ...(tls.ca === undefined ? {} : { ca: typeof tls.ca === "string" ? tls.ca : [...tls.ca] }),
          ...(tls.cert === undefined ? {} : { cert: tls.cert }),
          ...(tls.key === undefined ? {} : { key: Redacted.value(tls.key) }),
          ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
          ...(tls.servername === undefined ? {} : { servername: tls.servername })
        }
  return {
    brokers: [...settings.brokers],
    clientId: settings.clientId,
    ssl,
    ...(sasl === undefined ? {} : { sasl }),
    requestTimeout: Duration.toMillis(settings.requestTimeout),
    logLevel: toKafkaLevel(settings.logLevel),
    ...(settings.retry === undefined ? {} : { retry: { ...settings.retry } }),
    logCreator:
      () =>
      ({ namespace, level, log: entry }: LogEntry) =>
        log({
          level: fromKafkaLevel(level),
          namespace,
          message: entry.message,
          broker: text(entry.broker),
          error: text(entry.error)
        })
  }
}

/** A kafkajs client, seen through the structural interface. */
export const make = (settings: Settings, log: (line: LogLine) => void): KafkaLike.Kafka =>
  new Kafka(config(settings, log))
