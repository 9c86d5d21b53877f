// SPDX-License-Identifier: Apache-2.0
// An NVMe controller with one I/O queue pair: it fetches submission queue entries by DMA from
// host memory (through the SMMU), works on up to `queueDepth` commands at once with a media
// latency, moves the data (READ: the device writes host memory; WRITE: it reads it), and posts
// a completion queue entry with the phase tag. With the host dead, it finishes what was
// submitted and stops when the completion queue is full. A failed SQE fetch is a controller
// fatal status (CSTS.CFS); a failed data read completes the command with Data Transfer Error.

import { Endpoint, type EndpointConfig } from './endpoint';
import { entryBytes, NVME_CQE, NVME_OPC, NVME_SC, NVME_SQE, num, readEntry } from './formats';
import type { SeededRng } from '@kdump-twin/platform';
import type { DeviceControl, DmaPort, EndpointObserver, Scheduler } from './types';

export interface NvmeConfig extends EndpointConfig {
  /** Commands the controller works on at once. */
  readonly queueDepth: number;
  readonly mediaLatencyNs: number;
  readonly lbaBytes: number;
  /** SQEs one fetch reads at most. */
  readonly sqeFetch: number;
  /** Media latency jitter, percent (seeded). */
  readonly mediaJitterPct: number;
}

const SQE_BYTES = NVME_SQE.sizeBytes;
const CQE_BYTES = NVME_CQE.sizeBytes;

export class Nvme extends Endpoint {
  readonly kind = 'nvme' as const;
  private sq = { base: 0, entries: 0, head: 0, tail: 0 };
  private cq = { base: 0, entries: 0, head: 0, tail: 0, phase: 1 };
  private active = 0;
  private fetching = false;
  /** CC.EN: the host enabled the controller. */
  enabled = false;
  /** Blocks written by WRITE commands, kept when the host asks (the vmcore save reads them back). */
  readonly disk = new Map<number, Uint8Array>();
  recordWrites = false;

  constructor(
    override readonly cfg: NvmeConfig,
    sched: Scheduler,
    port: DmaPort,
    obs?: EndpointObserver,
    rng?: SeededRng,
  ) {
    super(cfg, sched, port, obs, rng);
  }

  protected controlKind(c: DeviceControl): void {
    if (c.op === 'configureQueues') this.configureQueues(c.sqBase, c.sqEntries, c.cqBase, c.cqEntries);
    else if (c.op === 'enable') this.enable();
    else if (c.op === 'ringSq') this.ringSq(c.tail);
    else if (c.op === 'ringCq') this.ringCq(c.head);
    else if (c.op === 'recordWrites') this.recordWrites = true;
  }

  /** Create I/O queue pair (the host's admin commands, folded into register writes). */
  configureQueues(sqBase: number, sqEntries: number, cqBase: number, cqEntries: number): void {
    this.sq = { base: sqBase, entries: sqEntries, head: 0, tail: 0 };
    this.cq = { base: cqBase, entries: cqEntries, head: 0, tail: 0, phase: 1 };
  }

  enable(): void {
    this.enabled = true;
    this.pump();
  }

  /** SQ tail doorbell. */
  ringSq(tail: number): void {
    this.sq.tail = tail % Math.max(this.sq.entries, 1);
    this.pump();
  }

  /** CQ head doorbell. */
  ringCq(head: number): void {
    this.cq.head = head % Math.max(this.cq.entries, 1);
    this.pump();
  }

  start(): void {
    this.pump();
  }

  protected resetState(): void {
    this.sq = { base: 0, entries: 0, head: 0, tail: 0 };
    this.cq = { base: 0, entries: 0, head: 0, tail: 0, phase: 1 };
    this.active = 0;
    this.fetching = false;
    this.enabled = false;
  }

  private sqAvailable(): number {
    return this.sq.entries === 0 ? 0 : (this.sq.tail - this.sq.head + this.sq.entries) % this.sq.entries;
  }

  /** Completion slots free, less the commands already in flight (each will need one). */
  private cqRoom(): number {
    if (this.cq.entries === 0) return 0;
    const used = (this.cq.tail - this.cq.head + this.cq.entries) % this.cq.entries;
    return this.cq.entries - 1 - used - this.active;
  }

  private pump(): void {
    if (!this.enabled || this.halted !== undefined || this.fetching) return;
    const n = Math.min(this.sqAvailable(), this.cfg.queueDepth - this.active, this.cqRoom(), this.cfg.sqeFetch, this.sq.entries - this.sq.head);
    if (n <= 0) return;
    this.fetching = true;
    const first = this.sq.head;
    this.sq.head = (this.sq.head + n) % this.sq.entries;
    this.active += n;
    const gen = this.generation;
    const job = this.beginJob();
    this.dmaRead('sqe-fetch', job, this.sq.base + first * SQE_BYTES, n * SQE_BYTES, (res) => {
      if (gen !== this.generation) return;
      this.fetching = false;
      if (!res.ok) {
        this.endJob(job, false);
        // NVMe: a PCIe error fetching a command is a controller fatal status (CSTS.CFS).
        this.halt('CSTS.CFS: submission queue fetch failed');
        return;
      }
      this.endJob(job, true);
      for (let i = 0; i < n; i++) this.execute(readEntry(NVME_SQE, res.data, i * SQE_BYTES));
      this.pump();
    });
  }

  private execute(sqe: bigint[]): void {
    const job = this.beginJob();
    const cid = num(NVME_SQE, sqe, 'CID');
    const opc = num(NVME_SQE, sqe, 'OPC');
    const prp1 = num(NVME_SQE, sqe, 'PRP1');
    const slba = num(NVME_SQE, sqe, 'SLBA');
    const bytes = (num(NVME_SQE, sqe, 'NLB') + 1) * this.cfg.lbaBytes;
    const gen = this.generation;
    this.sched.after(this.jitter(this.cfg.mediaLatencyNs, this.cfg.mediaJitterPct), `${this.name} media`, () => {
      if (gen !== this.generation || this.halted !== undefined) return;
      if (opc === NVME_OPC.READ) {
        const data = this.disk.get(slba) ?? new Uint8Array(bytes).fill(0xa5);
        this.dmaWrite('data-write', job, prp1, data.length === bytes ? data : data.subarray(0, bytes), () => this.complete(job, cid, NVME_SC.SUCCESS));
      } else if (opc === NVME_OPC.WRITE) {
        this.dmaRead('data-read', job, prp1, bytes, (res) => {
          if (gen !== this.generation) return;
          if (!res.ok) {
            if (this.readFailed('data read')) return;
            return this.complete(job, cid, NVME_SC.DATA_TRANSFER_ERROR);
          }
          if (this.recordWrites) this.disk.set(slba, res.data);
          this.complete(job, cid, NVME_SC.SUCCESS);
        });
      } else this.complete(job, cid, NVME_SC.INTERNAL_ERROR);
    });
  }

  private complete(job: number, cid: number, sc: number): void {
    const slot = this.cq.tail;
    const cqe = entryBytes(NVME_CQE, { SQHD: this.sq.head, SQID: 1, CID: cid, P: this.cq.phase, SC: sc });
    this.cq.tail = (this.cq.tail + 1) % this.cq.entries;
    if (this.cq.tail === 0) this.cq.phase ^= 1;
    this.active--;
    this.dmaWrite('cqe', job, this.cq.base + slot * CQE_BYTES, cqe, (ok) => this.endJob(job, ok && sc === NVME_SC.SUCCESS));
    this.pump();
  }
}
