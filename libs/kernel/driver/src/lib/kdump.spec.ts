// SPDX-License-Identifier: Apache-2.0
// The kdump probe under every policy, driving the real hardware twin through the bus port
// (no mocks): the invariants of kdump-adopt-series.md section 3.4 on the MMIO trace of every
// path, and the register-access table of section 3.3a reproduced from the traces.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { STE } from '@kdump-twin/smmu-arch';
import { crashedMachine, dmaTicker, NIC, NVME, type Crashed } from '../testing/scenario';
import { FEAT, OPT, type KdumpPolicy } from './features';
import type { DeviceProbe, LinuxKernel } from './kernel';
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
  readonly nic: DeviceProbe;
  readonly nvme: DeviceProbe;
}

type RunOpts = Parameters<typeof crashedMachine>[0] & { kdump?: Parameters<Crashed['m']['kdump']>[1]; inject?: (c: Crashed) => void | Promise<void> };

/** Crash with NIC and NVMe mid-DMA, then the kdump probe under `policy` and both devices' probe. */
async function run(policy: KdumpPolicy, o: RunOpts = {}): Promise<Run> {
  const c = await crashedMachine(o);
  await o.inject?.(c);
  const k = c.m.kdump(policy, o.kdump);
  await k.probeSmmu();
  const nic = await k.probeDevice(NIC);
  const nvme = await k.probeDevice(NVME);
  return { ...c, k, nic, nvme };
}

/** A rogue store into crashed-kernel memory. */
function poke(c: Crashed, pa: number, v: bigint): void {
  const w = c.m.memory.internWriter({ kind: 'device-bypass', sid: 0xfff });
  c.m.memory.writeDword(pa, Number(v & 0xffffffffn), Number(v >> 32n), w);
}

const crashedL1 = (c: Crashed) => Number(c.m.smmu.register('STRTAB_BASE') & 0x000f_ffff_ffff_ffc0n);
const combine =
  (...fs: (((c: Crashed) => void | Promise<void>) | undefined)[]) =>
  async (c: Crashed) => {
    for (const f of fs) await f?.(c);
  };

/**
 * One kdump probe path of section 3 and what the document predicts for it:
 * - reset: 'adopt' (3.1), 'full' (status-quo reset: 3.2 fallback or 3.3), 'disable' (gbpa-bypass
 *   leaves the SMMU off), 'none' (no driver);
 * - series: a kdump kernel with the series (no EVTQ/PRIQ, GERROR acked);
 * - tossed: adoption started and was thrown away at init_strtab (3.2 "tossed").
 */
interface PathSpec {
  readonly name: string;
  readonly policy: KdumpPolicy;
  readonly reset: 'adopt' | 'full' | 'disable' | 'none';
  readonly series: boolean;
  readonly tossed: boolean;
  /** GBPA writes: 1 when the status-quo reset found SMMUEN set, or gbpa-bypass. */
  readonly gbpa: 0 | 1;
  readonly opts?: RunOpts;
}

const nonCoherent: RunOpts = { primary: { firmware: { coherent: false } }, kdump: { firmware: { coherent: false } }, smmu: { coherent: false } };
/** v7 L1 span error: adopt_2lvl fails after the L1 memremap. */
const spanError = async (c: Crashed) => poke(c, crashedL1(c) + 8, ((await c.p.smmu.hw.read64(crashedL1(c) + 8)) & ~0x1fn) | 4n);
/** A linear crashed table whose STE for SID 0x300 has reserved Config 2: v10's scan reserves ASIDs 1 and 2 (NIC, NVMe) first. */
const linearThenBadSte: RunOpts = {
  primary: { legacyLinearStrtab: true },
  inject: (c) => poke(c, crashedL1(c) + 64 * 0x300, STE.build({ V: 1, Config: 2 })[0]!),
};

const PATHS: PathSpec[] = [
  { name: 'adopt-v7', policy: 'adopt-v7', reset: 'adopt', series: true, tossed: false, gbpa: 0 },
  { name: 'adopt-v10', policy: 'adopt-v10', reset: 'adopt', series: true, tossed: false, gbpa: 0 },
  { name: 'tossed (v7, L1[1] span 4)', policy: 'adopt-v7', reset: 'full', series: true, tossed: true, gbpa: 1, opts: { inject: spanError } },
  {
    name: 'tossed (v10, linear adopted then a reserved STE in the scan)',
    policy: 'adopt-v10',
    reset: 'full',
    series: true,
    tossed: true,
    gbpa: 1,
    opts: linearThenBadSte,
  },
  { name: 'refused (v7, non-coherent)', policy: 'adopt-v7', reset: 'full', series: true, tossed: false, gbpa: 1, opts: nonCoherent },
  { name: 'refused (v10, non-coherent)', policy: 'adopt-v10', reset: 'full', series: true, tossed: false, gbpa: 1, opts: nonCoherent },
  {
    name: 'refused (v7, SFM active)',
    policy: 'adopt-v7',
    reset: 'full',
    series: true,
    tossed: false,
    gbpa: 1,
    opts: { inject: (c) => c.m.smmu.injectServiceFailure() },
  },
  {
    name: 'not attempted (v7, SMMUEN=0)',
    policy: 'adopt-v7',
    reset: 'full',
    series: true,
    tossed: false,
    gbpa: 0,
    opts: { inject: (c) => c.m.smmu.injectRegister('CR0', 0n) },
  },
  { name: 'status-quo', policy: 'status-quo', reset: 'full', series: false, tossed: false, gbpa: 1 },
  { name: 'gbpa-bypass', policy: 'gbpa-bypass', reset: 'disable', series: false, tossed: false, gbpa: 1 },
  { name: 'no-smmu-driver', policy: 'no-smmu-driver', reset: 'none', series: false, tossed: false, gbpa: 0 },
];

const make = (p: PathSpec, extra?: (c: Crashed) => void | Promise<void>) => run(p.policy, { ...p.opts, inject: combine(p.opts?.inject, extra) });

describe('section 3.4 invariants on the MMIO trace of every path', () => {
  for (const p of PATHS) {
    describe(p.name, () => {
      it('1. adopt: CR0ACK.SMMUEN reads 1 at every sample of the kdump probe (else it drops)', async () => {
        const r = await make(p);
        const acks = reads(r.m.trace, 'kdump', 'CR0ACK');
        if (p.reset === 'adopt') {
          assert.ok(acks.length >= 3);
          for (const v of acks) assert.equal(v & 1n, 1n);
        } else if (p.reset === 'none') assert.deepEqual(acks, [], 'the SMMU is never touched');
        else
          assert.ok(
            acks.some((v) => (v & 1n) === 0n),
            'CR0 <- 0',
          );
      });

      it('2. adopt: no write reaches GBPA, CR1, CR2, STRTAB_BASE or STRTAB_BASE_CFG', async () => {
        const r = await make(p);
        const n = (reg: string) => writes(r.m.trace, 'kdump', reg).length;
        assert.equal(n('GBPA'), p.gbpa, 'GBPA');
        for (const reg of ['CR1', 'CR2', 'STRTAB_BASE', 'STRTAB_BASE_CFG']) assert.equal(n(reg), p.reset === 'full' ? 1 : 0, reg);
        if (p.reset === 'none') assert.deepEqual(r.m.trace.of('kdump'), []);
        if (p.reset === 'disable') assert.deepEqual(r.m.trace.written('kdump'), ['GBPA', 'CR0']);
      });

      it('3. kdump with the series: EVTQEN/PRIQEN never set, no EVTQ/PRIQ interrupt enabled or handler registered', async () => {
        const r = await make(p);
        const cr0 = writes(r.m.trace, 'kdump', 'CR0');
        const irq = writes(r.m.trace, 'kdump', 'IRQ_CTRL');
        if (p.reset === 'full' && !p.series) {
          assert.ok(
            cr0.some((v) => v & BigInt(CR0.EVTQEN)),
            'mainline enables then drops EVTQEN',
          );
          assert.equal(r.k.smmu.irqs.evtq, true);
          return;
        }
        for (const v of cr0) assert.equal(v & BigInt(CR0.EVTQEN | CR0.PRIQEN), 0n);
        for (const v of irq) assert.equal(v & 6n, 0n);
        for (const v of reads(r.m.trace, 'kdump', 'CR0ACK')) assert.equal(v & BigInt(CR0.EVTQEN | CR0.PRIQEN), 0n);
        assert.equal(r.k.smmu.irqs.evtq, false);
        assert.equal(r.k.smmu.irqs.priq, false);
        assert.equal(r.k.smmu.irqs.gerror, p.series);
        for (const reg of ['EVENTQ_BASE', 'EVENTQ_PROD', 'EVENTQ_CONS', 'PRIQ_BASE', 'PRIQ_PROD', 'PRIQ_CONS'])
          assert.deepEqual(writes(r.m.trace, 'kdump', reg), [], reg);
      });

      it('4. kdump with the series: active global errors are acknowledged before CMDQEN is set', async () => {
        const r = await make(p, (c) => c.m.smmu.injectGlobalError('CMDQ_ERR'));
        const all = r.m.trace.of('kdump', { dir: 'write' });
        const ack = all.findIndex((a) => a.register === 'GERRORN');
        const cmdqen = all.findIndex((a) => a.register === 'CR0' && (a.value & BigInt(CR0.CMDQEN)) !== 0n);
        if (p.reset === 'disable' || p.reset === 'none') {
          assert.deepEqual([ack, cmdqen], [-1, -1], 'no command queue at all');
          return;
        }
        if (!p.series) {
          assert.ok(ack < 0 || ack > cmdqen, 'mainline does not pre-acknowledge');
          assert.ok(r.k.log.grep('CMD_SYNC timeout').length > 0, 'so the latched CMDQ_ERR halts the queue (S13)');
          return;
        }
        assert.ok(ack >= 0 && ack < cmdqen, 'GERRORN written before CR0.CMDQEN');
        // GERRORN <- GERROR: the value the reset just read acknowledges every active error.
        const t = r.m.trace.of('kdump');
        const w = t.findIndex((x) => x.dir === 'write' && x.register === 'GERRORN');
        const g = t
          .slice(0, w)
          .filter((x) => x.register === 'GERROR')
          .at(-1)!;
        assert.equal(t[w]!.value, g.value);
        if (!p.name.includes('SFM')) assert.equal(r.k.log.grep('CMD_SYNC timeout').length, 0, 'the reset commands complete');
      });

      it('5. OPT_KDUMP_ADOPT only with kdump, SMMUEN=1 at hw_probe, FEAT_COHERENCY and no SFM', async () => {
        const r = await make(p);
        const adopt = (r.k.smmu.options & OPT.KDUMP_ADOPT) !== 0;
        assert.equal(adopt, p.reset === 'adopt');
        if (!adopt) return;
        assert.ok(r.k.smmu.kdump);
        assert.ok(r.k.smmu.features & FEAT.COHERENCY);
        assert.equal(reads(r.m.trace, 'kdump', 'CR0')[0]! & 1n, 1n, 'the hw_probe CR0 read saw SMMUEN');
        const [g, gn] = [reads(r.m.trace, 'kdump', 'GERROR')[0]!, reads(r.m.trace, 'kdump', 'GERRORN')[0]!];
        assert.equal((g ^ gn) & (1n << 8n), 0n, 'no active SFM_ERR');
      });

      it('6. after a fallback: strtab_cfg zeroed before the fresh table, FEAT_2_LVL_STRTAB as before, OPT cleared, no reservation left', async () => {
        const r = await make(p);
        const s = r.k.smmu;
        const reserved = [...s.asids.values(), ...s.vmids.values()].filter((v) => v === 'reserved');
        if (p.reset === 'adopt') {
          assert.deepEqual(s.strtabHistory, ['adopted 2lvl']);
          assert.equal(reserved.length > 0, p.policy === 'adopt-v10', 'v10 reserved the crashed IDs');
          return;
        }
        if (p.reset !== 'full') {
          assert.deepEqual(s.strtabHistory, [], 'no stream table at all');
          return;
        }
        if (p.tossed) {
          // adopt_strtab's fail path zeroes the union, then init_strtab allocates the fresh table.
          const adoptedFirst = p.opts === linearThenBadSte ? ['adopted linear'] : [];
          assert.deepEqual(s.strtabHistory, [...adoptedFirst, 'none', 'fresh 2lvl']);
          assert.equal(r.k.log.grep('kdump: falling back to full reset').length, 1);
        } else assert.deepEqual(s.strtabHistory, ['fresh 2lvl'], 'refused at detection: never adopted');
        assert.ok(s.features & FEAT.TWO_LVL_STRTAB, "FEAT_2_LVL_STRTAB is the hardware's again (the linear adoption had cleared it)");
        assert.equal(s.options & OPT.KDUMP_ADOPT, 0);
        assert.deepEqual(reserved, []);
      });

      it('7. adopt: a deferred device keeps the crashed STE through the probe, bit for bit', async () => {
        const r = await make(p);
        const sid = NIC.sids[0]!;
        const crashed = r.p.master(NIC.name)!.steShadow.get(sid)!;
        if (p.reset === 'adopt') {
          assert.equal(r.nic.deferred, true);
          assert.deepEqual(await r.k.smmu.hw.readWords(r.k.smmu.stePa(sid)!, 8), crashed);
        } else if (p.reset === 'full') {
          assert.deepEqual([r.nic.grouped, r.nic.deferred], [true, false]);
          assert.notDeepEqual(await r.k.smmu.hw.readWords(r.k.smmu.stePa(sid)!, 8), crashed, 'a fresh table: the device got a new STE');
        } else assert.deepEqual([r.nic.grouped, r.nic.errno], [false, 'ENODEV'], 'no IOMMU');
      });
    });
  }

  it('8. v10: no kdump-kernel domain receives an ASID or a VMID the crashed kernel used', async () => {
    const c = await crashedMachine({ crash: false });
    await c.p.probeDevice({ name: 'vf', sids: [0x700] }, 's2');
    const crashedAsids = new Set([...c.p.smmu.asids.keys()]);
    const crashedVmids = new Set([...c.p.smmu.vmids.keys()]);
    assert.deepEqual([[...crashedAsids], [...crashedVmids]], [[1, 2], [1]]);
    c.m.crash();
    const k = c.m.kdump('adopt-v10');
    await k.probeSmmu();
    await k.probeDevice(NIC);
    await k.probeDevice(NVME);
    await k.probeDevice({ name: 'vf', sids: [0x700] }, 's2');
    await k.probeDevice({ name: 'gpu', sids: [0x300] });
    await k.probeDevice({ name: 'vf2', sids: [0x701] }, 's2');
    for (const d of [NIC.name, NVME.name, 'vf']) await k.firstDmaUse(d);
    const doms = [NIC.name, NVME.name, 'vf', 'gpu', 'vf2'].map((n) => k.defaultDomain(n)!);
    const asids = doms.flatMap((d) => (d.asid === undefined ? [] : [d.asid]));
    const vmids = doms.flatMap((d) => (d.vmid === undefined ? [] : [d.vmid]));
    assert.deepEqual([asids.length, vmids.length], [3, 2]);
    for (const a of asids) assert.ok(!crashedAsids.has(a), `ASID ${a} was the crashed kernel's`);
    for (const v of vmids) assert.ok(!crashedVmids.has(v), `VMID ${v} was the crashed kernel's`);
  });

  it('9. an L1 slot that fails at lazy time affects only the devices in that slot (S10e setup)', async () => {
    const c = await crashedMachine();
    const nvme = c.maps.get(NVME.name)!;
    const k = c.m.kdump('adopt-v7');
    await k.probeSmmu();
    assert.equal((k.smmu.options & OPT.KDUMP_ADOPT) !== 0, true, 'adopted: the corruption comes after the adopt-time checks');
    // Rogue DMA rewrites L1[1] (bus 1: the NIC) to a bad span after the adoption.
    const at = crashedL1(c) + 8;
    poke(c, at, ((await k.smmu.hw.read64(at)) & ~0x1fn) | 5n);
    const p = await k.probeDevice(NIC);
    assert.deepEqual([p.grouped, p.errno], [false, 'EINVAL']);
    assert.equal(k.log.grep('kdump: L1[1] span 5 changed since adopt (was 9)').length, 1);
    // Every other bus keeps working: bus 2 adopted and deferred, bus 5 fresh and attached.
    assert.equal((await k.probeDevice(NVME)).deferred, true);
    const r = c.m.smmu.dma({ sid: nvme.sid, address: nvme.iova, write: true }, new Uint8Array(8));
    assert.deepEqual([r.completion, r.translations[0]!.pa], ['ok', nvme.buf]);
    const fresh = await k.probeDevice({ name: 'new', sids: [0x500] });
    assert.deepEqual([fresh.grouped, fresh.deferred], [true, false]);
    assert.equal(c.m.smmu.register('CR0ACK') & 1n, 1n, 'the SMMU stays enabled');
    assert.equal(k.log.grep('falling back').length, 0);
  });
});

describe('v10 keeps every live CR0 field but the queue enables; v7 only SMMUEN|ATSCHK (needs IDR0.VMW)', () => {
  for (const [policy, cr0, ack] of [
    ['adopt-v7', ['0x11', '0x19', '0x19'], 0x19n],
    ['adopt-v10', ['0x51', '0x59', '0x59'], 0x59n],
  ] as const) {
    it(`${policy}: crashed CR0 0x5f (VMW=1) -> CR0 writes ${cr0.join(' -> ')}`, async () => {
      const r = await run(policy, { smmu: { vmw: true }, inject: (c) => c.m.smmu.injectRegister('CR0', 0x5fn) });
      assert.equal((r.k.smmu.options & OPT.KDUMP_ADOPT) !== 0, true);
      assert.deepEqual(
        writes(r.m.trace, 'kdump', 'CR0').map((v) => `0x${v.toString(16)}`),
        cr0,
      );
      assert.equal(r.m.smmu.register('CR0ACK'), ack, policy === 'adopt-v7' ? 'VMW dropped' : 'VMW kept');
      assert.equal(r.k.log.grep(/failed to/).length, 0);
    });
  }
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
    assert.deepEqual(await k2.smmu.hw.readWords(st2.l1tab, 4), [0n, 0n, 0n, 0n], "no stale L1[1] pointing at k1's L2");
    assert.deepEqual(await k2.smmu.hw.readWords(k2.smmu.evtq.base + 0x100, 1), [0n]);
    const r = c.m.smmu.dma({ sid: NIC.sids[0]!, address: 0x1000, write: true }, new Uint8Array(4));
    assert.equal(r.translations[0]!.path !== 's1', true, "the NIC is not translated through k1's domain");
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
      assert.deepEqual(
        r.k.log.grep(/features/).map((l) => l.text),
        [`ias 48-bit, oas 48-bit (features ${features})`],
      );
      assert.equal(r.k.smmu.features & FEAT.EVTQ, 0, 'bit 24 is never left set in a kdump kernel');
      assert.equal(r.k.smmu.evtq.base !== 0, evtq);
      assert.equal(r.k.smmu.hasEvtq, evtq);
    });
  }
});

describe('section 3.3a register access summary, reproduced from the traces', () => {
  /** One line per row of the table, summarising what the kdump kernel did to it during the probe. */
  async function summary(r: Run): Promise<Record<string, string>> {
    const t = r.m.trace;
    const w = (reg: string) => writes(t, 'kdump', reg);
    const rd = (reg: string) => reads(t, 'kdump', reg).length;
    const hex = (v: bigint) => `0x${v.toString(16)}`;
    const touched = (regs: string[]) => {
      const n = regs.reduce((s, x) => s + w(x).length, 0);
      return n === 0 ? 'never' : `written (${n})`;
    };
    const strtab = () => {
      if (w('STRTAB_BASE').length === 1 && w('STRTAB_BASE_CFG').length === 1 && rd('STRTAB_BASE') + rd('STRTAB_BASE_CFG') === 0)
        return `written once (CFG ${hex(w('STRTAB_BASE_CFG')[0]!)})`;
      if (w('STRTAB_BASE').length + w('STRTAB_BASE_CFG').length === 0 && rd('STRTAB_BASE') === 1 && rd('STRTAB_BASE_CFG') === 1) return 'read once';
      if (w('STRTAB_BASE').length === 1 && rd('STRTAB_BASE') === 1) return `read once, then written once (CFG ${hex(w('STRTAB_BASE_CFG')[0]!)})`;
      return `other: ${rd('STRTAB_BASE')}/${rd('STRTAB_BASE_CFG')} reads, ${w('STRTAB_BASE').length}/${w('STRTAB_BASE_CFG').length} writes`;
    };
    const cfgs = t.of('kdump', { dir: 'write' }).filter((a) => /_IRQ_CFG[012]$/.test(a.register));
    const msi = () => {
      const cleared = cfgs.filter((a) => a.register.endsWith('CFG0') && a.value === 0n).map((a) => a.register.replace('_IRQ_CFG0', ''));
      const programmed = [
        ...new Set(cfgs.filter((a) => !(a.register.endsWith('CFG0') && a.value === 0n)).map((a) => a.register.replace(/_IRQ_CFG[012]$/, ''))),
      ];
      return `cleared ${cleared.join(',')}; programmed ${programmed.join(',')} (CFG0..2)`;
    };
    return {
      IDRs: ['IDR0', 'IDR1', 'IDR3', 'IDR5', 'IIDR'].every((x) => rd(x) === 1) ? 'read' : 'other',
      'CR0 (read)': `${rd('CR0')}`,
      'CR0 writes': w('CR0').map(hex).join(' -> '),
      GBPA: w('GBPA').length ? `poll/write ${w('GBPA').map(hex).join(',')}/poll` : 'untouched',
      'CR1, CR2': w('CR1').length + w('CR2').length ? `written once (${w('CR1').map(hex).join()}, ${w('CR2').map(hex).join()})` : 'untouched',
      STRTAB: strtab(),
      'GERROR, GERRORN': `${rd('GERROR')} reads${w('GERRORN').length ? ', GERRORN <- GERROR' : ''}`,
      CMDQ:
        ['CMDQ_BASE', 'CMDQ_PROD', 'CMDQ_CONS'].every((x) => w(x).length >= 1) && w('CMDQ_BASE').length === 1 && w('CMDQ_CONS').length === 1
          ? 'written once'
          : 'other',
      EVTQ: touched(['EVENTQ_BASE', 'EVENTQ_PROD', 'EVENTQ_CONS']),
      PRIQ: touched(['PRIQ_BASE', 'PRIQ_PROD', 'PRIQ_CONS']),
      IRQ_CTRL: w('IRQ_CTRL').map(hex).join(' -> '),
      '*_IRQ_CFG0/1/2 (MSI)': msi(),
    };
  }

  it('adopt v7 | adopt v10 | kdump fallback (a tossed adoption) | status-quo kdump', async () => {
    const table = {
      'adopt v7': await summary(await run('adopt-v7')),
      'adopt v10': await summary(await run('adopt-v10')),
      'kdump fallback': await summary(await run('adopt-v7', { inject: spanError })),
      'status-quo kdump': await summary(await run('status-quo')),
    };
    const msiAll = 'cleared GERROR,EVENTQ,PRIQ; programmed EVENTQ,GERROR,PRIQ (CFG0..2)';
    assert.deepEqual(table, {
      'adopt v7': {
        IDRs: 'read',
        'CR0 (read)': '2', // hw_probe (detection) + device_reset
        'CR0 writes': '0x11 -> 0x19 -> 0x19', // SMMUEN|ATSCHK as found -> +CMDQEN -> +SMMUEN (unchanged)
        GBPA: 'untouched',
        'CR1, CR2': 'untouched',
        STRTAB: 'read once',
        'GERROR, GERRORN': '2 reads',
        CMDQ: 'written once',
        EVTQ: 'never',
        PRIQ: 'never',
        IRQ_CTRL: '0x0 -> 0x1',
        '*_IRQ_CFG0/1/2 (MSI)': msiAll,
      },
      'adopt v10': {
        IDRs: 'read',
        'CR0 (read)': '2',
        'CR0 writes': '0x11 -> 0x19 -> 0x19', // live CR0 minus queue enables -> +CMDQEN -> +SMMUEN
        GBPA: 'untouched',
        'CR1, CR2': 'untouched',
        STRTAB: 'read once',
        'GERROR, GERRORN': '2 reads',
        CMDQ: 'written once',
        EVTQ: 'never',
        PRIQ: 'never',
        IRQ_CTRL: '0x0 -> 0x1',
        '*_IRQ_CFG0/1/2 (MSI)': 'cleared GERROR,EVENTQ; programmed EVENTQ,GERROR (CFG0..2)', // FEAT_PRI cleared in kdump
      },
      'kdump fallback': {
        IDRs: 'read',
        'CR0 (read)': '2',
        'CR0 writes': '0x0 -> 0x8 -> 0x18 -> 0x19', // 0 -> CMDQEN -> +ATSCHK -> +SMMUEN
        GBPA: 'poll/write 0x80101000/poll', // read-modify-write: SHCFG=incoming kept, ABORT|UPDATE set
        'CR1, CR2': 'written once (0xd75, 0x6)',
        STRTAB: 'read once, then written once (CFG 0x10210)', // read by adopt_strtab, then the fresh table
        'GERROR, GERRORN': '2 reads', // hw_probe (detection) + device_reset
        CMDQ: 'written once',
        EVTQ: 'never',
        PRIQ: 'never',
        IRQ_CTRL: '0x0 -> 0x1',
        '*_IRQ_CFG0/1/2 (MSI)': msiAll,
      },
      'status-quo kdump': {
        IDRs: 'read',
        'CR0 (read)': '1', // device_reset only
        'CR0 writes': '0x0 -> 0x8 -> 0xc -> 0xe -> 0x1e -> 0x19', // +EVTQEN, +PRIQEN, +ATSCHK, then CMDQEN|ATSCHK|SMMUEN
        GBPA: 'poll/write 0x80101000/poll',
        'CR1, CR2': 'written once (0xd75, 0x6)',
        STRTAB: 'written once (CFG 0x10210)',
        'GERROR, GERRORN': '0 reads',
        CMDQ: 'written once',
        EVTQ: 'written (3)',
        PRIQ: 'written (3)',
        IRQ_CTRL: '0x0 -> 0x7',
        '*_IRQ_CFG0/1/2 (MSI)': msiAll,
      },
    });
  });
});

describe("gbpa-bypass: the cover letter's case (b)", () => {
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
    assert.ok(
      paths.slice(paths.lastIndexOf('ok/gbpa') + 1).every((x) => x.startsWith('abort')),
      'then the fresh table aborts it',
    );
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
        for (const x of t.ticks) assert.equal(x.pa, nic.buf, "lands in the crashed kernel's buffer");
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
          assert.equal(r.completion, 'abort', "the old IOVA is not mapped in the kdump kernel's new domain");
        }
      }
    });
  }
});
