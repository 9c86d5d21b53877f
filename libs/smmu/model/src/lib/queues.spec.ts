// SPDX-License-Identifier: Apache-2.0
// Command queue consumer and event queue producer rules (IHI0070 3.5, chapter 4, 7.2; domain
// notes 1.6 and 5): CMD_SYNC completion signals, CERROR codes, wrap, overflow, drops while
// disabled, queue interrupts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bringUp, build, cd, cmd, CR0, drainEvents, eventName, fixture, HOLE_BASE, PageTables, runCmdq, ste, submit } from '../testing/fixture';
import type { InterruptEvent } from './types';

describe('CMD_SYNC completion (IHI0070 4.7.3; domain notes 5 "CMD_SYNC in Linux")', () => {
  it('CS=IRQ with an MSI address writes MSIData as a 32-bit store: Linux polls its own CMD_SYNC slot', () => {
    const f = fixture();
    const q = bringUp(f);
    const slot = q.cmdq + f.field('CMDQ_PROD', 'WR') * 16;
    // Linux MSI-poll mode: dw0 0x0FC01046 with MSIData 0, MSIAddress = the slot itself.
    const sync = cmd.sync('IRQ', slot, 0);
    assert.equal(sync[0]! & 0xffffffffn, 0x0fc01046n, 'Linux encodes CMD_SYNC MSI as 0x0FC01046');
    submit(f, q, [sync]);
    assert.equal(f.read64(slot) & 0xffffffffn, 0n, 'the first 32-bit word of the slot reads 0');
    assert.equal(f.read64(slot) >> 32n, 0n);
    assert.equal(f.memory.lastWriteAt(slot)?.writer.kind, 'smmu');
  });

  it('CS=SEV signals an event; CS=IRQ without an address raises the wired sync interrupt', () => {
    const f = fixture();
    const q = bringUp(f);
    const seen: InterruptEvent[] = [];
    f.smmu.onInterrupt((e) => seen.push(e));
    submit(f, q, [cmd.sync('SEV'), cmd.sync('IRQ')]);
    assert.deepEqual(
      seen.map((e) => `${e.source}:${e.kind}`),
      ['CMD_SYNC:sev', 'CMD_SYNC:wired'],
    );
  });

  it('without IDR0.MSI the MSI address is ignored and the wired line is used', () => {
    const f = fixture({ msi: false });
    const q = bringUp(f);
    const slot = q.cmdq;
    const seen: string[] = [];
    f.smmu.onInterrupt((e) => seen.push(e.kind));
    submit(f, q, [cmd.sync('IRQ', slot, 0)]);
    assert.notEqual(f.read64(slot) & 0xffffffffn, 0n, 'no memory write');
    assert.deepEqual(seen, ['wired']);
  });

  it('an MSI write that aborts raises GERROR.MSI_CMDQ_ABT_ERR', () => {
    const f = fixture();
    const q = bringUp(f);
    submit(f, q, [cmd.sync('IRQ', HOLE_BASE + 0x100, 1)]);
    assert.equal(f.field('GERROR', 'MSI_CMDQ_ABT_ERR'), 1);
  });

  it('CS=3 is CERROR_ILL', () => {
    const f = fixture();
    const q = bringUp(f);
    const bad = cmd.sync();
    bad[0] = bad[0]! | (3n << 12n);
    submit(f, q, [bad]);
    assert.equal(f.field('CMDQ_CONS', 'ERR'), 1);
  });
});

describe('command errors (IHI0070 4.1.3; domain notes 5 "Error codes")', () => {
  it('commands the implementation lacks are CERROR_ILL: TLBI_EL2_ALL without Hyp, ATC_INV without ATS, S2 TLBIs without S2P', () => {
    for (const [config, opcode] of [
      [{ hyp: false }, 0x20],
      [{ ats: false }, 0x40],
      [{ stage2: false }, 0x28],
      [{}, 0x18], // TLBI_EL3_ALL on the Non-secure queue
      [{}, 0x50], // Secure-only
      [{}, 0x70], // DPTI_ALL without IDR3.DPT
    ] as const) {
      const f = fixture(config);
      const q = bringUp(f);
      submit(f, q, [[BigInt(opcode), 0n]]);
      assert.equal(f.field('CMDQ_CONS', 'ERR'), 1, `opcode 0x${opcode.toString(16)}`);
      assert.equal(f.field('GERROR', 'CMDQ_ERR'), 1);
    }
  });

  it('SSec=1 on the Non-secure queue is CERROR_ILL', () => {
    const f = fixture();
    const q = bringUp(f);
    const c = cmd.cfgiSte(1);
    c[0] = c[0]! | (1n << 10n);
    submit(f, q, [c]);
    assert.equal(f.field('CMDQ_CONS', 'ERR'), 1);
  });

  it('a range TLBI with TG!=0 and NUM=SCALE=TTL=0 is CERROR_ILL', () => {
    const f = fixture();
    const q = bringUp(f);
    const c = cmd.tlbiNhVa(1, 0x1000);
    c[1] = c[1]! | (1n << 10n); // TG=4K
    submit(f, q, [c]);
    assert.equal(f.field('CMDQ_CONS', 'ERR'), 1);
  });

  it('a command queue in an unbacked hole gives CERROR_ABT; acknowledging retries the fetch', () => {
    const f = fixture({ ackDelayNs: 0 });
    f.w('CMDQ_BASE', BigInt(HOLE_BASE) | 4n);
    f.w('CMDQ_PROD', 1);
    f.w('CMDQ_CONS', 0);
    f.w('CR0', CR0.CMDQEN);
    f.clock.advance(1000);
    assert.equal(f.field('CMDQ_CONS', 'ERR'), 2, 'CERROR_ABT');
    assert.equal(f.field('CMDQ_CONS', 'RD'), 0);
    f.w('GERRORN', f.reg('GERROR'));
    f.clock.advance(1000);
    assert.equal(f.field('GERROR', 'CMDQ_ERR') ^ f.field('GERRORN', 'CMDQ_ERR'), 1, 'the retried fetch aborts again');
  });

  it('an ATC that never answers turns the next CMD_SYNC into CERROR_ATC_INV_SYNC', () => {
    const f = fixture();
    const q = bringUp(f);
    f.smmu.onAtcInvalidate(() => false);
    submit(f, q, [build_atc(5), cmd.sync()]);
    assert.equal(f.field('CMDQ_CONS', 'ERR'), 3);
    assert.equal(f.field('CMDQ_CONS', 'RD'), 1, 'CONS stays on the CMD_SYNC');
  });
});

function build_atc(sid: number): bigint[] {
  // ATC_INV opcode 0x40, StreamID dw0[63:32], Size dw1[5:0] = 52 (everything).
  return [0x40n | (BigInt(sid) << 32n), 52n];
}

describe('queue indices and wrap (IHI0070 3.5.1; domain notes 1.6)', () => {
  it('a 4-entry command queue wraps and toggles the wrap bit', () => {
    const f = fixture();
    const q = bringUp(f, { cmdqLog2: 2 });
    for (let round = 0; round < 3; round++) submit(f, q, [cmd.sync(), cmd.sync(), cmd.sync()]);
    // 9 commands: index 9 mod 8 (index 1, wrap bit set).
    assert.equal(f.field('CMDQ_CONS', 'RD'), 9 % 8);
    assert.equal(f.smmu.counters.syncs, 9);
  });

  it('commands are not consumed while CMDQEN=0, and are once it is acknowledged', () => {
    const f = fixture();
    const q = bringUp(f);
    f.cr0(CR0.EVENTQEN | CR0.SMMUEN);
    submit(f, q, [cmd.sync()], { run: false });
    f.clock.advance(100_000);
    assert.equal(f.field('CMDQ_CONS', 'RD'), 0);
    f.cr0(CR0.EVENTQEN | CR0.SMMUEN | CR0.CMDQEN);
    runCmdq(f);
    assert.equal(f.field('CMDQ_CONS', 'RD'), 1);
  });

  it('each command costs virtual time: CONS advances one entry per cmdNs', () => {
    const f = fixture({ cmdNs: 50, cmdqLatencyNs: 100 });
    const q = bringUp(f);
    const t0 = f.clock.now();
    submit(f, q, [cmd.sync(), cmd.sync(), cmd.sync(), cmd.sync()]);
    assert.equal(f.clock.now() - t0, 100 + 3 * 50);
  });
});

describe('event queue (IHI0070 3.5.4, 7.2; domain notes 1.6)', () => {
  const badSte = (f: ReturnType<typeof fixture>, q: ReturnType<typeof bringUp>, sid: number) => {
    f.writeWords(q.strtab + 64 * sid, [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]); // V=0
  };

  it('a faulting transaction writes a record and advances PROD; the interrupt fires on empty to non-empty', () => {
    const f = fixture();
    const q = bringUp(f);
    f.irqCtrl(0b100);
    const seen: string[] = [];
    f.smmu.onInterrupt((e) => seen.push(`${e.source}:${e.kind}`));
    badSte(f, q, 7);
    const r1 = f.smmu.translate({ sid: 7, address: 0x1000, size: 4, write: false });
    const r2 = f.smmu.translate({ sid: 7, address: 0x2000, size: 4, write: false });
    assert.equal(r1.event, 'C_BAD_STE');
    assert.equal(r1.recorded, true);
    assert.equal(r2.recorded, true);
    assert.deepEqual(seen, ['EVENTQ:wired'], 'one interrupt for the empty->non-empty edge');
    const recs = drainEvents(f, q);
    assert.deepEqual(recs.map(eventName), ['C_BAD_STE', 'C_BAD_STE']);
    assert.equal(recs[0]![0]! >> 32n, 7n, 'StreamID in dw0[63:32]');
  });

  it('records are dropped and counted, with no GERROR, while EVENTQEN=0', () => {
    const f = fixture();
    const q = bringUp(f, { eventq: false });
    badSte(f, q, 3);
    const r = f.smmu.translate({ sid: 3, address: 0, size: 4, write: true });
    assert.equal(r.recorded, false);
    assert.equal(f.smmu.counters.eventsDroppedDisabled, 1);
    assert.equal(f.reg('GERROR'), 0n);
    assert.equal(f.field('EVENTQ_PROD', 'OVFLG'), 0, 'discards while disabled are not overflow');
  });

  it('a full queue discards and toggles OVFLG once until software acknowledges it in CONS.OVACKFLG', () => {
    const f = fixture();
    const q = bringUp(f, { eventqLog2: 1 }); // two entries
    badSte(f, q, 9);
    for (let i = 0; i < 2; i++) assert.equal(f.smmu.translate({ sid: 9, address: i, size: 1, write: false }).recorded, true);
    assert.equal(f.smmu.translate({ sid: 9, address: 2, size: 1, write: false }).recorded, false);
    assert.equal(f.field('EVENTQ_PROD', 'OVFLG'), 1);
    f.smmu.translate({ sid: 9, address: 3, size: 1, write: false });
    assert.equal(f.field('EVENTQ_PROD', 'OVFLG'), 1, 'not toggled again while unacknowledged');
    assert.equal(f.smmu.counters.eventsDroppedOverflow, 2);
    drainEvents(f, q); // writes CONS with OVACKFLG = OVFLG
    assert.equal(f.field('EVENTQ_CONS', 'OVACKFLG'), 1);
    for (let i = 0; i < 3; i++) f.smmu.translate({ sid: 9, address: i, size: 1, write: false });
    assert.equal(f.field('EVENTQ_PROD', 'OVFLG'), 0, 'a new overflow toggles it back');
  });

  it('an event queue in a hole raises EVENTQ_ABT_ERR and further records are lost', () => {
    const f = fixture({ ackDelayNs: 0 });
    const q = bringUp(f, { eventq: false });
    f.w('EVENTQ_BASE', BigInt(HOLE_BASE) | 3n);
    f.cr0(CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN);
    badSte(f, q, 1);
    assert.equal(f.smmu.translate({ sid: 1, address: 0, size: 4, write: false }).recorded, false);
    assert.equal(f.field('GERROR', 'EVENTQ_ABT_ERR'), 1);
    f.smmu.translate({ sid: 1, address: 0, size: 4, write: false });
    assert.equal(f.smmu.counters.eventsDroppedAbort, 2);
  });

  it('the event queue MSI goes to EVENTQ_IRQ_CFG0 with CFG1 data', () => {
    const f = fixture();
    const q = bringUp(f);
    f.w('EVENTQ_IRQ_CFG0', 0x0801_0040);
    f.w('EVENTQ_IRQ_CFG1', 0x1234);
    f.irqCtrl(0b100);
    const seen: InterruptEvent[] = [];
    f.smmu.onInterrupt((e) => seen.push(e));
    badSte(f, q, 2);
    f.smmu.translate({ sid: 2, address: 0, size: 4, write: false });
    assert.deepEqual(
      seen.map((e) => [e.source, e.kind, e.address, e.data]),
      [['EVENTQ', 'msi', 0x0801_0040, 0x1234]],
    );
  });
});

describe('RESUME outcomes (IHI0070 4.6.2)', () => {
  /** A stalled read on SID 8 (CD.S=1), its STAG, and the resolutions seen. */
  function stalled(config = {}) {
    const f = fixture(config);
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    const cdAddr = f.alloc(64, 64);
    f.writeWords(cdAddr, cd(pt, 3, { S: 1 }));
    f.writeWords(q.strtab + 64 * 8, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(cdAddr), S1STALLD: 0 }));
    const r = f.smmu.translate({ sid: 8, address: 0x2000, size: 4, write: false });
    assert.equal(r.outcome, 'stalled');
    const seen: string[] = [];
    f.smmu.onStallResolved((s) => seen.push(`${s.how}:${s.result.outcome}`));
    return { f, q, stag: r.stag!, seen };
  }
  const resume = (sid: number, stag: number, ac: number, ab: number) => build('cmd-RESUME', { StreamID: sid, STAG: stag, Ac: ac, Ab: ab });

  it('Ac=0, Ab=0 terminates with RAZ/WI when TERM_MODEL=0; Ab=1 aborts', () => {
    const a = stalled();
    submit(a.f, a.q, [resume(8, a.stag, 0, 0), cmd.sync()]);
    assert.deepEqual(a.seen, ['terminate:raz-wi']);
    const b = stalled();
    submit(b.f, b.q, [resume(8, b.stag, 0, 1), cmd.sync()]);
    assert.deepEqual(b.seen, ['abort:aborted']);
  });

  it('TERM_MODEL=1 always aborts a terminated stall', () => {
    const a = stalled({ termModel: 1 });
    submit(a.f, a.q, [resume(8, a.stag, 0, 0), cmd.sync()]);
    assert.deepEqual(a.seen, ['abort:aborted']);
  });

  it('a RESUME for another StreamID or STAG is a no-op; the stall stays until a matching one', () => {
    const a = stalled();
    submit(a.f, a.q, [resume(9, a.stag, 1, 0), resume(8, a.stag + 1, 1, 0), cmd.sync()]);
    assert.deepEqual(a.seen, []);
    submit(a.f, a.q, [resume(8, a.stag, 1, 0), cmd.sync()]);
    assert.deepEqual(a.seen, ['retry:stalled'], 'retried afresh: the page is still unmapped, so it stalls again');
  });

  it('STALL_MODEL=1 makes RESUME and STALL_TERM CERROR_ILL', () => {
    for (const c of [resume(8, 1, 1, 0), build('cmd-STALL_TERM', { StreamID: 8 })]) {
      const f = fixture({ stallModel: 1 });
      const q = bringUp(f);
      submit(f, q, [c]);
      assert.equal(f.field('CMDQ_CONS', 'ERR'), 1);
    }
  });
});
