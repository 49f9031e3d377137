/**
 * The state bench's keyed counter as a job runs it: records go through
 * `Keyed.process`, which reads and sets each key's count in the store, starts
 * the store's flush per chunk without waiting for it, and acknowledges the
 * chunk's receipts once that flush completes.
 *
 * The records are built on the fly, in chunks of 1,000 (the operator's chunk,
 * hence its flush, is the input's): record `i` has key `(i * 7919) % keys`, as
 * the store-level counter of `state.bench.ts`, on partition `key % partitions`
 * with offsets counted per partition. Each carries a receipt that counts its
 * acknowledgement.
 *
 * The handler counts and emits nothing: the count lives in the store (and its
 * changelog), which is where a counting job's readers find it. An output per
 * record would add a sink's cost, not the store's.
 */
import { Envelope, Keyed, Receipt, StateStore } from "@sluice/core"
import { Effect, Option, Stream } from "effect"

export interface Options {
  readonly events: number
  readonly keys: number
  readonly partitions: number
  /** The store names are `<name>.state`, `<name>.timers` and `<name>.time` (see `Keyed`). */
  readonly name: string
  readonly codec: StateStore.Codec<number>
}

const chunkSize = 1_000

const keyOf = (i: number, keys: number) => (i * 7919) % keys

/** The count of each key after `events` records: what the store must hold at the end. */
export const expectedCounts = (events: number, keys: number): Int32Array => {
  const counts = new Int32Array(keys)
  for (let i = 0; i < events; i++) counts[keyOf(i, keys)]!++
  return counts
}

/**
 * Runs the counter over `service` to the end of its input: every receipt
 * acknowledged, and the operator's stores closed (their scope is the
 * stream's), which for a durable store means flushed and written to its
 * local store with the checkpoint. Returns the acknowledgements counted,
 * when the operator pulled its first records (`performance.now()`, and the
 * process's CPU usage then), i.e. when its stores were open, and when the
 * last receipt was acknowledged.
 */
export const keyedCounter = (service: StateStore.StateStore["Service"], options: Options) =>
  Effect.gen(function* () {
    const { events, keys, partitions } = options
    const keyNames = Array.from({ length: keys }, (_, k) => `user-${k}`)
    let acks = 0
    let lastAck: number | undefined
    const onAck = () => {
      if (++acks === events) lastAck = performance.now()
    }
    let firstPull: number | undefined
    let firstPullCpu: NodeJS.CpuUsage | undefined
    function* chunks(): Generator<ReadonlyArray<Envelope.Envelope<string>>> {
      firstPull = performance.now()
      firstPullCpu = process.cpuUsage()
      const offsets = new Array<number>(partitions).fill(0)
      for (let from = 0; from < events; from += chunkSize) {
        const chunk = new Array<Envelope.Envelope<string>>(Math.min(chunkSize, events - from))
        for (let j = 0; j < chunk.length; j++) {
          const i = from + j
          const k = keyOf(i, keys)
          const partition = k % partitions
          chunk[j] = Envelope.make(
            {
              topic: "events",
              partition,
              offset: BigInt(offsets[partition]!++),
              key: null,
              headers: [],
              timestamp: i
            },
            keyNames[k]!,
            Receipt.makeUnsafe(onAck)
          )
        }
        yield chunk
      }
    }
    // One generated chunk per pull, passed on whole: the operator sees chunks of 1,000.
    yield* Stream.fromIterable(chunks(), { chunkSize: 1 }).pipe(
      Stream.flattenIterable,
      Keyed.process({
        name: options.name,
        key: (key: string) => key,
        codec: options.codec,
        onRecord: (ctx) =>
          Effect.sync(() => {
            ctx.set(Option.getOrElse(ctx.state, () => 0) + 1)
            return []
          })
      }),
      Stream.runDrain,
      Effect.provideService(StateStore.StateStore, service)
    )
    const end = performance.now()
    return {
      acks,
      firstPull: firstPull ?? end,
      firstPullCpu: firstPullCpu ?? process.cpuUsage(),
      lastAck: lastAck ?? end
    }
  })
