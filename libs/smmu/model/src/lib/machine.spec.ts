// SPDX-License-Identifier: Apache-2.0
// The machine as a script drives it: registers by name and offset with the architecture's
// answers, memory, transactions and batches, time, snapshots and the event stream; and bad
// input refused with the field it is about.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findRegister } from '@kdump-twin/smmu-arch';
import { Machine, MachineInputError, type MachineEvent } from './machine';

const cfg = { seed: 1, memory: { paBits: 40, maxBackedBytes: 16 << 20 }, smmus: [{}] };
const CR0 = findRegister('CR0')!;

describe('Machine', () => {
  it('reads IDR0 by name and by offset alike, and CR0ACK follows CR0 once time passes', () => {
    const m = Machine.create('m-1', cfg);
    const byName = m.readRegister(0, { register: 'IDR0' });
    const byOffset = m.readRegister(0, { offset: 0x0 }, 4);
    assert.equal(byName.value, byOffset.value);
    assert.equal(byName.register, 'IDR0');
    assert.equal(byName.result, 'ok');
    const w = m.writeRegister(0, { register: 'CR0' }, CR0.build({ EVENTQEN: 1 })[0]!);
    assert.equal(w.result, 'ok');
    assert.equal(m.readRegister(0, { register: 'CR0ACK' }).value, 0n, 'the ack is not immediate');
    m.advance(10_000);
    assert.equal(m.readRegister(0, { register: 'CR0ACK' }).value, CR0.build({ EVENTQEN: 1 })[0]!);
  });

  it('answers guest-like mistakes as the hardware does, and script mistakes with the field', () => {
    const m = Machine.create('m-2', cfg);
    const raz = m.readRegister(0, { offset: 0x4000 }, 4);
    assert.equal(raz.result, 'raz-wi');
    assert.throws(
      () => m.readRegister(0, { offset: 0x30000 }),
      (e: unknown) => e instanceof MachineInputError && e.field === 'offset' && e.code === 'out-of-range',
    );
    assert.throws(
      () => m.readRegister(0, { register: 'CR9' }),
      (e: unknown) => e instanceof MachineInputError && /no SMMU register CR9/.test(e.message),
    );
    assert.throws(() => m.readRegister(0, { register: 'CR0' }, 2), /size: 4 or 8 bytes/);
    assert.throws(() => m.readRegister(3, { register: 'CR0' }), /smmu: no SMMU 3/);
    assert.throws(
      () => m.readMemory(2 ** 41, 8),
      (e: unknown) => e instanceof MachineInputError && /beyond the 40-bit physical address space/.test(e.message),
    );
    assert.throws(
      () =>
        m.submitDma(
          0,
          Array.from({ length: 4097 }, () => ({ sid: 0, address: 0, size: 4, write: false })),
        ),
      /transactions: 1\.\.4096 per batch \(got 4097\)/,
    );
    assert.throws(
      () => m.submitDma(0, [{ sid: 0, address: 0x1000, size: 8, write: true, data: new Uint8Array(4) }]),
      /transactions\[0\]\.data: a write carries exactly size/,
    );
  });

  it('memory round-trips; with SMMUEN=0 and GBPA.ABORT=0 DMA bypasses to the same bytes', () => {
    const m = Machine.create('m-3', cfg);
    m.writeMemory(0x10_0000, new Uint8Array([1, 2, 3, 4]));
    assert.deepEqual([...m.readMemory(0x10_0000, 4)], [1, 2, 3, 4]);
    const [r, w] = m.submitDma(0, [
      { sid: 5, address: 0x10_0000, size: 4, write: false },
      { sid: 5, address: 0x10_0010, size: 2, write: true, data: new Uint8Array([9, 9]) },
    ]);
    assert.equal(r!.outcome, 'bypassed');
    assert.equal(r!.path, 'gbpa');
    assert.deepEqual([...r!.data!], [1, 2, 3, 4]);
    assert.equal(w!.status, 'SC');
    assert.deepEqual([...m.readMemory(0x10_0010, 2)], [9, 9]);
  });

  it('streams the event record a bad STE raises, and a global error as it becomes active', () => {
    const m = Machine.create('m-4', cfg);
    const seen: MachineEvent[] = [];
    m.watch((e) => seen.push(e));
    // A linear stream table of zeroed STEs at 1 MiB, then SMMUEN=1.
    m.writeRegister(0, { register: 'STRTAB_BASE' }, 0x10_0000n);
    m.writeRegister(0, { register: 'STRTAB_BASE_CFG' }, BigInt(findRegister('STRTAB_BASE_CFG')!.build({ LOG2SIZE: 8, FMT: 0 })[0]!));
    m.writeRegister(0, { register: 'CR0' }, CR0.build({ SMMUEN: 1 })[0]!);
    m.advance(10_000);
    const t = m.translate(0, { sid: 3, address: 0x2000, size: 8, write: false });
    assert.equal(t.event, 'C_BAD_STE');
    assert.deepEqual(
      seen.filter((e) => e.kind === 'event-record').map((e) => [e.name, e.data, e.detail]),
      [['C_BAD_STE', 3, 'disabled']],
      'the record exists and is discarded: EVENTQEN=0',
    );
    m.smmus[0]!.injectGlobalError('CMDQ_ERR');
    m.scan();
    assert.deepEqual(
      seen.filter((e) => e.kind === 'gerror').map((e) => e.name),
      ['CMDQ_ERR'],
    );
  });

  it('a restored snapshot is the same machine with the same future', () => {
    const a = Machine.create('m-5', cfg);
    a.writeRegister(0, { register: 'CR0' }, CR0.build({ CMDQEN: 1 })[0]!);
    a.writeMemory(0x20_0000, new Uint8Array([7]));
    const b = Machine.restore('m-6', JSON.parse(JSON.stringify(a.snapshot())));
    assert.equal(b.time, a.time);
    a.advance(5_000);
    b.advance(5_000);
    assert.equal(b.readRegister(0, { register: 'CR0ACK' }).value, a.readRegister(0, { register: 'CR0ACK' }).value);
    assert.deepEqual([...b.readMemory(0x20_0000, 1)], [7]);
  });
});
