// SPDX-License-Identifier: Apache-2.0
// A GPU or accelerator copy engine: it fetches job descriptors from a ring in host memory,
// copies each job's source to its destination in chunks (reads pipelined up to the device's
// tags, each chunk written as soon as it arrives) and writes the job number to a completion
// fence. Jobs are long, so a copy started before the panic is still running when the kdump
// kernel probes the SMMU. With ATS enabled every page goes through the device's ATC: a
// translation request on a miss, then translated requests with the PA it returned.

import { Endpoint, type EndpointConfig } from './endpoint';
import { COPY_JOB, num, readEntry } from './formats';
import type { SeededRng } from '@kdump-twin/platform';
import type { DeviceControl, DmaPort, EndpointObserver, Scheduler } from './types';

export interface CopyEngineConfig extends EndpointConfig {
  /** Bytes one chunk moves (one read, then one write). */
  readonly chunkBytes: number;
  /** Chunks in flight at once. */
  readonly chunksInFlight: number;
  /** At most one chunk issued per `chunkIntervalNs` (the engine's pace; 0: as fast as tags allow). */
  readonly chunkIntervalNs: number;
  /** CXL: the device's host-managed memory (a named region) that firmware offlines on a fatal device error. */
  readonly cxlMemory?: string;
}

const JOB_BYTES = COPY_JOB.sizeBytes;

interface Current {
  readonly job: number;
  readonly src: number;
  readonly dst: number;
  readonly length: number;
  readonly jobId: number;
  readonly fence: number;
  next: number;
  inFlight: number;
  done: number;
  failed: boolean;
}

export class CopyEngine extends Endpoint {
  readonly kind = 'gpu' as const;
  private ringState = { base: 0, entries: 0, head: 0, tail: 0 };
  private current: Current | undefined;
  private fetching = false;
  private nextIssue = 0;
  private paced = false;

  constructor(
    override readonly cfg: CopyEngineConfig,
    sched: Scheduler,
    port: DmaPort,
    obs?: EndpointObserver,
    rng?: SeededRng,
  ) {
    super(cfg, sched, port, obs, rng);
  }

  protected controlKind(c: DeviceControl): void {
    if (c.op === 'configureRing') this.configureRing(c.base, c.entries);
    else if (c.op === 'ringTail') this.ringTail(c.tail);
  }

  configureRing(base: number, entries: number): void {
    this.ringState = { base, entries, head: 0, tail: 0 };
  }

  /** Job ring doorbell. */
  ringTail(tail: number): void {
    this.ringState.tail = tail % Math.max(this.ringState.entries, 1);
    this.pump();
  }

  start(): void {
    this.pump();
  }

  protected resetState(): void {
    this.ringState = { base: 0, entries: 0, head: 0, tail: 0 };
    this.current = undefined;
    this.fetching = false;
    this.nextIssue = 0;
    this.paced = false;
  }

  private pump(): void {
    if (this.halted !== undefined || this.current || this.fetching) return;
    const r = this.ringState;
    if (r.entries === 0 || r.head === r.tail) return;
    this.fetching = true;
    const index = r.head;
    r.head = (r.head + 1) % r.entries;
    const job = this.beginJob();
    const gen = this.generation;
    this.dmaRead('job-fetch', job, r.base + index * JOB_BYTES, JOB_BYTES, (res) => {
      if (gen !== this.generation) return;
      this.fetching = false;
      if (!res.ok) {
        this.endJob(job, false);
        if (!this.readFailed('job descriptor fetch')) this.pump();
        return;
      }
      const w = readEntry(COPY_JOB, res.data);
      this.current = {
        job,
        src: num(COPY_JOB, w, 'Src'),
        dst: num(COPY_JOB, w, 'Dst'),
        length: num(COPY_JOB, w, 'Length'),
        jobId: num(COPY_JOB, w, 'JobId'),
        fence: num(COPY_JOB, w, 'Fence'),
        next: 0,
        inFlight: 0,
        done: 0,
        failed: false,
      };
      this.copy();
    });
  }

  private copy(): void {
    const c = this.current;
    if (!c || this.halted !== undefined) return;
    const gen = this.generation;
    while (!c.failed && c.next < c.length && c.inFlight < this.cfg.chunksInFlight) {
      const now = this.sched.now();
      if (now < this.nextIssue) {
        if (!this.paced) {
          this.paced = true;
          this.sched.after(this.nextIssue - now, `${this.name} pace`, () => {
            if (gen !== this.generation) return;
            this.paced = false;
            this.copy();
          });
        }
        break;
      }
      this.nextIssue = now + this.cfg.chunkIntervalNs;
      const off = c.next;
      const n = Math.min(this.cfg.chunkBytes, c.length - off);
      c.next += n;
      c.inFlight++;
      this.dmaRead('copy-read', c.job, c.src + off, n, (res) => {
        if (gen !== this.generation || this.current !== c) return;
        c.inFlight--;
        if (!res.ok) {
          c.failed = true;
          if (this.readFailed('copy source read')) return;
        } else this.dmaWrite('copy-write', c.job, c.dst + off, res.data);
        c.done += n;
        this.finishIfDone(c);
        this.copy();
      });
    }
    this.finishIfDone(c);
  }

  private finishIfDone(c: Current): void {
    if (c.inFlight > 0 || (c.next < c.length && !c.failed) || this.current !== c) return;
    this.current = undefined;
    const fence = new Uint8Array(8);
    new DataView(fence.buffer).setUint32(0, c.failed ? 0xffffffff : c.jobId, true);
    this.dmaWrite('fence', c.job, c.fence, fence, (ok) => this.endJob(c.job, ok && !c.failed));
    this.pump();
  }
}
