// Network partitions without root: a fault-injecting TCP proxy in front of
// each member's peer port. Members advertise the proxy's URL (in
// --initial-cluster and --advertise-peer) and listen on a port behind it, so
// every raft connection between members crosses exactly one proxy: the one
// of the member it dials.
//
// A proxy knows which member a connection comes from by reading the first
// request's headers: rafthttp sends X-PeerURLs (the sender's advertised peer
// URLs, i.e. its own proxy's URL) and X-Server-From (its member ID in hex) on
// every request, and an HTTP/1.1 connection only ever carries one sender's
// requests. Peer traffic is plaintext in the harness.
//
// Cuts are between pairs of members and symmetric. (rafthttp's streams carry
// messages in both directions over a connection one side dialled, so cutting
// connections cannot cut one direction only.) Two ways to cut:
//   drop    established connections between the pair are reset; new ones are
//           accepted and black-holed (nothing is forwarded, nothing answered:
//           the dialler's own timeouts apply) and reset at the heal. Like a
//           firewall dropping packets: whatever was in flight is lost.
//   freeze  established connections stop moving data but stay open; new ones
//           are held with what they sent. At the heal everything moves again,
//           in order: a long delay, nothing lost (TCP retransmission over a
//           partition that heals before the connection times out).
// Connections whose sender is unknown (no such header) are never cut.
//
// Besides cuts, one flow can be slowed: `holdResponses(slot, pathPrefix, ms)`
// makes every connection that member opens to a request path with that
// prefix wait `ms` before anything flows back to it (its requests still go
// through). rafthttp carries MsgApp on its own stream (/raft/stream/msgapp/),
// separate from heartbeats, so this delays a member's log catch-up while it
// already knows the leader: the flap nemesis uses it to widen the window in
// which a restarted member has new requests waiting while entries from its
// previous incarnation are still to be applied. Kept under rafthttp's 2 s
// dial timeout, the stream is merely late, not broken.

import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";

export type CutMode = "drop" | "freeze";

/** Which member (slot) a peer connection comes from. */
export interface SenderDirectory {
  /** The slot whose advertised peer URL this is, or -1. */
  slotOfPeerURL(url: string): number;
  /** The slot of this member ID (hex, as in X-Server-From), or -1. */
  slotOfId(hex: string): number;
}

const HEADER_LIMIT = 64 * 1024;

/** The partition state all proxies consult: cut pairs and how they are cut. */
interface Hold {
  from: number;
  prefix: string;
  ms: number;
}

export class Network {
  private readonly cut = new Set<string>();
  private modeOf: CutMode = "drop";
  private holds: Hold[] = [];
  readonly proxies: PeerProxy[] = [];
  readonly directory: SenderDirectory;

  constructor(directory: SenderDirectory) {
    this.directory = directory;
  }

  get mode(): CutMode {
    return this.modeOf;
  }

  private static pair(a: number, b: number): string {
    return a < b ? `${a}:${b}` : `${b}:${a}`;
  }

  isCut(a: number, b: number): boolean {
    return a >= 0 && b >= 0 && a !== b && this.cut.has(Network.pair(a, b));
  }

  /** The pairs cut now, as [a, b] with a < b. */
  cutPairs(): Array<[number, number]> {
    return [...this.cut].map((p) => p.split(":").map(Number) as [number, number]);
  }

  /**
   * Cuts every pair of members that are in different groups (members in no
   * group keep all their links). Replaces any earlier partition.
   */
  partition(groups: number[][], mode: CutMode): void {
    this.heal();
    this.modeOf = mode;
    for (let i = 0; i < groups.length; i++)
      for (let j = i + 1; j < groups.length; j++)
        for (const a of groups[i]!) for (const b of groups[j]!) this.cut.add(Network.pair(a, b));
    this.apply();
  }

  /** Cuts exactly these pairs. Replaces any earlier partition. */
  cutPairsOf(pairs: Array<[number, number]>, mode: CutMode): void {
    this.heal();
    this.modeOf = mode;
    for (const [a, b] of pairs) if (a !== b) this.cut.add(Network.pair(a, b));
    this.apply();
  }

  heal(): void {
    if (this.cut.size === 0) return;
    this.cut.clear();
    this.apply();
  }

  /** From now on, connections `from` opens to paths starting with `prefix` get nothing back for `ms`. */
  holdResponses(from: number, prefix: string, ms: number): void {
    this.holds.push({ from, prefix, ms });
  }

  /** Ends every hold (connections already held are released when their time is up). */
  releaseHolds(): void {
    this.holds = [];
  }

  /** How long a new connection from `from` to `path` must hold its responses (0: none). */
  holdFor(from: number, path: string): number {
    let ms = 0;
    for (const h of this.holds) if (h.from === from && path.startsWith(h.prefix)) ms = Math.max(ms, h.ms);
    return ms;
  }

  private apply(): void {
    for (const p of this.proxies) p.reevaluate();
  }
}

type ConnState = "sniff" | "open" | "held" | "frozen" | "closed";

/** One accepted connection and its upstream. */
class Conn {
  state: ConnState = "sniff";
  from = -1;
  /** The first request's path. */
  path = "";
  /** Until when (Date.now()) nothing flows back to the client; 0: no hold. */
  holdUntil = 0;
  upstream: Socket | null = null;
  buffered: Buffer[] = [];
  bufferedBytes = 0;
  constructor(readonly client: Socket) {}
}

export interface ProxyStats {
  accepted: number;
  /** Connections whose responses were held (holdResponses). */
  held: number;
  /** Connections reset or black-holed because of a cut. */
  cut: number;
  frozen: number;
  bytesForwarded: number;
  unknownSender: number;
}

export class PeerProxy {
  readonly slot: number;
  readonly host: string;
  readonly listenPort: number;
  /** The member's real peer port behind the proxy. */
  readonly targetPort: number;
  private readonly net: Network;
  private server: Server | null = null;
  private readonly conns = new Set<Conn>();
  /** Every socket still open, also those a graceful close is letting finish. */
  private readonly sockets = new Set<Socket>();
  readonly stats: ProxyStats = {
    accepted: 0,
    held: 0,
    cut: 0,
    frozen: 0,
    bytesForwarded: 0,
    unknownSender: 0,
  };

  constructor(net: Network, slot: number, listenPort: number, targetPort: number, host = "127.0.0.1") {
    this.net = net;
    this.slot = slot;
    this.listenPort = listenPort;
    this.targetPort = targetPort;
    this.host = host;
    net.proxies.push(this);
  }

  get url(): string {
    return `http://${this.host}:${this.listenPort}`;
  }

  start(): Promise<void> {
    const server = createServer((s) => this.accept(s));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.listenPort, this.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  }

  /**
   * Closes the listener and destroys every socket. (A paused socket does not
   * keep Node's event loop alive, so waiting for one to end by itself could
   * leave nothing to wait with.)
   */
  async stop(): Promise<void> {
    for (const c of this.conns) this.close(c);
    for (const sock of this.sockets) sock.destroy();
    this.sockets.clear();
    const s = this.server;
    this.server = null;
    if (s !== null) await new Promise<void>((r) => s.close(() => r()));
  }

  private track(sock: Socket): void {
    this.sockets.add(sock);
    sock.once("close", () => this.sockets.delete(sock));
  }

  /** Open connections by state, for tests and reports. */
  connections(): Record<ConnState, number> {
    const out: Record<ConnState, number> = { sniff: 0, open: 0, held: 0, frozen: 0, closed: 0 };
    for (const c of this.conns) out[c.state]++;
    return out;
  }

  private accept(s: Socket): void {
    this.stats.accepted++;
    this.track(s);
    s.setNoDelay(true);
    const c = new Conn(s);
    this.conns.add(c);
    s.on("error", () => this.close(c));
    s.on("close", () => this.close(c, true));
    s.on("data", (d: Buffer) => this.onSniffData(c, d));
  }

  /** Until the first request's headers are in: buffer, then decide. */
  private onSniffData(c: Conn, d: Buffer): void {
    if (c.state === "held" && this.net.mode === "drop") return; // black hole
    if (c.state !== "sniff" && c.state !== "held") return;
    c.buffered.push(d);
    c.bufferedBytes += d.length;
    if (c.state === "held") return;
    const all = Buffer.concat(c.buffered);
    const end = all.indexOf("\r\n\r\n");
    if (end < 0 && all.length < HEADER_LIMIT) return;
    const head = all.subarray(0, end < 0 ? all.length : end).toString("latin1");
    c.from = this.sender(head);
    c.path = head.slice(0, head.indexOf("\r\n")).split(" ")[1] ?? "";
    if (c.from < 0) this.stats.unknownSender++;
    const hold = this.net.holdFor(c.from, c.path);
    if (hold > 0) {
      c.holdUntil = Date.now() + hold;
      this.stats.held++;
    }
    c.buffered = [all];
    this.decide(c);
  }

  private sender(head: string): number {
    let bySrv = -1;
    for (const line of head.split("\r\n")) {
      const i = line.indexOf(":");
      if (i < 0) continue;
      const name = line.slice(0, i).trim().toLowerCase();
      const value = line.slice(i + 1).trim();
      if (name === "x-peerurls") {
        for (const u of value.split(",")) {
          const slot = this.net.directory.slotOfPeerURL(u.trim());
          if (slot >= 0) return slot;
        }
      } else if (name === "x-server-from") bySrv = this.net.directory.slotOfId(value.toLowerCase());
    }
    return bySrv;
  }

  private decide(c: Conn): void {
    if (this.net.isCut(c.from, this.slot)) {
      this.stats.cut++;
      c.state = "held";
      if (this.net.mode === "drop") {
        c.buffered = [];
        c.bufferedBytes = 0;
      } else c.client.pause();
      return;
    }
    this.open(c);
  }

  private open(c: Conn): void {
    const u = tcpConnect(this.targetPort, this.host);
    this.track(u);
    u.setNoDelay(true);
    c.upstream = u;
    c.state = "open";
    c.client.removeAllListeners("data");
    u.on("error", () => this.close(c));
    u.on("close", () => this.close(c, true));
    const data = Buffer.concat(c.buffered);
    c.buffered = [];
    c.bufferedBytes = 0;
    if (data.length > 0) {
      this.stats.bytesForwarded += data.length;
      u.write(data);
    }
    this.flow(c);
  }

  private flow(c: Conn): void {
    const u = c.upstream!;
    c.client.on("data", (d: Buffer) => {
      this.stats.bytesForwarded += d.length;
    });
    c.client.pipe(u);
    c.client.resume();
    const wait = c.holdUntil - Date.now();
    if (wait > 0) {
      // Held: nothing comes back until the time is up (or a freeze takes over).
      u.pause();
      setTimeout(() => {
        if (c.state === "open" && c.upstream === u && c.holdUntil !== 0) this.flowBack(c);
      }, wait);
      return;
    }
    this.flowBack(c);
  }

  private flowBack(c: Conn): void {
    const u = c.upstream!;
    c.holdUntil = 0;
    u.on("data", (d: Buffer) => {
      this.stats.bytesForwarded += d.length;
    });
    u.pipe(c.client);
    u.resume();
  }

  private freeze(c: Conn): void {
    const u = c.upstream!;
    c.client.unpipe(u);
    u.unpipe(c.client);
    c.client.removeAllListeners("data");
    u.removeAllListeners("data");
    c.client.pause();
    u.pause();
    c.state = "frozen";
    this.stats.frozen++;
  }

  /** Applies the network's current cuts to this proxy's connections. */
  reevaluate(): void {
    for (const c of [...this.conns]) {
      const cut = this.net.isCut(c.from, this.slot);
      switch (c.state) {
        case "open":
          if (!cut) break;
          this.stats.cut++;
          if (this.net.mode === "drop") this.close(c);
          else this.freeze(c);
          break;
        case "frozen":
          if (cut) break;
          c.state = "open";
          this.flow(c);
          break;
        case "held":
          if (cut) break;
          // Black-holed connections lost what they sent: reset them. Held ones go through.
          if (c.bufferedBytes === 0 && this.net.mode === "drop") this.close(c);
          else {
            c.client.resume();
            this.open(c);
          }
          break;
      }
    }
  }

  /**
   * Ends a connection. After one side closed normally (`graceful`), the
   * other is ended rather than destroyed, so that what it still has to
   * deliver gets there: bytes a process wrote before it died are still
   * delivered by TCP, also once a frozen link thaws.
   */
  private close(c: Conn, graceful = false): void {
    if (c.state === "closed") return;
    c.state = "closed";
    this.conns.delete(c);
    for (const s of [c.client, c.upstream]) {
      if (s === null || s.destroyed) continue;
      if (graceful) {
        s.end();
        setTimeout(() => s.destroy(), 10_000).unref();
      } else s.destroy();
    }
  }
}
