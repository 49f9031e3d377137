import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import { TestClock } from "effect/testing"
import { type CommittedOffset, GroupCoordinator } from "../src/internal/broker/groupCoordinator.ts"
import type { JoinGroupResponse } from "../src/internal/protocol/groups.ts"

const makeCoordinator = Effect.gen(function* () {
  const clock = yield* Clock.Clock
  const commits: Array<CommittedOffset> = []
  const coordinator = new GroupCoordinator({
    now: () => clock.currentTimeMillisUnsafe(),
    minSessionTimeoutMs: 100,
    maxSessionTimeoutMs: 60_000,
    initialRebalanceDelayMs: 0,
    onCommit: (_g, _t, _p, c) => commits.push(c)
  })
  return { coordinator, commits }
})

/** Sends a JoinGroup and returns a slot that fills when the coordinator answers. */
const join = (c: GroupCoordinator, memberId = "", rebalanceTimeoutMs = 1000) => {
  const slot: { res: JoinGroupResponse | undefined } = { res: undefined }
  c.join(
    {
      groupId: "g",
      sessionTimeoutMs: 500,
      rebalanceTimeoutMs,
      memberId,
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

const sync = (c: GroupCoordinator, generationId: number, memberId: string, assignments: Array<[string, string]>) => {
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

describe("GroupCoordinator", () => {
  it.effect("join - a second member triggers a rebalance that fences the old generation", () =>
    Effect.gen(function* () {
      const { coordinator: c } = yield* makeCoordinator
      const a = join(c).res!
      assert.strictEqual(a.errorCode, 0)
      assert.strictEqual(a.leader, a.memberId)
      assert.strictEqual(sync(c, a.generationId, a.memberId, [[a.memberId, "all"]]).assignment, "all")
      assert.strictEqual(c.heartbeat("g", a.generationId, a.memberId), 0)

      const b = join(c)
      assert.isUndefined(b.res)
      assert.strictEqual(c.heartbeat("g", a.generationId, a.memberId), 27)
      const a2 = join(c, a.memberId).res!
      assert.strictEqual(b.res!.errorCode, 0)
      assert.strictEqual(a2.generationId, a.generationId + 1)
      assert.strictEqual(a2.members.length, 2)
      assert.strictEqual(b.res!.members.length, 0)
      assert.strictEqual(c.heartbeat("g", a.generationId, a.memberId), 22)
      assert.strictEqual(c.heartbeat("g", a2.generationId, "nobody"), 25)

      // The follower's SyncGroup waits for the leader's assignment.
      const follower = sync(c, a2.generationId, b.res!.memberId, [])
      assert.isUndefined(follower.code)
      sync(c, a2.generationId, a2.memberId, [
        [a2.memberId, "left"],
        [b.res!.memberId, "right"]
      ])
      assert.deepStrictEqual(follower, { code: 0, assignment: "right" })
      assert.strictEqual(c.describe("g").state, "Stable")
    })
  )

  it.effect("tick - a member that does not rejoin is dropped when the rebalance timeout expires", () =>
    Effect.gen(function* () {
      const { coordinator: c } = yield* makeCoordinator
      const a = join(c, "", 1000).res!
      sync(c, a.generationId, a.memberId, [])
      const b = join(c, "", 1000)
      // a keeps heartbeating (so its session stays alive) but never rejoins.
      for (let t = 0; t < 9; t++) {
        yield* TestClock.adjust("100 millis")
        assert.strictEqual(c.heartbeat("g", a.generationId, a.memberId), 27)
        c.tick()
      }
      assert.isUndefined(b.res)
      yield* TestClock.adjust("100 millis")
      c.tick()
      assert.strictEqual(b.res!.errorCode, 0)
      assert.strictEqual(b.res!.leader, b.res!.memberId)
      assert.strictEqual(c.describe("g").members.length, 1)
      assert.strictEqual(c.heartbeat("g", a.generationId, a.memberId), 25)
    })
  )

  it.effect("commit - checks member and generation, and accepts generation -1 commits", () =>
    Effect.gen(function* () {
      const { coordinator: c, commits } = yield* makeCoordinator
      const a = join(c).res!
      sync(c, a.generationId, a.memberId, [])
      const offsets = [{ topic: "t", partition: 0, committed: { offset: 5, metadata: null } }]
      assert.strictEqual(c.commit("g", a.generationId + 1, a.memberId, offsets), 22)
      assert.strictEqual(c.commit("g", a.generationId, "stranger", offsets), 25)
      assert.strictEqual(c.commit("g", a.generationId, a.memberId, offsets), 0)
      assert.strictEqual(c.commit("g", -1, "", [{ ...offsets[0]!, committed: { offset: 9, metadata: "m" } }]), 0)
      assert.deepStrictEqual(
        commits.map((x) => x.offset),
        [5, 9]
      )
      assert.strictEqual(c.committed("g").get("t")?.get(0)?.offset, 9)
    })
  )

  it.effect("leave - the last member leaving empties the group", () =>
    Effect.gen(function* () {
      const { coordinator: c } = yield* makeCoordinator
      const a = join(c).res!
      sync(c, a.generationId, a.memberId, [])
      assert.strictEqual(c.leave("g", a.memberId), 0)
      assert.strictEqual(c.describe("g").state, "Empty")
      assert.strictEqual(c.leave("g", a.memberId), 25)
    })
  )
})
