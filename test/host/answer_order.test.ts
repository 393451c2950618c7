// A leader's Ready that only commits (no new entries) answers its proposers
// before it sends the commit broadcast (the empty MsgApps that tell
// followers the new commit index): a gRPC call ends with its trailers, which
// Node's HTTP/2 sends a turn after the response itself, and the followers'
// replies to a broadcast sent first arrived in that turn, ahead of them
// (src/host/host.ts, handleReady). Observed by wrapping the leader's
// transport (a private field): the order of "answered" and the first empty
// MsgApp whose commit covers the proposal.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Message, MessageType } from "../../src/raftpb/index.ts";
import { waitFor } from "../kv/support/cluster.ts";
import { delta, startCluster } from "./support.ts";

test("a commit-only Ready answers the proposer before it sends the commit broadcast", async () => {
  const c = await startCluster(3);
  try {
    const h = await c.leader();
    const t = (h as unknown as { transport: { send(msgs: readonly Message[]): void } }).transport;
    const send = t.send.bind(t);
    const events: string[] = [];
    let watching = false;
    let covered = 0;
    t.send = (msgs) => {
      if (watching) {
        for (const m of msgs) {
          if (m.type === MessageType.MsgApp && m.entries.length === 0 && m.commit >= covered)
            events.push(`broadcast commit ${m.commit}`);
        }
      }
      send(msgs);
    };
    for (let round = 0; round < 5; round++) {
      await h.propose(delta(1)); // settle: nothing else in flight
      await new Promise((r) => setTimeout(r, 30));
      events.length = 0;
      covered = h.appliedIndex() + 1; // the next proposal's index (the leader is idle)
      watching = true;
      await h.propose(delta(1)).then(() => events.push("answered"));
      const first = await waitFor(`a commit broadcast covering index ${covered}`, async () => {
        const i = events.findIndex((e) => e.startsWith("broadcast"));
        return i >= 0 ? i : undefined;
      });
      watching = false;
      assert.ok(first >= 0);
      assert.equal(events[0], "answered", `round ${round}: ${events.join(", ")}`);
    }
  } finally {
    await c.close();
  }
});
