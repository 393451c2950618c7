// Peer status, URL picking and the receive lanes between the network and raft.

import type { Message } from "../raftpb/index.ts";
import type { Ctx } from "./context.ts";

/** Whether a peer is reachable; etcd's activeSince / ActivePeers come from here. */
export class PeerStatus {
  active = false;
  since = 0;
  private readonly ctx: Ctx;
  private readonly peerHex: string;

  constructor(ctx: Ctx, peerHex: string) {
    this.ctx = ctx;
    this.peerHex = peerHex;
  }

  activate(): void {
    if (this.active) return;
    this.ctx.logger.info(`rafthttp: peer ${this.peerHex} became active (local ${this.ctx.hex})`);
    this.active = true;
    this.since = this.ctx.now();
  }

  deactivate(source: string, reason: string): void {
    const msg = `rafthttp: peer ${this.peerHex} ${this.active ? "became inactive" : "is still inactive"} (${source}: ${reason})`;
    if (this.active) this.ctx.logger.warning(msg);
    else this.ctx.logger.debug(msg);
    this.active = false;
    this.since = 0;
  }
}

/** Keeps using one URL of a peer and moves to the next only when it fails. */
export class UrlPicker {
  urls: URL[];
  private picked = 0;

  constructor(urls: URL[]) {
    this.urls = urls;
  }

  pick(): URL {
    return this.urls[this.picked]!;
  }

  /** Called when a request to `u` failed; advances only if `u` is still the current URL. */
  unreachable(u: URL): void {
    if (this.urls[this.picked] === u) this.picked = (this.picked + 1) % this.urls.length;
  }

  update(urls: URL[]): void {
    this.urls = urls;
    this.picked = 0;
  }
}

/**
 * A bounded FIFO in front of raft.process: messages are handed over one at a
 * time (the next one once the previous call's promise settles). A full lane
 * drops, like etcd's receive channels.
 */
export class ProcessLane {
  private readonly ctx: Ctx;
  private readonly ring: Array<Message | undefined>;
  private head = 0;
  private size = 0;
  private busy = false;
  private stopped = false;

  constructor(ctx: Ctx, capacity: number) {
    this.ctx = ctx;
    this.ring = new Array<Message | undefined>(capacity).fill(undefined);
  }

  private readonly settled = (): void => {
    this.busy = false;
    this.drain();
  };

  private readonly failed = (err: unknown): void => {
    this.ctx.logger.warning(`rafthttp: failed to process raft message: ${String(err)}`);
    this.settled();
  };

  /** False when the lane is full (the message is dropped). */
  push(m: Message): boolean {
    if (this.stopped) return true;
    if (!this.busy && this.size === 0) {
      this.run(m);
      return true;
    }
    const cap = this.ring.length;
    if (this.size === cap) return false;
    this.ring[(this.head + this.size) % cap] = m;
    this.size++;
    return true;
  }

  stop(): void {
    this.stopped = true;
    this.ring.fill(undefined);
    this.size = 0;
  }

  private run(m: Message): void {
    let r: void | Promise<void>;
    try {
      r = this.ctx.raft.process(m);
    } catch (err) {
      this.ctx.logger.warning(`rafthttp: failed to process raft message: ${String(err)}`);
      return;
    }
    if (r !== undefined && typeof (r as Promise<void>).then === "function") {
      this.busy = true;
      (r as Promise<void>).then(this.settled, this.failed);
    }
  }

  private drain(): void {
    const cap = this.ring.length;
    while (!this.busy && this.size > 0 && !this.stopped) {
      const m = this.ring[this.head]!;
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) % cap;
      this.size--;
      this.run(m);
    }
  }
}
