// SPDX-License-Identifier: Apache-2.0
// One test per register-file rule: reset and IDRs, CR0/CR0ACK and IRQ_CTRL acks, guarded
// writes, the GBPA update protocol, GERROR/GERRORN toggles, SFM, access sizes and pages.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findRegister } from '@kdump-twin/smmu-arch';
import { bringUp, cmd, CR0, fixture, submit } from '../testing/fixture';

describe('ID registers from the configuration (IHI0070 6.3.1-6.3.6)', () => {
  it('defaults describe a v3.2 server SMMU: 2-level, coherent, ATS/PRI, both stages, 16-bit SID', () => {
    const f = fixture();
    // IDR0 by hand: S2P|S1P|TTF=2<<2|COHACC<<4|HTTU=2<<6|Hyp<<9|ATS<<10|ASID16<<12|MSI<<13|SEV<<14|
    // PRI<<16|VMID16<<18|CD2L<<19|TTENDIAN=2<<21|ST_LEVEL=1<<27
    const idr0 =
      0x1 |
      0x2 |
      (2 << 2) |
      (1 << 4) |
      (2 << 6) |
      (1 << 9) |
      (1 << 10) |
      (1 << 12) |
      (1 << 13) |
      (1 << 14) |
      (1 << 16) |
      (1 << 18) |
      (1 << 19) |
      (2 << 21) |
      (1 << 27);
    assert.equal(f.reg('IDR0'), BigInt(idr0));
    // IDR1: SIDSIZE 16 | SSIDSIZE 20<<6 | PRIQS 19<<11 | EVENTQS 19<<16 | CMDQS 19<<21 | ATTR_PERMS_OVR<<26 | ATTR_TYPES_OVR<<27
    assert.equal(f.reg('IDR1'), BigInt(16 | (20 << 6) | (19 << 11) | (19 << 16) | (19 << 21) | (1 << 26) | (1 << 27)));
    // IDR5: OAS=48 bits (5) | GRAN4K<<4 | GRAN16K<<5 | GRAN64K<<6 | STALL_MAX 128<<16
    assert.equal(f.reg('IDR5'), BigInt(5 | (1 << 4) | (1 << 5) | (1 << 6) | (128 << 16)));
    assert.equal(f.reg('AIDR'), 2n);
    assert.equal(f.reg('IIDR'), BigInt(0x43b | (0x487 << 20)));
  });

  it('a linear-only SMMU with 6 SID bits and no stage 2', () => {
    const f = fixture({ sidBits: 6, twoLevelStrtab: false, stage2: false, ats: false, pri: false, oasBits: 44 });
    assert.equal(f.field('IDR0', 'ST_LEVEL'), 0);
    assert.equal(f.field('IDR0', 'S2P'), 0);
    assert.equal(f.field('IDR1', 'SIDSIZE'), 6);
    assert.equal(f.field('IDR5', 'OAS'), 4);
  });

  it('PRIQS is RES0 without PRI (IHI0070 6.3.2), whatever priqLog2Max says', () => {
    assert.equal(fixture({ pri: false }).field('IDR1', 'PRIQS'), 0);
    assert.equal(fixture({ pri: true, priqLog2Max: 12 }).field('IDR1', 'PRIQS'), 12);
  });

  it("idFields: an implementation's fields the behaviour does not depend on (QEMU 10's IIDR, BBML, STALL_MAX)", () => {
    const f = fixture({ archMinor: 1, productId: 0, idFields: { IIDR: { Implementer: 0 }, IDR3: { BBML: 2 }, IDR5: { STALL_MAX: 0 } } });
    assert.equal(f.reg('IIDR'), 0n);
    assert.equal(f.field('IDR3', 'BBML'), 2);
    assert.equal(f.field('IDR5', 'STALL_MAX'), 0);
    assert.equal(f.field('IDR5', 'OAS'), 5, 'the rest as configured');
  });

  it('idFields refuses an unknown register or field, a value too wide, and a field a key owns', () => {
    assert.throws(() => fixture({ idFields: { IDR9: { X: 1 } } as never }), /idFields\.IDR9: not an ID register/);
    assert.throws(() => fixture({ idFields: { IDR3: { BBMX: 1 } } }), /idFields\.IDR3\.BBMX: SMMU_IDR3 has no field BBMX/);
    assert.throws(() => fixture({ idFields: { IDR3: { BBML: 4 } } }), /idFields\.IDR3\.BBML: an integer 0\.\.3 \(2 bits\)/);
    assert.throws(() => fixture({ idFields: { IDR0: { MSI: 0 } } }), /idFields\.IDR0\.MSI: set by the key msi, not here/);
  });

  it('a bad configuration names the field and the rule', () => {
    assert.throws(() => fixture({ sidBits: 16, twoLevelStrtab: false }), /twoLevelStrtab: .*SIDSIZE >= 7/);
    assert.throws(() => fixture({ oasBits: 47 }), /oasBits/);
  });

  it('ID registers are read-only: a write is ignored and recorded', () => {
    const f = fixture();
    const before = f.reg('IDR0');
    const r = f.w('IDR0', 0);
    assert.equal(r.result, 'ignored-read-only');
    assert.equal(f.reg('IDR0'), before);
    assert.match(f.smmu.violations().at(-1)!.rule, /read-only/);
  });
});

describe('CR0/CR0ACK handshake (IHI0070 6.3.9; domain notes 1.3)', () => {
  it('CR0 reads back at once; CR0ACK follows after the ack delay', () => {
    const f = fixture({ ackDelayNs: 500 });
    f.w('CR0', CR0.CMDQEN);
    assert.equal(f.reg('CR0'), BigInt(CR0.CMDQEN));
    assert.equal(f.reg('CR0ACK'), 0n);
    f.clock.advance(499);
    assert.equal(f.reg('CR0ACK'), 0n);
    f.clock.advance(1);
    assert.equal(f.reg('CR0ACK'), BigInt(CR0.CMDQEN));
  });

  it('ackDelayNs=0 acknowledges synchronously, as QEMU does', () => {
    const f = fixture({ ackDelayNs: 0 });
    f.w('CR0', CR0.CMDQEN | CR0.EVENTQEN);
    assert.equal(f.reg('CR0ACK'), BigInt(CR0.CMDQEN | CR0.EVENTQEN));
  });

  it('rewriting a field whose update is in flight is ignored (v3.2+) and recorded; other fields proceed', () => {
    const f = fixture({ ackDelayNs: 1000 });
    f.w('CR0', CR0.CMDQEN);
    f.clock.advance(10);
    const r = f.w('CR0', CR0.EVENTQEN); // drops CMDQEN while its 0->1 is in flight, adds EVENTQEN
    assert.equal(r.result, 'ignored-guard');
    assert.equal(f.reg('CR0'), BigInt(CR0.CMDQEN | CR0.EVENTQEN), 'CMDQEN keeps the in-flight value');
    f.clock.advance(2000);
    assert.equal(f.reg('CR0ACK'), BigInt(CR0.CMDQEN | CR0.EVENTQEN));
    assert.match(f.smmu.violations().at(-1)!.rule, /in flight/);
  });

  it('rewriting the same value while in flight is allowed', () => {
    const f = fixture({ ackDelayNs: 1000 });
    f.w('CR0', CR0.CMDQEN);
    const r = f.w('CR0', CR0.CMDQEN);
    assert.equal(r.result, 'ok');
    assert.equal(f.smmu.violations().length, 0);
  });

  it('fields of absent features are RES0 (ATSCHK without IDR0.ATS)', () => {
    const f = fixture({ ats: false, ackDelayNs: 0 });
    f.w('CR0', CR0.ATSCHK | CR0.CMDQEN);
    assert.equal(f.reg('CR0'), BigInt(CR0.CMDQEN));
  });

  it('CR0.VMW is RES0 unless IDR0.VMW; with it, the field is stored and acknowledged', () => {
    const VMW = 0b010 << 6; // VMW = 0b010: match VMID[15:1] (IHI0070 6.3.9)
    const off = fixture({ ackDelayNs: 0 });
    assert.equal(off.field('IDR0', 'VMW'), 0);
    off.w('CR0', VMW | CR0.CMDQEN);
    assert.equal(off.reg('CR0'), BigInt(CR0.CMDQEN));
    assert.equal(off.reg('CR0ACK'), BigInt(CR0.CMDQEN));
    const on = fixture({ vmw: true, ackDelayNs: 0 });
    assert.equal(on.field('IDR0', 'VMW'), 1);
    on.w('CR0', VMW | CR0.CMDQEN);
    assert.equal(on.reg('CR0'), BigInt(VMW | CR0.CMDQEN));
    assert.equal(on.reg('CR0ACK'), BigInt(VMW | CR0.CMDQEN));
    on.w('CR0', CR0.CMDQEN);
    assert.equal(on.reg('CR0ACK'), BigInt(CR0.CMDQEN), 'and cleared again');
  });

  it('IRQ_CTRL/IRQ_CTRLACK handshake the same way', () => {
    const f = fixture({ ackDelayNs: 300 });
    f.w('IRQ_CTRL', 0b101);
    assert.equal(f.reg('IRQ_CTRLACK'), 0n);
    f.clock.advance(300);
    assert.equal(f.reg('IRQ_CTRLACK'), 5n);
  });
});

describe('guarded writes (IHI0070 6.2: ignored from v3.2, recorded as violations)', () => {
  it('STRTAB_BASE is read-only while SMMUEN or its ACK is 1', () => {
    const f = fixture();
    const q = bringUp(f);
    const before = f.reg('STRTAB_BASE');
    const r = f.w('STRTAB_BASE', 0x9000_0000);
    assert.equal(r.result, 'ignored-guard');
    assert.equal(f.reg('STRTAB_BASE'), before);
    const v = f.smmu.violations().at(-1)!;
    assert.equal(v.register, 'STRTAB_BASE');
    assert.equal(v.attempted, 0x9000_0000n);
    assert.match(v.rule, /CR0\.SMMUEN==0 and CR0ACK\.SMMUEN==0/);
    assert.equal(v.time, f.clock.now());
    void q;
  });

  it('the guard holds from the CR0 write, before the ack completes ("X == 0 and XACK == 0")', () => {
    const f = fixture({ ackDelayNs: 1000 });
    f.w('CMDQ_BASE', 0x8010_0000n | 8n);
    f.w('CR0', CR0.CMDQEN);
    const r = f.w('CMDQ_BASE', 0x8020_0000n | 8n);
    assert.equal(r.result, 'ignored-guard');
    assert.equal(f.reg('CMDQ_BASE'), 0x8010_0000n | 8n);
  });

  it('CR1 guards its TABLE_* fields by SMMUEN and QUEUE_* by the queue enables, separately', () => {
    const f = fixture({ ackDelayNs: 0 });
    f.w('CR1', 0xd75);
    f.w('CR0', CR0.SMMUEN); // queues still off
    const r = f.w('CR1', 0x000); // tries to clear both groups
    assert.equal(r.result, 'ignored-guard');
    assert.equal(f.reg('CR1'), 0xd40n, 'QUEUE_* (bits 5:0) changed, TABLE_* (bits 11:6) kept');
  });

  it('EVENTQ_PROD is guarded by EVENTQEN; EVENTQ_CONS is always writable', () => {
    const f = fixture();
    bringUp(f);
    assert.equal(f.w('EVENTQ_PROD', 5).result, 'ignored-guard');
    assert.equal(f.w('EVENTQ_CONS', 0).result, 'ok');
  });

  it('SMMUv3.1 and earlier let a guarded write through, still recorded', () => {
    const f = fixture({ archMinor: 1, ril: false });
    bringUp(f);
    const r = f.w('STRTAB_BASE', 0x9000_0000);
    assert.equal(r.result, 'ok');
    assert.equal(f.reg('STRTAB_BASE'), 0x9000_0000n);
    assert.equal(f.smmu.violations().length, 1);
  });
});

describe('GBPA update protocol (IHI0070 6.3.14; domain notes 1.4)', () => {
  it('resets to 0x1000 (bypass, SHCFG use-incoming) and bypasses while SMMUEN=0', () => {
    const f = fixture();
    assert.equal(f.reg('GBPA'), 0x1000n);
    const r = f.smmu.translate({ sid: 3, address: 0x8000_1000, size: 64, write: true });
    assert.equal(r.outcome, 'bypassed');
    assert.equal(r.pa, 0x8000_1000);
  });

  it('a write with Update=1 reads back at once and completes after the delay; ABORT then applies', () => {
    const f = fixture({ gbpaDelayNs: 400 });
    f.w('GBPA', (1 << 31) | (1 << 20) | 0x1000);
    assert.equal(f.reg('GBPA'), BigInt((1 << 31) | (1 << 20) | 0x1000) & 0xffffffffn);
    // Not yet complete: new transactions still see the old attributes.
    assert.equal(f.smmu.translate({ sid: 0, address: 0x8000_0000, size: 4, write: false }).outcome, 'bypassed');
    f.clock.advance(400);
    assert.equal(f.field('GBPA', 'Update'), 0);
    assert.equal(f.field('GBPA', 'ABORT'), 1);
    const r = f.smmu.translate({ sid: 0, address: 0x8000_0000, size: 4, write: false });
    assert.equal(r.outcome, 'aborted');
    assert.equal(r.event, undefined, 'GBPA aborts record no event');
  });

  it('a write while Update==1 is ignored and the first update completes', () => {
    const f = fixture({ gbpaDelayNs: 400 });
    f.w('GBPA', (1 << 31) | (1 << 20));
    const r = f.w('GBPA', 1 << 31);
    assert.equal(r.result, 'ignored-guard');
    f.clock.advance(400);
    assert.equal(f.field('GBPA', 'ABORT'), 1);
  });

  it('a write without Update is ignored from v3.2', () => {
    const f = fixture();
    const r = f.w('GBPA', 1 << 20);
    assert.equal(r.result, 'ignored-guard');
    assert.equal(f.reg('GBPA'), 0x1000n);
    assert.match(f.smmu.violations()[0]!.rule, /without Update/);
  });
});

describe('GERROR/GERRORN (IHI0070 6.3.19-20; domain notes 1.5)', () => {
  it('an illegal command activates CMDQ_ERR by toggling GERROR; a second error is not recorded until acknowledged', () => {
    const f = fixture();
    const q = bringUp(f);
    submit(f, q, [[0xffn, 0n]]); // reserved opcode
    assert.equal(f.field('GERROR', 'CMDQ_ERR'), 1);
    assert.equal(f.field('CMDQ_CONS', 'ERR'), 1, 'CERROR_ILL');
    const cons = f.field('CMDQ_CONS', 'RD');
    // No progress while active, even with more commands.
    submit(f, q, [cmd.sync()]);
    assert.equal(f.field('CMDQ_CONS', 'RD'), cons);
    // Linux: replace the bad command with a CMD_SYNC and acknowledge by writing GERROR to GERRORN.
    f.writeWords(q.cmdq + cons * 16, cmd.sync());
    f.w('GERRORN', f.reg('GERROR'));
    f.clock.advance(10_000);
    assert.equal(f.field('CMDQ_CONS', 'RD'), f.field('CMDQ_PROD', 'WR'), 'consumption restarts at CONS with no PROD write');
    // A new error toggles GERROR back to 0: active is GERROR ^ GERRORN.
    submit(f, q, [[0xffn, 0n]]);
    assert.equal(f.field('GERROR', 'CMDQ_ERR'), 0);
    assert.equal(f.field('GERRORN', 'CMDQ_ERR'), 1);
  });

  it('toggling GERRORN for an inactive error is ignored and recorded', () => {
    const f = fixture();
    const r = f.w('GERRORN', 1);
    assert.equal(r.result, 'ignored-guard');
    assert.equal(f.reg('GERRORN'), 0n);
  });

  it('activation raises the GERROR interrupt when GERROR_IRQEN is acknowledged: MSI to the doorbell', () => {
    const f = fixture();
    const q = bringUp(f);
    const irqs: string[] = [];
    f.smmu.onInterrupt((e) => irqs.push(`${e.source}:${e.kind}:${e.data ?? ''}`));
    f.w('GERROR_IRQ_CFG0', 0x0801_0040);
    f.w('GERROR_IRQ_CFG1', 77);
    f.irqCtrl(1);
    submit(f, q, [[0xffn, 0n]]);
    assert.deepEqual(irqs, ['GERROR:msi:77']);
  });

  it('SFM is injectable, visible in GERROR.SFM_ERR, and stops traffic, commands and events', () => {
    const f = fixture();
    const q = bringUp(f);
    f.smmu.injectServiceFailure();
    assert.equal(f.field('GERROR', 'SFM_ERR'), 1);
    assert.equal(f.smmu.translate({ sid: 1, address: 0x1000, size: 4, write: false }).path, 'sfm');
    const cons = f.field('CMDQ_CONS', 'RD');
    submit(f, q, [cmd.sync()]);
    assert.equal(f.field('CMDQ_CONS', 'RD'), cons);
    // Acknowledging SFM_ERR does not leave SFM.
    f.w('GERRORN', f.reg('GERROR'));
    assert.equal(f.smmu.inServiceFailureMode(), true);
  });
});

describe('MMIO access rules (IHI0070 6.2)', () => {
  it('64-bit registers can be written as two 32-bit halves', () => {
    const f = fixture();
    const off = findRegister('STRTAB_BASE')!.absoluteOffset;
    f.smmu.mmioWrite(off, 4, 0x8010_0000n);
    f.smmu.mmioWrite(off + 4, 4, 0x4000_0000n);
    assert.equal(f.reg('STRTAB_BASE'), 0x4000_0000_8010_0000n);
    assert.equal(f.smmu.mmioRead(off + 4, 4).value, 0x4000_0000n);
  });

  it('unaligned and 64-bit-to-32-bit accesses abort; reserved offsets are RAZ/WI', () => {
    const f = fixture();
    assert.equal(f.smmu.mmioRead(0x22, 4).result, 'abort');
    assert.equal(f.smmu.mmioRead(findRegister('CR0')!.absoluteOffset, 8).result, 'abort');
    assert.deepEqual(f.smmu.mmioRead(0x1f0, 4), { value: 0n, result: 'raz-wi' });
    assert.equal(f.smmu.mmioWrite(0x1f0, 4, 5n).result, 'raz-wi');
  });

  it('page 1 holds EVENTQ_PROD/CONS (base + 64KiB)', () => {
    const f = fixture();
    assert.equal(findRegister('EVENTQ_CONS')!.absoluteOffset, 0x100ac);
    f.smmu.mmioWrite(0x100ac, 4, 3n);
    assert.equal(f.smmu.mmioRead(0x100ac, 4).value, 3n);
  });
});

describe('more guarded registers (IHI0070 6.3.18-6.3.23, 6.3.12, 6.3.27; domain notes 1.1)', () => {
  it('*_IRQ_CFG0/1/2 are read-only while their IRQ_CTRL enable or its ACK is 1, each guarded by its own enable', () => {
    const f = fixture({ ackDelayNs: 1000 });
    f.w('IRQ_CTRL', 0b001); // GERROR_IRQEN, ack still in flight
    for (const r of ['GERROR_IRQ_CFG0', 'GERROR_IRQ_CFG1', 'GERROR_IRQ_CFG2']) {
      const res = f.w(r, 0x8000_0040);
      assert.equal(res.result, 'ignored-guard', r);
      assert.match(res.rule!, /IRQ_CTRL\.GERROR_IRQEN==0 and IRQ_CTRLACK\.GERROR_IRQEN==0/);
      assert.equal(f.reg(r), 0n);
    }
    assert.equal(f.w('EVENTQ_IRQ_CFG1', 0x1234).result, 'ok', 'the event queue enable is still 0');
    assert.equal(f.reg('EVENTQ_IRQ_CFG1'), 0x1234n);
    f.clock.advance(1000);
    f.w('IRQ_CTRL', 0b101);
    f.clock.advance(1000);
    assert.equal(f.w('EVENTQ_IRQ_CFG0', 0x8000_0080).result, 'ignored-guard');
    assert.equal(f.w('PRIQ_IRQ_CFG2', 1).result, 'ok');
    f.w('IRQ_CTRL', 0b111);
    assert.equal(f.w('PRIQ_IRQ_CFG2', 0).result, 'ignored-guard', 'from the IRQ_CTRL write on');
  });

  it('CR2 is read-only while SMMUEN or its ACK is 1', () => {
    const f = fixture();
    bringUp(f);
    const before = f.reg('CR2');
    const r = f.w('CR2', 0);
    assert.equal(r.result, 'ignored-guard');
    assert.match(r.rule!, /CR0\.SMMUEN==0 and CR0ACK\.SMMUEN==0/);
    assert.equal(f.reg('CR2'), before);
  });

  it('CMDQ_CONS is read-only while CMDQEN or its ACK is 1; CMDQ_PROD stays writable', () => {
    const f = fixture();
    bringUp(f);
    assert.equal(f.w('CMDQ_CONS', 5).result, 'ignored-guard');
    assert.equal(f.field('CMDQ_CONS', 'RD'), 0);
    assert.equal(f.w('CMDQ_PROD', 0).result, 'ok');
  });

  it('PRIQ_BASE and PRIQ_PROD are guarded by CR0.PRIQEN (from the write, before the ack); PRIQ_CONS is always writable', () => {
    const f = fixture({ ackDelayNs: 1000 });
    assert.equal(f.w('PRIQ_BASE', 0x8010_0000n | 4n).result, 'ok');
    f.w('CR0', CR0.PRIQEN);
    for (const r of ['PRIQ_BASE', 'PRIQ_PROD'] as const) {
      const res = f.w(r, 0);
      assert.equal(res.result, 'ignored-guard', r);
      assert.match(res.rule!, /CR0\.PRIQEN==0 and CR0ACK\.PRIQEN==0/);
    }
    assert.equal(f.reg('PRIQ_BASE'), 0x8010_0000n | 4n);
    assert.equal(f.w('PRIQ_CONS', 3).result, 'ok');
    assert.equal(f.field('PRIQ_CONS', 'RD'), 3);
  });
});
