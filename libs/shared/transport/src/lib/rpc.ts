// SPDX-License-Identifier: Apache-2.0
// Request/reply over NATS for the co-simulation: one JSON body each way (codec.ts), errors as
// replies that name the problem, and bodies larger than the server's max_payload split into
// parts (a request is sent as parts, the last one asking for the reply; a reply too large is
// fetched part by part), so a 4096-device scenario or a full MMIO trace crosses a stock
// nats-server. A handler runs as its message arrives, in arrival order: whatever it does before
// its first await is ordered exactly as the sender sent it.

import { createInbox, headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from 'nats';
import { CodecError, decode, encode } from './codec';

/** An error the other side answered with (its name, its message, and what it says about the input). */
export class RemoteError extends Error {
  constructor(
    readonly subject: string,
    readonly remoteName: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'RemoteError';
  }
}

/** The other side is gone (no responder, or no answer in time): a service stopped or restarted. */
export class PeerLost extends Error {
  constructor(
    readonly subject: string,
    message: string,
  ) {
    super(message);
    this.name = 'PeerLost';
  }
}

const PART = 'kdt-part';
const FETCH = 'kdt-fetch';
/** A liveness probe: the server answers it at once without running the handler. */
const ALIVE = 'kdt-alive';
/**
 * A request waiting longer than this has its subject probed (ALIVE) every PROBE_MS, so a peer
 * that went away mid-call (kill -9, a crash: its subscription is gone) fails the call within a
 * few seconds instead of at its timeout, which for a call into a kernel is an hour.
 */
export const PROBE_MS = 1000;
const PROBE_TIMEOUT_MS = 2000;

interface Envelope {
  readonly r?: unknown;
  readonly e?: { readonly name: string; readonly message: string; readonly details?: unknown };
  /** A reply too large for one message: fetch `n` parts under `key`. */
  readonly chunks?: { readonly key: string; readonly n: number };
}

export type Handler = (body: unknown, msg: Msg) => unknown;

/**
 * How context crosses NATS (a telemetry adapter provides it; without one nothing is added):
 * headers for every message sent, and the context a received message's headers carry, in which
 * its handler runs.
 */
export interface RpcTrace {
  inject(): Record<string, string> | undefined;
  extract<T>(get: (key: string) => string | undefined, fn: () => T): T;
}

export interface ServeOptions {
  /** A queue group: replicas share the subject, each message goes to one. */
  readonly queue?: string;
}

let keySeq = 0;

export class Rpc {
  /** Largest body sent in one message (the server's max_payload, less room for headers). */
  readonly limit: number;
  private readonly uploads = new Map<string, Uint8Array[]>();
  private readonly replies = new Map<string, { parts: Uint8Array[]; left: number }>();
  /** What this Rpc serves, until each is unsubscribed (a session's subjects come and go with it). */
  private readonly subs = new Set<Subscription>();

  private readonly trace: RpcTrace | undefined;
  /**
   * Requests waiting for their reply, by token (the last token of the reply subject): one
   * subscription to this connection's own inbox serves them all. nats.js's request() builds an
   * Error with a captured stack for every request it completes (about 40 us each here), which
   * the round trips of a run paid thousands of times.
   */
  private inbox: string | undefined;
  private readonly waiting = new Map<
    string,
    { ok: (m: Msg) => void; fail: (e: Error) => void; timer: ReturnType<typeof setTimeout>; subject: string; since: number }
  >();
  /** The liveness prober, while anything waits. */
  private prober: ReturnType<typeof setInterval> | undefined;
  private token = 0;

  constructor(
    readonly nc: NatsConnection,
    o: { limit?: number; trace?: RpcTrace } = {},
  ) {
    this.limit = o.limit ?? Math.max(4096, (nc.info?.max_payload ?? 1024 * 1024) - 8192);
    this.trace = o.trace;
    // A closed connection answers nothing more: what still waits fails now, not at its timeout.
    void nc.closed().then(() => {
      for (const [token, w] of this.waiting) {
        this.waiting.delete(token);
        clearTimeout(w.timer);
        w.fail(Object.assign(new Error('the NATS connection closed'), { code: 'CONNECTION_CLOSED' }));
      }
    });
  }

  /** The headers of an outgoing message: the trace context, `extra` (a baggage entry is appended to the context's), a part key. */
  private headersFor(extra: Readonly<Record<string, string>> | undefined, part?: [string, string]): MsgHdrs | undefined {
    const injected = this.trace?.inject();
    if (!injected && !extra && !part) return undefined;
    const h = natsHeaders();
    for (const [k, v] of Object.entries(injected ?? {})) h.set(k, v);
    for (const [k, v] of Object.entries(extra ?? {})) h.set(k, k === 'baggage' && h.has(k) ? `${h.get(k)},${v}` : v);
    if (part) h.set(part[0], part[1]);
    return h;
  }

  /** Publishes `data` with a reply subject of this connection's inbox and resolves with the reply (a 503 status: nobody listens). */
  private request(subject: string, data: Uint8Array, timeoutMs: number, headers?: MsgHdrs): Promise<Msg> {
    if (this.inbox === undefined) {
      const inbox = (this.inbox = createInbox());
      this.nc.subscribe(`${inbox}.*`, { callback: (err, m) => (err ? undefined : this.replied(m, inbox.length + 1)) });
    }
    const token = (++this.token).toString(36);
    return new Promise<Msg>((ok, fail) => {
      // eslint-disable-next-line no-restricted-globals -- a reply's deadline is wall-clock liveness (the peer is gone), not simulated time
      const timer = setTimeout(() => {
        this.waiting.delete(token);
        fail(Object.assign(new Error(`no reply on ${subject} in ${timeoutMs} ms`), { code: 'TIMEOUT' }));
      }, timeoutMs);
      // eslint-disable-next-line no-restricted-properties -- liveness is wall-clock time, not simulated time
      this.waiting.set(token, { ok, fail, timer, subject, since: Date.now() });
      this.startProber();
      try {
        this.nc.publish(subject, data, { reply: `${this.inbox}.${token}`, ...(headers ? { headers } : {}) });
      } catch (e) {
        clearTimeout(timer);
        this.waiting.delete(token);
        fail(e as Error);
      }
    });
  }

  /**
   * Every PROBE_MS, each subject a request has waited on for longer than that is asked ALIVE.
   * No responders means whoever served it is gone: every request waiting on it fails now as
   * PeerLost. No answer in time means it is alive but busy, which is not a failure. A subject
   * served by a queue group may be answered by another member, so this finds a lost session
   * subject (served by one process), not a lost replica.
   */
  private startProber(): void {
    if (this.prober) return;
    // eslint-disable-next-line no-restricted-globals -- liveness is wall-clock time, not simulated time
    this.prober = setInterval(() => {
      if (this.waiting.size === 0) {
        clearInterval(this.prober);
        this.prober = undefined;
        return;
      }
      // eslint-disable-next-line no-restricted-properties -- as above
      const now = Date.now();
      const stale = new Set<string>();
      for (const w of this.waiting.values()) if (now - w.since >= PROBE_MS) stale.add(w.subject);
      for (const subject of stale) {
        void this.alive(subject).then((ok) => {
          if (ok) return;
          for (const [token, w] of this.waiting) {
            if (w.subject !== subject) continue;
            this.waiting.delete(token);
            clearTimeout(w.timer);
            w.fail(Object.assign(new Error(`no responders on ${subject}`), { code: 'GONE' }));
          }
        });
      }
    }, PROBE_MS);
    this.prober.unref?.();
  }

  /**
   * Whether anything serves `subject` now: false when NATS says no responders (whoever served
   * it is gone), true when it answers the liveness probe, or does not in time (alive, busy).
   */
  async alive(subject: string): Promise<boolean> {
    try {
      await this.nc.request(subject, new Uint8Array(0), { timeout: PROBE_TIMEOUT_MS, headers: hdr(ALIVE, '1') });
      return true;
    } catch (e) {
      return (e as { code?: string }).code !== '503';
    }
  }

  private replied(m: Msg, at: number): void {
    const token = m.subject.slice(at);
    const w = this.waiting.get(token);
    if (!w) return;
    this.waiting.delete(token);
    clearTimeout(w.timer);
    // The server's answer when no subscriber takes the request (no_responders).
    if (m.data.length === 0 && m.headers?.code === 503) w.fail(Object.assign(new Error(`no responders on ${m.subject}`), { code: '503' }));
    else w.ok(m);
  }

  /** Sends `body` to `subject` and resolves with the reply body; RemoteError or PeerLost when it fails. */
  async call<T = unknown>(subject: string, body: unknown, timeoutMs = 30_000, headers?: Readonly<Record<string, string>>): Promise<T> {
    const data = encode(body);
    let m: Msg;
    try {
      if (data.length <= this.limit) {
        m = await this.request(subject, data, timeoutMs, this.headersFor(headers));
      } else {
        const key = `${process.pid}.${++keySeq}`;
        const n = Math.ceil(data.length / this.limit);
        for (let i = 0; i < n - 1; i++)
          this.nc.publish(subject, data.subarray(i * this.limit, (i + 1) * this.limit), { headers: hdr(PART, `${key} ${i} ${n}`) });
        // The context rides on the last part, the one the handler runs for.
        m = await this.request(subject, data.subarray((n - 1) * this.limit), timeoutMs, this.headersFor(headers, [PART, `${key} ${n - 1} ${n}`]));
      }
    } catch (e) {
      throw lost(subject, e);
    }
    const env = decode<Envelope>(m.data);
    if (env.chunks) {
      const parts: Uint8Array[] = [];
      for (let i = 0; i < env.chunks.n; i++) {
        try {
          parts.push((await this.request(subject, new Uint8Array(0), timeoutMs, hdr(FETCH, `${env.chunks.key} ${i}`))).data);
        } catch (e) {
          throw lost(subject, e);
        }
      }
      return unwrap<T>(subject, decode<Envelope>(Buffer.concat(parts)));
    }
    return unwrap<T>(subject, env);
  }

  /** Sends `body` to `subject` with no reply wanted. */
  post(subject: string, body: unknown): void {
    const h = this.headersFor(undefined);
    this.nc.publish(subject, encode(body), h ? { headers: h } : undefined);
  }

  /** Answers requests on `subject` with `handler` (its value, or its error as an error reply). */
  serve(subject: string, handler: Handler, o: ServeOptions = {}): Subscription {
    const sub = this.nc.subscribe(subject, { ...(o.queue ? { queue: o.queue } : {}), callback: (err, m) => (err ? undefined : this.dispatch(m, handler)) });
    this.subs.add(sub);
    // An ended session's subscription (and the handler holding its whole run) is not kept.
    void sub.closed.then(() => this.subs.delete(sub));
    return sub;
  }

  private dispatch(m: Msg, handler: Handler): void {
    const h = m.headers;
    if (h?.has(ALIVE)) {
      m.respond(new Uint8Array(0));
      return;
    }
    const fetch = h?.get(FETCH);
    if (fetch) {
      const [key, i] = fetch.split(' ');
      const st = this.replies.get(key!);
      const part = st?.parts[Number(i)];
      if (!st || !part) {
        m.respond(encode({ e: { name: 'RangeError', message: `no reply part ${fetch}` } }));
        return;
      }
      if (--st.left === 0) this.replies.delete(key!);
      m.respond(part);
      return;
    }
    let data = m.data;
    const part = h?.get(PART);
    if (part) {
      const [key, i, n] = part.split(' ');
      let l = this.uploads.get(key!);
      if (!l) this.uploads.set(key!, (l = []));
      l[Number(i)] = m.data;
      if (Number(i) !== Number(n) - 1) return;
      this.uploads.delete(key!);
      data = Buffer.concat(l);
    }
    let body: unknown;
    try {
      body = decode(data);
    } catch (e) {
      this.answer(m, { e: errorOf(e) });
      return;
    }
    let r: unknown;
    try {
      r =
        this.trace && h
          ? this.trace.extract(
              (k) => (h.has(k) ? h.get(k) : undefined),
              () => handler(body, m),
            )
          : handler(body, m);
    } catch (e) {
      this.answer(m, { e: errorOf(e) });
      return;
    }
    if (r instanceof Promise)
      r.then(
        (v) => this.answer(m, { r: v }),
        (e) => this.answer(m, { e: errorOf(e) }),
      );
    else this.answer(m, { r });
  }

  private answer(m: Msg, env: Envelope): void {
    if (!m.reply) return;
    const data = encode(env);
    if (data.length <= this.limit) {
      m.respond(data);
      return;
    }
    const key = `${process.pid}.r${++keySeq}`;
    const parts: Uint8Array[] = [];
    for (let i = 0; i < data.length; i += this.limit) parts.push(data.subarray(i, i + this.limit));
    this.replies.set(key, { parts, left: parts.length });
    m.respond(encode({ chunks: { key, n: parts.length } }));
  }

  /** Subjects served now. */
  get serving(): number {
    return this.subs.size;
  }

  /** Stops serving (the connection stays open). */
  close(): void {
    for (const s of [...this.subs]) s.unsubscribe();
    this.subs.clear();
  }
}

function hdr(k: string, v: string): MsgHdrs {
  const h = natsHeaders();
  h.set(k, v);
  return h;
}

function unwrap<T>(subject: string, env: Envelope): T {
  if (env.e) throw new RemoteError(subject, env.e.name, env.e.message, env.e.details);
  return env.r as T;
}

function errorOf(e: unknown): { name: string; message: string; details?: unknown } {
  if (e instanceof CodecError) return { name: 'CodecError', message: e.message };
  if (e instanceof RemoteError) return { name: e.remoteName, message: e.message, ...(e.details !== undefined ? { details: e.details } : {}) };
  if (e instanceof Error) {
    const details = (e as { details?: unknown }).details ?? (e as { issues?: unknown }).issues;
    return { name: e.name, message: e.message, ...(details !== undefined ? { details } : {}) };
  }
  return { name: 'Error', message: String(e) };
}

/** The service that serves `subject` (protocol.ts SUBJECTS), for messages a user reads. */
export function serviceOf(subject: string): string {
  if (/\.kernel\.kdump(\.|$)/.test(subject)) return 'kdump-driver (the kdump kernel)';
  if (/\.kernel\.primary(\.|$)/.test(subject)) return 'crash-generator (the primary kernel)';
  if (/\.fleet(\.|$)/.test(subject)) return 'dma-fleet (the devices)';
  if (/\.platform$/.test(subject)) return 'smmu-twin (the platform)';
  return 'the service';
}

function lost(subject: string, e: unknown): Error {
  const code = (e as { code?: string }).code;
  if (code === '503') return new PeerLost(subject, `no service answers on ${subject} (it stopped, restarted, or never opened this session)`);
  if (code === 'GONE') return new PeerLost(subject, `${serviceOf(subject)} went away during the call: nothing serves ${subject} any more`);
  if (code === 'TIMEOUT') return new PeerLost(subject, `no answer on ${subject} in time (the service is stuck or gone)`);
  return e instanceof Error ? e : new Error(String(e));
}
