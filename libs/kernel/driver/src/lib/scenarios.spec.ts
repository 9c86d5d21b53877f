// SPDX-License-Identifier: Apache-2.0
// Every review concern (R1..R11) and fault scenario (S1..S22 with the S10 sub-cases) of
// kdump-adopt-series.md section 4 as a named test, on the real hardware twin through the bus
// port, asserting the decision, the messages and the register accesses the document predicts.
// Where the document marks an outcome as inference [INF], the test says which choice the twin
// makes and the option that changes it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CD, findFormat, L1STD, STE } from '@kdump-twin/smmu-arch';
import { crashedMachine, dmaTicker, NIC, NVME, type Crashed } from '../testing/scenario';
import { fmtPa } from './device';
import { PageAllocator } from './hw';
import { Machine } from './machine';
import { FEAT, OPT, type KdumpPolicy } from './features';
import type { LinuxKernel } from './kernel';

const written = (c: Crashed, reg: string) => c.m.trace.of('kdump', { dir: 'write', register: reg }).map((a) => a.value);
const adopted = (k: LinuxKernel) => (k.smmu.options & OPT.KDUMP_ADOPT) !== 0;
const fellBack = (k: LinuxKernel) => k.log.grep('kdump: falling back to full reset').length === 1;
/** How many lines printed exactly `text`. */
const said = (k: LinuxKernel, text: string) => k.log.all().filter((l) => l.text === text).length;

/** Physical address of the live L1 table / linear table the crashed kernel left. */
const strtabBase = (c: Crashed) => Number(c.m.smmu.register('STRTAB_BASE') & 0x000f_ffff_ffff_ffc0n);

/** A rogue store into crashed-kernel memory (DMA or a stray CPU write before kexec). */
function poke(c: Crashed, pa: number, v: bigint): void {
  const w = c.m.memory.internWriter({ kind: 'device-bypass', sid: 0xfff });
  c.m.memory.writeDword(pa, Number(v & 0xffffffffn), Number(v >> 32n), w);
}

/**
 * The status-quo reset's register accesses (series document 3.2 and 3.3): GBPA polled, written
 * with ABORT|UPDATE and polled again if SMMUEN was set; CR0 <- 0 first; CR1, CR2 and the fresh
 * STRTAB_BASE/_CFG written once; the CR0 steps (with the series no EVTQEN/PRIQEN).
 */
function assertFullReset(c: Crashed, o: { gbpa: boolean; series: boolean; strtabCfg?: bigint }): void {
  const gbpa = c.m.trace.of('kdump', { register: 'GBPA' });
  if (o.gbpa) {
    assert.deepEqual(gbpa.map((a) => a.dir).slice(0, 2), ['read', 'write'], 'poll Update==0, then write');
    assert.deepEqual(
      [gbpa[1]!.value, gbpa.at(-1)!.dir, gbpa.at(-1)!.value & 0x8000_0000n],
      [0x8010_1000n, 'read', 0n],
      'ABORT|UPDATE, polled until Update clears',
    );
  } else assert.deepEqual(gbpa, [], 'GBPA untouched');
  assert.deepEqual(written(c, 'CR0'), o.series ? [0n, 0x8n, 0x18n, 0x19n] : [0n, 0x8n, 0xcn, 0xen, 0x1en, 0x19n]);
  assert.deepEqual(written(c, 'CR1'), [0xd75n]);
  assert.deepEqual(written(c, 'CR2'), [0x6n]);
  assert.equal(written(c, 'STRTAB_BASE').length, 1);
  assert.deepEqual(written(c, 'STRTAB_BASE_CFG'), [o.strtabCfg ?? 0x10210n]);
  if (o.series) for (const r of ['EVENTQ_BASE', 'EVENTQ_PROD', 'EVENTQ_CONS', 'PRIQ_BASE', 'PRIQ_PROD', 'PRIQ_CONS']) assert.deepEqual(written(c, r), [], r);
}

/** Adoption's register accesses (3.1): none of GBPA, CR1, CR2, STRTAB_BASE(_CFG) written; the CR0 steps. */
function assertAdoptReset(c: Crashed, cr0: bigint[]): void {
  for (const r of ['GBPA', 'CR1', 'CR2', 'STRTAB_BASE', 'STRTAB_BASE_CFG']) assert.deepEqual(written(c, r), [], r);
  assert.deepEqual(written(c, 'CR0'), cr0);
}

/** The crashed kernel's STE for `sid` in its 2-level table: address and words. */
async function crashedSte(c: Crashed, sid: number): Promise<{ pa: number; ste: bigint[] }> {
  const l2 = Number((await c.p.smmu.hw.read64(strtabBase(c) + 8 * (sid >> 8))) & 0x000f_ffff_ffff_ffc0n);
  const pa = l2 + 64 * (sid & 0xff);
  return { pa, ste: await c.p.smmu.hw.readWords(pa, 8) };
}

async function kdump(c: Crashed, policy: KdumpPolicy, opts: Parameters<Crashed['m']['kdump']>[1] = {}): Promise<LinuxKernel> {
  const k = c.m.kdump(policy, opts);
  await k.probeSmmu();
  return k;
}

describe('R1 (Robin/Jason): blocking everything vs established kdump practice', () => {
  it('S1a: an ATS device with translated requests in flight fails in the status-quo window, not with adopt', async () => {
    for (const policy of ['status-quo', 'adopt-v7'] as const) {
      const c = await crashedMachine({ devices: [{ ...NIC, ats: true }] });
      const nic = c.maps.get(NIC.name)!;
      const fails: string[] = [];
      const tick = () => {
        const r = c.m.smmu.dma({ sid: nic.sid, address: nic.buf, write: true, ats: 'translated' }, new Uint8Array(64));
        if (r.completion !== 'ok') fails.push(r.translations[0]!.path);
        if (fails.length < 100) c.m.clock.after(250, 'ats', tick);
      };
      c.m.clock.after(250, 'ats', tick);
      const k = await kdump(c, policy);
      await k.probeDevice({ ...NIC, ats: true });
      if (policy === 'status-quo') assert.ok(fails.length > 0, 'translated requests aborted while SMMUEN=0 and after the fresh abort STE');
      else assert.deepEqual(fails, [], 'no failure until the driver resets the device');
      fails.length = 100;
    }
  });

  it('S1b: a corrupted configuration that still passes the structural checks is adopted (accepted risk)', async () => {
    const c = await crashedMachine();
    // The NIC's STE now points its CD table at garbage: structurally a valid S1 STE.
    const l2 = Number((await c.p.smmu.hw.read64(strtabBase(c) + 8)) & 0x000f_ffff_ffff_ffc0n);
    const ste = await c.p.smmu.hw.readWords(l2, 8);
    poke(c, l2, STE.with(ste, 'S1ContextPtr', 0x8123_4000n)[0]!);
    const k = await kdump(c, 'adopt-v7');
    assert.equal(adopted(k), true);
    assert.equal((await k.probeDevice(NIC)).deferred, true);
  });
});

describe('R2 (Jason): memremap WB is wrong for a non-coherent SMMU', () => {
  it('S2: FEAT_COHERENCY=0 with SMMUEN=1: warn, fall back, in-flight DMA aborted', async () => {
    const c = await crashedMachine({ smmu: { coherent: false }, primary: { firmware: { coherent: false } } });
    const nic = c.maps.get(NIC.name)!;
    const t = dmaTicker(c.m, nic.sid, nic.iova, 250);
    const k = await kdump(c, 'adopt-v7', { firmware: { coherent: false } });
    t.stop();
    assert.equal(k.log.grep('kdump: non-coherent SMMU unsupported; reset to block all DMAs').length, 1);
    assert.equal(adopted(k), false);
    assert.equal(fellBack(k), false, 'refused at detection: no adoption was attempted');
    assert.ok(t.ticks.some((x) => x.completion === 'abort' && x.path === 'gbpa'));
    assertFullReset(c, { gbpa: true, series: true });
    // Detection read CR0 and stopped at the coherency check: no GERROR/GERRORN read at hw_probe.
    // (The trace folds the two identical CR0 reads, hw_probe's and device_reset's, into one record.)
    const acc = c.m.trace.of('kdump', { dir: 'read' });
    const i = acc.findIndex((a) => a.register === 'IIDR');
    assert.deepEqual(
      acc.slice(i + 1, i + 3).map((a) => `${a.register} x${a.repeat}`),
      ['CR0 x2', 'GBPA x1'],
    );
  });
});

describe('R3 (Jason, Sashiko): the L2 guard in is_attach_deferred is dead code', () => {
  it("S3: is_attach_deferred only runs after insert_master made the SID's L2 table exist", async () => {
    const c = await crashedMachine();
    const k = await kdump(c, 'adopt-v7');
    const st = k.smmu.strtab;
    assert.equal(st.kind, '2lvl');
    if (st.kind !== '2lvl') return;
    assert.equal(st.l2ptrs[1], undefined, 'no L2 mapped at adopt time (lazy)');
    const p = await k.probeDevice(NIC);
    assert.notEqual(st.l2ptrs[1], undefined);
    assert.equal(p.deferred, true);
  });
});

describe('R4 (Kevin): warnings, no enable-then-disable of EVTQ/PRIQ', () => {
  it('S4: on the kdump fallback paths (refused, tossed) CR0.EVTQEN/PRIQEN are never observed as 1', async () => {
    for (const [name, setup, first] of [
      [
        'refused: non-coherent',
        { smmu: { coherent: false }, primary: { firmware: { coherent: false } } },
        'kdump: non-coherent SMMU unsupported; reset to block all DMAs',
      ],
      ['tossed: L1[1] span 4', {}, 'kdump: falling back to full reset'],
    ] as const) {
      const c = await crashedMachine(setup);
      if (name.startsWith('tossed')) poke(c, strtabBase(c) + 8, ((await c.p.smmu.hw.read64(strtabBase(c) + 8)) & ~0x1fn) | 4n);
      const k = await kdump(c, 'adopt-v7', name.startsWith('refused') ? { firmware: { coherent: false } } : {});
      assert.equal(adopted(k), false, name);
      const acks = c.m.trace.of('kdump', { register: 'CR0ACK' });
      assert.ok(acks.length >= 4, name);
      for (const a of acks) assert.equal(a.value & 6n, 0n, name);
      assertFullReset(c, { gbpa: true, series: true });
      // Kevin: the status-quo warning comes after the kdump decision, not before it.
      const texts = k.log.all().map((l) => l.text);
      assert.ok(texts.indexOf(first) >= 0 && texts.indexOf(first) < texts.indexOf('SMMU currently enabled! Resetting...'), `${name}: ${texts.join(' | ')}`);
    }
  });
});

describe('R5 (Sashiko/Jason): READ_ONCE on L1 reads, dropped: no concurrency', () => {
  it('S5: adoption reads the L1 table as plain memory, with no register access among the reads', async () => {
    const c = await crashedMachine();
    const k = await kdump(c, 'adopt-v7');
    const acc = c.m.trace.of('kdump').map((a) => a.register);
    const i = acc.indexOf('STRTAB_BASE');
    assert.equal(acc[i - 1], 'STRTAB_BASE_CFG');
    assert.equal(acc[i + 1], 'CR0', 'the next MMIO access is device_reset reading CR0');
    assert.equal(adopted(k), true);
  });
});

describe('R6 (Jason): no physical-address vetting in the driver (v6+)', () => {
  it("S6a: STRTAB_BASE pointing into the kdump kernel's own RAM with valid geometry is accepted", async () => {
    const c = await crashedMachine();
    c.m.smmu.injectRegister('STRTAB_BASE', 0xe000_0000n); // the crashkernel carve-out: zeros
    const k = await kdump(c, 'adopt-v7');
    assert.equal(adopted(k), true, 'every L1 descriptor reads Span=0: an empty but valid table');
    assertAdoptReset(c, [0x11n, 0x19n, 0x19n]);
    const p = await k.probeDevice(NIC);
    assert.equal(p.deferred, false, 'unused slot: a fresh abort L2, device attached at once');
    assert.equal(c.m.memory.lastWriteAt(0xe000_0000 + 8)!.writer.kind, 'kdump-cpu', "its L1 descriptor written into the kernel's own RAM");
  });

  it('S6b: STRTAB_BASE = 0: memremap(0) fails [INF, twin default] and adoption falls back', async () => {
    const c = await crashedMachine();
    c.m.smmu.injectRegister('STRTAB_BASE', 0n);
    const k = await kdump(c, 'adopt-v7');
    assert.equal(fellBack(k), true);
    assertFullReset(c, { gbpa: true, series: true });
  });

  it('S6b: STRTAB_BASE = 0 with memremapNonRam=succeed: zeros are parsed and adoption proceeds [INF]', async () => {
    const c = await crashedMachine();
    c.m.smmu.injectRegister('STRTAB_BASE', 0n);
    const k = await kdump(c, 'adopt-v7', { memremapNonRam: 'succeed' });
    assert.equal(adopted(k), true);
    assertAdoptReset(c, [0x11n, 0x19n, 0x19n]);
  });
});

describe('memremap() maps a whole range or returns NULL; every load of crashed memory goes through it', () => {
  it('an L1 table running 1 KiB past the end of memory: memremap NULL, -ENOMEM, fallback (no -EFAULT escapes)', async () => {
    const c = await crashedMachine();
    c.m.smmu.injectRegister('STRTAB_BASE', 0x1_4fff_fc00n); // 256 L1 descriptors = 2 KiB; memory ends at 0x1_5000_0000
    const k = await kdump(c, 'adopt-v7');
    assert.deepEqual(k.probeResult, { ok: true });
    assert.equal(fellBack(k), true);
    assert.equal(adopted(k), false);
    assert.equal(k.log.all().filter((l) => l.level === 'err').length, 0, '-ENOMEM from memremap prints nothing of its own');
  });

  it('a linear table only partly backed: fallback at adopt time, so no later probe_device faults', async () => {
    const c = await crashedMachine({ primary: { legacyLinearStrtab: true } });
    c.m.smmu.injectRegister('STRTAB_BASE_CFG', 16n); // LINEAR, 2^16 STEs = 4 MiB
    c.m.smmu.injectRegister('STRTAB_BASE', 0x1_4fe0_0000n); // the last 2 MiB are past memory
    const k = await kdump(c, 'adopt-v7');
    assert.equal(fellBack(k), true);
    const p = await k.probeDevice({ name: 'far', sids: [0xc000] }); // its STE would sit past memory
    assert.deepEqual([p.grouped, p.deferred, p.errno], [true, false, undefined]);
  });

  it('S6b with memremapNonRam=succeed: the lazy L1 read sees zeros, a fresh L2 is attached, the L1 store is lost', async () => {
    const c = await crashedMachine();
    c.m.smmu.injectRegister('STRTAB_BASE', 0n);
    const k = await kdump(c, 'adopt-v7', { memremapNonRam: 'succeed' });
    assert.equal(adopted(k), true);
    const p = await k.probeDevice(NIC);
    assert.deepEqual([p.grouped, p.deferred], [true, false], 'zeros: an unused slot, so a fresh abort L2 and an attach');
    const st = k.smmu.strtab;
    assert.ok(st.kind === '2lvl' && st.l2ptrs[1]! >= 0xe000_0000, 'the L2 lives in the carve-out');
    assert.equal(c.m.memory.check(8, 8)?.fault, 'unbacked', 'L1[1] at PA 0x8 is no memory: the 64-bit store went nowhere');
  });

  it('lazy path: an L2 table crossing the end of memory: "failed to adopt l2 stream table for SID 256", -ENXIO, that device only', async () => {
    const c = await crashedMachine();
    poke(c, strtabBase(c) + 8, 0x1_4fff_e000n | 9n); // 16 KiB from here: 8 KiB past memory (v7 has no alignment check)
    const k = await kdump(c, 'adopt-v7');
    assert.equal(adopted(k), true, 'v7 maps no L2 at adopt time');
    const p = await k.probeDevice(NIC);
    assert.deepEqual([p.grouped, p.errno], [false, 'ENXIO'], 'devm_memremap returns ERR_PTR(-ENXIO)');
    assert.equal(said(k, 'kdump: failed to adopt l2 stream table for SID 256'), 1);
    assert.equal((await k.probeDevice(NVME)).deferred, true, 'bus 2 is unaffected');
  });
});

describe('R7 (Pranjal): lazy devm_memremap, cleanup, linear on 2-level hardware', () => {
  it('S7a: a crashed linear table on 2-level hardware is adopted linear; SIDs past it get -ERANGE', async () => {
    const c = await crashedMachine({ primary: { legacyLinearStrtab: true } });
    c.m.smmu.injectRegister('STRTAB_BASE_CFG', 12n); // LINEAR, LOG2SIZE 12
    const k = await kdump(c, 'adopt-v7');
    assert.equal(adopted(k), true);
    assert.equal(k.smmu.features & FEAT.TWO_LVL_STRTAB, 0, 'FEAT_2_LVL_STRTAB cleared to follow the crashed table');
    assert.equal(k.smmu.strtab.kind, 'linear');
    assertAdoptReset(c, [0x11n, 0x19n, 0x19n]);
    assert.equal((await k.probeDevice(NIC)).deferred, true);
    assert.equal((await k.probeDevice({ name: 'far', sids: [0x1000] })).errno, 'ERANGE');
  });

  it('S7b: a 2-level table on linear-only hardware: WARN_ON, -EINVAL, fallback', async () => {
    const c = await crashedMachine({ smmu: { sidBits: 8 }, devices: [{ name: 'x', sids: [3] }] });
    c.m.smmu.injectRegister('STRTAB_BASE_CFG', 0x10208n); // TWO_LEVEL, SPLIT 8, LOG2SIZE 8
    const k = await kdump(c, 'adopt-v7');
    // WARN_ON() prints a plain (device-less) WARNING with its location, then the fallback.
    const warn = k.log.all().findIndex((l) => l.text === 'WARNING: CPU: 0 PID: 1 at drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c arm_smmu_kdump_adopt_strtab');
    assert.ok(warn > 0, k.log.format());
    assert.deepEqual([k.log.all()[warn - 1]!.text, k.log.all()[warn]!.device], ['------------[ cut here ]------------', '']);
    assert.equal(fellBack(k), true);
    assert.equal(k.smmu.strtab.kind, 'linear');
    assertFullReset(c, { gbpa: true, series: true, strtabCfg: 8n }); // the fresh linear table: LOG2SIZE 8
  });

  it('S7c: devm_add_action_or_reset fails after a linear adoption: warn, FEAT_2_LVL_STRTAB restored, fallback', async () => {
    for (const policy of ['adopt-v7', 'adopt-v10'] as const) {
      // S7a's setup: the linear adoption clears FEAT_2_LVL_STRTAB, so the restore is what matters.
      const c = await crashedMachine({ primary: { legacyLinearStrtab: true } });
      const k = await kdump(c, policy, { failDevresAction: true });
      assert.equal(k.log.grep('kdump: failed to set up cleanup action').length, 1);
      assert.equal(fellBack(k), true);
      assert.deepEqual(k.smmu.strtabHistory, ['adopted linear', 'none', 'fresh 2lvl'], policy);
      assert.ok(k.smmu.features & FEAT.TWO_LVL_STRTAB, `${policy}: restored (v7 in the devres branch, v10 at fail:)`);
      assert.equal([...k.smmu.asids.values(), ...k.smmu.vmids.values()].filter((v) => v === 'reserved').length, 0);
      assertFullReset(c, { gbpa: true, series: true });
    }
  });

  it('S7d: unbind after adoption frees by the feature bit and touches no register', async () => {
    const c = await crashedMachine();
    const k = await kdump(c, 'adopt-v7');
    await k.probeDevice(NIC);
    const before = c.m.trace.all().length;
    const r = k.smmu.unbind();
    assert.match(r.freed, /l2ptrs and l1tab/);
    assert.equal(c.m.trace.all().length, before);
  });
});

describe('R8 (Pranjal): the combined IRQ in kdump', () => {
  const combined = { firmware: { combinedIrq: true } };

  it('S8a: combined line with no active GERROR: the top half returns IRQ_NONE; v7 registers a plain handler, v10 a threaded one whose thread never runs', async () => {
    for (const [policy, kind, result, thread] of [
      ['adopt-v7', 'plain', 'IRQ_NONE', false],
      ['adopt-v10', 'threaded', 'IRQ_NONE', false],
      ['status-quo', 'threaded', 'IRQ_WAKE_THREAD', true], // mainline: the thread always runs
    ] as const) {
      const c = await crashedMachine({ primary: combined });
      const k = await kdump(c, policy, combined);
      assert.equal(k.smmu.irqs.combined, kind, policy);
      assert.equal(k.smmu.irqLog.length, 0, `${policy}: the probe's CMD_SYNC completions ran no handler`);
      // The line asserts with nothing active (a spurious interrupt).
      await k.smmu.interrupt({ time: c.m.clock.now(), source: 'EVENTQ', kind: 'wired' });
      assert.deepEqual(
        k.smmu.irqLog.map((r) => [r.handler, r.result, r.thread]),
        [['combined', result, thread]],
        policy,
      );
      if (policy !== 'status-quo') {
        // GERROR/GERRORN read twice by the probe (hw_probe, reset) and once by the handler.
        assert.equal(c.m.trace.of('kdump', { dir: 'read', register: 'GERROR' }).length, 3, policy);
        assert.equal(k.smmu.hasEvtq, policy === 'adopt-v7', 'v10 clears FEAT_EVTQ (and FEAT_PRI) in kdump; v7 has no such bit');
      }
    }
  });

  it('S8b: a later GERROR.CMDQ_ERR is handled in hard-IRQ context and acknowledged', async () => {
    const c = await crashedMachine({ primary: combined });
    const k = await kdump(c, 'adopt-v7', combined);
    c.m.smmu.injectGlobalError('CMDQ_ERR');
    await k.serviceInterrupts();
    assert.equal(k.log.grep('unexpected global error reported (0x00000001), this could be serious').length, 1);
    assert.equal(k.log.grep(/CMDQ error \(cons 0x[0-9a-f]{8}\): No error/).length, 1);
    assert.equal(c.m.smmu.register('GERROR'), c.m.smmu.register('GERRORN'));
  });

  it('S8c (v4/v5 variant): with v7 no EVTQ thread exists at all, so nothing can drain a disabled queue', async () => {
    const c = await crashedMachine();
    const k = await kdump(c, 'adopt-v7');
    assert.equal(k.smmu.irqs.evtq, false);
    assert.equal(written(c, 'EVENTQ_CONS').length, 0);
  });
});

describe('R9 (Pranjal): skip all EVTQ/PRIQ register writes', () => {
  it("S9: EVTQ and PRIQ BASE/PROD/CONS are never written and keep the crashed kernel's values", async () => {
    const c = await crashedMachine();
    const before = ['EVENTQ_BASE', 'PRIQ_BASE', 'EVENTQ_CONS', 'PRIQ_CONS'].map((r) => c.m.smmu.register(r));
    for (const policy of ['adopt-v7', 'adopt-v10'] as const) {
      await kdump(c, policy);
      for (const r of ['EVENTQ_BASE', 'EVENTQ_PROD', 'EVENTQ_CONS', 'PRIQ_BASE', 'PRIQ_PROD', 'PRIQ_CONS']) assert.deepEqual(written(c, r), [], r);
      assert.deepEqual(
        ['EVENTQ_BASE', 'PRIQ_BASE', 'EVENTQ_CONS', 'PRIQ_CONS'].map((r) => c.m.smmu.register(r)),
        before,
      );
    }
  });
});

describe('R10 (Mostafa): errors, corrupted structures, TLB state, firmware', () => {
  it('S10a: a corrupted crashed page table faults one adopted stream silently: no record, no GERROR', async () => {
    const c = await crashedMachine();
    const nvme = c.maps.get(NVME.name)!;
    // The crashed kernel's NVMe leaf PTE is scribbled before kexec.
    poke(c, await leafPte(c, NVME.name, nvme.iova), 0n);
    const k = await kdump(c, 'adopt-v7');
    await k.probeDevice(NIC);
    await k.probeDevice(NVME);
    const events = c.m.smmu.counters.eventsWritten;
    const gerror = c.m.smmu.register('GERROR');
    const r = c.m.smmu.dma({ sid: nvme.sid, address: nvme.iova, write: true }, new Uint8Array(8));
    assert.equal(r.completion, 'abort');
    assert.equal(r.translations[0]!.event, 'F_TRANSLATION');
    assert.equal(r.translations[0]!.recorded, false, 'EVTQ disabled: the record is discarded');
    assert.equal(c.m.smmu.counters.eventsWritten, events);
    assert.equal(c.m.smmu.register('GERROR'), gerror);
    const nic = c.maps.get(NIC.name)!;
    assert.equal(c.m.smmu.dma({ sid: nic.sid, address: nic.iova, write: true }, new Uint8Array(8)).completion, 'ok', 'other streams unaffected');
  });

  it('S10b: live streams see PCIe aborts under the status quo and none under adopt (the RAS trigger)', async () => {
    const aborts: Record<string, number> = {};
    for (const policy of ['status-quo', 'adopt-v7'] as const) {
      const c = await crashedMachine();
      const nic = c.maps.get(NIC.name)!;
      const t = dmaTicker(c.m, nic.sid, nic.iova, 250);
      const k = await kdump(c, policy);
      await k.probeDevice(NIC);
      t.stop();
      aborts[policy] = t.ticks.filter((x) => x.completion !== 'ok').length;
    }
    assert.ok(aborts['status-quo']! > 0);
    assert.equal(aborts['adopt-v7'], 0);
  });

  describe('S10c: geometry fuzz, each with its message, then fallback to the status-quo reset', () => {
    // [name, STRTAB_BASE_CFG, v7 text, v10 text (arm-smmu-v3-kexec.c: printed with v10KexecPrefix), SMMU SID bits]
    const cases: [string, bigint, string | undefined, string | undefined, number][] = [
      ['FMT=2', 0x20210n, 'kdump: invalid STRTAB format 2', 'invalid STRTAB format 2', 16],
      ['FMT=3', 0x30210n, 'kdump: invalid STRTAB format 3', 'invalid STRTAB format 3', 16],
      ['2-level LOG2SIZE < SPLIT', 0x10206n, 'kdump: log2size 6 out of range [8, 16]', 'log2size 6 out of range [8, 16]', 16],
      ['2-level LOG2SIZE > sid_bits', 0x10211n, 'kdump: log2size 17 out of range [8, 16]', 'log2size 17 out of range [8, 16]', 16],
      ['SPLIT != 8', 0x10190n, 'kdump: unsupported STRTAB_SPLIT 6 (expected 8)', 'unsupported STRTAB_SPLIT 6 (expected 8)', 16],
      // LOG2SIZE 26 on a 32-bit-SID SMMU: 2^18 L1 entries; v7 shifts then compares, v10 compares the exponent.
      ['2-level L1 entries above 2^17', 0x1021an, 'kdump: l1 entries 262144 exceeds max 131072', 'l1 entries 2^18 exceeds max 131072', 32],
      ['linear LOG2SIZE above the cap (25 on 2-level hardware)', 0x0001an, 'kdump: unsupported log2size 26 (> 25)', 'unsupported log2size 26 (> 25)', 32],
      // v10 caps by sid_bits first; v7's cap on 2-level hardware is 25, so it adopts this one.
      ['linear LOG2SIZE above sid_bits', 0x00011n, undefined, 'unsupported log2size 17 (> 16)', 16],
    ];
    for (const [name, cfg, v7, v10, sidBits] of cases) {
      for (const [policy, msg] of [
        ['adopt-v7', v7],
        ['adopt-v10', v10],
      ] as const) {
        if (msg === undefined) continue;
        it(`${name} (${policy}): "${msg}"`, async () => {
          const c = await crashedMachine({ smmu: { sidBits } });
          c.m.smmu.injectRegister('STRTAB_BASE_CFG', cfg);
          const k = await kdump(c, policy);
          assert.equal(said(k, msg), 1, k.log.format(true));
          assert.equal(fellBack(k), true);
          assert.equal(adopted(k), false);
          // The fresh 2-level table: LOG2SIZE 16, or 25 (2^17 L1 entries) for 32 SID bits.
          assertFullReset(c, { gbpa: true, series: true, strtabCfg: sidBits === 32 ? 0x10219n : 0x10210n });
        });
      }
    }

    it('v10: the kexec-helper messages take v10KexecPrefix (none in the tree read, "kexec: " in another)', async () => {
      for (const [cfg, text] of [
        [0x20210n, 'invalid STRTAB format 2'],
        [0x10206n, 'log2size 6 out of range [8, 16]'],
        [0x10190n, 'unsupported STRTAB_SPLIT 6 (expected 8)'],
      ] as const) {
        for (const prefix of ['', 'kexec: ']) {
          const c = await crashedMachine();
          c.m.smmu.injectRegister('STRTAB_BASE_CFG', cfg);
          const k = await kdump(c, 'adopt-v10', { v10KexecPrefix: prefix });
          assert.equal(said(k, `${prefix}${text}`), 1, k.log.format());
          assert.equal(said(k, 'kdump: falling back to full reset'), 1, 'arm-smmu-v3-kdump.c keeps its "kdump: " prefix');
        }
      }
    });

    it('v10: a misaligned L1 table base: "unaligned l1 stream table base"', async () => {
      const c = await crashedMachine();
      c.m.smmu.injectRegister('STRTAB_BASE', c.m.smmu.register('STRTAB_BASE') + 0x40n);
      const k = await kdump(c, 'adopt-v10');
      // The crashed L1 table is at 0x80c00000; %pa on arm64 is 0x%016llx.
      assert.equal(said(k, 'unaligned l1 stream table base 0x0000000080c00040'), 1, k.log.format());
      assert.equal(fellBack(k), true);
      assertFullReset(c, { gbpa: true, series: true });
      const c7 = await crashedMachine();
      c7.m.smmu.injectRegister('STRTAB_BASE', c7.m.smmu.register('STRTAB_BASE') + 0x40n);
      assert.equal(adopted(await kdump(c7, 'adopt-v7')), true, 'v7 has no alignment check');
    });

    it('v10: a misaligned linear table base: "unaligned stream table base"; v7 adopts it', async () => {
      for (const policy of ['adopt-v10', 'adopt-v7'] as const) {
        const c = await crashedMachine({ primary: { legacyLinearStrtab: true } });
        const base = strtabBase(c) + 0x40;
        c.m.smmu.injectRegister('STRTAB_BASE', BigInt(base));
        const k = await kdump(c, policy);
        if (policy === 'adopt-v7') {
          assert.equal(adopted(k), true);
          continue;
        }
        assert.equal(said(k, `unaligned stream table base ${fmtPa(base)}`), 1, k.log.format());
        assert.match(fmtPa(base), /^0x0{8}[0-9a-f]{8}$/);
        assert.equal(fellBack(k), true);
        assertFullReset(c, { gbpa: true, series: true });
      }
    });
  });

  describe('S10d: L1 descriptor fuzz at adopt time', () => {
    it('SPAN not in {0, 9}: "L1[i] unsupported span", fallback (v7 and v10)', async () => {
      for (const policy of ['adopt-v7', 'adopt-v10'] as const) {
        const c = await crashedMachine();
        const at = strtabBase(c) + 8;
        poke(c, at, ((await c.p.smmu.hw.read64(at)) & ~0x1fn) | 4n);
        const k = await kdump(c, policy);
        assert.equal(said(k, `${policy === 'adopt-v7' ? 'kdump: ' : ''}L1[1] unsupported span 4 (vs 9)`), 1, k.log.format());
        assert.equal(fellBack(k), true);
        assertFullReset(c, { gbpa: true, series: true });
      }
    });

    it('SPAN=9, L2Ptr=0: v7 skips the slot (a fresh L2 later lands in the live L1); v10 falls back', async () => {
      const c = await crashedMachine();
      poke(c, strtabBase(c) + 8, 9n);
      const k = await kdump(c, 'adopt-v7');
      assert.equal(adopted(k), true);
      const p = await k.probeDevice(NIC);
      assert.equal(p.deferred, false, 'a fresh all-abort L2 was allocated for bus 1');
      const l1 = await k.smmu.hw.read64(strtabBase(c) + 8);
      assert.equal(Number(L1STD.get([l1], 'Span')), 9);
      assert.ok(Number(l1 & 0x000f_ffff_ffff_ffc0n) >= 0xe000_0000, 'the L2 lives in the crashkernel carve-out');
      const c10 = await crashedMachine();
      poke(c10, strtabBase(c10) + 8, 9n);
      const k10 = await kdump(c10, 'adopt-v10');
      assert.equal(said(k10, 'L1[1] bad l2 table base 0x0000000000000000'), 1);
      assert.equal(fellBack(k10), true);
      assertFullReset(c10, { gbpa: true, series: true });
    });

    it('SPAN=9, L2Ptr not 16 KiB aligned: v7 accepts, v10 falls back', async () => {
      const mk = async (policy: KdumpPolicy) => {
        const c = await crashedMachine();
        const at = strtabBase(c) + 8;
        const d = (await c.p.smmu.hw.read64(at)) + 0x40n;
        poke(c, at, d);
        return { k: await kdump(c, policy), l2: Number(d & 0x000f_ffff_ffff_ffc0n) };
      };
      assert.equal(adopted((await mk('adopt-v7')).k), true);
      const { k: k10, l2 } = await mk('adopt-v10');
      assert.equal(said(k10, `L1[1] bad l2 table base ${fmtPa(l2)}`), 1, k10.log.format());
      assert.equal(fellBack(k10), true);
    });
  });

  describe('S10e: live corruption of L1[i] after adoption, before a device on bus i probes', () => {
    it('SPAN changed to 5: that device\'s probe fails with -EINVAL and "span 5 changed since adopt"; others fine', async () => {
      const c = await crashedMachine();
      const k = await kdump(c, 'adopt-v7');
      const at = strtabBase(c) + 8;
      poke(c, at, ((await k.smmu.hw.read64(at)) & ~0x1fn) | 5n);
      const p = await k.probeDevice(NIC);
      assert.equal(p.errno, 'EINVAL');
      assert.equal(k.log.grep('kdump: L1[1] span 5 changed since adopt (was 9)').length, 1);
      assert.equal((await k.probeDevice(NVME)).deferred, true);
      assert.equal(c.m.smmu.register('CR0ACK') & 1n, 1n, 'the SMMU stays enabled');
    });

    it('SPAN changed to 0: a fresh abort L2 is allocated and written, the device attached normally', async () => {
      const c = await crashedMachine();
      const k = await kdump(c, 'adopt-v7');
      poke(c, strtabBase(c) + 8, 0n);
      const p = await k.probeDevice(NIC);
      assert.equal(p.deferred, false);
      assert.equal(p.grouped, true);
    });

    it('v10: L2Ptr changed to a misaligned address: "bad l2 table base", that device\'s probe fails', async () => {
      const c = await crashedMachine();
      const k = await kdump(c, 'adopt-v10');
      const at = strtabBase(c) + 8;
      const d = (await k.smmu.hw.read64(at)) + 0x2000n; // 8 KiB off a 16 KiB boundary, span still 9
      poke(c, at, d);
      const p = await k.probeDevice(NIC);
      assert.deepEqual([p.grouped, p.errno], [false, 'EINVAL']);
      assert.equal(said(k, `L1[1] bad l2 table base ${fmtPa(Number(d & 0x000f_ffff_ffff_ffc0n))}`), 1, k.log.format());
      assert.equal((await k.probeDevice(NVME)).deferred, true, 'bus 2 unaffected');
      assert.equal(c.m.smmu.register('CR0ACK') & 1n, 1n);
      // v7 has no such check at lazy time: it maps the misaligned table and reads STEs from it.
      const c7 = await crashedMachine();
      const k7 = await kdump(c7, 'adopt-v7');
      poke(c7, strtabBase(c7) + 8, (await k7.smmu.hw.read64(strtabBase(c7) + 8)) + 0x2000n);
      assert.equal((await k7.probeDevice(NIC)).grouped, true);
    });

    it('v10: L2Ptr changed to 0: "bad l2 table base", device probe fails', async () => {
      const c = await crashedMachine();
      const k = await kdump(c, 'adopt-v10');
      poke(c, strtabBase(c) + 8, 9n);
      const p = await k.probeDevice(NIC);
      assert.equal(p.errno, 'EINVAL');
      assert.equal(said(k, 'L1[1] bad l2 table base 0x0000000000000000'), 1);
    });
  });

  it("S10f: an STE with V=1 and reserved Config 1..3: v7 defers the device; v10's scan tosses the adoption", async () => {
    for (const policy of ['adopt-v7', 'adopt-v10'] as const) {
      const c = await crashedMachine();
      const l2 = Number((await c.p.smmu.hw.read64(strtabBase(c) + 8)) & 0x000f_ffff_ffff_ffc0n);
      poke(c, l2, STE.build({ V: 1, Config: 2 })[0]!);
      const k = await kdump(c, policy);
      if (policy === 'adopt-v7') {
        assert.equal((await k.probeDevice(NIC)).deferred, true, 'Config != abort defers');
        const r = c.m.smmu.dma({ sid: NIC.sids[0]!, address: 0x1000, write: true }, new Uint8Array(4));
        assert.equal(r.completion, 'abort', 'the hardware aborts a reserved Config silently [INF]');
      } else {
        assert.equal(k.log.grep('kdump: failed to reserve in-use ASIDs/VMIDs').length, 1);
        assert.equal(fellBack(k), true);
      }
    }
  });

  describe('S10g (v10): CD/STE fuzz makes the reservation scan toss the adoption', () => {
    /** Each case: the crashed machine, then a corruption of the crashed kernel's structures. */
    const cases: [string, Parameters<typeof crashedMachine>[0], (c: Crashed) => Promise<void>][] = [
      [
        'a valid CD with ASID 0',
        {},
        async (c) => {
          const { ste } = await crashedSte(c, 0x100);
          const cdPa = Number(STE.get(ste, 'S1ContextPtr'));
          poke(c, cdPa, CD.with(await c.p.smmu.hw.readWords(cdPa, 8), 'ASID', 0n)[0]!);
        },
      ],
      [
        'a valid CD with ASID >= 2^asid_bits (8-bit ASIDs, ASID 0x100)',
        { smmu: { asid16: false } },
        async (c) => {
          const { ste } = await crashedSte(c, 0x100);
          const cdPa = Number(STE.get(ste, 'S1ContextPtr'));
          poke(c, cdPa, CD.with(await c.p.smmu.hw.readWords(cdPa, 8), 'ASID', 0x100n)[0]!);
        },
      ],
      [
        'an S1 STE with S1ContextPtr 0',
        {},
        async (c) => {
          const { pa, ste } = await crashedSte(c, 0x100);
          poke(c, pa, STE.with(ste, 'S1ContextPtr', 0n)[0]!);
        },
      ],
      [
        'S1CDMax 21 > ssid_bits 20',
        {},
        async (c) => {
          const { pa, ste } = await crashedSte(c, 0x100);
          poke(c, pa, STE.with(ste, 'S1CDMax', 21n)[0]!);
        },
      ],
      [
        'S1Fmt 1 (reserved)',
        {},
        async (c) => {
          const { pa, ste } = await crashedSte(c, 0x100);
          poke(c, pa, STE.with(ste, 'S1Fmt', 1n)[0]!);
        },
      ],
      [
        'S1Fmt 2 (64K leaves) without IDR0.CD2L',
        { smmu: { twoLevelCd: false } },
        async (c) => {
          const { pa, ste } = await crashedSte(c, 0x100);
          poke(c, pa, STE.with(ste, 'S1Fmt', 2n)[0]!);
        },
      ],
      [
        'a linear CD table not aligned to its size (2 CDs at +0x40)',
        {},
        async (c) => {
          const { pa, ste } = await crashedSte(c, 0x100);
          const ptr = STE.get(ste, 'S1ContextPtr');
          poke(c, pa, STE.with(STE.with(ste, 'S1CDMax', 1n), 'S1ContextPtr', ptr + 0x40n)[0]!);
        },
      ],
      [
        'a CD L1 descriptor V=1 with L2Ptr 0',
        { devices: [{ ...NIC, ssidBits: 20 }] },
        async (c) => {
          const { ste } = await crashedSte(c, 0x100);
          poke(c, Number(STE.get(ste, 'S1ContextPtr')), 1n);
        },
      ],
      [
        'a CD L1 descriptor V=1 with L2Ptr not 64 KiB aligned',
        { devices: [{ ...NIC, ssidBits: 20 }] },
        async (c) => {
          const { ste } = await crashedSte(c, 0x100);
          const l1 = Number(STE.get(ste, 'S1ContextPtr'));
          poke(c, l1, (await c.p.smmu.hw.read64(l1)) + 0x1000n);
        },
      ],
      [
        'an S2 STE with VMID 0',
        { devices: [] },
        async (c) => {
          const { pa, ste } = await crashedSte(c, 0x700);
          poke(c, pa + 16, STE.with(ste, 'S2VMID', 0n)[2]!);
        },
      ],
      [
        'an S2 STE with VMID >= 2^vmid_bits (8-bit VMIDs, VMID 0x100)',
        { devices: [], smmu: { vmid16: false } },
        async (c) => {
          const { pa, ste } = await crashedSte(c, 0x700);
          poke(c, pa + 16, STE.with(ste, 'S2VMID', 0x100n)[2]!);
        },
      ],
    ];
    for (const [name, setup, corrupt] of cases) {
      it(`${name}: "failed to reserve in-use ASIDs/VMIDs", tossed, status-quo reset`, async () => {
        const crashed = async () => {
          const c = await crashedMachine({ ...setup, crash: false });
          if (name.includes('S2 STE')) await c.p.probeDevice({ name: 'vf', sids: [0x700] }, 's2');
          c.m.crash();
          return c;
        };
        assert.equal(adopted(await kdump(await crashed(), 'adopt-v10')), true, 'the same crash without the corruption is adopted');
        const c = await crashed();
        await corrupt(c);
        const k = await kdump(c, 'adopt-v10');
        assert.equal(said(k, 'kdump: failed to reserve in-use ASIDs/VMIDs'), 1, k.log.format());
        assert.equal(fellBack(k), true);
        assert.equal([...k.smmu.asids.values(), ...k.smmu.vmids.values()].filter((v) => v === 'reserved').length, 0, 'unreserved');
        assertFullReset(c, { gbpa: true, series: true });
      });
    }

    it('v7 never reads CDs: the same ASID-0 CD is adopted', async () => {
      const c = await crashedMachine();
      await cases[0]![2](c);
      assert.equal(adopted(await kdump(c, 'adopt-v7')), true);
    });
  });

  it('S10h (v7): the kdump kernel reuses a crashed ASID; the new domain hits the crashed translation', async () => {
    const c = await crashedMachine();
    const asidOf = (k: LinuxKernel, dev: string) => k.defaultDomain(dev)!.asid;
    // The crashed kernel: the NIC's domain took ASID 1 and the NVMe's ASID 2, each when the
    // iommu core allocated it at probe.
    assert.deepEqual([asidOf(c.p, NIC.name), asidOf(c.p, NVME.name)], [1, 2]);
    const nvme = c.maps.get(NVME.name)!;
    const t = dmaTicker(c.m, nvme.sid, nvme.iova, 250, 40);
    const k = await kdump(c, 'adopt-v7');
    // 6.12 finalises the default domain at allocation: the deferred NVMe still takes ASID 1 at
    // probe, and the GPU's new domain gets ASID 2, the NVMe's crashed ASID.
    assert.equal((await k.probeDevice(NVME)).deferred, true);
    assert.equal(asidOf(k, NVME.name), 1);
    await k.probeDevice({ name: 'gpu', sids: [0x300] });
    c.m.clock.advance(20_000);
    t.stop();
    assert.equal(asidOf(k, 'gpu'), 2);
    // The iommu core flushed ASID 2 when it set up the GPU's default domain (TLBI_NH_ASID before
    // the attach), but the NVMe's DMA in flight (adopted STE) refills the TLB under ASID 2.
    const ops = await ringOps(k, 0, k.smmu.cmdq.prod);
    assert.ok(ops.includes('TLBI_NH_ASID'), 'the default-domain flush');
    c.m.smmu.dma({ sid: nvme.sid, address: nvme.iova, write: true }, new Uint8Array(4));
    const r = c.m.smmu.dma({ sid: 0x300, address: nvme.iova, write: true }, new Uint8Array(4));
    assert.equal(r.completion, 'ok', 'the GPU translated an IOVA it never mapped');
    assert.deepEqual([r.translations[0]!.pa, r.translations[0]!.tlbHit], [nvme.buf, true], 'into the crashed NVMe buffer');
  });

  it("S10h (v7) with finaliseAt=attach: a deferred device takes no ASID at probe, so the GPU gets ASID 1 (the NIC's)", async () => {
    const c = await crashedMachine();
    const nic = c.maps.get(NIC.name)!;
    const k = await kdump(c, 'adopt-v7', { finaliseAt: 'attach' });
    await k.probeDevice(NVME);
    assert.equal(k.defaultDomain(NVME.name)!.asid, undefined, 'not finalised until its first attach');
    await k.probeDevice({ name: 'gpu', sids: [0x300] });
    assert.equal(k.defaultDomain('gpu')!.asid, 1);
    c.m.smmu.dma({ sid: nic.sid, address: nic.iova, write: true }, new Uint8Array(4)); // the NIC still DMAs (adopted STE)
    const r = c.m.smmu.dma({ sid: 0x300, address: nic.iova, write: true }, new Uint8Array(4));
    assert.deepEqual([r.completion, r.translations[0]!.pa], ['ok', nic.buf], 'into the crashed NIC buffer');
  });

  it('S10i (v10): the crashed ASIDs are reserved, new domains get clean ones, no alias', async () => {
    for (const [finaliseAt, nicAsid, gpuAsid] of [
      ['alloc', 3, 4], // the deferred NIC's default domain takes ASID 3 at probe, the GPU's 4
      ['attach', undefined, 3],
    ] as const) {
      const c = await crashedMachine();
      const k = await kdump(c, 'adopt-v10', { finaliseAt });
      assert.deepEqual(
        [...k.smmu.asids.entries()]
          .filter(([, v]) => v === 'reserved')
          .map(([a]) => a)
          .sort(),
        [1, 2],
      );
      assert.equal((await k.probeDevice(NIC)).deferred, true);
      assert.equal(k.defaultDomain(NIC.name)!.asid, nicAsid, finaliseAt);
      await k.probeDevice({ name: 'gpu', sids: [0x300] });
      assert.equal(k.defaultDomain('gpu')!.asid, gpuAsid, finaliseAt);
      const nic = c.maps.get(NIC.name)!;
      c.m.smmu.dma({ sid: nic.sid, address: nic.iova, write: true }, new Uint8Array(4));
      assert.equal(c.m.smmu.dma({ sid: 0x300, address: nic.iova, write: true }, new Uint8Array(4)).completion, 'abort');
    }
  });

  it("S10i (v10): the crashed S2 domain's VMID is reserved; v7 hands it out again", async () => {
    for (const [policy, vmid] of [
      ['adopt-v10', 2],
      ['adopt-v7', 1],
    ] as const) {
      const c = await crashedMachine({ devices: [], crash: false });
      await c.p.probeDevice({ name: 'vf', sids: [0x700] }, 's2');
      assert.equal(c.p.defaultDomain('vf')!.vmid, 1);
      c.m.crash();
      const k = await kdump(c, policy);
      assert.equal(k.smmu.vmids.get(1), policy === 'adopt-v10' ? 'reserved' : undefined);
      await k.probeDevice({ name: 'vf2', sids: [0x701] }, 's2');
      assert.equal(k.defaultDomain('vf2')!.vmid, vmid, policy);
    }
  });

  it('S10j: after device_reset CFGI_ALL and TLBI_NSNH_ALL (and TLBI_EL2_ALL with Hyp) ran, in that order; caches refill from the adopted tables', async () => {
    for (const [hyp, expect] of [
      [true, ['CFGI_ALL', 'CMD_SYNC', 'TLBI_EL2_ALL', 'CMD_SYNC', 'TLBI_NSNH_ALL', 'CMD_SYNC']],
      [false, ['CFGI_ALL', 'CMD_SYNC', 'TLBI_NSNH_ALL', 'CMD_SYNC']],
    ] as const) {
      const c = await crashedMachine({ smmu: { hyp } });
      const nic = c.maps.get(NIC.name)!;
      c.m.smmu.dma({ sid: nic.sid, address: nic.iova, write: true }, new Uint8Array(4));
      assert.ok(c.m.smmu.cacheStats().ste.size > 0);
      assert.ok(c.m.smmu.cacheStats().tlb.size > 0);
      c.m.clock.advance(1_000); // the crashed kernel's last PREFETCH_CONFIG is consumed first
      const consumed = c.m.smmu.counters.commandsConsumed;
      const k = await kdump(c, 'adopt-v7');
      assert.equal(adopted(k), true);
      assert.equal(c.m.smmu.counters.commandsConsumed - consumed, expect.length, `hyp=${hyp}`);
      assert.deepEqual(await ringOps(k, 0, k.smmu.cmdq.prod), expect, `hyp=${hyp}`);
      assert.equal(c.m.smmu.cacheStats().ste.size, 0);
      assert.equal(c.m.smmu.cacheStats().tlb.size, 0);
      const r = c.m.smmu.dma({ sid: nic.sid, address: nic.iova, write: true }, new Uint8Array(4));
      assert.deepEqual(
        [r.translations[0]!.steCached, r.translations[0]!.tlbHit, r.translations[0]!.pa],
        [false, false, nic.buf],
        'refilled from the adopted STE, CD and page table',
      );
    }
  });

  describe('S10k: two SMMUs in one kdump kernel (a shared page allocator; v7 a global ASID space, v10 per-SMMU asid_maps)', () => {
    /**
     * One primary kernel with two SMMUs (one page allocator): the NIC behind smmu0 and the NVMe
     * behind smmu1, whose domains both got ASID 1 (a crashed kernel with per-SMMU ASIDs, as v10
     * has). Then one kdump kernel drives both SMMUs.
     */
    async function twoSmmus(policy: KdumpPolicy) {
      const m = new Machine();
      const s1 = m.addSmmu();
      const fw1 = { firmware: { devName: 'arm-smmu-v3 arm-smmu-v3.1.auto' } };
      const ram = m.memory.region('primary-ram')!;
      const ppages = new PageAllocator(ram.base, ram.size);
      const pa = m.primary({ pages: ppages });
      const pb = m.primary({ pages: ppages, ...fw1 }, s1);
      await pa.probeSmmu();
      await pb.probeSmmu();
      await pa.probeDevice(NIC);
      await pb.probeDevice(NVME);
      assert.deepEqual([pa.defaultDomain(NIC.name)!.asid, pb.defaultDomain(NVME.name)!.asid], [1, 1]);
      const nicIova = await pa.dmaMap(NIC.name, 0x9000_0000, 4096);
      const nvmeIova = await pb.dmaMap(NVME.name, 0x9010_0000, 4096);
      m.crash();
      const crash = m.memory.region('crashkernel')!;
      const kpages = new PageAllocator(crash.base, crash.size);
      const global = new Map<number, string>(); // arm_smmu_asid_xa (6.12, v7)
      const ka = m.kdump(policy, { pages: kpages, asids: global });
      const kb = m.kdump(policy, { pages: kpages, asids: global, ...fw1 }, s1);
      await ka.probeSmmu();
      await kb.probeSmmu();
      return { m, s1, ka, kb, global, nicIova, nvmeIova };
    }

    it('v10: each SMMU reserves its own crashed ASID 1 and hands out ASIDs independently', async () => {
      const { ka, kb, global, m } = await twoSmmus('adopt-v10');
      assert.equal(adopted(ka) && adopted(kb), true);
      assert.notEqual(ka.smmu.asids, kb.smmu.asids, 'per-SMMU asid_map');
      assert.equal(global.size, 0, 'the global map is not used by v10');
      assert.deepEqual([ka.smmu.asids.get(1), kb.smmu.asids.get(1)], ['reserved', 'reserved']);
      await ka.probeDevice({ name: 'gpu', sids: [0x300] });
      await kb.probeDevice({ name: 'fpga', sids: [0x300] });
      assert.deepEqual([ka.defaultDomain('gpu')!.asid, kb.defaultDomain('fpga')!.asid], [2, 2], 'the same number on both: no cross-SMMU interaction');
      assert.deepEqual([...new Set(m.trace.of('kdump').map((a) => a.smmu))], ['smmu0', 'smmu1']);
    });

    it('v7: one global ASID space and no reservation: the first kdump domain takes ASID 1 on smmu0, the next ASID 2 on smmu1', async () => {
      const { m, s1, ka, kb, global, nicIova, nvmeIova } = await twoSmmus('adopt-v7');
      assert.equal(adopted(ka) && adopted(kb), true);
      assert.equal(ka.smmu.asids, global);
      assert.equal(kb.smmu.asids, global);
      await ka.probeDevice({ name: 'gpu', sids: [0x300] });
      await kb.probeDevice({ name: 'fpga', sids: [0x300] });
      // Both crashed domains keep DMAing through their adopted STEs (TLB entries tagged ASID 1),
      // also after the iommu core's flush of each new default domain's ASID.
      m.smmu.dma({ sid: NIC.sids[0]!, address: nicIova, write: true }, new Uint8Array(4));
      s1.dma({ sid: NVME.sids[0]!, address: nvmeIova, write: true }, new Uint8Array(4));
      assert.deepEqual([ka.defaultDomain('gpu')!.asid, kb.defaultDomain('fpga')!.asid], [1, 2]);
      assert.deepEqual([...global.keys()].sort(), [1, 2], 'never the same ASID twice across the SMMUs');
      // smmu0's GPU got crashed ASID 1 and hits the NIC's translation (S10h); smmu1's FPGA got 2 and does not alias.
      const a = m.smmu.dma({ sid: 0x300, address: nicIova, write: true }, new Uint8Array(4));
      const b = s1.dma({ sid: 0x300, address: nvmeIova, write: true }, new Uint8Array(4));
      assert.deepEqual([a.completion, a.translations[0]!.pa], ['ok', 0x9000_0000]);
      assert.equal(b.completion, 'abort');
    });

    it("the shared allocator hands no page out twice: the two drivers' queues and tables are disjoint", async () => {
      const { ka, kb } = await twoSmmus('status-quo');
      const spans = (k: LinuxKernel) => {
        const st = k.smmu.strtab;
        assert.ok(st.kind === '2lvl');
        return [
          [k.smmu.cmdq.base, 2 ** k.smmu.cmdq.shift * 16],
          [k.smmu.evtq.base, 2 ** k.smmu.evtq.shift * 32],
          [k.smmu.priq.base, 2 ** k.smmu.priq.shift * 16],
          [st.l1tab, st.numL1 * 8],
        ] as const;
      };
      for (const [a0, al] of spans(ka))
        for (const [b0, bl] of spans(kb)) assert.ok(a0 + al <= b0 || b0 + bl <= a0, `0x${a0.toString(16)} overlaps 0x${b0.toString(16)}`);
      assert.ok(kb.smmu.cmdq.base > ka.smmu.cmdq.base);
    });
  });

  it('S10l: no OS participant for AER in the kdump window: the aborts reach the device only, nothing reaches the kernel', async () => {
    const c = await crashedMachine();
    const nic = c.maps.get(NIC.name)!;
    const t = dmaTicker(c.m, nic.sid, nic.iova, 250);
    const irqs: string[] = [];
    c.m.smmu.onInterrupt((e) => irqs.push(e.source));
    await kdump(c, 'status-quo');
    t.stop();
    assert.ok(t.ticks.some((x) => x.completion === 'abort'));
    assert.ok(!irqs.includes('EVENTQ'), 'no event interrupt: the platform RAS policy alone decides (libs/endpoint)');
  });
});

describe('R11 (Kevin/Jason): cosmetic changes only', () => {
  it('v7 and v10 make the same decision and the same register writes for a healthy crash (bar documented deltas)', async () => {
    const w: Record<string, string[]> = {};
    for (const policy of ['adopt-v7', 'adopt-v10'] as const) {
      const c = await crashedMachine();
      const k = await kdump(c, policy);
      assert.equal(adopted(k), true);
      w[policy] = c.m.trace
        .of('kdump', { dir: 'write' })
        .map((a) => a.register)
        .filter((r) => !r.startsWith('PRIQ_IRQ'));
    }
    assert.deepEqual(w['adopt-v7'], w['adopt-v10'], 'only PRIQ MSI setup differs (FEAT_PRI cleared in v10)');
  });
});

describe('code-path scenarios S11..S22', () => {
  it('S11: SMMUEN=0 at kdump probe: no adoption, no warning, no GBPA write, fresh tables', async () => {
    const c = await crashedMachine();
    c.m.smmu.injectRegister('CR0', 0n);
    const k = await kdump(c, 'adopt-v7');
    assert.equal(adopted(k), false);
    assert.equal(k.log.grep('kdump:').length, 0);
    assert.equal(k.log.grep('SMMU currently enabled').length, 0);
    assert.deepEqual(written(c, 'GBPA'), []);
    assert.equal(k.smmu.strtab.kind === 'none' ? false : k.smmu.strtab.adopted, false);
    assertFullReset(c, { gbpa: false, series: true });
    // Detection stopped at CR0.SMMUEN=0: no GERROR read at hw_probe, one at reset (ack check).
    assert.equal(c.m.trace.of('kdump', { dir: 'read', register: 'GERROR' }).length, 1);
  });

  it('S12: SFM active: "must reset", status-quo reset, GERRORN <- GERROR in kdump', async () => {
    const c = await crashedMachine();
    c.m.smmu.injectServiceFailure();
    const k = await kdump(c, 'adopt-v7');
    assert.equal(k.log.grep('kdump: SMMU in Service Failure Mode, must reset').length, 1);
    assert.equal(adopted(k), false);
    assertFullReset(c, { gbpa: true, series: true });
    assert.deepEqual(written(c, 'GERRORN'), [c.m.smmu.register('GERROR')]);
    const w = c.m.trace.of('kdump', { dir: 'write' }).map((a) => a.register);
    assert.ok(w.indexOf('GERRORN') < w.indexOf('CMDQ_BASE'), 'acked before the command queue is set up');
    // The twin's SFM persists until an SMMU reset, so the reset's commands time out [INF].
    assert.ok(k.log.grep('CMD_SYNC timeout').length > 0);
  });

  it('S13: a latched CMDQ_ERR is acked before CMDQ enable with the series; mainline halts on it', async () => {
    for (const policy of ['adopt-v7', 'status-quo'] as const) {
      const c = await crashedMachine();
      c.m.smmu.injectGlobalError('CMDQ_ERR');
      const k = await kdump(c, policy);
      const timeouts = k.log.grep('CMD_SYNC timeout').length;
      if (policy === 'adopt-v7') {
        assert.equal(timeouts, 0);
        assert.deepEqual(written(c, 'GERRORN'), [1n], 'GERRORN <- GERROR (CMDQ_ERR toggled)');
      } else {
        assert.ok(timeouts >= 1, 'CFGI_ALL never completes');
        const w = c.m.trace.of('kdump', { dir: 'write' });
        const ack = w.findIndex((a) => a.register === 'GERRORN');
        assert.ok(ack < 0 || ack > w.findIndex((a) => a.register === 'CR0' && (a.value & 8n) !== 0n), 'no acknowledgement before CMDQEN');
      }
    }
  });

  it('S14: CMDQ enable times out in adopt mode: "failed to enable command queue", device_disable, DMA follows GBPA', async () => {
    const c = await crashedMachine();
    const nic = c.maps.get(NIC.name)!;
    c.m.smmu.injectStuckAck(['CMDQEN'], 1);
    const k = await kdump(c, 'adopt-v7');
    assert.equal(k.probeResult?.ok, false);
    assert.equal(k.log.grep('failed to enable command queue').length, 1);
    assert.equal(c.m.smmu.register('CR0ACK') & 1n, 0n, 'SMMUEN dropped');
    // Retain (0x11), the CMDQEN write whose ack never comes, then arm_smmu_device_disable's CR0 <- 0.
    assertAdoptReset(c, [0x11n, 0x19n, 0n]);
    assert.equal(k.smmu.registered, false);
    assert.equal((await k.probeDevice(NIC)).errno, 'ENODEV');
    const r = c.m.smmu.dma({ sid: nic.sid, address: nic.iova, write: true }, new Uint8Array(8));
    assert.equal(r.translations[0]!.path, 'gbpa');
    assert.equal(r.completion, 'ok', 'GBPA was never set to abort in adopt mode: the worst case, bypass');
  });

  it('S15: the kcalloc of l2ptrs fails at adopt time (failKcalloc): -ENOMEM, fallback with no specific message', async () => {
    const c = await crashedMachine();
    const k = await kdump(c, 'adopt-v7', { failKcalloc: true });
    assert.equal(fellBack(k), true);
    assert.equal(adopted(k), false);
    assert.equal(k.log.all().filter((l) => l.level === 'err').length, 0);
    assert.deepEqual(
      k.log
        .all()
        .filter((l) => l.text.startsWith('kdump:'))
        .map((l) => l.text),
      ["kdump: adopting crashed kernel's stream table", 'kdump: falling back to full reset'],
    );
    assert.deepEqual(written(c, 'STRTAB_BASE_CFG'), [0x10210n], 'then the fresh 2-level table');
  });

  it('S15: memremap fails at adopt time: -ENOMEM, fallback with no specific message', async () => {
    const c = await crashedMachine();
    c.m.smmu.injectRegister('STRTAB_BASE', 0x4000_0000n); // the unbacked low hole
    const k = await kdump(c, 'adopt-v7');
    assert.equal(fellBack(k), true);
    assert.equal(k.log.all().filter((l) => l.level === 'err').length, 0);
    assertFullReset(c, { gbpa: true, series: true });
  });

  it('S16: a crashed CR0.ATSCHK=0 stays 0 with adopt; the status quo sets it when FEAT_ATS', async () => {
    for (const policy of ['adopt-v7', 'adopt-v10', 'status-quo'] as const) {
      const c = await crashedMachine();
      c.m.smmu.injectRegister('CR0', 0xdn); // SMMUEN|EVTQEN|CMDQEN, no ATSCHK
      await kdump(c, policy);
      const atschk = (c.m.smmu.register('CR0ACK') & 16n) !== 0n;
      assert.equal(atschk, policy === 'status-quo', policy);
      // v7 keeps SMMUEN|ATSCHK as found, v10 every field but the queue enables: 0x1 either way.
      if (policy === 'status-quo') assert.deepEqual(written(c, 'CR0'), [0n, 0x8n, 0xcn, 0xen, 0x1en, 0x19n]);
      else assertAdoptReset(c, [0x1n, 0x9n, 0x9n]);
    }
  });

  it('S17: RMR SIDs: a translating adopted STE is left alone and deferred; an adopted abort STE stays abort', async () => {
    const fw = { firmware: { rmrSids: [0x300, 0x301] } };
    const c = await crashedMachine({ primary: fw, devices: [NIC, { name: 'bmc', sids: [0x300] }] });
    const k = await kdump(c, 'adopt-v7', fw);
    const steOf = async (sid: number) => Number(STE.get([await k.smmu.hw.read64(k.smmu.stePa(sid) ?? 0)], 'Config'));
    assert.equal((await k.probeDevice({ name: 'bmc', sids: [0x300] })).deferred, true);
    assert.equal(await steOf(0x300), 5, 'still the crashed S1 STE, not bypass');
    assert.equal(await steOf(0x301), 4, "the crashed kernel's RMR bypass STE is untouched too");
    // An RMR SID whose adopted STE aborts: the crashed kernel had no RMR for 0x301, but used its
    // L1 slot (the BMC at 0x300), so 0x301's abort STE sits in an adopted L2. Adoption installs
    // no bypass STE there (v7 patch 6); the fallback's fresh table gets one. (Its later default
    // domain would take the RMR direct mappings from the reserved regions, not modelled.)
    for (const [policy, cfg] of [
      ['adopt-v7', 0],
      ['status-quo', 4],
    ] as const) {
      const f = await crashedMachine({ devices: [NIC, { name: 'bmc', sids: [0x300] }] });
      const { pa: crashedPa, ste } = await crashedSte(f, 0x301);
      assert.equal(STE.get(ste, 'Config'), 0n, "the crashed kernel's STE for 0x301 aborts");
      const kf = await kdump(f, policy, { firmware: { rmrSids: [0x301] } });
      assert.equal(await kf.smmu.initSidStrtab(0x301), 0);
      const pa = kf.smmu.stePa(0x301)!;
      assert.equal(pa === crashedPa, policy === 'adopt-v7', `${policy}: ${policy === 'adopt-v7' ? 'the adopted L2' : 'a fresh L2'}`);
      assert.equal(Number(STE.get([await kf.smmu.hw.read64(pa)], 'Config')), cfg, policy);
      assert.equal(kf.log.grep('RMR SID').length, 0);
    }
  });

  it('S18: a device with two SIDs, one abort STE and one S2 STE, is deferred', async () => {
    const c = await crashedMachine({ devices: [] });
    await c.p.probeDevice({ name: 'vf', sids: [0x401] }, 's2');
    c.m.crash();
    const k = await kdump(c, 'adopt-v7');
    const crashed = [0x400, 0x401].map((sid) => c.p.smmu.stePa(sid)!);
    const p = await k.probeDevice({ name: 'dual', sids: [0x400, 0x401] });
    assert.equal(p.deferred, true);
    assert.deepEqual(
      [0x400, 0x401].map((sid) => k.smmu.stePa(sid)),
      crashed,
      'both STEs in the adopted L2',
    );
    assert.deepEqual(await Promise.all(crashed.map(async (pa) => STE.get(await k.smmu.hw.readWords(pa, 1), 'Config'))), [0n, 6n], 'abort and S2, both kept');
  });

  it('S19: a SID beyond the adopted range gets -ERANGE; its DMA is rejected by the enabled SMMU [INF]', async () => {
    const c = await crashedMachine({ primary: { legacyLinearStrtab: true }, devices: [{ name: 'lo', sids: [0x10] }] });
    c.m.smmu.injectRegister('STRTAB_BASE_CFG', 8n); // LINEAR, 256 STEs
    const k = await kdump(c, 'adopt-v7');
    const p = await k.probeDevice({ name: 'hi', sids: [0x900] });
    assert.deepEqual([p.grouped, p.errno], [false, 'ERANGE']);
    // No IOMMU group: its driver's DMA API is dma-direct, so it DMAs to the PA untranslated.
    const m = await k.dmaMapResult('hi', 0xe800_0000, 4096);
    assert.deepEqual(m, { ok: true, iova: 0xe800_0000 });
    const r = c.m.smmu.dma({ sid: 0x900, address: 0xe800_0000, write: true }, new Uint8Array(4));
    assert.equal(r.completion, 'abort');
    assert.equal(r.translations[0]!.event, 'C_BAD_STREAMID');
  });

  it('S20: a device on an unused L1 slot: fresh abort L2, one 64-bit L1 store, not deferred, attached', async () => {
    const c = await crashedMachine();
    const k = await kdump(c, 'adopt-v7');
    const p = await k.probeDevice({ name: 'new', sids: [0x500] });
    assert.deepEqual([p.deferred, p.grouped, p.domain !== undefined], [false, true, true]);
    const rec = c.m.memory.lastWriteAt(strtabBase(c) + 8 * 5)!;
    assert.deepEqual([rec.length, rec.writer.kind, rec.epoch], [8, 'kdump-cpu', 'kdump']);
    const l1 = await k.smmu.hw.read64(strtabBase(c) + 8 * 5);
    assert.equal(Number(L1STD.get([l1], 'Span')), 9);
    assert.equal(Number(l1 & 0x000f_ffff_ffff_ffc0n), k.smmu.stePa(0x500)!, 'pointing at the fresh L2 (SID 0x500 is its first STE)');
    assert.ok(k.smmu.stePa(0x500)! >= 0xe000_0000, 'in the carve-out');
    assertAdoptReset(c, [0x11n, 0x19n, 0x19n]);
  });

  it('S21: a later SFM in kdump: "device has entered Service Failure Mode!" and device_disable', async () => {
    const c = await crashedMachine();
    const k = await kdump(c, 'adopt-v7');
    c.m.smmu.injectServiceFailure();
    await k.serviceInterrupts();
    assert.equal(k.log.grep('device has entered Service Failure Mode!').length, 1);
    assert.equal(c.m.smmu.register('CR0') & 1n, 0n);
    assert.deepEqual(written(c, 'CR0').slice(-1), [0n], 'arm_smmu_device_disable: CR0 <- 0');
    assert.deepEqual(written(c, 'GERRORN').slice(-1), [c.m.smmu.register('GERROR')], 'then acknowledged');
  });

  it('S22: a live device without a kdump driver never attaches: its STE and DMA into crashed memory stay; v10 keeps its IDs', async () => {
    const c = await crashedMachine();
    const nic = c.maps.get(NIC.name)!;
    const k = await kdump(c, 'adopt-v10');
    await k.probeDevice(NIC);
    c.m.clock.advance(1_000_000_000);
    const r = c.m.smmu.dma({ sid: nic.sid, address: nic.iova, write: true }, new Uint8Array(4));
    assert.equal(r.translations[0]!.pa, nic.buf);
    assert.equal(k.master(NIC.name)!.attachDeferred, true);
    assert.equal(k.smmu.asids.get(1), 'reserved');
  });
});

// Helpers -------------------------------------------------------------------------------------

/** The leaf PTE address of `iova` in the crashed kernel's domain of `dev` (the kernel's own walk). */
async function leafPte(c: Crashed, dev: string, iova: number): Promise<number> {
  const pt = c.p.domains.domainOf(c.p.master(dev)!)!.pgtable!;
  let table = pt.root;
  for (let level = pt.startLevel; level <= 3; level++) {
    const shift = 12 + 9 * (3 - level);
    const at = table + 8 * (Math.floor(iova / 2 ** shift) % 512);
    const d = await c.p.smmu.hw.read64(at);
    if (level === 3) return at;
    table = Number(d & 0x0000_ffff_ffff_f000n);
  }
  throw new Error('unreachable');
}

/** The opcodes in `k`'s command queue between two PROD values (a completed MSI-polled CMD_SYNC reads opcode 0). */
async function ringOps(k: LinuxKernel, from: number, to: number): Promise<string[]> {
  const q = k.smmu.cmdq;
  const f = findFormat('cmd')!;
  const out: string[] = [];
  for (let p = from; p !== to; p = (p + 1) % (2 * 2 ** q.shift)) {
    const w = await k.smmu.hw.readWords(q.base + 16 * (p % 2 ** q.shift), 2);
    const op = f.decode(w).names.Opcode ?? ((w[0]! & 0xffff_ffffn) === 0n ? 'CMD_SYNC' : '?');
    // CFGI_ALL is CFGI_STE_RANGE with Range=31 (the same opcode).
    out.push(op === 'CFGI_STE_RANGE' && findFormat('cmd-CFGI_STE_RANGE')!.get(w, 'Range') === 31n ? 'CFGI_ALL' : op);
  }
  return out;
}
