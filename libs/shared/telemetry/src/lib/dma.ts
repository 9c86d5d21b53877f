// SPDX-License-Identifier: Apache-2.0
// DMA job traces. One trace per job of an endpoint (a descriptor, command or copy the kernel
// posted and the device took): the fleet's side makes the job's root span, a span per
// transaction it issued and one per completion that reached it; the platform's side makes a
// span per transaction the SMMU handled, under the fleet's transaction span. Both keep a job's
// records until it ends and then decide, by the same rule on the same data (sampling.ts), whether
// its trace is exported; jobs that began after the panic and missed the head sample are never
// recorded at all.

import { ROOT_CONTEXT, SpanKind, TraceFlags, trace, type Attributes, type Context, type Link, type SpanContext } from '@opentelemetry/api';
import type { DmaCompletion, DmaRecord, FleetSliceIn, FleetSliceOut, JobRecord } from '@kdump-twin/endpoint';
import { jobKey, jobSample, jobSpanId, jobTraceId, transactionSpanId } from './ids';
import { ATTR, SPAN } from './registry.generated';
import { headSampled, keepJob } from './sampling';
import type { Telemetry } from './setup';
import { hrAt } from './timeline';

export interface Tx {
  readonly ticket: number;
  readonly time: number;
  readonly phase: string;
  readonly address: number;
  readonly size: number;
  readonly write: boolean;
  readonly ats: 'translated' | 'request' | undefined;
  readonly sid: number;
  readonly ssid: number | undefined;
  /** Fleet: when the completion reached the device; platform: when it is due there. */
  due?: number;
  completion?: DmaCompletion;
}

export interface Job {
  /** The head-sample draw (ids.ts jobSample). */
  readonly draw: number;
  /** The trace id, derived when the job is kept (JobBook.traceId). */
  traceId?: string;
  readonly device: string;
  readonly generation: number;
  readonly job: number;
  kind: string;
  start: number;
  end?: number;
  ok?: boolean;
  /** Not traced whatever happens (began after the panic, missed the head sample): nothing is kept. */
  dropped: boolean;
  readonly txs: Tx[];
}

/** The run a tracer works for: its trace id (the jobs' ids derive from it) and what labels its spans. */
export interface RunInfo {
  readonly traceId: string;
  readonly anchorMs: number;
  readonly run: string;
  readonly scenario: string;
  readonly policy: string;
  readonly seed: string;
  /** The run's span (jobs link to it). */
  readonly span?: SpanContext;
}

export const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * Open jobs and the ones waiting for a decision, with the one rule both sides apply. Both sides
 * see the same records in the same order (a slice's requests, then its job records), but may
 * learn the panic instant at different points of a slice, so nothing here depends on when that
 * was learnt: only on the records and the instant itself.
 */
export class JobBook {
  /** Open jobs by device, then generation * 2^32 + job: the per-transaction lookup builds no string. */
  private readonly byDevice = new Map<string, Map<number, Job>>();
  /** Per device, the highest job key that has started: a transaction of an unknown job at or below it belongs to a job that ended. */
  private readonly highest = new Map<string, number>();
  private pending: Job[] = [];

  constructor(
    private readonly t: Telemetry,
    private readonly runTraceId: string,
  ) {}

  private slot(device: string): Map<number, Job> {
    let m = this.byDevice.get(device);
    if (!m) this.byDevice.set(device, (m = new Map()));
    return m;
  }

  private *open(): IterableIterator<Job> {
    for (const m of this.byDevice.values()) yield* m.values();
  }

  /** The job's trace id (derived once, when it is needed). */
  traceId(j: Job): string {
    return (j.traceId ??= jobTraceId(this.runTraceId, jobKey(j.device, j.generation, j.job)));
  }

  private make(device: string, generation: number, job: number, start: number, kind: string): Job {
    const j: Job = { draw: jobSample(this.runTraceId, device, generation, job), device, generation, job, kind, start, dropped: false, txs: [] };
    this.slot(device).set(generation * 2 ** 32 + job, j);
    return j;
  }

  started(r: JobRecord, panicAt: number | undefined): void {
    const k = r.generation * 2 ** 32 + r.job;
    const j = this.byDevice.get(r.device)?.get(k) ?? this.make(r.device, r.generation, r.job, r.time, r.kind);
    j.kind = r.kind;
    j.start = Math.min(j.start, r.time);
    if (k > (this.highest.get(r.device) ?? -1)) this.highest.set(r.device, k);
    // A job that began after the panic can only be kept by the head sample: if it misses, keep nothing of it.
    if (panicAt !== undefined && j.start > panicAt && !headSampled(j.draw, this.t.sampling.ratio)) {
      j.dropped = true;
      j.txs.length = 0;
    }
  }

  /**
   * The open job a transaction belongs to: made if its start record is still to come in this
   * slice; undefined for a late transaction of a job that already ended (a read queued for a tag
   * after its job failed), which neither side records.
   */
  of(device: string, generation: number, job: number, time: number): Job | undefined {
    const k = generation * 2 ** 32 + job;
    const j = this.byDevice.get(device)?.get(k);
    if (j) return j;
    if (k <= (this.highest.get(device) ?? -1)) return undefined;
    return this.make(device, generation, job, time, '');
  }

  /** A job ended: it waits in `pending` until `decide`. */
  ended(r: JobRecord): void {
    const k = r.generation * 2 ** 32 + r.job;
    const j = this.byDevice.get(r.device)?.get(k);
    if (!j) return;
    this.byDevice.get(r.device)!.delete(k);
    j.end = r.time;
    j.ok = r.ok ?? false;
    if (!j.dropped) this.pending.push(j);
  }

  /** Decides the pending jobs that ended before `before` (all when undefined); returns the kept ones with why. */
  decide(panicAt: number | undefined, before?: number): { job: Job; why: 'crash' | 'ratio' }[] {
    const out: { job: Job; why: 'crash' | 'ratio' }[] = [];
    const keep: Job[] = [];
    for (const j of this.pending) {
      if (before !== undefined && j.end! >= before) {
        keep.push(j);
        continue;
      }
      const why = keepJob(this.t.sampling, j.draw, j.start, j.end, panicAt);
      if (why) out.push({ job: j, why });
    }
    this.pending = keep;
    return out;
  }

  /** The run ended: every job still open or pending is decided (open ones never ended). */
  finish(panicAt: number | undefined): { job: Job; why: 'crash' | 'ratio' }[] {
    const out = this.decide(panicAt);
    for (const j of this.open()) {
      if (j.dropped) continue;
      const why = keepJob(this.t.sampling, j.draw, j.start, undefined, panicAt);
      if (why) out.push({ job: j, why });
    }
    this.byDevice.clear();
    this.highest.clear();
    return out;
  }

  /** The root span context of a job (for links). */
  contextOf(j: Job): SpanContext {
    const traceId = this.traceId(j);
    return { traceId, spanId: jobSpanId(traceId), traceFlags: TraceFlags.SAMPLED, isRemote: true };
  }

  /** Jobs open now whose traces are, or will be, exported: in flight at the panic, or head-sampled. */
  tracedOpen(panicAt: number | undefined, device?: string, crashOnly = false): SpanContext[] {
    const out: SpanContext[] = [];
    for (const j of device !== undefined ? (this.byDevice.get(device)?.values() ?? []) : this.open()) {
      if (j.dropped) continue;
      const crossing = panicAt !== undefined && j.start <= panicAt && this.t.sampling.keepCrash;
      if (crossing || (!crashOnly && headSampled(j.draw, this.t.sampling.ratio))) out.push(this.contextOf(j));
    }
    return out;
  }
}

const direction = (tx: Tx): string => (tx.ats === 'request' ? 'translation-request' : tx.write ? 'write' : 'read');
const epochAt = (t: number, panicAt: number | undefined): string => (panicAt !== undefined && t >= panicAt ? 'kdump' : 'primary');
const spanCtx = (traceId: string, spanId: string): Context =>
  trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: TraceFlags.SAMPLED, isRemote: false });

/** Links to at most `max` jobs; the attribute says how many there were. */
export function linksTo(jobs: readonly SpanContext[], max: number): { links: Link[]; attrs: Attributes } {
  return { links: jobs.slice(0, max).map((context) => ({ context })), attrs: { [ATTR.LINKS_TOTAL]: jobs.length } };
}

/** The fleet's side: fed with every slice's input and output (dma-fleet, or the in-process fleet). */
export class FleetJobTracer {
  private readonly book: JobBook;
  /** Transactions by ticket, until their completion arrives. */
  private readonly byTicket = new Map<number, Tx>();
  private panicAt: number | undefined;
  private readonly devices = new Map<string, number>();

  constructor(
    private readonly t: Telemetry,
    private readonly run: RunInfo,
  ) {
    this.book = new JobBook(t, run.traceId);
  }

  /** One slice: `panicAt` is what the platform's baggage said with it. */
  slice(input: FleetSliceIn, out: FleetSliceOut, panicAt: number | undefined): void {
    if (panicAt !== undefined) this.panicAt = panicAt;
    // Jobs that ended before this slice: a panic at or before their end would be known by now.
    // (One that ended at this slice's first instant waits: a request of this slice may trigger it.)
    this.emit(this.book.decide(this.panicAt, input.t));
    for (const c of input.completions) {
      const tx = this.byTicket.get(c.ticket);
      if (!tx) continue;
      this.byTicket.delete(c.ticket);
      tx.due = c.due;
      tx.completion = c.completion;
    }
    // Requests first, then job records, as the platform's coupler takes them.
    for (const q of out.requests) {
      this.devices.set(q.device, q.sid);
      const j = this.book.of(q.device, q.generation, q.job, q.time);
      if (!j || j.dropped) continue;
      const tx: Tx = { ticket: q.ticket, time: q.time, phase: q.phase, address: q.address, size: q.size, write: q.write, ats: q.ats, sid: q.sid, ssid: q.ssid };
      j.txs.push(tx);
      // Posted writes get no completion.
      if (!q.write || q.ats === 'request') this.byTicket.set(q.ticket, tx);
    }
    for (const j of out.jobs) this.record(j);
  }

  private record(j: JobRecord): void {
    if (j.event === 'start') this.book.started(j, this.panicAt);
    else this.book.ended(j);
  }

  /** The session ended: jobs still open are decided as never ended. */
  close(panicAt: number | undefined): void {
    if (panicAt !== undefined) this.panicAt = panicAt;
    this.emit(this.book.finish(this.panicAt));
    this.byTicket.clear();
  }

  private emit(kept: readonly { job: Job; why: 'crash' | 'ratio' }[]): void {
    const { t, run } = this;
    for (const { job: j, why } of kept) {
      const traceId = this.book.traceId(j);
      const sid = j.txs[0]?.sid ?? this.devices.get(j.device);
      const last = j.txs.reduce((m, x) => Math.max(m, x.due ?? x.time), j.start);
      const attrs: Attributes = {
        [ATTR.DEVICE]: j.device,
        [ATTR.DMA_JOB]: j.job,
        [ATTR.DMA_GENERATION]: j.generation,
        [ATTR.EPOCH]: epochAt(j.start, this.panicAt),
        [ATTR.DMA_CRASH_CROSSING]: why === 'crash',
        [ATTR.DMA_SAMPLED_BY]: why,
        [ATTR.RUN_ID]: run.run,
        [ATTR.SCENARIO]: run.scenario,
        [ATTR.POLICY]: run.policy,
        [ATTR.SEED]: run.seed,
      };
      if (j.kind) attrs[ATTR.DEVICE_KIND] = j.kind;
      if (j.ok !== undefined) attrs[ATTR.DMA_OK] = j.ok;
      if (sid !== undefined) {
        attrs[ATTR.STREAM_ID] = sid;
        attrs[ATTR.STREAM_ID_HEX] = hex(sid);
      }
      t.ids.prime({ traceId, spanId: jobSpanId(traceId) });
      const span = t.tracer.startSpan(
        SPAN.DMA_JOB,
        {
          kind: SpanKind.INTERNAL,
          root: true,
          startTime: hrAt(run.anchorMs, j.start),
          attributes: attrs,
          ...(run.span ? { links: [{ context: run.span }] } : {}),
        },
        ROOT_CONTEXT,
      );
      const jobCtx = spanCtx(traceId, jobSpanId(traceId));
      for (const x of j.txs) {
        const a: Attributes = {
          [ATTR.DEVICE]: j.device,
          [ATTR.STREAM_ID]: x.sid,
          [ATTR.STREAM_ID_HEX]: hex(x.sid),
          [ATTR.IOVA]: hex(x.address),
          [ATTR.DMA_PHASE]: x.phase,
          [ATTR.DMA_DIRECTION]: direction(x),
          [ATTR.DMA_SIZE]: x.size,
          [ATTR.DMA_ATS]: x.ats ?? 'untranslated',
          [ATTR.DMA_TICKET]: x.ticket,
          [ATTR.EPOCH]: epochAt(x.time, this.panicAt),
        };
        if (x.ssid !== undefined) a[ATTR.SUBSTREAM_ID] = x.ssid;
        const txId = transactionSpanId(traceId, x.ticket);
        t.ids.prime({ spanId: txId });
        const s = t.tracer.startSpan(SPAN.DMA_TRANSACTION, { kind: SpanKind.PRODUCER, startTime: hrAt(run.anchorMs, x.time), attributes: a }, jobCtx);
        if (x.completion && x.due !== undefined) {
          const c = x.completion;
          const ca: Attributes = { [ATTR.DMA_STATUS]: c.status, [ATTR.DMA_OUTCOME]: c.outcome, [ATTR.EPOCH]: epochAt(x.due, this.panicAt) };
          if (c.pa >= 0) ca[ATTR.PA] = hex(c.pa);
          const at = hrAt(run.anchorMs, x.due);
          t.tracer.startSpan(SPAN.DMA_COMPLETION, { kind: SpanKind.CONSUMER, startTime: at, attributes: ca }, spanCtx(traceId, txId)).end(at);
        }
        s.end(hrAt(run.anchorMs, x.due ?? x.time));
      }
      span.end(hrAt(run.anchorMs, j.end ?? last));
    }
  }
}

/** The platform's side: a PlatformObserver's dma and job records (smmu-twin, or the in-process platform). */
export class PlatformJobTracer {
  readonly book: JobBook;
  panicAt: number | undefined;
  /** Jobs kept because they were in flight at the panic, as decided so far (the panic's links). */
  readonly crashJobs: SpanContext[] = [];

  constructor(
    private readonly t: Telemetry,
    private readonly run: RunInfo,
    /** The SMMU a device sits behind. */
    private readonly smmuOf: (device: string) => string,
  ) {
    this.book = new JobBook(t, run.traceId);
  }

  job(r: JobRecord): void {
    this.emit(this.book.decide(this.panicAt, r.time));
    if (r.event === 'start') this.book.started(r, this.panicAt);
    else {
      this.book.ended(r);
      if (this.panicAt !== undefined) this.emit(this.book.decide(this.panicAt));
    }
  }

  dma(r: DmaRecord): void {
    const j = this.book.of(r.device, r.generation, r.job, r.time);
    if (!j || j.dropped) return;
    const q = r.req;
    j.txs.push({
      ticket: r.ticket ?? -1,
      time: r.time,
      phase: r.phase,
      address: q.address,
      size: q.size,
      write: q.write,
      ats: q.ats,
      sid: q.sid,
      ssid: q.ssid,
      due: r.completedAt,
      completion: r.completion,
    });
  }

  /** The panic: jobs waiting for a decision are decided with it. */
  crash(at: number): void {
    this.panicAt = at;
    this.emit(this.book.decide(at));
  }

  close(): void {
    this.emit(this.book.finish(this.panicAt));
  }

  private emit(kept: readonly { job: Job; why: 'crash' | 'ratio' }[]): void {
    const { t, run } = this;
    for (const { job: j, why } of kept) {
      const traceId = this.book.traceId(j);
      if (why === 'crash') this.crashJobs.push(this.book.contextOf(j));
      const smmu = this.smmuOf(j.device);
      for (const x of j.txs) {
        if (x.ticket < 0) continue;
        const c = x.completion!;
        const a: Attributes = {
          [ATTR.SMMU]: smmu,
          [ATTR.STREAM_ID]: x.sid,
          [ATTR.STREAM_ID_HEX]: hex(x.sid),
          [ATTR.IOVA]: hex(x.address),
          [ATTR.DMA_OUTCOME]: c.outcome,
          [ATTR.DMA_STATUS]: c.status,
          [ATTR.SMMU_PATH]: c.path,
          [ATTR.EPOCH]: epochAt(x.time, this.panicAt),
          [ATTR.DMA_TICKET]: x.ticket,
        };
        if (x.ssid !== undefined) a[ATTR.SUBSTREAM_ID] = x.ssid;
        if (c.pa >= 0) a[ATTR.PA] = hex(c.pa);
        if (c.event) a[ATTR.SMMU_EVENT] = c.event;
        if (c.steEpoch) a[ATTR.STE_ORIGIN] = c.steEpoch === 'primary' ? 'crashed' : 'kdump';
        if (c.steWriter) a[ATTR.STE_WRITER] = c.steWriter;
        const at = hrAt(run.anchorMs, x.time);
        const parent: Context = trace.setSpanContext(ROOT_CONTEXT, {
          traceId,
          spanId: transactionSpanId(traceId, x.ticket),
          traceFlags: TraceFlags.SAMPLED,
          isRemote: true,
        });
        t.tracer.startSpan(SPAN.SMMU_TRANSLATE, { kind: SpanKind.CONSUMER, startTime: at, attributes: a }, parent).end(at);
      }
    }
  }
}
