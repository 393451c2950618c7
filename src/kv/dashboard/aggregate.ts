// The dashboard's view of the cluster, computed from what each member reports
// about itself. Everything here is pure (no I/O, no clock) so that it can be
// unit-tested: the hub (hub.ts) does the fetching and feeds the results in.

import type { FollowerProgress, ServerStatus } from "../types.ts";

/** A leader change as one member observed it (`leader` is "0" when it lost its leader). */
export interface LeaderEventView {
  at: number;
  term: number;
  leader: string;
}

/** One second of completed writes: count and latency histogram (see `latencyBucket`). */
export interface LoadSecond {
  /** Unix time in whole seconds. */
  t: number;
  n: number;
  /** Sparse histogram: bucket index -> count. */
  h: Record<number, number>;
}

/** What `GET /ui/member` returns: one member's own report, the input of the aggregation. */
export interface MemberReport {
  status: ServerStatus;
  leaderEvents: LeaderEventView[];
  load: LoadSecond[];
}

/** A member as the dashboard shows it. */
export interface MemberView {
  id: string;
  name: string;
  clientURL: string;
  peerURLs: string[];
  isLearner: boolean;
  /** Whether the member answered this round. */
  up: boolean;
  /** Why it is shown as down. */
  error?: string;
  raftState?: ServerStatus["raftState"];
  term?: number;
  leader?: string;
  commit?: number;
  applied?: number;
  revision?: number;
  keys?: number;
  snapshotIndex?: number;
}

export interface ReplicationView {
  leader: string;
  /** The leader's last log index (its own match). */
  lastIndex: number;
  commit: number;
  followers: Array<Omit<FollowerProgress, "id"> & { id: string }>;
}

export interface LoadPoint {
  /** Unix time in seconds. */
  t: number;
  /** Completed writes in that second. */
  rate: number;
  /** 99th percentile latency in ms, null without writes. */
  p99Ms: number | null;
}

export interface LoadView {
  windowSec: number;
  /** Writes per second over the window. */
  rate: number;
  p99Ms: number | null;
  /** One point per second, oldest first, for the sparklines. */
  series: LoadPoint[];
}

/** The snapshot pushed to every browser over server-sent events. */
export interface DashboardSnapshot {
  at: number;
  /** The member serving the page. */
  servedBy: string;
  /** The leader per the up member with the highest term ("0" = none known). */
  leader: string;
  term: number;
  members: MemberView[];
  replication: ReplicationView | null;
  timeline: LeaderEventView[];
  load: LoadView;
}

// ------------------------------------------------------------------ latency histograms

/** Sub-buckets per doubling: each bucket is 2^(1/8) ≈ 9 % wider than the previous. */
const BUCKETS_PER_OCTAVE = 8;
/** The lower edge of bucket 0, in ms. */
const BUCKET_BASE_MS = 0.01;
const MAX_BUCKET = 300;

/** The histogram bucket of a latency: the smallest b with `bucketUpperMs(b) >= ms`. */
export function latencyBucket(ms: number): number {
  if (!(ms > BUCKET_BASE_MS)) return 0;
  const b = Math.ceil(Math.log2(ms / BUCKET_BASE_MS) * BUCKETS_PER_OCTAVE - 1e-9);
  return Math.min(b, MAX_BUCKET);
}

/** The upper edge of a bucket, in ms. */
export function bucketUpperMs(b: number): number {
  return BUCKET_BASE_MS * 2 ** (b / BUCKETS_PER_OCTAVE);
}

/**
 * The q-quantile (0 < q <= 1) of a histogram, as the upper edge of the bucket
 * holding it: an overestimate by at most one bucket (~9 %). Null when empty.
 */
export function histogramQuantile(h: Record<number, number>, q: number): number | null {
  let total = 0;
  for (const c of Object.values(h)) total += c;
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  const buckets = Object.keys(h)
    .map(Number)
    .sort((a, b) => a - b);
  let seen = 0;
  for (const b of buckets) {
    seen += h[b]!;
    if (seen >= rank) return bucketUpperMs(b);
  }
  return bucketUpperMs(buckets[buckets.length - 1]!);
}

function addInto(into: Record<number, number>, from: Record<number, number>): void {
  for (const [b, c] of Object.entries(from)) into[Number(b)] = (into[Number(b)] ?? 0) + c;
}

/**
 * Buckets one member's recent writes by second, for the `seconds` whole
 * seconds before `nowMs` (the current, incomplete second is left out).
 */
export function loadSeconds(
  writes: ReadonlyArray<{ at: number; seconds: number }>,
  nowMs: number,
  seconds: number,
): LoadSecond[] {
  const end = Math.floor(nowMs / 1000);
  const start = end - seconds;
  const bySecond = new Map<number, LoadSecond>();
  // Newest writes are at the end: walk back until the window is left behind.
  for (let i = writes.length - 1; i >= 0; i--) {
    const w = writes[i]!;
    const t = Math.floor(w.at / 1000);
    if (t < start) break;
    if (t >= end) continue;
    let s = bySecond.get(t);
    if (s === undefined) bySecond.set(t, (s = { t, n: 0, h: {} }));
    s.n++;
    const b = latencyBucket(w.seconds * 1000);
    s.h[b] = (s.h[b] ?? 0) + 1;
  }
  return [...bySecond.values()].sort((a, b) => a.t - b.t);
}

/**
 * Merges the members' per-second load into the cluster's: the sparkline
 * series (one point per second over `seconds`, ending before `nowMs`) and the
 * rate and p99 over the last `windowSec` of them.
 */
export function mergeLoad(
  perMember: ReadonlyArray<readonly LoadSecond[]>,
  nowMs: number,
  seconds: number,
  windowSec: number,
): LoadView {
  const end = Math.floor(nowMs / 1000);
  const merged = new Map<number, { n: number; h: Record<number, number> }>();
  for (let t = end - seconds; t < end; t++) merged.set(t, { n: 0, h: {} });
  for (const load of perMember) {
    for (const s of load) {
      const m = merged.get(s.t);
      if (m === undefined) continue; // outside the window (or another member's clock is off)
      m.n += s.n;
      addInto(m.h, s.h);
    }
  }
  const series: LoadPoint[] = [];
  const windowHist: Record<number, number> = {};
  let windowCount = 0;
  for (const [t, m] of merged) {
    series.push({ t, rate: m.n, p99Ms: histogramQuantile(m.h, 0.99) });
    if (t >= end - windowSec) {
      windowCount += m.n;
      addInto(windowHist, m.h);
    }
  }
  return { windowSec, rate: windowCount / windowSec, p99Ms: histogramQuantile(windowHist, 0.99), series };
}

// ------------------------------------------------------------------ leader timeline

/**
 * Merges the leader changes that the members observed into one timeline,
 * oldest first: per term, the earliest sighting of its leader and the earliest
 * "no leader" (an election in progress). Sightings that arrive after a higher
 * term was already seen are stale (a member catching up) and are dropped.
 */
export function mergeTimeline(perMember: ReadonlyArray<readonly LeaderEventView[]>): LeaderEventView[] {
  const earliest = new Map<string, LeaderEventView>();
  for (const events of perMember) {
    for (const e of events) {
      const key = `${e.term}/${e.leader === "0" ? "0" : "L"}`;
      const seen = earliest.get(key);
      if (seen === undefined || e.at < seen.at) earliest.set(key, e);
    }
  }
  const sorted = [...earliest.values()].sort((a, b) => a.at - b.at || a.term - b.term);
  const out: LeaderEventView[] = [];
  let maxTerm = 0;
  for (const e of sorted) {
    if (e.term < maxTerm) continue;
    maxTerm = e.term;
    out.push({ at: e.at, term: e.term, leader: e.leader });
  }
  return out;
}

// ------------------------------------------------------------------ the whole picture

/** One member's answer this round: its report, or why there is none. */
export type MemberResult = { ok: true; report: MemberReport } | { ok: false; error: string };

export interface AggregateInput {
  nowMs: number;
  /** The serving member's own report; its membership list drives the page. */
  self: MemberReport;
  /** The other members' results by hex id (missing = not asked, e.g. no client URL). */
  peers: ReadonlyMap<string, MemberResult>;
  /** Sparkline length and headline window, in seconds. */
  seriesSec: number;
  windowSec: number;
}

/** Builds the snapshot the browsers draw. */
export function aggregate(input: AggregateInput): DashboardSnapshot {
  const self = input.self.status;
  const reports = new Map<string, MemberReport>([[self.id, input.self]]);
  for (const [id, r] of input.peers) if (r.ok) reports.set(id, r.report);

  // Ordered by name (then id) so that every member's page draws the same picture.
  const sorted = [...self.members].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  const members: MemberView[] = sorted.map((m) => {
    const base = {
      id: m.id,
      name: m.name,
      clientURL: m.clientURLs[0] ?? "",
      peerURLs: m.peerURLs,
      isLearner: m.isLearner,
    };
    const report = reports.get(m.id);
    if (report === undefined) {
      const r = input.peers.get(m.id);
      const error = r !== undefined && !r.ok ? r.error : "no client URL published yet";
      return { ...base, up: false, error };
    }
    const s = report.status;
    return {
      ...base,
      // A member that has not published its name yet is named by its own status.
      name: m.name !== "" ? m.name : s.name,
      up: true,
      raftState: s.raftState,
      term: s.term,
      leader: s.leader,
      commit: s.commit,
      applied: s.applied,
      revision: s.revision,
      keys: s.keys,
      snapshotIndex: s.snapshotIndex,
    };
  });

  // The freshest view wins: the highest term among the members that answered.
  let best: ServerStatus = self;
  for (const r of reports.values()) if (r.status.term > best.term) best = r.status;
  const leader = best.leader;

  let replication: ReplicationView | null = null;
  const lr = reports.get(leader)?.status;
  if (lr !== undefined && lr.raftState === "leader" && lr.progress !== undefined) {
    const own = lr.progress.find((p) => p.id === leader);
    replication = {
      leader,
      lastIndex: own?.match ?? Math.max(lr.commit, ...lr.progress.map((p) => p.match)),
      commit: lr.commit,
      followers: lr.progress.filter((p) => p.id !== leader),
    };
  }

  const all = [...reports.values()];
  return {
    at: input.nowMs,
    servedBy: self.id,
    leader,
    term: best.term,
    members,
    replication,
    timeline: mergeTimeline(all.map((r) => r.leaderEvents)),
    load: mergeLoad(
      all.map((r) => r.load),
      input.nowMs,
      input.seriesSec,
      input.windowSec,
    ),
  };
}
