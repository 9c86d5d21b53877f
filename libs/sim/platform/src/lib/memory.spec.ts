// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VirtualClock } from './clock';
import { PhysicalMemory, PlatformConfigError, type Region } from './memory';
import { defaultServerMemoryLayout, Platform } from './platform';

const regions: Region[] = [
  { name: 'mmio', base: 0x0800_0000, size: 0x1000, kind: 'mmio' },
  { name: 'hole', base: 0x1000_0000, size: 0x1000, kind: 'hole' },
  { name: 'ram', base: 0x8000_0000, size: 0x10_0000, kind: 'ram', owner: 'primary-kernel' },
  { name: 'crash', base: 0x8010_0000, size: 0x10_0000, kind: 'crashkernel', owner: 'kdump-kernel' },
];

function mem(maxBackedBytes = 1 << 20) {
  const clock = new VirtualClock();
  const m = new PhysicalMemory({ paBits: 40, maxBackedBytes, regions }, clock);
  return { clock, m, cpu: m.internWriter({ kind: 'primary-cpu' }), dev: m.internWriter({ kind: 'device-translated', sid: 7 }) };
}

describe('PhysicalMemory: sparse pages and regions', () => {
  it('never-written RAM reads as zero without backing a page', () => {
    const { m } = mem();
    const out = { lo: 1, hi: 1 };
    assert.equal(m.readDword(0x8000_0000, out), undefined);
    assert.deepEqual(out, { lo: 0, hi: 0 });
    assert.equal(m.backedBytes(), 0);
  });

  it('pages are allocated on first write; dwords are little-endian', () => {
    const { m, cpu } = mem();
    assert.equal(m.writeDword(0x8000_0ff8, 0x11223344, 0x55667788, cpu), undefined);
    assert.equal(m.backedBytes(), 4096);
    const r = m.read(0x8000_0ff8, 8);
    assert.ok(r.ok);
    assert.deepEqual([...r.data], [0x44, 0x33, 0x22, 0x11, 0x88, 0x77, 0x66, 0x55]);
    // A dword straddling two pages.
    assert.equal(m.writeDword(0x8000_1ffc, 0xaabbccdd, 0x01020304, cpu), undefined);
    const out = { lo: 0, hi: 0 };
    m.readDword(0x8000_1ffc, out);
    assert.deepEqual(out, { lo: 0xaabbccdd, hi: 0x01020304 });
    assert.equal(m.backedBytes(), 3 * 4096);
  });

  it('MMIO, holes, uncovered addresses and the PA bound are external aborts, not exceptions', () => {
    const { m, cpu } = mem();
    const out = { lo: 0, hi: 0 };
    assert.equal(m.readDword(0x0800_0000, out), 'mmio');
    assert.equal(m.readDword(0x1000_0000, out), 'unbacked');
    assert.equal(m.readDword(0x2000_0000, out), 'unbacked', 'no region covers it');
    assert.equal(m.readDword(2 ** 40, out), 'out-of-range');
    assert.equal(m.write32(0x0800_0010, 1, cpu), 'mmio');
  });

  it('an access straddling into a hole faults as a whole and writes nothing', () => {
    const { m, cpu } = mem();
    const end = 0x8020_0000; // end of the crashkernel region
    const r = m.write(end - 4, new Uint8Array(8).fill(9), cpu);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.fault, 'unbacked');
    assert.equal(m.backedBytes(), 0);
  });

  it('the backing bound refuses a write with a clear message and keeps everything written before', () => {
    const { m, cpu } = mem(2 * 4096);
    assert.ok(m.write(0x8000_0000, new Uint8Array([1]), cpu).ok);
    assert.ok(m.write(0x8000_1000, new Uint8Array([2]), cpu).ok);
    const r = m.write(0x8000_2000, new Uint8Array([3]), cpu);
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.message : '', /memory\.maxBackedBytes=8192/);
    const back = m.read(0x8000_0000, 1);
    assert.ok(back.ok && back.data[0] === 1);
    assert.equal(m.writeLog().count, 2, 'the refused write is not logged');
  });

  it('a backing-limit refusal is a simulator error (counted, with the bound in the message), not a fault kind', () => {
    const { m, cpu, clock } = mem(4096);
    assert.ok(m.write(0x8000_0000, new Uint8Array([1]), cpu).ok);
    clock.advance(3);
    assert.equal(m.writeDword(0x8000_1000, 1, 2, cpu), 'backing-limit');
    assert.equal(m.write32(0x8000_2000, 1, cpu), 'backing-limit');
    const e = m.simulatorErrors();
    assert.equal(e.count, 2);
    assert.deepEqual(
      e.recent.map((x) => [x.time, x.address, x.length, x.writer.kind]),
      [
        [3, 0x8000_1000, 8, 'primary-cpu'],
        [3, 0x8000_2000, 4, 'primary-cpu'],
      ],
    );
    assert.match(e.last!.message, /^simulator limit: .*above memory\.maxBackedBytes=4096$/);
    assert.equal(m.stats().simulatorErrors, 2);
    // Architected faults are not simulator errors.
    assert.equal(m.write32(0x0800_0000, 1, cpu), 'mmio');
    assert.equal(m.simulatorErrors().count, 2);
    const r = PhysicalMemory.restore(JSON.parse(JSON.stringify(m.snapshot())), new VirtualClock());
    assert.deepEqual(r.simulatorErrors(), m.simulatorErrors(), 'kept by snapshots');
  });

  it('stats().heapBytes counts what the bound leaves out: the 4x shadow, the write log and page objects', () => {
    const { m, dev } = mem(1 << 20);
    for (let i = 0; i < 3000; i++) m.write(0x8000_0000 + (i % 64) * 64, new Uint8Array(64), dev);
    const s = m.stats();
    assert.equal(s.pages, 1);
    assert.equal(s.backedBytes, 4096);
    assert.equal(s.shadowBytes, 4 * 4096, 'a Uint32Array slot per byte');
    assert.equal(s.logBytes, 4096 * 23, '3000 records in a log grown to 4096 records of 23 bytes');
    assert.equal(s.heapBytes, 4096 + 4 * 4096 + 400 + 4096 * 23);
    assert.ok(s.heapBytes > 25 * s.backedBytes, 'the backing bound is not a heap bound');
  });

  it('bad configuration names the field and the rule', () => {
    const clock = new VirtualClock();
    assert.throws(
      () => new PhysicalMemory({ paBits: 60, maxBackedBytes: 4096 }, clock),
      (e: unknown) => e instanceof PlatformConfigError && e.field === 'memory.paBits',
    );
    assert.throws(() => new PhysicalMemory({ paBits: 48, maxBackedBytes: 100 }, clock), /maxBackedBytes: a positive multiple of 4096/);
    assert.throws(
      () => new PhysicalMemory({ paBits: 48, maxBackedBytes: 4096, regions: [regions[2]!, { ...regions[3]!, base: 0x8000_8000 }] }, clock),
      /memory\.regions\[1\]: crash overlaps ram/,
    );
  });

  it('the default server layout is consistent (no overlap, crashkernel inside DRAM, 48-bit)', () => {
    const p = new Platform({ seed: 1, memory: { paBits: 48, maxBackedBytes: 1 << 20, regions: defaultServerMemoryLayout() } });
    assert.equal(p.memory.region('crashkernel')?.kind, 'crashkernel');
    assert.equal(p.memory.regionAt(0xe000_0000)?.name, 'crashkernel');
    assert.equal(p.memory.regionAt(0xdfff_ffff)?.name, 'primary-ram');
  });
});

describe('PhysicalMemory: write attribution', () => {
  it('every byte remembers its last write: who, virtual time, epoch', () => {
    const { m, clock, cpu, dev } = mem();
    clock.advance(100);
    m.write(0x8000_0000, new Uint8Array(16).fill(1), cpu);
    clock.advance(50);
    m.setEpoch('kdump');
    m.write(0x8000_0004, new Uint8Array(4).fill(2), dev);
    const runs = m.attribute(0x8000_0000, 20);
    assert.deepEqual(
      runs.map((r) => [r.address - 0x8000_0000, r.length, r.record?.writer.kind, r.record?.epoch, r.record?.time]),
      [
        [0, 4, 'primary-cpu', 'primary', 100],
        [4, 4, 'device-translated', 'kdump', 150],
        [8, 8, 'primary-cpu', 'primary', 100],
        [16, 4, undefined, undefined, undefined],
      ],
    );
    assert.equal(m.lastWriteAt(0x8000_0005)?.writer.sid, 7);
  });

  it('bytesWrittenBy finds exactly the bytes a device wrote after the crash, inside a region', () => {
    const { m, cpu, dev } = mem();
    m.write(0x8000_0000, new Uint8Array(4096).fill(1), cpu);
    m.setEpoch('kdump');
    m.write(0x8000_0ffe, new Uint8Array(4), dev); // straddles into the next page
    m.write(0x8010_0000, new Uint8Array(8), dev); // crashkernel
    const ram = m.region('ram')!;
    const hits = m.bytesWrittenBy((r) => r.epoch === 'kdump' && r.writer.kind === 'device-translated', ram);
    assert.deepEqual(
      hits.map((h) => [h.address, h.length]),
      [[0x8000_0ffe, 4]],
      'one write across the page boundary is one run',
    );
  });

  it('the write log grows past many doublings (bounded loop)', () => {
    const { m, dev } = mem();
    for (let i = 0; i < 200_000; i++) m.write32(0x8000_0000 + (i % 1024) * 4, i, dev);
    assert.equal(m.writeLog().count, 200_000);
    assert.equal(m.lastWriteAt(0x8000_0000 + 1023 * 4)?.seq, 199_679, 'the last i with i % 1024 == 1023');
    assert.equal(m.lastWriteAt(0x8000_0000 + 319 * 4)?.seq, 199_999);
    assert.equal(m.writeLog().get(5).address, 0x8000_0014);
  });

  it('snapshot -> JSON -> restore gives identical contents, attribution and log', () => {
    const { m, clock, cpu, dev } = mem();
    m.write(0x8000_0000, new Uint8Array([1, 2, 3, 4]), cpu);
    clock.advance(7);
    m.setEpoch('kdump');
    m.write(0x8000_0002, new Uint8Array([9]), dev);
    const s = JSON.parse(JSON.stringify(m.snapshot()));
    const r = PhysicalMemory.restore(s, new VirtualClock());
    const a = r.read(0x8000_0000, 4);
    assert.ok(a.ok);
    assert.deepEqual([...a.data], [1, 2, 9, 4]);
    assert.deepEqual(r.attribute(0x8000_0000, 4), m.attribute(0x8000_0000, 4));
    assert.equal(r.epoch, 'kdump');
    assert.equal(r.writeLog().count, 2);
    assert.deepEqual(r.snapshot(), m.snapshot());
    // The restored memory keeps working and interning the same writers.
    assert.equal(r.internWriter({ kind: 'device-translated', sid: 7 }), dev);
  });
});
