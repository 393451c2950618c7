// A lean etcd v3 gRPC client for load generation, and the three workloads of
// issue 15's comparison (closed-loop puts, 90/10 range/put mix, watch
// fan-out). It speaks to any etcd-API endpoint (tsraft-kv or etcd 3.4) with
// @grpc/grpc-js and the SAME code for both, so the client's own cost (which
// shares the 2-core machine with the servers) is identical for both systems.
//
// Why hand-written protobuf here rather than src/etcdpb: a watch fan-out of
// 1,000 watchers at 200 puts/s is 200,000 WatchResponses a second into one
// Node process; decoding each into a protobuf-es message would make the
// client, not the server, the bottleneck. Requests are encoded once into
// Buffers; responses are scanned only for what a workload checks (the
// events' keys of a WatchResponse, the presence of a kv in a RangeResponse).
// Field numbers are etcd's (rpc.proto, kv.proto).
import * as grpc from "@grpc/grpc-js";

// ---- protobuf wire helpers --------------------------------------------------------------

function varintSize(n: number): number {
  let s = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    s++;
  }
  return s;
}

function putVarint(buf: Buffer, off: number, n: number): number {
  while (n >= 0x80) {
    buf[off++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[off++] = n;
  return off;
}

/** Encodes length-delimited fields (field number, bytes), in order; `extra` are pre-encoded tail bytes. */
function encodeFields(fields: Array<[number, Uint8Array]>, extra?: Uint8Array): Buffer {
  let size = extra?.length ?? 0;
  for (const [f, b] of fields) size += varintSize((f << 3) | 2) + varintSize(b.length) + b.length;
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  for (const [f, b] of fields) {
    off = putVarint(buf, off, (f << 3) | 2);
    off = putVarint(buf, off, b.length);
    buf.set(b, off);
    off += b.length;
  }
  if (extra !== undefined) buf.set(extra, off);
  return buf;
}

/** PutRequest{key=1, value=2}. */
export function encodePut(key: Uint8Array, value: Uint8Array): Buffer {
  return encodeFields([
    [1, key],
    [2, value],
  ]);
}

/** RangeRequest{key=1}: a linearizable read of one key (serializable=7 left false). */
export function encodeRange(key: Uint8Array): Buffer {
  return encodeFields([[1, key]]);
}

/** WatchRequest{create_request=1: WatchCreateRequest{key=1, range_end=2}}. */
export function encodeWatchCreate(key: Uint8Array, rangeEnd: Uint8Array): Buffer {
  return encodeFields([
    [
      1,
      encodeFields([
        [1, key],
        [2, rangeEnd],
      ]),
    ],
  ]);
}

/** Reads a varint at `pos`; returns [value, next position]. Values fit in a double (lengths, small IDs). */
function readVarint(b: Uint8Array, pos: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (;;) {
    const x = b[pos++]!;
    v += (x & 0x7f) * mul;
    if (x < 0x80) return [v, pos];
    mul *= 128;
  }
}

/** Skips a field of wire type `wt` at `pos`. */
function skipField(b: Uint8Array, pos: number, wt: number): number {
  switch (wt) {
    case 0:
      return readVarint(b, pos)[1];
    case 1:
      return pos + 8;
    case 2: {
      const [len, p] = readVarint(b, pos);
      return p + len;
    }
    case 5:
      return pos + 4;
    default:
      throw new Error(`protobuf: wire type ${wt} unsupported`);
  }
}

/** What the fan-out needs from a WatchResponse. */
export interface WatchMsg {
  watchId: number;
  created: boolean;
  canceled: boolean;
  /** Sequence numbers parsed from the events' keys (the digits after the prefix). */
  seqs: number[];
}

/** Parses the trailing decimal digits of a key (bytes from `from` to `to`): the prefix's digits do not count. */
function keySeq(b: Uint8Array, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = b[i]!;
    n = c >= 0x30 && c <= 0x39 ? n * 10 + (c - 0x30) : 0;
  }
  return n;
}

/** The key field (1) of a KeyValue in b[from, to): returns its sequence number. */
function kvSeq(b: Uint8Array, from: number, to: number): number {
  let pos = from;
  while (pos < to) {
    const [tag, p] = readVarint(b, pos);
    if (tag === ((1 << 3) | 2)) {
      const [len, q] = readVarint(b, p);
      return keySeq(b, q, q + len);
    }
    pos = skipField(b, p, tag & 7);
  }
  return -1;
}

/** WatchResponse{watch_id=2, created=3, canceled=4, events=11: Event{kv=2: KeyValue{key=1}}}. */
export function decodeWatchResponse(b: Buffer): WatchMsg {
  const m: WatchMsg = { watchId: 0, created: false, canceled: false, seqs: [] };
  let pos = 0;
  while (pos < b.length) {
    const [tag, p] = readVarint(b, pos);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 2 && wt === 0) [m.watchId, pos] = readVarint(b, p);
    else if (field === 3 && wt === 0) {
      const [v, q] = readVarint(b, p);
      m.created = v !== 0;
      pos = q;
    } else if (field === 4 && wt === 0) {
      const [v, q] = readVarint(b, p);
      m.canceled = v !== 0;
      pos = q;
    } else if (field === 11 && wt === 2) {
      const [len, q] = readVarint(b, p);
      const end = q + len;
      // Event: find kv (field 2).
      let e = q;
      while (e < end) {
        const [etag, ep] = readVarint(b, e);
        if (etag === ((2 << 3) | 2)) {
          const [kvLen, kq] = readVarint(b, ep);
          m.seqs.push(kvSeq(b, kq, kq + kvLen));
          e = kq + kvLen;
        } else e = skipField(b, ep, etag & 7);
      }
      pos = end;
    } else pos = skipField(b, p, wt);
  }
  return m;
}

/** RangeResponse{header=1, kvs=2, more=3, count=4}: does it carry at least one kv? */
export function rangeHasKv(b: Buffer): boolean {
  let pos = 0;
  while (pos < b.length) {
    const [tag, p] = readVarint(b, pos);
    if (tag === ((2 << 3) | 2)) return true;
    pos = skipField(b, p, tag & 7);
  }
  return false;
}

// ---- channels ---------------------------------------------------------------------------

const identity = (b: Buffer) => b;

/** One gRPC channel (its own TCP connection: grpc-js otherwise shares subchannels between clients). */
export class V3Channel {
  readonly client: grpc.Client;
  constructor(readonly endpoint: string) {
    this.client = new grpc.Client(endpoint, grpc.credentials.createInsecure(), {
      "grpc.use_local_subchannel_pool": 1,
      "grpc.max_receive_message_length": -1,
    });
  }

  private unary(path: string, req: Buffer): Promise<Buffer> {
    return new Promise((res, rej) =>
      this.client.makeUnaryRequest(path, identity, identity, req, (err, out) =>
        err ? rej(err) : res(out as Buffer),
      ),
    );
  }

  put(req: Buffer): Promise<Buffer> {
    return this.unary("/etcdserverpb.KV/Put", req);
  }

  range(req: Buffer): Promise<Buffer> {
    return this.unary("/etcdserverpb.KV/Range", req);
  }

  watch(): grpc.ClientDuplexStream<Buffer, WatchMsg> {
    return this.client.makeBidiStreamRequest("/etcdserverpb.Watch/Watch", identity, decodeWatchResponse);
  }

  waitReady(ms = 10_000): Promise<void> {
    return new Promise((res, rej) =>
      this.client.waitForReady(Date.now() + ms, (err) => (err ? rej(err) : res())),
    );
  }

  close(): void {
    this.client.close();
  }
}

export async function openChannels(endpoints: string[], n: number): Promise<V3Channel[]> {
  const chans = Array.from({ length: n }, (_, i) => new V3Channel(endpoints[i % endpoints.length]!));
  await Promise.all(chans.map((c) => c.waitReady()));
  return chans;
}

// ---- statistics -------------------------------------------------------------------------

/** Latency samples in ms, grown by doubling (no per-sample allocation). */
export class Samples {
  private a = new Float64Array(1 << 14);
  n = 0;
  add(v: number): void {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  /** p in [0, 100]; NaN when empty. */
  percentiles(ps: number[]): number[] {
    const s = this.a.subarray(0, this.n).slice().sort();
    return ps.map((p) =>
      this.n === 0 ? Number.NaN : s[Math.min(this.n - 1, Math.floor((p / 100) * this.n))]!,
    );
  }
}

/** A deterministic 31-bit LCG, so both systems get the same key sequence. */
export class Lcg {
  constructor(private s: number) {}
  next(mod: number): number {
    this.s = (Math.imul(this.s, 1103515245) + 12345) & 0x7fffffff;
    return this.s % mod;
  }
}

// ---- workloads --------------------------------------------------------------------------

export const KEYSPACE = 100_000;
const VALUE = new Uint8Array(256).fill(0x61);
const enc = new TextEncoder();
/** 8-byte keys: "k" + 7 decimal digits. */
export const keyOf = (i: number) => enc.encode(`k${String(i).padStart(7, "0")}`);
let putReqs: Buffer[] | undefined;
function putReq(i: number): Buffer {
  putReqs ??= Array.from({ length: KEYSPACE }, (_, k) => encodePut(keyOf(k), VALUE));
  return putReqs[i]!;
}
/** The key the mixed workload reads (written first, so every range finds it). */
export const HOT_KEY = keyOf(0);

export interface ClosedLoopResult {
  seconds: number;
  puts: Samples;
  ranges: Samples;
  errors: number;
  /** Linearizable ranges that came back without the hot key (must be 0). */
  emptyRanges: number;
  firstError?: string;
}

/**
 * `clients` workers, each with one request outstanding at a time, over
 * `chans` (worker w uses channel w mod n), for `seconds`. Each operation is
 * a range of HOT_KEY with probability `readFraction`, else a put of a
 * random key. `before`/`after` run at the measured window's edges (CPU
 * samples); a warm-up of `warmupS` seconds runs first and is not counted.
 */
export async function closedLoop(
  chans: V3Channel[],
  clients: number,
  seconds: number,
  readFraction: number,
  seed: number,
  hooks: { before?: () => void; after?: () => void; warmupS?: number } = {},
): Promise<ClosedLoopResult> {
  const rng = new Lcg(seed);
  const rangeReq = encodeRange(HOT_KEY);
  const r: ClosedLoopResult = {
    seconds,
    puts: new Samples(),
    ranges: new Samples(),
    errors: 0,
    emptyRanges: 0,
  };
  const phase = async (secs: number, record: boolean) => {
    const deadline = performance.now() + secs * 1000;
    const worker = async (w: number) => {
      const c = chans[w % chans.length]!;
      while (performance.now() < deadline) {
        const read = readFraction > 0 && rng.next(1000) < readFraction * 1000;
        const t0 = performance.now();
        try {
          if (read) {
            const out = await c.range(rangeReq);
            if (record) {
              r.ranges.add(performance.now() - t0);
              if (!rangeHasKv(out)) r.emptyRanges++;
            }
          } else {
            await c.put(putReq(rng.next(KEYSPACE)));
            if (record) r.puts.add(performance.now() - t0);
          }
        } catch (err) {
          if (record) {
            r.errors++;
            r.firstError ??= (err as Error).message;
          }
          await new Promise((res) => setTimeout(res, 10));
        }
      }
    };
    await Promise.all(Array.from({ length: clients }, (_, w) => worker(w)));
  };
  if ((hooks.warmupS ?? 0) > 0) await phase(hooks.warmupS!, false);
  hooks.before?.();
  const t0 = performance.now();
  await phase(seconds, true);
  r.seconds = (performance.now() - t0) / 1000;
  hooks.after?.();
  return r;
}

export interface FanoutResult {
  watchers: number;
  puts: number;
  /** put sent → event received, one sample per (watcher, put). */
  delivery: Samples;
  /** (watcher, acknowledged put) pairs not delivered when events stopped arriving (or at maxDrainS). */
  lost: number;
  duplicates: number;
  /** Watchers the server canceled, or events for keys outside the run. */
  anomalies: number;
  putErrors: number;
  /** Seconds from the last put sent to the last event received. */
  drainS: number;
  /** Puts actually sent per second. */
  achievedRate: number;
  /** Events were still arriving when the wait stopped at maxDrainS: `lost` includes a backlog. */
  stillArriving: boolean;
  /** The slowest delivery of the puts sent in each second of the run, ms (is the tail one burst?). */
  worstBySecond: number[];
}

/**
 * `watchers` watches on `prefix` (`perStream` per Watch stream, streams
 * round-robin over `watchChans`), then `rate` puts/s for `seconds` through
 * `putChan` (open loop: a put is sent when due, whatever the others'
 * progress). Each put's key carries its sequence number; the time it was
 * sent is kept, and every event's delivery latency is measured at arrival.
 */
export async function watchFanout(
  watchChans: V3Channel[],
  putChan: V3Channel,
  opts: {
    watchers: number;
    perStream: number;
    rate: number;
    seconds: number;
    prefix: string;
    /** Seconds without any event after which missing events count as lost. */
    graceS: number;
    /** Longest wait for a backlog that is still being delivered. */
    maxDrainS: number;
  },
  hooks: { before?: () => void; after?: () => void } = {},
): Promise<FanoutResult> {
  const total = Math.round(opts.rate * opts.seconds);
  const prefix = enc.encode(opts.prefix);
  const rangeEnd = prefix.slice();
  rangeEnd[rangeEnd.length - 1]!++;
  const createReq = encodeWatchCreate(prefix, rangeEnd);
  const sentAt = new Float64Array(total).fill(Number.NaN);
  // seen[w * total + seq]: per-watcher delivery bitmap (1 byte per pair).
  const seen = new Uint8Array(opts.watchers * total);
  // Puts that failed (a timeout may or may not have committed): their events are not owed.
  const failed = new Uint8Array(total);
  const r: FanoutResult = {
    watchers: opts.watchers,
    puts: total,
    delivery: new Samples(),
    lost: 0,
    duplicates: 0,
    anomalies: 0,
    putErrors: 0,
    drainS: 0,
    achievedRate: 0,
    stillArriving: false,
    worstBySecond: [],
  };
  let delivered = 0;
  let lastEventAt = 0;
  let allDelivered: () => void = () => {};
  const done = new Promise<void>((res) => {
    allDelivered = res;
  });
  const nStreams = Math.ceil(opts.watchers / opts.perStream);
  const streams: Array<grpc.ClientDuplexStream<Buffer, WatchMsg>> = [];
  let created = 0;
  let allCreated: () => void = () => {};
  const createdP = new Promise<void>((res) => {
    allCreated = res;
  });
  let streamErr: Error | undefined;
  for (let s = 0; s < nStreams; s++) {
    const st = watchChans[s % watchChans.length]!.watch();
    const here = Math.min(opts.perStream, opts.watchers - s * opts.perStream);
    // Watch IDs are per stream, assigned by the server in creation order; map them to watcher numbers.
    const ids = new Map<number, number>();
    let next = 0;
    st.on("data", (m: WatchMsg) => {
      const now = performance.now();
      if (m.created) {
        ids.set(m.watchId, s * opts.perStream + next++);
        if (++created === opts.watchers) allCreated();
        return;
      }
      if (m.canceled) {
        r.anomalies++;
        return;
      }
      const w = ids.get(m.watchId);
      if (w === undefined) {
        r.anomalies++;
        return;
      }
      for (const seq of m.seqs) {
        if (seq < 0 || seq >= total || Number.isNaN(sentAt[seq]!)) {
          r.anomalies++;
          continue;
        }
        const i = w * total + seq;
        if (seen[i] !== 0) {
          r.duplicates++;
          continue;
        }
        seen[i] = 1;
        const took = now - sentAt[seq]!;
        r.delivery.add(took);
        const sec = Math.floor(seq / opts.rate);
        if (!(took <= (r.worstBySecond[sec] ?? 0))) r.worstBySecond[sec] = took;
        lastEventAt = now;
        if (++delivered === opts.watchers * total) allDelivered();
      }
    });
    st.on("error", (e: Error) => {
      if (!/Cancelled/i.test(e.message)) streamErr ??= e;
    });
    for (let i = 0; i < here; i++) st.write(createReq);
    streams.push(st);
  }
  await Promise.race([
    createdP,
    new Promise((_, rej) =>
      setTimeout(() => rej(new Error(`only ${created}/${opts.watchers} watches created`)), 60_000),
    ),
  ]);
  if (streamErr) throw streamErr;

  hooks.before?.();
  const putReqOf = (seq: number) =>
    encodePut(enc.encode(`${opts.prefix}${String(seq).padStart(8, "0")}`), VALUE);
  const start = performance.now();
  let sent = 0;
  const inflight: Array<Promise<void>> = [];
  // Send each put at its due time (start + seq/rate); a late timer sends the overdue ones at once.
  while (sent < total) {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - start) / 1000) * opts.rate) + 1);
    while (sent < due) {
      const seq = sent++;
      const req = putReqOf(seq);
      sentAt[seq] = performance.now();
      inflight.push(
        putChan.put(req).then(
          () => {},
          () => {
            r.putErrors++;
            failed[seq] = 1;
          },
        ),
      );
    }
    const wait = start + (sent / opts.rate) * 1000 - performance.now();
    await new Promise((res) => setTimeout(res, Math.max(0, wait)));
  }
  const lastSent = performance.now();
  r.achievedRate = total / ((lastSent - start) / 1000);
  await Promise.all(inflight);
  // Wait for the backlog: as long as events keep arriving (a server or client
  // that fell behind is late, not lossy), up to maxDrainS; a pair still
  // missing after `graceS` without any event arriving is lost.
  const drainDeadline = performance.now() + opts.maxDrainS * 1000;
  let settled = false;
  void done.then(() => {
    settled = true;
  });
  while (!settled && performance.now() < drainDeadline) {
    const quietFor = performance.now() - Math.max(lastEventAt, lastSent);
    if (quietFor > opts.graceS * 1000) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  hooks.after?.();
  r.drainS = Math.max(0, (lastEventAt - lastSent) / 1000);
  r.stillArriving = performance.now() - lastEventAt < opts.graceS * 1000 && delivered < opts.watchers * total;
  let owed = 0;
  for (let seq = 0; seq < total; seq++) if (failed[seq] === 0) owed++;
  let got = 0;
  for (let w = 0; w < opts.watchers; w++)
    for (let seq = 0; seq < total; seq++) if (failed[seq] === 0 && seen[w * total + seq] !== 0) got++;
  r.lost = opts.watchers * owed - got;
  for (const st of streams) st.cancel();
  if (streamErr) throw streamErr;
  return r;
}
