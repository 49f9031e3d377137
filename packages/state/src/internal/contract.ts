// The shapes of core's `StateStore` contract (codec, store, error) that the
// durable store implements. They are kept here, identical to core's, until
// core publishes its `StateStore` module; then these re-export core's.
import type { Duration, Effect, Option } from "effect"
import { Schema } from "effect"

export interface Codec<V> {
  encode(value: V): Uint8Array
  decode(bytes: Uint8Array): V
}

export type TtlDomain = "event-time" | "processing-time"

export interface SetOptions {
  readonly ttl?: Duration.Input | undefined
  readonly ttlDomain?: TtlDomain | undefined
  readonly now?: number | undefined
}

export interface Store<V> {
  readonly name: string
  get(partition: number, key: string): Effect.Effect<Option.Option<V>, StateError>
  set(partition: number, key: string, value: V, options?: SetOptions): Effect.Effect<void, StateError>
  delete(partition: number, key: string): Effect.Effect<void, StateError>
  range(partition: number, prefix: string): Effect.Effect<ReadonlyArray<readonly [string, V]>, StateError>
  expire(partition: number, eventTime?: number): Effect.Effect<number, StateError>
  flush(partitions?: Iterable<number>): Effect.Effect<void, StateError>
  assign(partitions: Iterable<number>): Effect.Effect<void, StateError>
  revoke(partitions: Iterable<number>): Effect.Effect<void, StateError>
  size(partition?: number): Effect.Effect<number, StateError>
}

export class StateError extends Schema.TaggedError<StateError>()("StateError", {
  reason: Schema.Literals(["Io", "Codec", "Changelog", "Closed"]),
  store: Schema.String,
  detail: Schema.String,
  cause: Schema.optionalKey(Schema.Defect())
}) {
  override get message(): string {
    return `state store "${this.store}": ${this.reason}: ${this.detail}`
  }

  get isRetryable(): boolean {
    return this.reason === "Io" || this.reason === "Changelog"
  }
}
