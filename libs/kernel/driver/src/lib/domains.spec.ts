// SPDX-License-Identifier: Apache-2.0
// The primary kernel's command, interrupt and domain paths on the hardware twin: CMD_SYNC by
// SEV polling when MSI polling is off, event queue draining and GERROR recovery through the
// interrupts the model raises, 2-level CD tables for PASID-capable masters, every granule
// through io-pgtable, stage-2 and nested domains, and the TLB invalidations Linux issues.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CD, findFormat, STE } from '@kdump-twin/smmu-arch';
import { OPT } from './features';
import { Machine } from './machine';

async function booted(m = new Machine(), opts: Parameters<Machine['primary']>[0] = {}) {
  const k = m.primary(opts);
  const r = await k.probeSmmu();
  assert.deepEqual(r, { ok: true });
  return { m, k };
}

describe('command submission', () => {
  it('without MSI polling (a non-coherent SMMU), CMD_SYNC uses CS=SEV and CMDQ_CONS is polled', async () => {
    const { m, k } = await booted(new Machine({ smmu: { coherent: false } }), { firmware: { coherent: false } });
    assert.equal(k.smmu.options & OPT.MSIPOLL, 0);
    const sev = m.trace.of('primary', { dir: 'read', register: 'CMDQ_CONS' });
    assert.ok(sev.length >= 3, 'each of the three reset syncs polled CONS');
    assert.equal(m.smmu.counters.syncs, 3);
  });

  it("with MSI polling, CMD_SYNC completion is the SMMU's 32-bit store into the sync slot", async () => {
    const { m, k } = await booted();
    assert.ok(k.smmu.options & OPT.MSIPOLL);
    assert.equal(m.trace.of('primary', { dir: 'read', register: 'CMDQ_CONS' }).length, 0, 'no CONS polling');
    assert.ok(m.smmu.counters.msis >= 3);
  });

  it('an illegal command: GERROR interrupt, "CMDQ error ... Illegal command", replaced by a CMD_SYNC, queue resumes', async () => {
    const { m, k } = await booted();
    const slot = k.smmu.cmdq.base + 16 * (k.smmu.cmdq.prod & (2 ** k.smmu.cmdq.shift - 1));
    const ok = await k.smmu.issueCmdlist([[0x7fn, 0n]], true);
    assert.equal(ok, true, 'the sync after the skipped command completes');
    assert.equal(k.log.grep('unexpected global error reported (0x00000001), this could be serious').length, 1);
    assert.equal(k.log.grep(/CMDQ error \(cons 0x[0-9a-f]{8}\): Illegal command/).length, 1);
    assert.equal(k.log.grep('skipping command in error state:').length, 1);
    assert.equal(k.log.grep('\t0x000000000000007f').length, 1);
    assert.equal(m.smmu.register('GERROR'), m.smmu.register('GERRORN'));
    // __arm_smmu_cmdq_skip_err rebuilds it with arm_smmu_cmdq_build_cmd: CS=SEV, MSH=ISH,
    // MSIATTR=OIWB, no MSI address (CS=NONE is only for tegra241 CMDQV's busy-polled queues).
    const sync = await k.smmu.hw.readWords(slot, 2);
    const f = findFormat('cmd-CMD_SYNC')!;
    assert.deepEqual(
      ['Opcode', 'CS', 'MSH', 'MSIAttr', 'MSIAddress'].map((n) => f.get(sync, n)),
      [0x46n, 2n, 3n, 0xfn, 0n],
    );
  });

  it("a CMD_SYNC that never completes (SFM) times out after 1 s of virtual time with Linux's message", async () => {
    const { m, k } = await booted();
    m.smmu.injectServiceFailure();
    const t0 = m.clock.now();
    const ok = await k.smmu.issueCmdWithSync('cmd-CFGI_ALL', {});
    assert.equal(ok, false);
    assert.ok(m.clock.now() - t0 >= 1_000_000_000);
    assert.equal(k.log.grep(/^CMD_SYNC timeout at 0x[0-9a-f]{8} \[hwprod 0x[0-9a-f]{8}, hwcons 0x[0-9a-f]{8}\]$/).length, 1);
    assert.equal(k.log.grep('device has entered Service Failure Mode!').length, 1, 'the GERROR interrupt taken while polling');
  });
});

describe('event queue draining (arm_smmu_evtq_thread)', () => {
  it('a translation fault is recorded, the EVTQ MSI taken, and the record printed', async () => {
    const { m, k } = await booted();
    await k.probeDevice({ name: 'nic', sids: [0x100] });
    const r = m.smmu.dma({ sid: 0x100, address: 0x1234_5000, write: true }, new Uint8Array(4));
    assert.equal(r.translations[0]!.recorded, true);
    await k.serviceInterrupts();
    assert.equal(k.log.grep('event 0x10 received:').length, 1);
    assert.equal(k.log.grep('\t0x0000010000000010').length, 1, 'dw0: StreamID 0x100, F_TRANSLATION');
    assert.equal(m.smmu.field('EVENTQ_CONS', 'RD'), m.smmu.field('EVENTQ_PROD', 'WR'));
  });

  it('queue_remove_raw writes EVENTQ_CONS after every record; PROD is read once the cached copy is drained', async () => {
    const { m, k } = await booted();
    await k.probeDevice({ name: 'nic', sids: [0x100] });
    for (let i = 0; i < 3; i++) m.smmu.dma({ sid: 0x100, address: 0x1234_5000 + i * 0x1000, write: true }, new Uint8Array(4));
    const from = m.trace.all().length;
    await k.serviceInterrupts();
    const acc = m.trace
      .all()
      .slice(from)
      .filter((a) => a.register.startsWith('EVENTQ_'))
      .map((a) => `${a.dir} ${a.register} ${a.value}${a.repeat > 1 ? ` x${a.repeat}` : ''}`);
    // First run: the cached PROD says empty, so PROD is read; three records, three CONS writes;
    // PROD again: nothing new, done (the twin raised one MSI for the three records).
    assert.deepEqual(acc, ['read EVENTQ_PROD 3', 'write EVENTQ_CONS 1', 'write EVENTQ_CONS 2', 'write EVENTQ_CONS 3', 'read EVENTQ_PROD 3']);
    assert.equal(k.log.grep(/^event 0x10 received:$/).length, 3);
  });
});

describe('interrupt lines (arm_smmu_setup_irqs, arm_smmu_setup_unique_irqs)', () => {
  const noLines = { firmware: { msiDomain: false, irqLines: [] } };

  it("no MSI domain and no wired lines: Linux's warnings in 6.12's order (evtq, gerror, priq)", async () => {
    const { k } = await booted(new Machine(), noLines);
    assert.deepEqual(
      k.log
        .all()
        .filter((l) => l.level === 'warn' || l.text.includes('msi_domain'))
        .map((l) => l.text),
      [
        'msi_domain absent - falling back to wired irqs',
        'no evtq irq - events will not be reported!',
        'no gerr irq - errors will not be reported!',
        'no priq irq - PRI will be broken',
      ],
    );
    assert.deepEqual(k.smmu.irqs, { gerror: false, evtq: false, priq: false, combined: false });
  });

  it('the series in a kdump kernel requests the gerror line only, so only its absence is reported', async () => {
    const m = new Machine();
    await m.primary().probeSmmu();
    m.crash();
    const k = m.kdump('adopt-v7', noLines);
    await k.probeSmmu();
    assert.deepEqual(
      k.log.grep(/^(no \w+ irq|failed to enable)/).map((l) => l.text),
      ['no gerr irq - errors will not be reported!'],
    );
  });

  it('a failed request: "failed to enable ... irq", the handler is not registered', async () => {
    const { k } = await booted(new Machine(), { failIrqRequest: ['gerror', 'priq'] });
    assert.deepEqual(
      k.log.grep(/^failed to enable/).map((l) => l.text),
      ['failed to enable gerror irq', 'failed to enable priq irq'],
    );
    assert.deepEqual(k.smmu.irqs, { gerror: false, evtq: true, priq: false, combined: false });
    const c = await booted(new Machine(), { firmware: { combinedIrq: true }, failIrqRequest: ['combined'] });
    assert.deepEqual(
      c.k.log.grep(/^failed to enable/).map((l) => l.text),
      ['failed to enable combined irq'],
    );
    assert.equal(c.k.smmu.irqs.combined, false);
  });

  it('combined line: CMD_SYNC completions run no handler (no GERROR/GERRORN reads), a wired GERROR does', async () => {
    const { m, k } = await booted(new Machine(), { firmware: { combinedIrq: true } });
    await k.probeDevice({ name: 'nic', sids: [0x100] });
    await k.dmaMap('nic', 0x9000_0000, 4096);
    assert.ok(m.smmu.counters.syncs >= 5, 'reset and attach completed several CMD_SYNCs');
    assert.equal(m.trace.of('primary', { register: 'GERROR' }).length, 0);
    assert.equal(m.trace.of('primary', { register: 'GERRORN' }).length, 0);
    assert.equal(k.smmu.irqLog.length, 0);
    m.smmu.injectGlobalError('CMDQ_ERR');
    await k.serviceInterrupts();
    assert.deepEqual(
      k.smmu.irqLog.map((r) => [r.source, r.handler, r.result, r.thread]),
      [['GERROR', 'combined', 'IRQ_WAKE_THREAD', true]],
      'mainline: gerror handled in the top half, then the thread',
    );
    assert.equal(m.trace.of('primary', { dir: 'read', register: 'GERROR' }).length, 1);
  });
});

describe('DMA domains, CD tables and io-pgtable granules', () => {
  it('a PASID-capable master (20 SSID bits) gets a 2-level CD table with 64K leaves; the L1CD is installed with a non-leaf CFGI_CD', async () => {
    const { m, k } = await booted();
    await k.probeDevice({ name: 'accel', sids: [0x600], ssidBits: 20 });
    const ste = await k.smmu.hw.readWords(k.smmu.stePa(0x600)!, 8);
    assert.equal(STE.get(ste, 'S1Fmt'), 2n, 'L2_64K');
    assert.equal(STE.get(ste, 'S1CDMax'), 20n);
    const iova = await k.dmaMap('accel', 0x9100_0000, 4096);
    assert.equal(m.smmu.dma({ sid: 0x600, address: iova, write: true }, new Uint8Array(4)).completion, 'ok');
  });

  it('ASIDs are allocated lowest-free from 1, one per DMA domain', async () => {
    const { k } = await booted();
    for (const [i, sid] of [0x100, 0x200, 0x300].entries()) {
      await k.probeDevice({ name: `d${i}`, sids: [sid] });
      assert.equal(k.domains.domainOf(k.master(`d${i}`)!)!.asid, i + 1);
      const cd = await k.smmu.hw.readWords(Number(STE.get(await k.smmu.hw.readWords(k.smmu.stePa(sid)!, 1), 'S1ContextPtr')), 8);
      assert.equal(CD.get(cd, 'ASID'), BigInt(i + 1));
    }
  });

  for (const pageSize of [4096, 16384, 65536] as const) {
    it(`${pageSize / 1024}K pages: map, DMA through the twin, unmap with a range TLBI, fault`, async () => {
      const { m, k } = await booted(new Machine(), { pageSize });
      await k.probeDevice({ name: 'nic', sids: [0x100] });
      const pt = k.domains.domainOf(k.master('nic')!)!.pgtable!;
      assert.equal(pt.cfg.granule, { 4096: '4k', 16384: '16k', 65536: '64k' }[pageSize]);
      const buf = 0x9400_0000;
      const iova = await k.dmaMap('nic', buf, 3 * pageSize);
      assert.equal(await pt.iovaToPhys(iova + pageSize + 8), buf + pageSize + 8, "the kernel's own walk agrees");
      for (let i = 0; i < 3; i++) {
        const r = m.smmu.dma({ sid: 0x100, address: iova + i * pageSize + 16, write: true }, new Uint8Array(4));
        assert.equal(r.translations[0]!.pa, buf + i * pageSize + 16, r.translations[0]!.why);
      }
      m.clock.advance(10_000); // the attach's trailing PREFETCH_CONFIG is consumed first
      const before = m.smmu.counters.commandsConsumed;
      await k.dmaUnmap('nic', iova, 3 * pageSize);
      m.clock.advance(10_000);
      // 3 pages: with RIL, SCALE=0 NUM=2 cover them in one TLBI_NH_VA.
      assert.equal(m.smmu.counters.commandsConsumed - before, 2, 'one range TLBI_NH_VA and its CMD_SYNC');
      assert.equal(m.smmu.dma({ sid: 0x100, address: iova + 16, write: true }, new Uint8Array(4)).translations[0]!.event, 'F_TRANSLATION');
    });
  }

  it('without RIL (SMMUv3.1), unmap invalidates page by page', async () => {
    const { m, k } = await booted(new Machine({ smmu: { archMinor: 1, ril: false } }));
    await k.probeDevice({ name: 'nic', sids: [0x100] });
    const iova = await k.dmaMap('nic', 0x9400_0000, 4 * 4096);
    m.clock.advance(10_000);
    const before = m.smmu.counters.commandsConsumed;
    await k.dmaUnmap('nic', iova, 4 * 4096);
    m.clock.advance(10_000);
    assert.equal(m.smmu.counters.commandsConsumed - before, 5, 'four TLBI_NH_VA and a CMD_SYNC');
  });

  it('an ATS master: the ATC is invalidated in attach_commit, after the STE install (and its PREFETCH_CONFIG)', async () => {
    const { k } = await booted();
    const q = k.smmu.cmdq;
    const from = q.prod;
    await k.probeDevice({ name: 'nic', sids: [0x100], ats: true });
    const ops: string[] = [];
    const f = findFormat('cmd')!;
    for (let p = from; p !== q.prod; p = (p + 1) % (2 * 2 ** q.shift)) {
      const w = await k.smmu.hw.readWords(q.base + 16 * (p % 2 ** q.shift), 2);
      // A completed MSI-polled CMD_SYNC has had its first 32 bits overwritten by the MSI (data 0).
      ops.push(f.decode(w).names.Opcode ?? ((w[0]! & 0xffff_ffffn) === 0n ? 'CMD_SYNC' : '?'));
    }
    const lastSte = ops.lastIndexOf('CFGI_STE');
    assert.ok(lastSte > 0, ops.join());
    assert.deepEqual(ops.slice(lastSte), ['CFGI_STE', 'CMD_SYNC', 'PREFETCH_CONFIG', 'ATC_INV', 'CMD_SYNC']);
    assert.equal(ops.indexOf('ATC_INV'), ops.length - 2, 'the only ATC_INV');
    assert.equal(k.master('nic')!.atsEnabled, true);
  });

  it('identity and blocked domains write bypass and abort STEs', async () => {
    const { m, k } = await booted();
    await k.probeDevice({ name: 'id', sids: [0x100] }, 'identity');
    await k.probeDevice({ name: 'bl', sids: [0x200] }, 'blocked');
    assert.equal(m.smmu.dma({ sid: 0x100, address: 0x9000_0000, write: true }, new Uint8Array(4)).translations[0]!.path, 'ste-bypass');
    assert.equal(m.smmu.dma({ sid: 0x200, address: 0x9000_0000, write: true }, new Uint8Array(4)).translations[0]!.path, 'ste-abort');
  });

  it('a stage-2 domain takes a VMID from 1 and translates IPAs', async () => {
    const { m, k } = await booted();
    await k.probeDevice({ name: 'vf', sids: [0x700] }, 's2');
    const d = k.domains.domainOf(k.master('vf')!)!;
    assert.equal(d.vmid, 1);
    const iova = await k.dmaMap('vf', 0x9800_0000, 4096);
    const r = m.smmu.dma({ sid: 0x700, address: iova + 4, write: true }, new Uint8Array(4));
    assert.deepEqual([r.translations[0]!.path, r.translations[0]!.pa], ['s2', 0x9800_0004]);
  });

  it("a nested domain: the guest's CD table and stage-1 tables in IPA space over the host's stage 2", async () => {
    const { m, k } = await booted();
    await k.probeDevice({ name: 'vf', sids: [0x700] }, 's2');
    const s2 = k.domains.domainOf(k.master('vf')!)!;
    // Guest RAM: IPA 0x4000_0000.. maps to host PA 0x9a00_0000.. (8 MiB).
    const guestBase = 0x9a00_0000;
    await s2.pgtable!.map(0x4000_0000, guestBase, 8 * 1024 * 1024, 1 | 2 | 4);
    const toPa = (ipa: number) => ipa - 0x4000_0000 + guestBase;
    // The guest kernel's CD and stage-1 tables, at guest addresses (IPAs) backed by host PAs.
    const guestHw = k.smmu.hw;
    const cdIpa = 0x4000_0000;
    const l0Ipa = 0x4000_1000;
    const l1Ipa = 0x4000_2000;
    const l2Ipa = 0x4000_3000;
    const l3Ipa = 0x4000_4000;
    const dataIpa = 0x4010_0000;
    const va = 0x1000;
    const tbl = (next: number) => BigInt(next) | 3n;
    await guestHw.write64(toPa(l0Ipa), tbl(l1Ipa));
    await guestHw.write64(toPa(l1Ipa), tbl(l2Ipa));
    await guestHw.write64(toPa(l2Ipa), tbl(l3Ipa));
    await guestHw.write64(toPa(l3Ipa) + 8, BigInt(dataIpa) | 0x403n | (1n << 6n) | (3n << 8n) | (1n << 11n) | (1n << 2n)); // page, AF, AP el0 RW, SH ISH, nG, AttrIndx 1
    await guestHw.writeWords(
      toPa(cdIpa),
      CD.build({ V: 1, T0SZ: 16, TG0: 'G4K', IR0: 'WBWA', OR0: 'WBWA', SH0: 'ISH', EPD1: 1, IPS: 'PA48', AA64: 1, R: 1, A: 1, ASID: 42, TTB0: BigInt(l0Ipa) }),
    );
    await k.domains.attachNested(k.master('vf')!, s2, { s1ContextPtr: cdIpa, s1cdmax: 0, s1fmt: 'LINEAR' });
    const ste = await k.smmu.hw.readWords(k.smmu.stePa(0x700)!, 8);
    assert.equal(STE.get(ste, 'Config'), 7n);
    const r = m.smmu.dma({ sid: 0x700, address: va + 8, write: true }, new Uint8Array(4));
    assert.equal(r.translations[0]!.path, 'nested', r.translations[0]!.why);
    assert.equal(r.translations[0]!.pa, toPa(dataIpa) + 8);
  });
});
