// The dashboard without a browser: latency histograms and p99, the merged
// load and leader timeline, the aggregation of members that are up, down or
// unknown, and the hub's HTTP side (page, member report, event stream and its
// loop starting and stopping with the browsers).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer, get, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, test } from "node:test";
import { Script } from "node:vm";
import {
  aggregate,
  bucketUpperMs,
  type DashboardSnapshot,
  histogramQuantile,
  latencyBucket,
  loadSeconds,
  type MemberReport,
  type MemberResult,
  mergeLoad,
  mergeTimeline,
} from "../../src/kv/dashboard/aggregate.ts";
import { DashboardHub, type DashboardSource, parseReport } from "../../src/kv/dashboard/hub.ts";
import { PAGE_SCRIPT } from "../../src/kv/dashboard/page.ts";
import type { FollowerProgress, ServerStatus } from "../../src/kv/types.ts";

describe("latency histogram", () => {
  test("buckets are ~9% wide and the quantile is the holding bucket's upper edge", () => {
    for (const ms of [0.02, 0.5, 1, 3.3, 10, 47, 250, 1000, 9000]) {
      const b = latencyBucket(ms);
      assert.ok(bucketUpperMs(b) >= ms, `${ms} fits under its bucket's edge`);
      assert.ok(bucketUpperMs(b - 1) < ms, `${ms} is above the previous bucket`);
      assert.ok(bucketUpperMs(b) / ms < 1.1, `${ms}: at most ~9% over`);
    }
    assert.equal(latencyBucket(0), 0);
  });

  test("p99 of 1..1000 ms is about 990 ms; an empty histogram has none", () => {
    const h: Record<number, number> = {};
    for (let ms = 1; ms <= 1000; ms++) h[latencyBucket(ms)] = (h[latencyBucket(ms)] ?? 0) + 1;
    const p99 = histogramQuantile(h, 0.99)!;
    assert.ok(p99 >= 990 && p99 < 990 * 1.1, `p99 = ${p99}`);
    const p50 = histogramQuantile(h, 0.5)!;
    assert.ok(p50 >= 500 && p50 < 550, `p50 = ${p50}`);
    assert.equal(histogramQuantile({}, 0.99), null);
  });

  test("one slow write in a hundred sets the p99; two in a hundred do too", () => {
    const h: Record<number, number> = { [latencyBucket(2)]: 99, [latencyBucket(400)]: 1 };
    assert.ok(histogramQuantile(h, 0.99)! < 2.2);
    h[latencyBucket(2)] = 98;
    h[latencyBucket(400)] = 2;
    assert.ok(histogramQuantile(h, 0.99)! >= 400);
  });
});

describe("load", () => {
  const now = 1_700_000_010_500; // half-way through second ...010
  const sec = (s: number) => 1_700_000_000_000 + s * 1000;

  test("writes are bucketed per whole second; the current second is left out", () => {
    const writes = [
      { at: sec(1) + 5, seconds: 0.5 }, // before the window
      { at: sec(7) + 100, seconds: 0.002 },
      { at: sec(7) + 900, seconds: 0.004 },
      { at: sec(9) + 1, seconds: 0.01 },
      { at: sec(10) + 100, seconds: 0.001 }, // the current second
    ];
    const load = loadSeconds(writes, now, 5);
    assert.deepEqual(
      load.map((s) => [s.t, s.n]),
      [
        [1_700_000_007, 2],
        [1_700_000_009, 1],
      ],
    );
  });

  test("members' load adds up; rate and p99 cover the window, the series every second", () => {
    const a = loadSeconds(
      Array.from({ length: 99 }, (_, i) => ({ at: sec(9) + i, seconds: 0.002 })),
      now,
      10,
    );
    const b = loadSeconds([{ at: sec(8), seconds: 0.3 }], now, 10);
    const l = mergeLoad([a, b], now, 10, 5);
    assert.equal(l.series.length, 10);
    assert.equal(l.series[l.series.length - 1]!.rate, 99);
    assert.equal(l.series[l.series.length - 2]!.rate, 1);
    assert.equal(l.series[0]!.p99Ms, null, "no writes, no latency");
    assert.equal(l.rate, 100 / 5);
    // 100 writes, one slow: the 99th is still a fast one.
    assert.ok(l.p99Ms! < 2.2, `p99 = ${l.p99Ms}`);
    const outside = mergeLoad([a, b], now, 10, 1);
    assert.equal(outside.rate, 99);
  });
});

describe("leader timeline", () => {
  test("merges members' sightings: earliest per term, stale ones dropped", () => {
    const m1 = [
      { at: 100, term: 2, leader: "a" },
      { at: 500, term: 3, leader: "0" },
      { at: 620, term: 3, leader: "b" },
    ];
    const m2 = [
      { at: 105, term: 2, leader: "a" },
      { at: 510, term: 3, leader: "0" },
      { at: 600, term: 3, leader: "b" },
    ];
    // m3 restarted late and first heard of term 2's leader after term 3 began.
    const m3 = [
      { at: 700, term: 2, leader: "a" },
      { at: 710, term: 3, leader: "b" },
    ];
    assert.deepEqual(mergeTimeline([m1, m2, m3]), [
      { at: 100, term: 2, leader: "a" },
      { at: 500, term: 3, leader: "0" },
      { at: 600, term: 3, leader: "b" },
    ]);
    assert.deepEqual(mergeTimeline([]), []);
  });
});

// ------------------------------------------------------------------ aggregation

function status(
  id: string,
  name: string,
  over: Partial<ServerStatus> = {},
  members = ["a", "b", "c"],
): ServerStatus {
  return {
    id,
    name,
    leader: "a",
    term: 4,
    vote: "a",
    commit: 10,
    applied: 10,
    revision: 5,
    raftState: id === "a" ? "leader" : "follower",
    isLearner: false,
    members: members.map((m) => ({
      id: m,
      name: `m-${m}`,
      peerURLs: [`http://127.0.0.1:1/${m}`],
      clientURLs: [`http://127.0.0.1:2/${m}`],
      isLearner: false,
    })),
    keys: 3,
    snapshotIndex: 0,
    ...over,
  };
}

const report = (st: ServerStatus): MemberReport => ({ status: st, leaderEvents: [], load: [] });

/** The leader's progress for one member (next = match + 1). */
function pr(
  id: string,
  match: number,
  state: FollowerProgress["state"] = "replicate",
  paused = false,
  recentActive = true,
): FollowerProgress {
  return { id, match, next: match + 1, state, paused, recentActive, isLearner: false };
}

describe("aggregate", () => {
  test("a follower's page shows the leader's replication view and marks a silent member down", () => {
    const leader = status("a", "m-a", {
      commit: 12,
      progress: [pr("a", 12), pr("b", 12), pr("c", 7, "probe", true, false)],
    });
    const peers = new Map<string, MemberResult>([
      ["a", { ok: true, report: report(leader) }],
      ["c", { ok: false, error: "connection refused" }],
    ]);
    const snap = aggregate({
      nowMs: 5000,
      self: report(status("b", "m-b")),
      peers,
      seriesSec: 4,
      windowSec: 2,
    });
    assert.equal(snap.servedBy, "b");
    assert.equal(snap.leader, "a");
    assert.deepEqual(
      snap.members.map((m) => [m.id, m.up, m.raftState ?? m.error]),
      [
        ["a", true, "leader"],
        ["b", true, "follower"],
        ["c", false, "connection refused"],
      ],
    );
    assert.equal(snap.replication?.leader, "a");
    assert.equal(snap.replication?.lastIndex, 12);
    assert.deepEqual(
      snap.replication?.followers.map((f) => [f.id, f.match, f.state]),
      [
        ["b", 12, "replicate"],
        ["c", 7, "probe"],
      ],
    );
    assert.equal(snap.load.series.length, 4);
    assert.equal(snap.load.rate, 0);
  });

  test("without the leader's answer there is no replication view; the highest term names the leader", () => {
    const snap = aggregate({
      nowMs: 0,
      self: report(status("b", "m-b", { term: 4, leader: "a" })),
      peers: new Map<string, MemberResult>([
        ["a", { ok: false, error: "no answer in time" }],
        [
          "c",
          { ok: true, report: report(status("c", "m-c", { term: 5, leader: "0", raftState: "candidate" })) },
        ],
      ]),
      seriesSec: 1,
      windowSec: 1,
    });
    assert.equal(snap.leader, "0", "term 5 has no leader yet");
    assert.equal(snap.term, 5);
    assert.equal(snap.replication, null);
    assert.equal(snap.members.find((m) => m.id === "a")?.up, false);
  });

  test("a member without a client URL is shown as down with the reason; members are sorted by name", () => {
    const self = status("b", "m-b", {}, ["c", "b", "a"]);
    self.members.find((m) => m.id === "c")!.clientURLs = [];
    const snap = aggregate({ nowMs: 0, self: report(self), peers: new Map(), seriesSec: 1, windowSec: 1 });
    assert.deepEqual(
      snap.members.map((m) => m.id),
      ["a", "b", "c"],
    );
    const c = snap.members.find((m) => m.id === "c")!;
    assert.equal(c.up, false);
    assert.match(c.error!, /no client URL/);
  });
});

// ------------------------------------------------------------------ the hub over HTTP

class FakeMember implements DashboardSource {
  st: ServerStatus;
  leaderEvents = [{ at: 1000, term: 4, leader: "a" }];
  recentWrites: Array<{ at: number; seconds: number }> = [];
  constructor(st: ServerStatus) {
    this.st = st;
  }
  status(): ServerStatus {
    return this.st;
  }
}

async function serve(hub: DashboardHub): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (!hub.handle(req, res)) {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

/** Opens the event stream and resolves with its first snapshot and the response (to close). */
function firstSnapshot(url: string): Promise<{ snap: DashboardSnapshot; res: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    get(`${url}/ui/events`, (res) => {
      assert.equal(res.headers["content-type"], "text/event-stream; charset=utf-8");
      let buf = "";
      res.setEncoding("utf8");
      const onData = (chunk: string) => {
        buf += chunk;
        const m = /^data: (.*)$/m.exec(buf);
        if (m === null) return;
        res.off("data", onData);
        resolve({ snap: JSON.parse(m[1]!) as DashboardSnapshot, res });
      };
      res.on("data", onData);
    }).on("error", reject);
  });
}

async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("hub", () => {
  const servers: Server[] = [];
  const hubs: DashboardHub[] = [];
  after(async () => {
    for (const h of hubs) h.close();
    await Promise.all(servers.map(closeServer));
  });

  test("serves the page with its script allowed by hash, and the script parses", async () => {
    const hub = new DashboardHub(new FakeMember(status("a", "m-a")));
    hubs.push(hub);
    const { server, url } = await serve(hub);
    servers.push(server);
    const res = await fetch(`${url}/ui`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/html/);
    const html = await res.text();
    const hash = createHash("sha256").update(PAGE_SCRIPT).digest("base64");
    assert.ok(res.headers.get("content-security-policy")!.includes(`'sha256-${hash}'`));
    assert.ok(html.includes(`<script>${PAGE_SCRIPT}</script>`));
    assert.doesNotMatch(html, /<(script|link|img)[^>]+(src|href)="(https?:)?\/\//, "no external assets");
    assert.doesNotThrow(() => new Script(PAGE_SCRIPT), "the page script parses");
    assert.ok(!/[`\\]|\$\{/.test(PAGE_SCRIPT), "no characters that the template string would interpret");
    assert.equal((await fetch(`${url}/ui/`)).status, 200);
    assert.equal((await fetch(`${url}/ui/`, { method: "HEAD" })).status, 200);
    const post = await fetch(`${url}/ui`, { method: "POST" });
    assert.equal(post.status, 405);
    assert.equal(((await post.json()) as { code: string }).code, "METHOD_NOT_ALLOWED");
    assert.equal((await fetch(`${url}/ui/nope`)).status, 404, "other paths are not the dashboard's");
  });

  test("streams the cluster from a follower: the leader's report, a down member; the loop stops with the last browser", async () => {
    // The leader "a" runs its own hub; "c" does not answer (a closed port).
    const leaderSource = new FakeMember(
      status("a", "m-a", {
        progress: [pr("a", 10), pr("b", 10), pr("c", 4, "probe", true, false)],
      }),
    );
    const leaderHub = new DashboardHub(leaderSource);
    hubs.push(leaderHub);
    const leader = await serve(leaderHub);
    servers.push(leader.server);
    // A port that was just freed: connecting to it is refused.
    const deadHub = new DashboardHub(new FakeMember(status("c", "m-c")));
    const dead = await serve(deadHub);
    await closeServer(dead.server);
    deadHub.close();

    const follower = new FakeMember(status("b", "m-b"));
    follower.st.members[0]!.clientURLs = [leader.url];
    follower.st.members[2]!.clientURLs = [dead.url];
    follower.recentWrites = [{ at: Date.now() - 1500, seconds: 0.004 }];
    const hub = new DashboardHub(follower, { intervalMs: 50 });
    hubs.push(hub);
    const { server, url } = await serve(hub);
    servers.push(server);

    assert.equal(hub.running, false, "idle until a browser connects");
    const { snap, res } = await firstSnapshot(url);
    assert.equal(hub.running, true);
    assert.equal(snap.servedBy, "b");
    assert.equal(snap.leader, "a");
    assert.deepEqual(
      snap.members.map((m) => [m.name, m.up]),
      [
        ["m-a", true],
        ["m-b", true],
        ["m-c", false],
      ],
    );
    assert.equal(snap.members[2]!.error, "connection refused");
    assert.equal(snap.replication?.followers.find((f) => f.id === "c")?.state, "probe");
    assert.deepEqual(snap.timeline, [{ at: 1000, term: 4, leader: "a" }]);
    assert.equal(
      snap.load.series.reduce((n, p) => n + p.rate, 0),
      1,
      "the follower's write is counted",
    );

    // A second browser gets the same stream; the loop runs until both leave.
    const second = await firstSnapshot(url);
    assert.equal(hub.clientCount, 2);
    res.destroy();
    await until("one browser left", () => hub.clientCount === 1);
    assert.equal(hub.running, true);
    second.res.destroy();
    await until("the loop to stop", () => !hub.running && hub.clientCount === 0);
  });

  test("a member report is served for the other members' pages and checked when read", async () => {
    const src = new FakeMember(status("a", "m-a"));
    const hub = new DashboardHub(src);
    hubs.push(hub);
    const { server, url } = await serve(hub);
    servers.push(server);
    const text = await (await fetch(`${url}/ui/member`)).text();
    const r = parseReport(text);
    assert.equal(r.status.id, "a");
    assert.deepEqual(r.leaderEvents, src.leaderEvents);
    assert.throws(() => parseReport("{}"), /malformed report/);
    assert.throws(() => parseReport("not json"), /malformed report/);
  });

  test("close() ends the event streams and refuses new ones", async () => {
    const hub = new DashboardHub(new FakeMember(status("a", "m-a", {}, ["a"])), { intervalMs: 50 });
    const { server, url } = await serve(hub);
    servers.push(server);
    const { res } = await firstSnapshot(url);
    const ended = new Promise<void>((r) => res.on("end", () => r()));
    res.resume();
    hub.close();
    await ended;
    assert.equal(hub.running, false);
    assert.equal((await fetch(`${url}/ui/events`)).status, 503);
  });
});
