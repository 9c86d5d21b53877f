// SPDX-License-Identifier: Apache-2.0
// A NIC: packets arrive from the wire at a fixed rate whatever the host does; each one takes a
// receive descriptor the device prefetched from the RX ring (DMA read through the SMMU), its
// data is written into the buffer that descriptor names, and the descriptor is written back
// with DD set. Transmit descriptors the host posted are fetched, their buffers read and written
// back. A statistics block is written periodically (as many NICs' firmware does), so the device
// keeps DMAing after the host died even once its rings run dry.

import { Endpoint, type EndpointConfig } from './endpoint';
import { entryBytes, NIC_DESC, num, readEntry } from './formats';
import type { SeededRng } from '@kdump-twin/platform';
import type { DeviceControl, DmaPort, EndpointObserver, Scheduler } from './types';

export interface NicConfig extends EndpointConfig {
  /** Wire arrivals: one packet every `rxIntervalNs` (0: none). */
  readonly rxIntervalNs: number;
  readonly packetBytes: number;
  /** Descriptors fetched by one RX/TX descriptor read. */
  readonly descPrefetch: number;
  /** Packets the on-chip FIFO holds while a descriptor fetch is in flight; more are dropped. */
  readonly rxFifo: number;
  /** Statistics block write-back period (0: none). */
  readonly statsIntervalNs: number;
  /** Arrival jitter, percent of rxIntervalNs (seeded). */
  readonly rxJitterPct: number;
}

interface Ring {
  base: number;
  entries: number;
  /** Next descriptor the device uses. */
  head: number;
  /** Doorbell: the device may use descriptors [head, tail). */
  tail: number;
  /** Prefetched descriptors: index and buffer address. */
  readonly cache: { index: number; buffer: number; length: number }[];
  fetching: boolean;
}

const DESC_BYTES = NIC_DESC.sizeBytes;

function ring(): Ring {
  return { base: 0, entries: 0, head: 0, tail: 0, cache: [], fetching: false };
}

export class Nic extends Endpoint {
  readonly kind = 'nic' as const;
  private rx = ring();
  private tx = ring();
  private statsAddress = 0;
  private fifo = 0;
  private statsSeq = 0;
  private readonly payload: Uint8Array;
  private running = false;

  constructor(
    override readonly cfg: NicConfig,
    sched: Scheduler,
    port: DmaPort,
    obs?: EndpointObserver,
    rng?: SeededRng,
  ) {
    super(cfg, sched, port, obs, rng);
    // Packet payload: a pattern naming the device, so misdirected bytes can be recognised.
    this.payload = new Uint8Array(cfg.packetBytes);
    for (let i = 0; i < this.payload.length; i++) this.payload[i] = (cfg.rid + i) & 0xff;
  }

  // ---- registers the host driver writes through the BAR ----

  protected controlKind(c: DeviceControl): void {
    if (c.op === 'configureRx') this.configureRx(c.base, c.entries);
    else if (c.op === 'configureTx') this.configureTx(c.base, c.entries);
    else if (c.op === 'setRxTail') this.setRxTail(c.tail);
    else if (c.op === 'setTxTail') this.setTxTail(c.tail);
    else if (c.op === 'setStatsAddress') this.setStatsAddress(c.iova);
  }

  configureRx(base: number, entries: number): void {
    this.rx = { ...ring(), base, entries };
  }

  configureTx(base: number, entries: number): void {
    this.tx = { ...ring(), base, entries };
  }

  setRxTail(tail: number): void {
    this.rx.tail = tail % Math.max(this.rx.entries, 1);
  }

  setTxTail(tail: number): void {
    this.tx.tail = tail % Math.max(this.tx.entries, 1);
    this.serviceTx();
  }

  setStatsAddress(iova: number): void {
    this.statsAddress = iova;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.cfg.rxIntervalNs > 0) {
      const next = () => this.jitter(this.cfg.rxIntervalNs, this.cfg.rxJitterPct);
      const arrive = () => {
        this.sched.after(next(), `${this.name} rx`, arrive);
        this.packetArrived();
      };
      this.sched.after(next(), `${this.name} rx`, arrive);
    }
    if (this.cfg.statsIntervalNs > 0) {
      const stats = () => {
        this.sched.after(this.cfg.statsIntervalNs, `${this.name} stats`, stats);
        if (this.statsAddress !== 0 && this.halted === undefined) this.writeStats();
      };
      this.sched.after(this.cfg.statsIntervalNs, `${this.name} stats`, stats);
    }
  }

  protected resetState(): void {
    this.rx = ring();
    this.tx = ring();
    this.statsAddress = 0;
    this.fifo = 0;
  }

  private available(r: Ring): number {
    return r.entries === 0 ? 0 : (r.tail - r.head + r.entries) % r.entries;
  }

  /** Fetches up to descPrefetch descriptors from [head, tail), not crossing the ring's end. */
  private fetch(r: Ring, then: () => void): void {
    const n = Math.min(this.available(r), this.cfg.descPrefetch, r.entries - r.head);
    if (n === 0 || r.fetching) return;
    r.fetching = true;
    const first = r.head;
    r.head = (r.head + n) % r.entries;
    const job = this.beginJob();
    const gen = this.generation;
    this.dmaRead('desc-fetch', job, r.base + first * DESC_BYTES, n * DESC_BYTES, (res) => {
      if (gen !== this.generation) return;
      r.fetching = false;
      if (!res.ok) {
        this.endJob(job, false);
        // The descriptors are lost to this device: it moved its head and cannot recover them.
        this.readFailed('descriptor fetch');
      } else {
        for (let i = 0; i < n; i++) {
          const w = readEntry(NIC_DESC, res.data, i * DESC_BYTES);
          r.cache.push({ index: first + i, buffer: num(NIC_DESC, w, 'BufferAddress'), length: num(NIC_DESC, w, 'Length') });
        }
        this.endJob(job, true);
      }
      then();
    });
  }

  private packetArrived(): void {
    if (this.halted !== undefined || this.rx.entries === 0) {
      this.counters.dropped++;
      return;
    }
    if (this.fifo >= this.cfg.rxFifo) {
      this.counters.dropped++;
      return;
    }
    this.fifo++;
    this.drainRx();
  }

  private drainRx(): void {
    while (this.fifo > 0 && this.rx.cache.length > 0 && this.halted === undefined) {
      const d = this.rx.cache.shift()!;
      this.fifo--;
      this.receive(d);
    }
    if (this.fifo > 0 && this.halted === undefined) {
      if (this.available(this.rx) === 0 && !this.rx.fetching) {
        // Ring empty: the packets waiting have nowhere to go.
        this.counters.dropped += this.fifo;
        this.fifo = 0;
        return;
      }
      this.fetch(this.rx, () => this.drainRx());
    }
  }

  private receive(d: { index: number; buffer: number }): void {
    const job = this.beginJob();
    const len = this.payload.length;
    this.dmaWrite('rx-data', job, d.buffer, this.payload, () => {
      const wb = entryBytes(NIC_DESC, { BufferAddress: d.buffer, Length: len, DD: 1, EOP: 1 });
      this.dmaWrite('desc-writeback', job, this.rx.base + d.index * DESC_BYTES, wb, (ok) => this.endJob(job, ok));
    });
  }

  private serviceTx(): void {
    if (this.halted !== undefined || this.tx.entries === 0 || this.tx.fetching) return;
    const next = this.tx.cache.shift();
    if (next) {
      const job = this.beginJob();
      const gen = this.generation;
      this.dmaRead('tx-data', job, next.buffer, Math.max(1, Math.min(next.length, 4096)), (res) => {
        if (gen !== this.generation) return;
        if (!res.ok) {
          this.endJob(job, false);
          if (this.readFailed('transmit buffer read')) return;
        } else {
          const wb = entryBytes(NIC_DESC, { BufferAddress: next.buffer, Length: next.length, DD: 1, EOP: 1 });
          this.dmaWrite('desc-writeback', job, this.tx.base + next.index * DESC_BYTES, wb, (ok) => this.endJob(job, ok));
        }
        this.serviceTx();
      });
      return;
    }
    if (this.available(this.tx) > 0) this.fetch(this.tx, () => this.serviceTx());
  }

  private writeStats(): void {
    const job = this.beginJob();
    const block = new Uint8Array(64);
    const v = new DataView(block.buffer);
    v.setUint32(0, ++this.statsSeq, true);
    v.setUint32(8, this.counters.jobsOk, true);
    v.setUint32(16, this.counters.dropped, true);
    this.dmaWrite('stats', job, this.statsAddress, block, (ok) => this.endJob(job, ok));
  }
}
