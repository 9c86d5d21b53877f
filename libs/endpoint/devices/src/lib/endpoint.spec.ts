// SPDX-License-Identifier: Apache-2.0
// Device protocols over real platform memory and the virtual clock, with a port that translates
// by identity (the SMMU itself is exercised by the scenario tests): rings, prefetch, tags and
// latency, posted writes, FLR, the ATC, AER on failures, and what the host driver's death does.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PhysicalMemory, VirtualClock } from '@kdump-twin/platform';
import { NIC_DEFAULTS, NVME_DEFAULTS, GPU_DEFAULTS, createDevice, createDriver, type DeviceParams } from './fleet';
import { NIC_DESC, NVME_CQE, num, readEntry } from './formats';
import type { HostKernel } from './host';
import { Nvme } from './nvme';
import { CopyEngine } from './copy';
import type { AerError, DmaCompletion, DmaPort, DmaRecord, DmaRequest } from './types';
import { ENDPOINT_DEFAULTS } from './fleet';
import type { EndpointConfig } from './endpoint';

/** Identity "SMMU": device address = PA; `fail(req)` makes a request abort (UR). */
class IdentityPort implements DmaPort {
  readonly seen: DmaRequest[] = [];
  fail: (r: DmaRequest) => boolean = () => false;
  private readonly writer: number;
  constructor(private readonly mem: PhysicalMemory) {
    this.writer = mem.internWriter({ kind: 'device-translated', sid: 1 });
  }
  access(req: DmaRequest): DmaCompletion {
    this.seen.push(req);
    if (this.fail(req)) return { status: 'UR', outcome: 'aborted', pa: -1, path: 'ste-abort' };
    if (req.ats === 'request') return { status: 'SC', outcome: 'translated', pa: req.address + 0x1000_0000, path: 's1' };
    const pa = req.ats === 'translated' ? req.address - 0x1000_0000 : req.address;
    if (req.write) {
      const w = this.mem.write(pa, req.data!, this.writer);
      return w.ok ? { status: 'SC', outcome: 'translated', pa, path: 's1' } : { status: 'CA', outcome: 'completer-abort', pa, path: 's1' };
    }
    const r = this.mem.read(pa, req.size);
    return r.ok ? { status: 'SC', outcome: 'translated', pa, path: 's1', data: r.data } : { status: 'CA', outcome: 'completer-abort', pa, path: 's1' };
  }
}

function rig() {
  const clock = new VirtualClock();
  const mem = new PhysicalMemory({ paBits: 40, maxBackedBytes: 64 << 20 }, clock);
  const port = new IdentityPort(mem);
  const records: DmaRecord[] = [];
  const aer: AerError[] = [];
  const obs = { dma: (r: DmaRecord) => records.push(r), aer: (e: AerError) => aer.push(e) };
  let next = 0x1000_0000;
  let alive = true;
  const cpu = mem.internWriter({ kind: 'primary-cpu' });
  const host: HostKernel = {
    kernel: 'primary',
    alive: () => alive,
    dmaAlloc: async (_d, bytes) => {
      const pa = next;
      next += Math.ceil(bytes / 4096) * 4096;
      return { ok: true, pa, iova: pa };
    },
    cpuWrite: (pa, data) => void mem.write(pa, data, cpu),
    cpuRead: (pa, n) => {
      const r = mem.read(pa, n);
      return r.ok ? r.data : undefined;
    },
    log: () => undefined,
  };
  const base: EndpointConfig = { name: '0000:01:00.0', rid: 0x100, sids: [0x100], ...ENDPOINT_DEFAULTS, onReadError: 'continue' };
  const make = (p: DeviceParams, extra: Partial<EndpointConfig> = {}) => {
    const dev = createDevice({ ...base, ...extra }, p, clock, port, obs);
    return { dev, drv: createDriver(dev, p, host, clock) };
  };
  return { clock, mem, port, records, aer, host, make, kill: () => (alive = false) };
}

describe('NIC: RX descriptors fetched by DMA, data and write-back, host refills', () => {
  it('prefetches descPrefetch descriptors per read and writes DD back for each packet', async () => {
    const r = rig();
    const { dev, drv } = r.make({ kind: 'nic', ...NIC_DEFAULTS, txIntervalNs: 0, statsIntervalNs: 0, rxEntries: 32, descPrefetch: 4, rxIntervalNs: 1_000 });
    await drv.setup();
    r.clock.advance(10_500);
    const fetches = r.records.filter((x) => x.phase === 'desc-fetch');
    assert.ok(fetches.length >= 2);
    assert.equal(fetches[0]!.req.size, 4 * NIC_DESC.sizeBytes, 'one read covers four descriptors');
    assert.equal(r.records.filter((x) => x.phase === 'rx-data').length, 10, 'ten packets in 10.5 us');
    const ring = drv.buffers[0]!;
    const d0 = readEntry(NIC_DESC, r.host.cpuRead(ring.pa, 16)!);
    // The host's poll runs every 20 us: not yet, so the first descriptor still shows DD.
    assert.equal(num(NIC_DESC, d0, 'DD'), 1);
    assert.equal(num(NIC_DESC, d0, 'Length'), NIC_DEFAULTS.packetBytes);
    assert.equal(dev.counters.dropped, 0);
  });

  it('after the host dies the posted descriptors run out and packets are dropped; stats DMA continues', async () => {
    const r = rig();
    const { dev, drv } = r.make({ kind: 'nic', ...NIC_DEFAULTS, txIntervalNs: 0, rxEntries: 16, rxIntervalNs: 1_000, statsIntervalNs: 5_000, pollNs: 5_000 });
    await drv.setup();
    r.clock.advance(50_000);
    assert.equal(dev.counters.dropped, 0, 'the host refilled the ring while alive');
    r.kill();
    const before = r.records.filter((x) => x.phase === 'rx-data').length;
    r.clock.advance(100_000);
    const after = r.records.filter((x) => x.phase === 'rx-data').length - before;
    assert.ok(after <= 16, `at most one ring of packets after the host died (got ${after})`);
    assert.ok(dev.counters.dropped > 50);
    const stats = r.records.filter((x) => x.phase === 'stats' && x.time > 50_000);
    assert.equal(stats.length, 20, 'a stats block every 5 us, host or not');
  });

  it('a failed descriptor fetch raises a requester AER with the UR severity; posted-write failures are the completer\'s', async () => {
    const r = rig();
    const { drv } = r.make({ kind: 'nic', ...NIC_DEFAULTS, txIntervalNs: 0, statsIntervalNs: 0, rxEntries: 16, rxIntervalNs: 1_000 }, { aer: { UR: 'fatal', CA: 'non-fatal', ATS: 'non-fatal' } });
    await drv.setup();
    r.port.fail = (q) => !q.write;
    r.clock.advance(3_000);
    assert.ok(r.aer.length > 0);
    assert.deepEqual([r.aer[0]!.type, r.aer[0]!.severity, r.aer[0]!.role, r.aer[0]!.phase], ['UR', 'fatal', 'requester', 'desc-fetch']);
    // A fresh NIC whose writes fail: the device never knows (posted), the Root Complex logs each.
    const w = rig();
    const n = w.make({ kind: 'nic', ...NIC_DEFAULTS, txIntervalNs: 0, statsIntervalNs: 5_000, rxEntries: 16, rxIntervalNs: 1_000 });
    await n.drv.setup();
    w.port.fail = (q) => q.write;
    w.clock.advance(10_500);
    assert.ok(w.aer.length > 0 && w.aer.every((e) => e.role === 'completer'));
    assert.deepEqual([...new Set(w.aer.map((e) => e.phase))].sort(), ['desc-writeback', 'rx-data', 'stats']);
    assert.equal(n.dev.counters.dropped, 0, 'the device carried on as if every write landed');
  });
});

describe('the DMA engine: tags, latency, FLR', () => {
  it('never has more non-posted reads in flight than maxReadTags, and completes each after readLatencyNs', async () => {
    const r = rig();
    const { dev, drv } = r.make({ kind: 'gpu', ...GPU_DEFAULTS, chunkIntervalNs: 0, chunksInFlight: 64, jobBytes: 256 * 1024, queued: 1 }, { maxReadTags: 8, readLatencyNs: 1_000 });
    await drv.setup();
    let peak = 0;
    for (let t = 0; t < 40; t++) {
      r.clock.advance(100);
      peak = Math.max(peak, dev.outstanding);
    }
    assert.equal(peak, 8);
    const reads = r.records.filter((x) => x.phase === 'copy-read');
    assert.ok(reads.every((x) => x.completedAt - x.time === 1_000));
  });

  it('FLR forgets every request in flight: their completions never act', async () => {
    const r = rig();
    const { dev, drv } = r.make({ kind: 'gpu', ...GPU_DEFAULTS, chunkIntervalNs: 0, jobBytes: 1 << 20, queued: 1 });
    await drv.setup();
    r.clock.advance(1_500);
    const writesBefore = r.records.filter((x) => x.phase === 'copy-write').length;
    assert.ok(dev.outstanding > 0);
    dev.flr();
    assert.equal(dev.outstanding, 0);
    r.clock.advance(100_000);
    assert.equal(r.records.filter((x) => x.phase === 'copy-write').length, writesBefore, 'no chunk written after the reset');
    assert.equal(dev.jobsInFlight, 0);
  });
});

describe('ATS: the device ATC', () => {
  it('a miss sends a translation request, a hit sends a translated request; invalidation empties the range', async () => {
    const r = rig();
    const { dev, drv } = r.make({ kind: 'gpu', ...GPU_DEFAULTS, chunkIntervalNs: 0, jobBytes: 16 * 1024, queued: 1 }, { ats: true, atcEntries: 64 });
    dev.atsEnabled = true;
    await drv.setup();
    r.clock.advance(200_000);
    const reqs = r.records.filter((x) => x.phase === 'ats-request');
    const translated = r.records.filter((x) => x.req.ats === 'translated');
    assert.ok(reqs.length > 0 && translated.length > 0);
    assert.ok(translated.every((x) => x.req.address >= 0x1000_0000 * 2), 'translated requests carry the PA the ATC got');
    const n = dev.atc.size;
    assert.ok(n > 0);
    dev.atcInvalidate(0, Number.POSITIVE_INFINITY);
    assert.equal(dev.atc.size, 0);
    dev.flr();
    assert.equal(dev.atsEnabled, false, 'FLR clears the ATS Enable bit');
  });
});

describe('NVMe: SQ fetch, data, CQ phase, dead host', () => {
  it('completes commands with the phase tag; with the host dead it stops when the CQ is full', async () => {
    const r = rig();
    const p = { kind: 'nvme' as const, ...NVME_DEFAULTS, sqEntries: 64, cqEntries: 16, outstanding: 32, queueDepth: 4, mediaLatencyNs: 10_000, pollNs: 5_000 };
    const { dev, drv } = r.make(p);
    await drv.setup();
    r.kill();
    r.clock.advance(1_000_000);
    const cqes = r.records.filter((x) => x.phase === 'cqe');
    assert.equal(cqes.length, 15, 'cqEntries - 1 completions, then the controller has nowhere to post');
    const cq = drv.buffers[1]!;
    const e = readEntry(NVME_CQE, r.host.cpuRead(cq.pa, 16)!);
    assert.equal(num(NVME_CQE, e, 'P'), 1);
    assert.equal(num(NVME_CQE, e, 'SC'), 0);
    assert.equal((dev as Nvme).halted, undefined);
  });

  it('a failed SQE fetch is a controller fatal status; a failed data read completes with Data Transfer Error', async () => {
    const r = rig();
    const p = { kind: 'nvme' as const, ...NVME_DEFAULTS, outstanding: 8, readEvery: 1_000_000, mediaLatencyNs: 1_000 };
    const a = r.make(p, { onReadError: 'continue' });
    await a.drv.setup();
    r.port.fail = (q) => q.size === 16_384 || (q.size === 4096 && !q.write);
    r.clock.advance(200_000);
    const status = r.records.filter((x) => x.phase === 'cqe').map((x) => num(NVME_CQE, readEntry(NVME_CQE, x.req.data!), 'SC'));
    assert.ok(status.includes(0x04), 'WRITE commands whose data read failed complete with Data Transfer Error');
    assert.ok(status.includes(0x00), 'the READ command (device writes host memory) succeeds');
    const b = rig();
    const d = b.make(p);
    b.port.fail = (q) => !q.write;
    await d.drv.setup();
    b.clock.advance(50_000);
    assert.match((d.dev as Nvme).halted ?? '', /CSTS\.CFS/);
  });
});

describe('copy engine: pacing and fences', () => {
  it('issues at most one chunk per chunkIntervalNs and writes the job number to the fence', async () => {
    const r = rig();
    const { dev, drv } = r.make({ kind: 'gpu', ...GPU_DEFAULTS, chunkIntervalNs: 2_000, jobBytes: 64 * 1024, queued: 1, pollNs: 1_000_000 });
    await drv.setup();
    r.clock.advance(20_000);
    const reads = r.records.filter((x) => x.phase === 'copy-read').map((x) => x.time);
    for (let i = 1; i < reads.length; i++) assert.ok(reads[i]! - reads[i - 1]! >= 2_000);
    r.clock.advance(200_000);
    const fence = r.records.find((x) => x.phase === 'fence')!;
    assert.equal(new DataView(fence.req.data!.buffer, fence.req.data!.byteOffset).getUint32(0, true), 1);
    assert.ok(dev instanceof CopyEngine);
    assert.equal(dev.counters.jobsOk, 1);
  });
});
