import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import { TestClock } from "effect/testing"
import * as EmbeddedKafka from "../src/EmbeddedKafka.ts"
import { GroupCoordinator } from "../src/internal/broker/groupCoordinator.ts"
import { ApiKey } from "../src/internal/protocol/apiKeys.ts"
import type { JoinGroupResponse } from "../src/internal/protocol/groups.ts"
import { Reader } from "../src/internal/protocol/reader.ts"
import { connectRaw, type RawClient } from "./rawClient.ts"

const makeCoordinator = Effect.gen(function* () {
  const clock = yield* Clock.Clock
  return new GroupCoordinator({
    now: () => clock.currentTimeMillisUnsafe(),
    minSessionTimeoutMs: 100,
    maxSessionTimeoutMs: 60_000,
    initialRebalanceDelayMs: 0,
    onCommit: () => {}
  })
})

const join = (c: GroupCoordinator, instance: string | null, memberId = "", sessionTimeoutMs = 5000) => {
  const slot: { res: JoinGroupResponse | undefined } = { res: undefined }
  c.join(
    {
      groupId: "g",
      sessionTimeoutMs,
      rebalanceTimeoutMs: 1000,
      memberId,
      groupInstanceId: instance,
      protocolType: "consumer",
      protocols: [{ name: "range", metadata: Buffer.from("m") }]
    },
    "client",
    "/127.0.0.1",
    (res) => {
      slot.res = res
    }
  )
  return slot
}

const sync = (
  c: GroupCoordinator,
  generationId: number,
  memberId: string,
  assignments: Array<[string, string]> = []
) => {
  const slot: { code: number | undefined; assignment: string } = { code: undefined, assignment: "" }
  c.sync(
    "g",
    generationId,
    memberId,
    assignments.map(([m, a]) => ({ memberId: m, assignment: Buffer.from(a) })),
    (code, assignment) => {
      slot.code = code
      slot.assignment = assignment.toString()
    }
  )
  return slot
}

/** Two members through one full round: a leads and assigns "left"/"right". */
const stableGroup = (c: GroupCoordinator, instances: readonly [string | null, string | null]) => {
  const a = join(c, instances[0])
  const b = join(c, instances[1])
  // a's first join completed a round of one; it rejoins for the round that includes b.
  const a2 = join(c, instances[0], a.res!.memberId)
  const gen = a2.res!.generationId
  const bSync = sync(c, gen, b.res!.memberId)
  sync(c, gen, a2.res!.memberId, [
    [a2.res!.memberId, "left"],
    [b.res!.memberId, "right"]
  ])
  assert.deepStrictEqual(bSync, { code: 0, assignment: "right" })
  return { a: a2.res!.memberId, b: b.res!.memberId, gen }
}

describe("Static membership (KIP-345)", () => {
  it.effect(
    "join - a static member that returns under a new member id gets its assignment back without a rebalance",
    () =>
      Effect.gen(function* () {
        const c = yield* makeCoordinator
        const { a, b, gen } = stableGroup(c, ["pod-a", "pod-b"])
        const back = join(c, "pod-b").res!
        assert.strictEqual(back.errorCode, 0)
        assert.strictEqual(back.generationId, gen)
        assert.notStrictEqual(back.memberId, b)
        assert.strictEqual(back.leader, a)
        assert.deepStrictEqual(sync(c, gen, back.memberId), { code: 0, assignment: "right" })
        // The other member never sees a rebalance; the old incarnation is fenced.
        assert.strictEqual(c.heartbeat("g", gen, a), 0)
        assert.strictEqual(c.describe("g").state, "Stable")
        assert.strictEqual(c.describe("g").members.length, 2)
        assert.strictEqual(c.heartbeat("g", gen, b, "pod-b"), 82)
        assert.strictEqual(c.heartbeat("g", gen, back.memberId, "pod-b"), 0)
        const offsets = [{ topic: "t", partition: 1, committed: { offset: 3, metadata: null } }]
        assert.strictEqual(c.commit("g", gen, b, offsets), 25)
        assert.strictEqual(c.commit("g", gen, back.memberId, offsets), 0)
        assert.strictEqual(join(c, "pod-b", b).res!.errorCode, 82)
      })
  )

  it.effect("join - without an instance id the same return rebalances the group", () =>
    Effect.gen(function* () {
      const c = yield* makeCoordinator
      const { a, gen } = stableGroup(c, [null, null])
      join(c, null)
      assert.strictEqual(c.heartbeat("g", gen, a), 27)
      assert.strictEqual(c.describe("g").state, "PreparingRebalance")
    })
  )

  it.effect(
    "join - a returning static leader gets its assignment back without a rebalance, told its old id as the leader",
    () =>
      Effect.gen(function* () {
        const c = yield* makeCoordinator
        const { a, b, gen } = stableGroup(c, ["pod-a", "pod-b"])
        const back = join(c, "pod-a").res!
        assert.strictEqual(back.errorCode, 0)
        assert.strictEqual(back.generationId, gen)
        // Not its own new id: it syncs as a follower and does not assign again.
        assert.strictEqual(back.leader, a)
        assert.deepStrictEqual(back.members, [])
        assert.deepStrictEqual(sync(c, gen, back.memberId), { code: 0, assignment: "left" })
        assert.strictEqual(c.heartbeat("g", gen, b), 0)
        assert.strictEqual(c.describe("g").state, "Stable")
        // The next rebalance (b rejoins) makes it the leader under its new id.
        const again = join(c, "pod-a", back.memberId)
        join(c, "pod-b", b)
        assert.strictEqual(again.res!.generationId, gen + 1)
        assert.strictEqual(again.res!.leader, back.memberId)
        assert.strictEqual(again.res!.members.length, 2)
      })
  )

  it.effect("tick - a static member that does not return is removed when its session times out", () =>
    Effect.gen(function* () {
      const c = yield* makeCoordinator
      const { a, gen } = stableGroup(c, ["pod-a", "pod-b"])
      // b is gone without LeaveGroup; a keeps heartbeating.
      for (let t = 0; t < 4; t++) {
        yield* TestClock.adjust("1 second")
        assert.strictEqual(c.heartbeat("g", gen, a), 0)
        c.tick()
      }
      assert.strictEqual(c.describe("g").state, "Stable")
      yield* TestClock.adjust("1500 millis")
      c.tick()
      assert.strictEqual(c.heartbeat("g", gen, a), 27)
      assert.deepStrictEqual(
        c.describe("g").members.map((m) => m.memberId),
        [a]
      )
    })
  )

  it.effect(
    "tick - each member's session timeout is its own, and LeaveGroup can name a static member by instance id",
    () =>
      Effect.gen(function* () {
        const c = yield* makeCoordinator
        const a = join(c, "pod-a", "", 5000).res!
        const b = join(c, "pod-b", "", 500)
        const a2 = join(c, "pod-a", a.memberId, 5000).res!
        sync(c, a2.generationId, a2.memberId, [])
        assert.strictEqual(b.res!.errorCode, 0)
        for (let t = 0; t < 6; t++) {
          yield* TestClock.adjust("100 millis")
          c.heartbeat("g", a2.generationId, a2.memberId)
          c.tick()
        }
        // b (500 ms) is gone, a (5 s) stays; b's instance id is free again.
        assert.deepStrictEqual(
          c.describe("g").members.map((m) => m.memberId),
          [a2.memberId]
        )
        assert.strictEqual(c.leave("g", "someone-else", "pod-a"), 82)
        assert.strictEqual(c.leave("g", "", "pod-b"), 25)
        assert.strictEqual(c.leave("g", "", "pod-a"), 0)
        assert.strictEqual(c.describe("g").state, "Empty")
      })
  )
})

const joinV5 = async (client: RawClient, instance: string, memberId = "") => {
  const r = new Reader(
    await client.request(ApiKey.JoinGroup, 5, (w) => {
      w.string("static").int32(10_000).int32(10_000).string(memberId).nullableString(instance).string("consumer")
      w.int32(1).string("range").bytes(Buffer.from(instance))
    })
  )
  r.int32()
  const errorCode = r.int16()
  const generationId = r.int32()
  r.string()
  const leader = r.string()
  const id = r.string()
  const members = r.array((r) => ({
    memberId: r.string(),
    instance: r.nullableString(),
    metadata: r.bytes().toString()
  }))
  return { errorCode, generationId, leader, memberId: id, members }
}

const syncV3 = async (
  client: RawClient,
  gen: number,
  memberId: string,
  instance: string,
  assign: Array<[string, string]>
) => {
  const r = new Reader(
    await client.request(ApiKey.SyncGroup, 3, (w) => {
      w.string("static").int32(gen).string(memberId).nullableString(instance)
      w.array(assign, (w, [m, a]) => {
        w.string(m).bytes(Buffer.from(a))
      })
    })
  )
  r.int32()
  return { errorCode: r.int16(), assignment: r.bytes().toString() }
}

const heartbeatV3 = async (client: RawClient, gen: number, memberId: string, instance: string) => {
  const r = new Reader(
    await client.request(ApiKey.Heartbeat, 3, (w) => {
      w.string("static").int32(gen).string(memberId).nullableString(instance)
    })
  )
  r.int32()
  return r.int16()
}

describe("Static membership over the wire", () => {
  it.effect("make - JoinGroup v5, SyncGroup v3, Heartbeat v3 and LeaveGroup v3 carry the group instance id", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make()
      const result = yield* Effect.promise(async () => {
        const leader = await connectRaw(broker.port)
        const follower = await connectRaw(broker.port)
        const alone = await joinV5(leader, "pod-0")
        const pending = joinV5(follower, "pod-1")
        const led = await joinV5(leader, "pod-0", alone.memberId)
        const f = await pending
        const fSync = syncV3(follower, f.generationId, f.memberId, "pod-1", [])
        await syncV3(leader, led.generationId, led.memberId, "pod-0", [
          [led.memberId, "p0"],
          [f.memberId, "p1"]
        ])
        const firstAssignment = await fSync
        follower.close()
        // The follower's process restarts: a new connection, the same instance id, no member id.
        const restarted = await connectRaw(broker.port)
        const back = await joinV5(restarted, "pod-1")
        const backSync = await syncV3(restarted, back.generationId, back.memberId, "pod-1", [])
        const leaderBeat = await heartbeatV3(leader, led.generationId, led.memberId, "pod-0")
        const staleBeat = await heartbeatV3(restarted, back.generationId, f.memberId, "pod-1")
        const r = new Reader(
          await restarted.request(ApiKey.LeaveGroup, 3, (w) => {
            w.string("static").int32(1).string(back.memberId).nullableString("pod-1")
          })
        )
        r.int32()
        const leave = { errorCode: r.int16(), members: r.array((r) => [r.string(), r.nullableString(), r.int16()]) }
        const afterLeave = await heartbeatV3(leader, led.generationId, led.memberId, "pod-0")
        leader.close()
        restarted.close()
        return { led, f, firstAssignment, back, backSync, leaderBeat, staleBeat, leave, afterLeave }
      })
      assert.deepStrictEqual(result.led.members.map((m) => [m.instance, m.metadata]).sort(), [
        ["pod-0", "pod-0"],
        ["pod-1", "pod-1"]
      ])
      assert.deepStrictEqual(result.firstAssignment, { errorCode: 0, assignment: "p1" })
      assert.strictEqual(result.back.errorCode, 0)
      assert.strictEqual(result.back.generationId, result.led.generationId)
      assert.notStrictEqual(result.back.memberId, result.f.memberId)
      assert.deepStrictEqual(result.backSync, { errorCode: 0, assignment: "p1" })
      assert.strictEqual(result.leaderBeat, 0)
      assert.strictEqual(result.staleBeat, 82)
      assert.deepStrictEqual(result.leave, { errorCode: 0, members: [[result.back.memberId, "pod-1", 0]] })
      // A leave is a real departure: the remaining member is asked to rejoin.
      assert.strictEqual(result.afterLeave, 27)
    })
  )
})
