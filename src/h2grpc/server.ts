// The gRPC server: methods by path, the connections handed to it, and the
// calls' deadlines. Bytes come from whatever listens (a TCP or TLS socket,
// possibly after some were read to tell HTTP/2 from HTTP/1.1): accept()
// takes the socket and those bytes.

import type { Duplex } from "node:stream";
import { type ConnectionHost, type GrpcCall, type GrpcMethod, H2Connection } from "./connection.ts";

/** How often calls with a deadline are checked. */
const DEADLINE_SWEEP_MS = 50;

/** Options of GrpcServer. */
export interface GrpcServerOptions {
  /** Largest request message accepted (bytes); larger ones fail with RESOURCE_EXHAUSTED. */
  maxReceiveBytes: number;
}

/** A gRPC server over this package's own HTTP/2 framing (connection.ts). */
export class GrpcServer implements ConnectionHost {
  readonly maxReceiveBytes: number;
  private readonly methods = new Map<string, GrpcMethod>();
  private readonly conns = new Set<H2Connection>();
  private readonly deadlines = new Set<GrpcCall>();
  private sweep: NodeJS.Timeout | null = null;
  /** Connections accepted so far. */
  accepted = 0;

  constructor(opts: GrpcServerOptions) {
    this.maxReceiveBytes = opts.maxReceiveBytes;
  }

  /** Registers a method under its path ("/package.Service/Method"). */
  add(path: string, method: GrpcMethod): void {
    this.methods.set(path, method);
  }

  method(path: string): GrpcMethod | undefined {
    return this.methods.get(path);
  }

  /** Serves HTTP/2 on `socket`; `head` holds bytes already read from it (the preface, or part of it). */
  accept(socket: Duplex, head: Buffer = Buffer.alloc(0)): void {
    this.accepted++;
    const c = new H2Connection(this, socket, head);
    this.conns.add(c);
  }

  /** Open connections. */
  get connections(): number {
    return this.conns.size;
  }

  closed(conn: H2Connection): void {
    this.conns.delete(conn);
  }

  trackDeadline(call: GrpcCall): void {
    this.deadlines.add(call);
    if (this.sweep === null) {
      this.sweep = setInterval(() => this.expire(), DEADLINE_SWEEP_MS);
      this.sweep.unref();
    }
  }

  untrackDeadline(call: GrpcCall): void {
    this.deadlines.delete(call);
    if (this.deadlines.size === 0 && this.sweep !== null) {
      clearInterval(this.sweep);
      this.sweep = null;
    }
  }

  private expire(): void {
    const now = performance.now();
    for (const c of [...this.deadlines]) if (c.deadline <= now) c.expire();
  }

  /** GOAWAY to every connection, every call cancelled, the sockets closed. */
  close(): void {
    for (const c of [...this.conns]) c.close();
    if (this.sweep !== null) clearInterval(this.sweep);
    this.sweep = null;
    this.deadlines.clear();
  }
}
