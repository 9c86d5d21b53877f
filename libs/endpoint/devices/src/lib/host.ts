// SPDX-License-Identifier: Apache-2.0
// The host side of each device: the driver that allocates its rings and buffers through the
// DMA API, posts work with CPU stores and doorbells, and cleans completions on a poll timer.
// In the primary kernel the drivers keep the devices busy until the panic stops the CPUs;
// afterwards nobody refills a ring or consumes a completion. In the kdump kernel a driver
// probes, quiesces its device (function-level reset) before its first DMA-API use, and sets
// it up again in the crashkernel carve-out; the NVMe driver then writes the vmcore.

import { COPY_JOB, entryBytes, NIC_DESC, num, NVME_CQE, NVME_OPC, NVME_SC, NVME_SQE, readEntry } from './formats';
import type { DeviceControl } from './types';

/** A concurrent thread of kernel code (a poll loop) in virtual time. */
export interface TaskContext {
  /**
   * Yields until `ns` of virtual time have passed. `next` names the thread's first load after
   * it wakes (a hint: a kernel in a service gets those bytes with the wake-up, saving a round trip).
   * `paced`: a promise that until its next sleep the thread only stores, writes device registers,
   * ends other threads' waits (endWait) and reads its own kernel's state, never a load, an MMIO
   * access or the time of the next event
   * (a kernel in a service may then run its wake-ups ahead: docs/services.md, "Run-ahead").
   * `watch`: wait-until: the thread's next wake-ups change nothing (nor its own state) while these
   * loads read what they read now; a kernel in a service may sleep it again and again on the
   * platform until one differs (docs/services.md, "Wait-until"). In one process it is one sleep.
   */
  sleep(ns: number, next?: Load, o?: { readonly paced?: boolean; readonly watch?: readonly Load[] }): Promise<void>;
  /** A wait-until of this thread parked elsewhere ends at its next wake-up: another thread changed what its loop depends on. */
  endWait?(): void;
  now(): number;
}

/** A CPU load: `length` bytes at physical address `pa`. */
export interface Load {
  readonly pa: number;
  readonly length: number;
}

/**
 * What a device driver needs from its kernel: the DMA API, CPU loads and stores, register
 * writes to its device (through the BAR: posted, they reach the device in the same instant but
 * after the code that made them), and threads for its poll loops.
 */
export interface HostKernel {
  readonly kernel: 'primary' | 'kdump';
  /** The kernel still runs (false once it panicked). */
  alive(): boolean;
  now(): number;
  /** dma_alloc_coherent(dev, bytes): zeroed memory of this kernel, mapped for `device`. */
  dmaAlloc(device: string, bytes: number): Promise<{ ok: true; pa: number; iova: number } | { ok: false; errno: string }>;
  cpuWrite(pa: number, data: Uint8Array): Promise<void>;
  cpuRead(pa: number, length: number): Promise<Uint8Array | undefined>;
  control(device: string, c: DeviceControl): Promise<void>;
  /** Starts `body` as a thread of this kernel; it ends when the body returns or the kernel dies. */
  spawn(name: string, body: (t: TaskContext) => Promise<void>): void;
  log(level: 'err' | 'warn' | 'info', device: string, text: string): void;
}

export interface DmaBuffer {
  readonly pa: number;
  readonly iova: number;
  readonly bytes: number;
}

export interface NicDriverConfig {
  readonly rxEntries: number;
  readonly rxBufBytes: number;
  readonly txEntries: number;
  readonly txBufBytes: number;
  /** The host posts one transmit descriptor every `txIntervalNs` (0: no transmit traffic). */
  readonly txIntervalNs: number;
  readonly pollNs: number;
}

export interface NvmeDriverConfig {
  readonly sqEntries: number;
  readonly cqEntries: number;
  /** Commands the host keeps submitted. */
  readonly outstanding: number;
  readonly ioBytes: number;
  /** Every `readEvery`-th command is a READ (device writes host memory), the rest WRITEs. */
  readonly readEvery: number;
  readonly pollNs: number;
}

export interface CopyDriverConfig {
  readonly ringEntries: number;
  /** Jobs the host keeps queued. */
  readonly queued: number;
  readonly jobBytes: number;
  readonly pollNs: number;
}

/** A driver whose probe or setup failed says why. */
export type SetupResult = { readonly ok: true } | { readonly ok: false; readonly errno: string; readonly step: string };

/** The common part: allocation through the kernel's DMA API and the poll loop. */
abstract class Driver {
  readonly buffers: DmaBuffer[] = [];
  /** Each setup (primary, or the kdump kernel's after the reset) starts a new poll loop. */
  private incarnation = 0;

  constructor(
    /** The device's PCI name. */
    readonly device: string,
    protected readonly host: HostKernel,
    private readonly pollNs: number,
  ) {}

  protected async alloc(bytes: number, step: string): Promise<DmaBuffer | { errno: string; step: string }> {
    const r = await this.host.dmaAlloc(this.device, bytes);
    if (!r.ok) {
      this.host.log('err', this.device, `${step}: DMA allocation of ${bytes} bytes failed (-${r.errno})`);
      return { errno: r.errno, step };
    }
    const b = { pa: r.pa, iova: r.iova, bytes };
    this.buffers.push(b);
    return b;
  }

  protected control(c: DeviceControl): Promise<void> {
    return this.host.control(this.device, c);
  }

  /** The running poll loop's thread (a new setup ends its wait-until: the loop must see its incarnation change). */
  private loop: TaskContext | undefined;

  /** The driver's poll loop (NAPI, CQ reaping, fences) while its kernel runs. */
  protected startPolling(): void {
    const mine = ++this.incarnation;
    this.pollStateChanged();
    this.host.spawn(`${this.device} poll`, async (t) => {
      this.loop = t;
      let watch: readonly Load[] | undefined;
      while (this.host.alive() && this.incarnation === mine) {
        // After an idle poll, the next ones are idle too until what it read changes (wait-until).
        await t.sleep(this.pollNs, this.firstLoad(), watch ? { watch } : undefined);
        if (!this.host.alive() || this.incarnation !== mine) return;
        watch = await this.poll(t);
      }
    });
  }

  /** Another thread changed what the poll loop's next poll does: a wait-until of the loop ends at its next wake-up. */
  protected pollStateChanged(): void {
    this.loop?.endWait?.();
  }

  /**
   * One poll. Returns, when it changed nothing (no store, no register write, no state of its
   * own), the loads its outcome depends on: while they read the same bytes, so does every next
   * poll; undefined when it did something.
   */
  protected abstract poll(t: TaskContext): Promise<readonly Load[] | undefined>;

  /** What the poll reads first (the next ring entry, the fence). */
  protected abstract firstLoad(): { pa: number; length: number } | undefined;

  /** The kdump kernel's probe: quiesce before the first DMA-API use, then set the device up again. */
  async probeKdump(): Promise<SetupResult> {
    await this.control({ op: 'flr' });
    return this.setup();
  }

  abstract setup(): Promise<SetupResult>;
}

function isBuffer(b: DmaBuffer | { errno: string; step: string }): b is DmaBuffer {
  return 'iova' in b;
}

export class NicDriver extends Driver {
  private rx: DmaBuffer | undefined;
  private tx: DmaBuffer | undefined;
  private rxPool: DmaBuffer | undefined;
  private txPool: DmaBuffer | undefined;
  private rxClean = 0;
  private txNext = 0;
  private txClean = 0;

  constructor(
    device: string,
    host: HostKernel,
    readonly cfg: NicDriverConfig,
  ) {
    super(device, host, cfg.pollNs);
  }

  async setup(): Promise<SetupResult> {
    const c = this.cfg;
    const rx = await this.alloc(c.rxEntries * NIC_DESC.sizeBytes, 'rx ring');
    if (!isBuffer(rx)) return { ok: false, ...rx };
    const rxPool = await this.alloc(c.rxEntries * c.rxBufBytes, 'rx buffers');
    if (!isBuffer(rxPool)) return { ok: false, ...rxPool };
    const tx = await this.alloc(c.txEntries * NIC_DESC.sizeBytes, 'tx ring');
    if (!isBuffer(tx)) return { ok: false, ...tx };
    const txPool = await this.alloc(c.txEntries * c.txBufBytes, 'tx buffers');
    if (!isBuffer(txPool)) return { ok: false, ...txPool };
    const stats = await this.alloc(64, 'stats block');
    if (!isBuffer(stats)) return { ok: false, ...stats };
    Object.assign(this, { rx, rxPool, tx, txPool, rxClean: 0, txNext: 0, txClean: 0 });
    const ring = new Uint8Array(c.rxEntries * NIC_DESC.sizeBytes);
    for (let i = 0; i < c.rxEntries; i++) ring.set(entryBytes(NIC_DESC, { BufferAddress: rxPool.iova + i * c.rxBufBytes }), i * NIC_DESC.sizeBytes);
    await this.host.cpuWrite(rx.pa, ring);
    await this.host.cpuWrite(txPool.pa, new Uint8Array(c.txEntries * c.txBufBytes).fill(0x7e));
    await this.control({ op: 'configureRx', base: rx.iova, entries: c.rxEntries });
    await this.control({ op: 'setRxTail', tail: c.rxEntries - 1 });
    await this.control({ op: 'configureTx', base: tx.iova, entries: c.txEntries });
    await this.control({ op: 'setStatsAddress', iova: stats.iova });
    await this.control({ op: 'start' });
    this.startPolling();
    if (c.txIntervalNs > 0) this.startTx();
    return { ok: true };
  }

  /** The stack hands the driver a packet to send every txIntervalNs. */
  private startTx(): void {
    const c = this.cfg;
    const tx = this.tx!;
    this.host.spawn(`${this.device} xmit`, async (t) => {
      while (this.host.alive() && this.tx === tx) {
        // Paced: until the next sleep, only a descriptor store and the doorbell.
        await t.sleep(c.txIntervalNs, undefined, { paced: true });
        if (!this.host.alive() || this.tx !== tx) return;
        const next = (this.txNext + 1) % c.txEntries;
        if (next === this.txClean) continue;
        const wasEmpty = this.txNext === this.txClean;
        await this.host.cpuWrite(
          tx.pa + this.txNext * 16,
          entryBytes(NIC_DESC, { BufferAddress: this.txPool!.iova + this.txNext * c.txBufBytes, Length: Math.min(c.txBufBytes, 1500) }),
        );
        this.txNext = next;
        // The poll reclaims nothing from an empty ring; now it has one to watch.
        if (wasEmpty) this.pollStateChanged();
        await this.control({ op: 'setTxTail', tail: this.txNext });
      }
    });
  }

  protected firstLoad() {
    return this.rx ? { pa: this.rx.pa + this.rxClean * 16, length: 16 } : undefined;
  }

  /** NAPI: hand received buffers to the stack, re-arm their descriptors, move the tail; reclaim sent ones. */
  protected async poll(): Promise<readonly Load[] | undefined> {
    const c = this.cfg;
    const txClean = this.txClean;
    let moved = false;
    for (let n = 0; n < c.rxEntries; n++) {
      const d = await this.host.cpuRead(this.rx!.pa + this.rxClean * 16, 16);
      if (!d || num(NIC_DESC, readEntry(NIC_DESC, d), 'DD') === 0) break;
      await this.host.cpuWrite(this.rx!.pa + this.rxClean * 16, entryBytes(NIC_DESC, { BufferAddress: this.rxPool!.iova + this.rxClean * c.rxBufBytes }));
      this.rxClean = (this.rxClean + 1) % c.rxEntries;
      moved = true;
    }
    if (moved) await this.control({ op: 'setRxTail', tail: (this.rxClean + c.rxEntries - 1) % c.rxEntries });
    while (this.txClean !== this.txNext) {
      const d = await this.host.cpuRead(this.tx!.pa + this.txClean * 16, 16);
      if (!d || num(NIC_DESC, readEntry(NIC_DESC, d), 'DD') === 0) break;
      this.txClean = (this.txClean + 1) % c.txEntries;
    }
    if (moved || this.txClean !== txClean) return undefined;
    // Idle: the next receive descriptor is not done, and the next one to reclaim (if any is
    // outstanding) is not either. The transmit thread making one outstanding in an empty ring
    // ends the wait (pollStateChanged); posting behind an outstanding one changes nothing here.
    const rx = { pa: this.rx!.pa + this.rxClean * 16, length: 16 };
    return this.txClean === this.txNext ? [rx] : [rx, { pa: this.tx!.pa + this.txClean * 16, length: 16 }];
  }
}

export class NvmeDriver extends Driver {
  private sq: DmaBuffer | undefined;
  private cq: DmaBuffer | undefined;
  private pool: DmaBuffer | undefined;
  private sqTail = 0;
  private cqHead = 0;
  private phase = 1;
  private nextLba = 0;
  private issued = 0;
  /** Commands in flight by CID: their completion callback. */
  private readonly inflight = new Map<number, (sc: number) => void>();
  private readonly freeCids: number[] = [];
  /** The kdump kernel's driver submits only what it is asked to (the vmcore writes). */
  private workload = true;
  readonly completions = { ok: 0, error: 0 };

  constructor(
    device: string,
    host: HostKernel,
    readonly cfg: NvmeDriverConfig & { readonly lbaBytes: number },
  ) {
    super(device, host, cfg.pollNs);
  }

  async setup(): Promise<SetupResult> {
    const c = this.cfg;
    const sq = await this.alloc(c.sqEntries * NVME_SQE.sizeBytes, 'submission queue');
    if (!isBuffer(sq)) return { ok: false, ...sq };
    const cq = await this.alloc(c.cqEntries * NVME_CQE.sizeBytes, 'completion queue');
    if (!isBuffer(cq)) return { ok: false, ...cq };
    const pool = await this.alloc(c.outstanding * c.ioBytes, 'I/O buffers');
    if (!isBuffer(pool)) return { ok: false, ...pool };
    Object.assign(this, { sq, cq, pool, sqTail: 0, cqHead: 0, phase: 1 });
    this.inflight.clear();
    this.freeCids.length = 0;
    for (let i = c.outstanding - 1; i >= 0; i--) this.freeCids.push(i);
    await this.control({ op: 'configureQueues', sqBase: sq.iova, sqEntries: c.sqEntries, cqBase: cq.iova, cqEntries: c.cqEntries });
    await this.control({ op: 'enable' });
    this.startPolling();
    if (this.host.kernel === 'primary' && this.workload) {
      for (let i = 0; i < c.outstanding; i++) await this.submitIo();
    }
    return { ok: true };
  }

  override async probeKdump(): Promise<SetupResult> {
    this.workload = false;
    const r = await super.probeKdump();
    await this.control({ op: 'recordWrites' });
    return r;
  }

  /** Submits one command; `done` gets its status code. Returns false when no slot is free. */
  async submit(opc: number, lba: number, data: Uint8Array | undefined, bytes: number, done: (sc: number) => void): Promise<boolean> {
    const c = this.cfg;
    const cid = this.freeCids.pop();
    if (cid === undefined) return false;
    const buf = this.pool!.iova + cid * c.ioBytes;
    if (data) await this.host.cpuWrite(this.pool!.pa + cid * c.ioBytes, data);
    const nlb = Math.ceil(bytes / c.lbaBytes) - 1;
    await this.host.cpuWrite(this.sq!.pa + this.sqTail * 64, entryBytes(NVME_SQE, { OPC: opc, CID: cid, NSID: 1, PRP1: buf, SLBA: lba, NLB: nlb }));
    this.inflight.set(cid, done);
    this.sqTail = (this.sqTail + 1) % c.sqEntries;
    await this.control({ op: 'ringSq', tail: this.sqTail });
    this.issued++;
    return true;
  }

  private async submitIo(): Promise<void> {
    const c = this.cfg;
    const read = this.issued % c.readEvery === 0;
    const lba = this.nextLba;
    this.nextLba += c.ioBytes / c.lbaBytes;
    await this.submit(read ? NVME_OPC.READ : NVME_OPC.WRITE, lba, undefined, c.ioBytes, () => {
      if (this.host.alive() && this.workload) this.resubmit++;
    });
  }

  /** Completions reaped that the workload replaces with new commands (from the poll loop). */
  private resubmit = 0;

  get canSubmit(): boolean {
    return this.freeCids.length > 0 && this.pool !== undefined;
  }

  /** Commands that can be submitted now (a free command identifier each). */
  get submittable(): number {
    return this.pool === undefined ? 0 : this.freeCids.length;
  }

  get buffersPerCommand(): number {
    return this.cfg.ioBytes;
  }

  protected firstLoad() {
    return this.cq ? { pa: this.cq.pa + this.cqHead * 16, length: 16 } : undefined;
  }

  /** Reaps completions whose phase tag matches, rings the CQ head doorbell, refills the workload. */
  protected async poll(): Promise<readonly Load[] | undefined> {
    const c = this.cfg;
    let reaped = false;
    for (let n = 0; n < c.cqEntries; n++) {
      const d = await this.host.cpuRead(this.cq!.pa + this.cqHead * 16, 16);
      if (!d) break;
      const w = readEntry(NVME_CQE, d);
      if (num(NVME_CQE, w, 'P') !== this.phase) break;
      const cid = num(NVME_CQE, w, 'CID');
      const sc = num(NVME_CQE, w, 'SC');
      this.cqHead = (this.cqHead + 1) % c.cqEntries;
      if (this.cqHead === 0) this.phase ^= 1;
      reaped = true;
      const done = this.inflight.get(cid);
      if (!done) continue;
      this.inflight.delete(cid);
      this.freeCids.push(cid);
      if (sc === NVME_SC.SUCCESS) this.completions.ok++;
      else this.completions.error++;
      done(sc);
    }
    if (reaped) await this.control({ op: 'ringCq', head: this.cqHead });
    let submitted = false;
    while (this.resubmit > 0 && this.host.alive()) {
      this.resubmit--;
      await this.submitIo();
      submitted = true;
    }
    // Idle: no completion with the expected phase at the head (submissions by other threads do not change that).
    return reaped || submitted ? undefined : [{ pa: this.cq!.pa + this.cqHead * 16, length: 16 }];
  }
}

export class CopyDriver extends Driver {
  private ring: DmaBuffer | undefined;
  private src: DmaBuffer | undefined;
  private dst: DmaBuffer | undefined;
  private fence: DmaBuffer | undefined;
  private tail = 0;
  private submitted = 0;

  constructor(
    device: string,
    host: HostKernel,
    readonly cfg: CopyDriverConfig,
  ) {
    super(device, host, cfg.pollNs);
  }

  async setup(): Promise<SetupResult> {
    const c = this.cfg;
    const ring = await this.alloc(c.ringEntries * COPY_JOB.sizeBytes, 'job ring');
    if (!isBuffer(ring)) return { ok: false, ...ring };
    const src = await this.alloc(c.jobBytes, 'copy source');
    if (!isBuffer(src)) return { ok: false, ...src };
    const dst = await this.alloc(c.jobBytes, 'copy destination');
    if (!isBuffer(dst)) return { ok: false, ...dst };
    const fence = await this.alloc(8, 'fence');
    if (!isBuffer(fence)) return { ok: false, ...fence };
    Object.assign(this, { ring, src, dst, fence, tail: 0, submitted: 0 });
    await this.host.cpuWrite(src.pa, new Uint8Array(Math.min(c.jobBytes, 64 * 1024)).fill(0x3c));
    await this.control({ op: 'configureRing', base: ring.iova, entries: c.ringEntries });
    await this.control({ op: 'start' });
    await this.refill(0);
    this.startPolling();
    return { ok: true };
  }

  /** Keeps `queued` jobs ahead of the last completed one, in the ring; says whether it queued any. */
  private async refill(completed: number): Promise<boolean> {
    const c = this.cfg;
    let wrote = false;
    while (this.submitted - completed < c.queued && this.submitted - completed < c.ringEntries - 1) {
      const id = ++this.submitted;
      await this.host.cpuWrite(
        this.ring!.pa + this.tail * 32,
        entryBytes(COPY_JOB, { Src: this.src!.iova, Dst: this.dst!.iova, Length: c.jobBytes, JobId: id, Fence: this.fence!.iova }),
      );
      this.tail = (this.tail + 1) % c.ringEntries;
      wrote = true;
    }
    if (wrote) await this.control({ op: 'ringTail', tail: this.tail });
    return wrote;
  }

  protected firstLoad() {
    return this.fence ? { pa: this.fence.pa, length: 8 } : undefined;
  }

  /** Reads the fence: every job up to its value is done; queue more. */
  protected async poll(): Promise<readonly Load[] | undefined> {
    const f = await this.host.cpuRead(this.fence!.pa, 8);
    if (!f) return undefined;
    const done = new DataView(f.buffer, f.byteOffset, 8).getUint32(0, true);
    if (done !== 0xffffffff && (await this.refill(done))) return undefined;
    // Idle: the same fence queues nothing more.
    return [{ pa: this.fence!.pa, length: 8 }];
  }
}
