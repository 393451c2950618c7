// Prometheus metrics of a host, under etcd's names and types so that etcd's
// dashboards and alerts apply. They are registered into the caller's
// prom-client Registry (or a private one), never the global default.

import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { TransportStats } from "../rafthttp/index.ts";

function exponentialBuckets(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start * factor ** i);
}

/**
 * A host's Prometheus metrics (`Host.metrics`), under etcd's names, label
 * names and types. The host updates them; an application only exposes
 * `registry` (e.g. `await registry.metrics()` on GET /metrics). Durations are
 * in seconds, as etcd's.
 */
export class HostMetrics {
  /** The registry every metric below is registered in (the config's `metricsRegistry`, or a private one). */
  readonly registry: Registry;
  /** `etcd_server_has_leader` (gauge): 1 while a leader is known, else 0. */
  readonly hasLeader: Gauge;
  /** `etcd_server_is_leader` (gauge): 1 while this member leads. */
  readonly isLeader: Gauge;
  /** `etcd_server_is_learner` (gauge): 1 while this member is a learner. */
  readonly isLearner: Gauge;
  /** `etcd_server_leader_changes_seen_total` (counter): leader changes seen by this member. */
  readonly leaderChanges: Counter;
  /** `etcd_server_proposals_committed_total` (a gauge, as in etcd): index of the last committed entry. */
  readonly proposalsCommitted: Gauge;
  /** `etcd_server_proposals_applied_total` (a gauge, as in etcd): the applied index. */
  readonly proposalsApplied: Gauge;
  /** `etcd_server_proposals_pending` (gauge): proposals of this member waiting to be applied. */
  readonly proposalsPending: Gauge;
  /** `etcd_server_proposals_failed_total` (counter): failed proposals (dropped, no leader, timed out). */
  readonly proposalsFailed: Counter;
  /** `etcd_disk_wal_fsync_duration_seconds` (histogram): WAL fdatasync latency. */
  readonly walFsync: Histogram;
  /** `etcd_debugging_snap_save_total_duration_seconds` (histogram): time to save a snapshot. */
  readonly snapSave: Histogram;
  /** `etcd_server_apply_duration_seconds` (histogram): time of one StateMachine.apply call (a batch). */
  readonly applyDuration: Histogram;
  /** `etcd_network_peer_sent_bytes_total{To}` (counter): bytes sent per peer, read at scrape time. */
  readonly peerSentBytes: Counter;
  /** `etcd_network_peer_received_bytes_total{From}` (counter): bytes received per peer, read per scrape. */
  readonly peerReceivedBytes: Counter;
  /** `etcd_network_peer_round_trip_time_seconds{To}` (histogram): probe RTT, sampled per scrape. */
  readonly peerRoundTrip: Histogram;
  /** `tsraft_peer_refused_total` (counter): peer requests refused because of their sender. */
  readonly peerRefused: Counter;
  private stats: (() => TransportStats | undefined) | null = null;
  // Totals at the previous scrape, per peer: prom-client counters only go up
  // by deltas, the transport keeps totals.
  private readonly lastSent = new Map<string, number>();
  private readonly lastReceived = new Map<string, number>();
  private readonly lastProbes = new Map<string, number>();
  private lastRefused = 0;

  /** Registers the metrics in `registry` (default: a new one); a name registered there already throws. */
  constructor(registry?: Registry) {
    const r = registry ?? new Registry();
    this.registry = r;
    const registers = [r];
    this.hasLeader = new Gauge({
      name: "etcd_server_has_leader",
      help: "Whether or not a leader exists. 1 is existence, 0 is not.",
      registers,
    });
    this.isLeader = new Gauge({
      name: "etcd_server_is_leader",
      help: "Whether or not this member is a leader. 1 if is, 0 otherwise.",
      registers,
    });
    this.isLearner = new Gauge({
      name: "etcd_server_is_learner",
      help: "Whether or not this member is a learner. 1 if is, 0 otherwise.",
      registers,
    });
    this.leaderChanges = new Counter({
      name: "etcd_server_leader_changes_seen_total",
      help: "The number of leader changes seen.",
      registers,
    });
    // etcd exports these two as gauges despite the _total suffix; so do we.
    this.proposalsCommitted = new Gauge({
      name: "etcd_server_proposals_committed_total",
      help: "The total number of consensus proposals committed.",
      registers,
    });
    this.proposalsApplied = new Gauge({
      name: "etcd_server_proposals_applied_total",
      help: "The total number of consensus proposals applied.",
      registers,
    });
    this.proposalsPending = new Gauge({
      name: "etcd_server_proposals_pending",
      help: "The current number of pending proposals to commit.",
      registers,
    });
    this.proposalsFailed = new Counter({
      name: "etcd_server_proposals_failed_total",
      help: "The total number of failed proposals seen.",
      registers,
    });
    this.walFsync = new Histogram({
      name: "etcd_disk_wal_fsync_duration_seconds",
      help: "The latency distributions of fsync called by WAL.",
      buckets: exponentialBuckets(0.001, 2, 14),
      registers,
    });
    this.snapSave = new Histogram({
      name: "etcd_debugging_snap_save_total_duration_seconds",
      help: "The total latency distributions of save called by snapshot.",
      buckets: exponentialBuckets(0.001, 2, 14),
      registers,
    });
    this.applyDuration = new Histogram({
      name: "etcd_server_apply_duration_seconds",
      help: "The latency distributions of v2 apply called by backend.",
      buckets: exponentialBuckets(0.0001, 2, 20),
      registers,
    });
    this.peerSentBytes = new Counter({
      name: "etcd_network_peer_sent_bytes_total",
      help: "The total number of bytes sent to peers.",
      labelNames: ["To"],
      registers,
      collect: () => this.collectPeers(),
    });
    this.peerReceivedBytes = new Counter({
      name: "etcd_network_peer_received_bytes_total",
      help: "The total number of bytes received from peers.",
      labelNames: ["From"],
      registers,
    });
    this.peerRefused = new Counter({
      name: "tsraft_peer_refused_total",
      help: "Peer requests and messages refused because of their sender (not a member, mismatched, unproven).",
      registers,
    });
    this.peerRoundTrip = new Histogram({
      name: "etcd_network_peer_round_trip_time_seconds",
      help: "Round-Trip-Time histogram between peers (sampled from the transport's probes at each scrape).",
      labelNames: ["To"],
      buckets: exponentialBuckets(0.0001, 2, 14),
      registers,
    });
  }

  /** Feeds the peer metrics from the transport's totals at each scrape. */
  attachTransport(stats: () => TransportStats | undefined): void {
    this.stats = stats;
  }

  private collectPeers(): void {
    const st = this.stats?.();
    if (st === undefined) return;
    if (st.refused > this.lastRefused) this.peerRefused.inc(st.refused - this.lastRefused);
    this.lastRefused = st.refused;
    for (const [id, p] of Object.entries(st.peers)) {
      const ds = p.sentBytes - (this.lastSent.get(id) ?? 0);
      if (ds > 0) this.peerSentBytes.inc({ To: id }, ds);
      this.lastSent.set(id, p.sentBytes);
      const dr = p.receivedBytes - (this.lastReceived.get(id) ?? 0);
      if (dr > 0) this.peerReceivedBytes.inc({ From: id }, dr);
      this.lastReceived.set(id, p.receivedBytes);
      const probe = p.probe?.pipeline;
      if (probe !== undefined && probe.total > (this.lastProbes.get(id) ?? 0)) {
        this.peerRoundTrip.observe({ To: id }, probe.srttMs / 1000);
        this.lastProbes.set(id, probe.total);
      }
    }
  }
}
