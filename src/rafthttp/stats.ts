// Per-peer counters and the leader's per-follower latency, as plain objects
// for metrics exporters.

/** Traffic with one peer, counted on this side. */
export class PeerCounters {
  sentMessages = 0;
  sentBytes = 0;
  receivedMessages = 0;
  receivedBytes = 0;
  /** Messages dropped because a send queue was full or the peer was paused. */
  sendDrops = 0;
  /** Sends that failed on the network (stream write errors, failed POSTs). */
  sendFailures = 0;
  /** Received messages dropped because the receive queue was full. */
  receiveDrops = 0;
  // Messages per path (link heartbeats excluded), so that a test or an
  // operator can tell which of etcd's paths carried the traffic.
  pipelineSent = 0;
  pipelineReceived = 0;
  msgAppV2Sent = 0;
  msgAppV2Received = 0;
  messageSent = 0;
  messageReceived = 0;
  snapshotSent = 0;
  snapshotReceived = 0;
}

/** Messages sent and received on one path. */
export interface PathCounts {
  sent: number;
  received: number;
}

export interface LatencyStats {
  /** Last sample, ms. */
  current: number;
  average: number;
  standardDeviation: number;
  minimum: number;
  maximum: number;
}

export interface FollowerStatsSnapshot {
  latency: LatencyStats;
  counts: { success: number; fail: number };
}

/**
 * etcd's v2 follower stats: latency samples are round trips to the follower
 * (MsgHeartbeat → MsgHeartbeatResp, and pipeline POSTs); counts are delivered
 * vs failed sends.
 */
export class FollowerStats {
  current = 0;
  minimum = 0;
  maximum = 0;
  private samples = 0;
  private sum = 0;
  private sumSq = 0;
  success = 0;
  fail = 0;

  succ(ms: number): void {
    this.success++;
    this.sample(ms);
  }

  sample(ms: number): void {
    this.current = ms;
    if (this.samples === 0 || ms < this.minimum) this.minimum = ms;
    if (ms > this.maximum) this.maximum = ms;
    this.samples++;
    this.sum += ms;
    this.sumSq += ms * ms;
  }

  snapshot(): FollowerStatsSnapshot {
    const n = this.samples;
    const avg = n === 0 ? 0 : this.sum / n;
    const variance = n === 0 ? 0 : Math.max(0, this.sumSq / n - avg * avg);
    return {
      latency: {
        current: this.current,
        average: avg,
        standardDeviation: Math.sqrt(variance),
        minimum: this.minimum,
        maximum: this.maximum,
      },
      counts: { success: this.success, fail: this.fail },
    };
  }
}

export interface ProbeStats {
  healthy: boolean;
  /** Smoothed round trip of /raft/probing, ms. */
  srttMs: number;
  /** Estimated peer clock minus ours, ms. */
  clockDiffMs: number;
  total: number;
  failed: number;
}

export interface PeerStats {
  id: string;
  /** False for a remote (a member known by URL only, pipeline only). */
  isPeer: boolean;
  active: boolean;
  /** ms since epoch when the peer became active; 0 while inactive. */
  activeSince: number;
  streams: { msgappv2: boolean; message: boolean };
  sentMessages: number;
  sentBytes: number;
  receivedMessages: number;
  receivedBytes: number;
  sendDrops: number;
  sendFailures: number;
  receiveDrops: number;
  /**
   * Messages per path: `POST /raft` (pipeline), the msgappv2 and message
   * streams, and `POST /raft/snapshot`. Sent counts delivered messages (a
   * stream's are counted when written to its socket).
   */
  paths: { pipeline: PathCounts; msgappv2: PathCounts; message: PathCounts; snapshot: PathCounts };
  follower: FollowerStatsSnapshot;
  probe?: { pipeline: ProbeStats; stream: ProbeStats };
}

export interface TransportStats {
  id: string;
  clusterId: string;
  peers: Record<string, PeerStats>;
  /** Requests and messages refused because of their sender (unknown, mismatched, unproven identity). */
  refused: number;
}
