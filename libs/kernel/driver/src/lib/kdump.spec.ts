// SPDX-License-Identifier: Apache-2.0
// The kdump probe under every policy, driving the real hardware twin through the bus port
// (no mocks): the invariants of kdump-adopt-series.md section 3.4 on the MMIO trace of every
// path, and the register-access table of section 3.3a reproduced from the traces.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { STE } from '@kdump-twin/smmu-arch';
import { crashedMachine, dmaTicker, NIC, NVME, type Crashed } from '../testing/scenario';
import { FEAT, OPT, type KdumpPolicy } from './features';
import type { LinuxKernel } from './kernel';
import type { MmioTrace } from './trace';

const CR0 = { SMMUEN: 1, PRIQEN: 2, EVTQEN: 4, CMDQEN: 8, ATSCHK: 16 };

/** Values `kernel` wrote to `reg`, in order. */
export function writes(t: MmioTrace, kernel: string, reg: string): bigint[] {
  return t.of(kernel, { dir: 'write', register: reg }).map((a) => a.value);
}

function reads(t: MmioTrace, kernel: string, reg: string): bigint[] {
  return t.of(kernel, { dir: 'read', register: reg }).map((a) => a.value);
}

interface Run extends Crashed {
  readonly k: LinuxKernel;
}

/** Crash with NIC and NVMe mid-DMA, then the kdump probe under `policy` and both devices' probe. */
async function run(policy: KdumpPolicy, o: Parameters<typeof crashedMachine>[0] & { kdump?: Parameters<Crashed['m']['kdump']>[1]; inject?: (c: Crashed) => void | Promise<void> } = {}): Promise<Run> {
  const c = await crashedMachine(o);
  await o.inject?.(c);
  const k = c.m.kdump(policy, o.kdump);
  await k.probeSmmu();
  await k.probeDevice(NIC);
  await k.probeDevice(NVME);
  return { ...c, k };
}

/** Adoption failed and the status-quo reset ran (section 3.2): the fallback path. */
const fallbackV7 = () => run('adopt-v7', { primary: { firmware: {} }, kdump: { firmware: { coherent: false } }, smmu: { coherent: false } });
const fallbackV10 = () => run('adopt-v10', { kdump: { firmware: { coherent: false } }, smmu: { coherent: false } });

const PATHS: [string, () => Promise<Run>, 'adopt' | 'fallback' | 'status-quo'][] = [
  ['adopt-v7', () => run('adopt-v7'), 'adopt'],
  ['adopt-v10', () => run('adopt-v10'), 'adopt'],
  ['fallback (v7, non-coherent)', fallbackV7, 'fallback'],
  ['fallback (v10, non-coherent)', fallbackV10, 'fallback'],
  ['status-quo', () => run('status-quo'), 'status-quo'],
];

describe('section 3.4 invariants on the MMIO trace of every path', () => {
  for (const [name, make, kind] of PATHS) {
    describe(name, () => {
      it('1. adopt: CR0ACK.SMMUEN reads 1 at every sample of the kdump probe', async (t) => {
        const r = await make();
        const acks = reads(r.m.trace, 'kdump', 'CR0ACK');
        if (kind === 'adopt') {
          assert.ok(acks.length > 0);
          for (const v of acks) assert.equal(v & 1n, 1n);
        } else {
          t.diagnostic('not an adopt path: SMMUEN drops (asserted by 3.3a)');
          assert.ok(acks.some((v) => (v & 1n) === 0n));
        }
      });

      it('2. adopt: no write reaches GBPA, CR1, CR2, STRTAB_BASE or STRTAB_BASE_CFG', async () => {
        const r = await make();
        for (const reg of ['GBPA', 'CR1', 'CR2', 'STRTAB_BASE', 'STRTAB_BASE_CFG']) {
          const n = writes(r.m.trace, 'kdump', reg).length;
          if (kind === 'adopt') assert.equal(n, 0, reg);
          else if (reg !== 'GBPA') assert.equal(n, 1, `${reg} written once on the ${kind} path`);
        }
      });

      it('3. kdump with the series: EVTQEN/PRIQEN never set, no EVTQ/PRIQ interrupt enabled or handler registered', async () => {
        const r = await make();
        const cr0 = writes(r.m.trace, 'kdump', 'CR0');
        const irq = writes(r.m.trace, 'kdump', 'IRQ_CTRL');
        if (kind === 'status-quo') {
          assert.ok(cr0.some((v) => v & BigInt(CR0.EVTQEN)), 'mainline enables then drops EVTQEN');
          return;
        }
        for (const v of cr0) assert.equal(v & BigInt(CR0.EVTQEN | CR0.PRIQEN), 0n);
        for (const v of irq) assert.equal(v & 6n, 0n);
        for (const v of reads(r.m.trace, 'kdump', 'CR0ACK')) assert.equal(v & BigInt(CR0.EVTQEN | CR0.PRIQEN), 0n);
        assert.equal(r.k.smmu.irqs.evtq, false);
        assert.equal(r.k.smmu.irqs.priq, false);
      });

      it('4. kdump with the series: active global errors are acknowledged before CMDQEN is set', async () => {
        const r = await (kind === 'adopt'
          ? run(name === 'adopt-v7' ? 'adopt-v7' : 'adopt-v10', { inject: (c) => c.m.smmu.injectGlobalError('CMDQ_ERR') })
          : kind === 'fallback'
            ? run(name.includes('v7') ? 'adopt-v7' : 'adopt-v10', { smmu: { coherent: false }, kdump: { firmware: { coherent: false } }, inject: (c) => c.m.smmu.injectGlobalError('CMDQ_ERR') })
            : run('status-quo', { inject: (c) => c.m.smmu.injectGlobalError('CMDQ_ERR') }));
        const all = r.m.trace.of('kdump', { dir: 'write' });
        const ack = all.findIndex((a) => a.register === 'GERRORN');
        const cmdqen = all.findIndex((a) => a.register === 'CR0' && (a.value & BigInt(CR0.CMDQEN)) !== 0n);
        if (kind === 'status-quo') {
          assert.ok(ack < 0 || ack > cmdqen, 'mainline does not pre-acknowledge');
          assert.ok(r.k.log.grep('CMD_SYNC timeout').length > 0, 'so the latched CMDQ_ERR halts the queue (S13)');
          return;
        }
        assert.ok(ack >= 0 && ack < cmdqen, 'GERRORN written before CR0.CMDQEN');
        assert.equal(r.k.log.grep('CMD_SYNC timeout').length, 0);
      });

      it('5. OPT_KDUMP_ADOPT only with kdump, SMMUEN=1 at hw_probe, FEAT_COHERENCY and no SFM', async () => {
        const r = await make();
        const adopt = (r.k.smmu.options & OPT.KDUMP_ADOPT) !== 0;
        assert.equal(adopt, kind === 'adopt');
        if (adopt) {
          assert.ok(r.k.smmu.features & FEAT.COHERENCY);
          assert.equal(reads(r.m.trace, 'kdump', 'CR0')[0]! & 1n, 1n);
        }
      });

      it('6. after a fallback: fresh tables, FEAT_2_LVL_STRTAB as before, OPT cleared, no reservation left', async () => {
        const r = await make();
        if (kind === 'adopt') {
          assert.equal(r.k.smmu.strtab.kind === 'none' ? false : r.k.smmu.strtab.adopted, true);
          return;
        }
        assert.equal(r.k.smmu.strtab.kind === 'none' ? true : !r.k.smmu.strtab.adopted, true);
        assert.ok(r.k.smmu.features & FEAT.TWO_LVL_STRTAB);
        assert.equal(r.k.smmu.options & OPT.KDUMP_ADOPT, 0);
        assert.equal([...r.k.smmu.asids.values()].filter((v) => v === 'reserved').length, 0);
      });

      it('7. adopt: a deferred device keeps the crashed STE through the probe, bit for bit', async () => {
        const c = await crashedMachine();
        const sid = NIC.sids[0]!;
        const before = c.m.smmu.cachedSte(sid);
        const k = c.m.kdump(kind === 'adopt' ? (name as KdumpPolicy) : 'status-quo', kind === 'fallback' ? { firmware: { coherent: false } } : {});
        await k.probeSmmu();
        const p = await k.probeDevice(NIC);
        const pa = k.smmu.stePa(sid)!;
        const now = await k.smmu.hw.readWords(pa, 8);
        if (kind === 'adopt') {
          assert.equal(p.deferred, true);
          assert.deepEqual(now, c.p.master(NIC.name)!.steShadow.get(sid));
          void before;
        } else {
          assert.equal(p.deferred, false);
          assert.notDeepEqual(now, c.p.master(NIC.name)!.steShadow.get(sid), 'a fresh table: the device got a new STE');
        }
      });
    });
  }

  it('8. v10: no kdump-kernel domain receives an ASID the crashed kernel used', async () => {
    const r = await run('adopt-v10');
    const crashed = new Set([...r.p.smmu.asids.keys()]);
    await r.k.firstDmaUse(NIC.name);
    await r.k.firstDmaUse(NVME.name);
    const mine = [...r.k.smmu.asids.entries()].filter(([, v]) => v !== 'reserved').map(([a]) => a);
    assert.ok(mine.length === 2);
    for (const a of mine) assert.ok(!crashed.has(a), `ASID ${a} was the crashed kernel's`);
  });

  it('9. an L1 slot that fails at lazy time affects only the devices in that slot', async () => {
    const r = await run('adopt-v7', {
      inject: async (c) => {
        // Rogue DMA rewrites L1[2] (bus 2: the NVMe) to a bad span after the crash.
        const l1 = Number(c.m.smmu.register('STRTAB_BASE') & 0x000f_ffff_ffff_ffc0n);
        const w = c.m.memory.internWriter({ kind: 'device-translated', sid: 0x999 });
        const cur = await c.p.smmu.hw.read64(l1 + 16);
        c.m.memory.writeDword(l1 + 16, Number((cur & ~0x1fn) | 5n) >>> 0, Number(cur >> 32n), w);
      },
    });
    // The adopt-time validation already refuses a span of 5: the whole adoption falls back.
    assert.ok(r.k.log.grep('L1[2] unsupported span 5 (vs 9)').length === 1);
    assert.ok(r.k.log.grep('falling back to full reset').length === 1);
  });
});

describe('fresh tables and queues are zeroed (dma_alloc_coherent)', () => {
  it('a second kdump kernel in the same carve-out gets an all-invalid L1 table and clean queues', async () => {
    const c = await crashedMachine();
    const k1 = c.m.kdump('status-quo');
    await k1.probeSmmu();
    await k1.probeDevice(NIC); // writes L1[1] of k1's fresh table
    const st1 = k1.smmu.strtab;
    assert.ok(st1.kind === '2lvl');
    assert.notEqual(await k1.smmu.hw.read64(st1.l1tab + 8), 0n);
    // An event record k1's queue held (written by the SMMU), then k1 panics too.
    const w = c.m.memory.internWriter({ kind: 'smmu', device: 'smmu0' });
    c.m.memory.writeDword(k1.smmu.evtq.base + 0x100, 0x10, 0x100, w);
    const k2 = c.m.kdump('status-quo');
    await k2.probeSmmu();
    const st2 = k2.smmu.strtab;
    assert.ok(st2.kind === '2lvl');
    assert.equal(st2.l1tab, st1.l1tab, 'the same pages of the carve-out');
    assert.equal(k2.smmu.evtq.base, k1.smmu.evtq.base);
    assert.deepEqual(await k2.smmu.hw.readWords(st2.l1tab, 4), [0n, 0n, 0n, 0n], 'no stale L1[1] pointing at k1\'s L2');
    assert.deepEqual(await k2.smmu.hw.readWords(k2.smmu.evtq.base + 0x100, 1), [0n]);
    const r = c.m.smmu.dma({ sid: NIC.sids[0]!, address: 0x1000, write: true }, new Uint8Array(4));
    assert.equal(r.translations[0]!.path !== 's1', true, 'the NIC is not translated through k1\'s domain');
  });
});

describe('hw_probe of each kdump kernel: the features line and the event queue', () => {
  for (const [policy, features, evtq] of [
    ['status-quo', '0x00f09ff7', true],
    ['adopt-v7', '0x00f09ff7', true], // no FEAT_EVTQ in 6.12 or v7: the queue always exists
    ['adopt-v10', '0x00f09fe7', false], // FEAT_EVTQ set first, then cleared with FEAT_PRI in kdump
  ] as const) {
    it(`${policy}: "(features ${features})", event queue ${evtq ? 'allocated' : 'not allocated'}`, async () => {
      const r = await run(policy);
      assert.deepEqual(r.k.log.grep(/features/).map((l) => l.text), [`ias 48-bit, oas 48-bit (features ${features})`]);
      assert.equal(r.k.smmu.features & FEAT.EVTQ, 0, 'bit 24 is never left set in a kdump kernel');
      assert.equal(r.k.smmu.evtq.base !== 0, evtq);
      assert.equal(r.k.smmu.hasEvtq, evtq);
    });
  }
});

describe('section 3.3a register access summary, reproduced from the traces', () => {
  /** One line per register group, summarising what `kernel` did to it during the probe. */
  async function summary(r: Run): Promise<Record<string, string>> {
    const t = r.m.trace;
    const w = (reg: string) => writes(t, 'kdump', reg);
    const rd = (reg: string) => reads(t, 'kdump', reg).length;
    const hex = (v: bigint) => `0x${v.toString(16)}`;
    const touched = (regs: string[]) => {
      const n = regs.reduce((s, x) => s + w(x).length, 0);
      return n === 0 ? 'never' : `written (${n})`;
    };
    return {
      IDRs: ['IDR0', 'IDR1', 'IDR3', 'IDR5', 'IIDR'].every((x) => rd(x) > 0) ? 'read' : 'missing',
      'CR0 writes': w('CR0').map(hex).join(' -> '),
      GBPA: w('GBPA').length ? `poll/write ${w('GBPA').map(hex).join(',')}/poll` : 'untouched',
      'CR1, CR2': w('CR1').length + w('CR2').length ? `written once (${w('CR1').map(hex).join()}, ${w('CR2').map(hex).join()})` : 'untouched',
      STRTAB: w('STRTAB_BASE').length ? 'written once' : rd('STRTAB_BASE') ? 'read once' : 'untouched',
      'GERROR, GERRORN': `${rd('GERROR')} reads${w('GERRORN').length ? ', GERRORN <- GERROR' : ''}`,
      CMDQ: ['CMDQ_BASE', 'CMDQ_CONS'].every((x) => w(x).length === 1) ? 'written once' : 'other',
      EVTQ: touched(['EVENTQ_BASE', 'EVENTQ_PROD', 'EVENTQ_CONS']),
      PRIQ: touched(['PRIQ_BASE', 'PRIQ_PROD', 'PRIQ_CONS']),
      IRQ_CTRL: w('IRQ_CTRL').map(hex).join(' -> '),
    };
  }

  it('adopt v7 | adopt v10 | kdump fallback | status-quo kdump', async () => {
    const table = {
      'adopt v7': await summary(await run('adopt-v7')),
      'adopt v10': await summary(await run('adopt-v10')),
      'kdump fallback': await summary(await fallbackV7()),
      'status-quo kdump': await summary(await run('status-quo')),
    };
    assert.deepEqual(table, {
      'adopt v7': {
        IDRs: 'read',
        'CR0 writes': '0x11 -> 0x19 -> 0x19', // SMMUEN|ATSCHK as found -> +CMDQEN -> +SMMUEN (unchanged)
        GBPA: 'untouched',
        'CR1, CR2': 'untouched',
        STRTAB: 'read once',
        'GERROR, GERRORN': '2 reads',
        CMDQ: 'written once',
        EVTQ: 'never',
        PRIQ: 'never',
        IRQ_CTRL: '0x0 -> 0x1',
      },
      'adopt v10': {
        IDRs: 'read',
        'CR0 writes': '0x11 -> 0x19 -> 0x19', // live CR0 minus queue enables -> +CMDQEN -> +SMMUEN
        GBPA: 'untouched',
        'CR1, CR2': 'untouched',
        STRTAB: 'read once',
        'GERROR, GERRORN': '2 reads',
        CMDQ: 'written once',
        EVTQ: 'never',
        PRIQ: 'never',
        IRQ_CTRL: '0x0 -> 0x1',
      },
      'kdump fallback': {
        IDRs: 'read',
        'CR0 writes': '0x0 -> 0x8 -> 0x18 -> 0x19', // 0 -> CMDQEN -> +ATSCHK -> +SMMUEN
        GBPA: 'poll/write 0x80101000/poll', // read-modify-write: SHCFG=incoming kept, ABORT|UPDATE set
        'CR1, CR2': 'written once (0xd75, 0x6)',
        STRTAB: 'written once',
        'GERROR, GERRORN': '1 reads',
        CMDQ: 'written once',
        EVTQ: 'never',
        PRIQ: 'never',
        IRQ_CTRL: '0x0 -> 0x1',
      },
      'status-quo kdump': {
        IDRs: 'read',
        'CR0 writes': '0x0 -> 0x8 -> 0xc -> 0xe -> 0x1e -> 0x19', // +EVTQEN, +PRIQEN, +ATSCHK, then CMDQEN|ATSCHK|SMMUEN
        GBPA: 'poll/write 0x80101000/poll',
        'CR1, CR2': 'written once (0xd75, 0x6)',
        STRTAB: 'written once',
        'GERROR, GERRORN': '0 reads',
        CMDQ: 'written once',
        EVTQ: 'written (3)',
        PRIQ: 'written (3)',
        IRQ_CTRL: '0x0 -> 0x7',
      },
    });
  });
});

describe('gbpa-bypass: the cover letter\'s case (b)', () => {
  it('stay-disabled (default): GBPA bypass by the update protocol, CR0 <- 0, and nothing else; no IOMMU', async () => {
    const r = await run('gbpa-bypass');
    const t = r.m.trace;
    assert.deepEqual(writes(t, 'kdump', 'GBPA'), [0x8000_1000n], 'SHCFG=incoming kept, ABORT clear, UPDATE');
    assert.deepEqual(writes(t, 'kdump', 'CR0'), [0n]);
    assert.deepEqual(
      t.of('kdump', { dir: 'write' }).map((a) => a.register),
      ['GBPA', 'CR0'],
      'no CR1/CR2, no stream table, no queues, no IRQ_CTRL',
    );
    assert.equal(reads(t, 'kdump', 'GBPA').length >= 2, true, 'polled before and after the write');
    assert.deepEqual(r.k.probeResult, { ok: true });
    assert.equal(r.k.smmu.registered, false);
    assert.equal(r.m.smmu.register('CR0ACK'), 0n);
    assert.equal(r.k.log.grep('SMMU currently enabled! Resetting...').length, 1);
    assert.deepEqual(await r.k.dmaMapResult(NIC.name, 0xe800_0000, 4096), { ok: true, iova: 0xe800_0000 }, 'dma-direct');
  });

  it('reset-window: the status-quo reset with GBPA at bypass during the window, then a fresh table', async () => {
    const c = await crashedMachine();
    const nic = c.maps.get(NIC.name)!;
    const tick = dmaTicker(c.m, nic.sid, nic.iova, 250);
    const k = c.m.kdump('gbpa-bypass', { gbpaBypass: 'reset-window' });
    await k.probeSmmu();
    const p = await k.probeDevice(NIC);
    tick.stop();
    assert.deepEqual(writes(c.m.trace, 'kdump', 'GBPA'), [0x8000_1000n]);
    assert.deepEqual(writes(c.m.trace, 'kdump', 'CR0'), [0n, 0x8n, 0xcn, 0xen, 0x1en, 0x19n]);
    assert.deepEqual([p.grouped, p.deferred], [true, false]);
    const paths = tick.ticks.map((x) => `${x.completion}/${x.path}`);
    const firstBypass = paths.indexOf('ok/gbpa');
    assert.ok(firstBypass > 0 && paths.lastIndexOf('ok/gbpa') < paths.length - 1, paths.join());
    assert.ok(paths.slice(paths.lastIndexOf('ok/gbpa') + 1).every((x) => x.startsWith('abort')), 'then the fresh table aborts it');
  });
});

describe('in-flight DMA across the kdump probe (section 1.3)', () => {
  for (const [policy, expect] of [
    ['status-quo', 'aborted from the GBPA write until the device gets a new domain'],
    ['adopt-v7', 'translated with the crashed STE throughout'],
    ['adopt-v10', 'translated with the crashed STE throughout'],
    ['gbpa-bypass', 'untranslated (IOVA used as PA) from the GBPA write on, for good'],
    ['no-smmu-driver', 'translated with the crashed STE forever'],
  ] as const) {
    it(`${policy}: ${expect}`, async () => {
      const c = await crashedMachine();
      const nic = c.maps.get(NIC.name)!;
      const t = dmaTicker(c.m, nic.sid, nic.iova, 250);
      const k = c.m.kdump(policy);
      await k.probeSmmu();
      await k.probeDevice(NIC);
      if (policy === 'no-smmu-driver') c.m.clock.advance(20_000); // the kdump kernel boots on without touching the SMMU
      t.stop();
      assert.ok(t.ticks.length > 5, `${t.ticks.length} DMA writes during the probe`);
      const paths = new Set(t.ticks.map((x) => `${x.completion}/${x.path}`));
      if (policy === 'status-quo') {
        assert.ok(paths.has('abort/gbpa'), [...paths].join());
        assert.ok(!paths.has('ok/s1') || t.ticks.findIndex((x) => x.path === 'gbpa') > 0, 'translation stops at the GBPA write');
      } else if (policy === 'gbpa-bypass') {
        // Translated until GBPA reads bypass, then CR0 <- 0: bypassed, never aborted.
        const first = t.ticks.findIndex((x) => x.path === 'gbpa');
        assert.ok(first > 0, [...paths].join());
        assert.deepEqual(new Set(t.ticks.slice(0, first).map((x) => `${x.completion}/${x.path}`)), new Set(['ok/s1']));
        for (const x of t.ticks.slice(first)) assert.deepEqual([x.completion, x.path, x.pa], ['ok', 'gbpa', nic.iova], 'the IOVA used as a physical address');
        // The SMMU stays disabled for the rest of the kdump kernel's life: no IOMMU group, dma-direct.
        const p = await k.probeDevice(NVME);
        assert.deepEqual([p.grouped, p.errno], [false, 'ENODEV']);
        c.m.clock.advance(1_000_000_000);
        const later = c.m.smmu.dma({ sid: nic.sid, address: nic.iova, write: true }, new Uint8Array(8));
        assert.deepEqual([later.completion, later.translations[0]!.path, later.translations[0]!.pa], ['ok', 'gbpa', nic.iova]);
      } else {
        assert.deepEqual([...paths], ['ok/s1']);
        for (const x of t.ticks) assert.equal(x.pa, nic.buf, 'lands in the crashed kernel\'s buffer');
      }
      // The deferred attach replaces the STE at the driver's first DMA-API use.
      if (policy.startsWith('adopt')) {
        const before = k.master(NIC.name)!.steShadow.get(nic.sid)!;
        assert.equal(STE.get(before, 'Config'), 5n);
        await k.firstDmaUse(NIC.name);
        const r = c.m.smmu.dma({ sid: nic.sid, address: nic.iova, write: true }, new Uint8Array(8));
        if (policy === 'adopt-v7') {
          // S10h: v7 hands the new domain the crashed domain's ASID (1); the TLB still holds the
          // crashed translation the in-flight DMA refilled after the reset TLBI, and the new
          // domain hits it: DMA keeps landing in crashed-kernel memory.
          assert.equal(k.domains.domainOf(k.master(NIC.name)!)!.asid, 1);
          assert.equal(r.completion, 'ok');
          assert.equal(r.translations[0]!.pa, nic.buf);
          assert.equal(r.translations[0]!.tlbHit, true);
        } else {
          // S10i: v10 reserved ASID 1, the new domain gets another: the old IOVA faults.
          assert.notEqual(k.domains.domainOf(k.master(NIC.name)!)!.asid, 1);
          assert.equal(r.completion, 'abort', 'the old IOVA is not mapped in the kdump kernel\'s new domain');
        }
      }
    });
  }
});
