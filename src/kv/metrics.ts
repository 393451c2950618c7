// Prometheus metrics of a tsraft-kv member, under etcd's metric names where
// etcd has one, so that existing etcd dashboards and alerts apply.

import { Counter, Gauge, Histogram, Registry } from "prom-client";

export class KvMetrics {
  readonly registry = new Registry();
  readonly hasLeader = new Gauge({
    name: "etcd_server_has_leader",
    help: "Whether or not a leader exists. 1 is existence, 0 is not.",
    registers: [this.registry],
  });
  readonly isLeader = new Gauge({
    name: "etcd_server_is_leader",
    help: "Whether or not this member is a leader. 1 if is, 0 otherwise.",
    registers: [this.registry],
  });
  readonly leaderChanges = new Counter({
    name: "etcd_server_leader_changes_seen_total",
    help: "The number of leader changes seen.",
    registers: [this.registry],
  });
  readonly proposalsCommitted = new Gauge({
    name: "etcd_server_proposals_committed_total",
    help: "The total number of consensus proposals committed.",
    registers: [this.registry],
  });
  readonly proposalsApplied = new Gauge({
    name: "etcd_server_proposals_applied_total",
    help: "The total number of consensus proposals applied.",
    registers: [this.registry],
  });
  readonly proposalsPending = new Gauge({
    name: "etcd_server_proposals_pending",
    help: "The current number of pending proposals to commit.",
    registers: [this.registry],
  });
  readonly proposalsFailed = new Counter({
    name: "etcd_server_proposals_failed_total",
    help: "The total number of failed proposals seen.",
    registers: [this.registry],
  });
  readonly walFsync = new Histogram({
    name: "etcd_disk_wal_fsync_duration_seconds",
    help: "The latency distributions of fsync called by WAL.",
    buckets: exponentialBuckets(0.001, 2, 14),
    registers: [this.registry],
  });
  readonly snapSave = new Histogram({
    name: "etcd_debugging_snap_save_total_duration_seconds",
    help: "The total latency distributions of save called by snapshot.",
    buckets: exponentialBuckets(0.001, 2, 14),
    registers: [this.registry],
  });
  readonly peerSentBytes = new Gauge({
    name: "etcd_network_peer_sent_bytes_total",
    help: "The total number of bytes sent to peers.",
    labelNames: ["To"],
    registers: [this.registry],
  });
  readonly peerReceivedBytes = new Gauge({
    name: "etcd_network_peer_received_bytes_total",
    help: "The total number of bytes received from peers.",
    labelNames: ["From"],
    registers: [this.registry],
  });
  readonly peerRoundTrip = new Gauge({
    name: "etcd_network_peer_round_trip_time_seconds",
    help: "Smoothed round-trip time to each peer, from the prober.",
    labelNames: ["To"],
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: "tsraft_kv_request_duration_seconds",
    help: "Latency of client API requests by operation and status code.",
    labelNames: ["op", "code"],
    buckets: exponentialBuckets(0.0001, 2, 18),
    registers: [this.registry],
  });
  readonly keys = new Gauge({
    name: "tsraft_kv_keys",
    help: "Number of keys in the store.",
    registers: [this.registry],
  });

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

function exponentialBuckets(start: number, factor: number, count: number): number[] {
  const out: number[] = [];
  for (let i = 0, v = start; i < count; i++, v *= factor) out.push(v);
  return out;
}
