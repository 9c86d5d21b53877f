// SPDX-License-Identifier: Apache-2.0
// What Linux 6.12 does that the QEMU reference recordings (tools/reference) showed and the 6.12
// sources confirm: the iommu core's flush of a new DMA default domain, CMA-capped queues and
// their "allocated" lines, FEAT_NESTING and Arm's IIDR errata, batch submission, group lines.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findFormat } from '@kdump-twin/smmu-arch';
import { FEAT, OPT } from './features';
import { LinuxKernel } from './kernel';
import { Machine } from './machine';

/** Opcodes consumed from `k`'s queue, in order (CFGI_STE_RANGE with Range=31 read as CFGI_ALL). */
function consumed(m: Machine): string[] {
  const out: string[] = [];
  m.smmu.onCommand((c) => {
    const op = findFormat('cmd')!.decode([...c.words]).names.Opcode ?? '?';
    out.push(op === 'CFGI_STE_RANGE' && findFormat('cmd-CFGI_STE_RANGE')!.get([...c.words], 'Range') === 31n ? 'CFGI_ALL' : op);
  });
  return out;
}

const features = (k: LinuxKernel) => k.log.grep(/features/).map((l) => l.text);

describe('iommu core: the default domain is flushed before its attach (iommu_create_device_direct_mappings)', () => {
  it('a DMA domain: TLBI_NH_ASID + CMD_SYNC with its ASID, then CFGI_CD and CFGI_STE', async () => {
    const m = new Machine();
    const k = m.primary();
    await k.probeSmmu();
    const ops = consumed(m);
    const p = await k.probeDevice({ name: '0000:01:00.0', sids: [0x100] });
    assert.equal(p.grouped, true);
    assert.deepEqual(ops.slice(0, 3), ['TLBI_NH_ASID', 'CMD_SYNC', 'CFGI_CD'], 'the flush comes first');
    assert.equal(ops.filter((o) => o === 'TLBI_NH_ASID').length, 1);
    assert.ok(ops.indexOf('CFGI_STE') > ops.indexOf('CFGI_CD'), 'then the STE');
  });

  it('an identity domain is not a DMA-API domain: no flush', async () => {
    const m = new Machine();
    const k = m.primary({ passthrough: true });
    await k.probeSmmu();
    const ops = consumed(m);
    await k.probeDevice({ name: '0000:01:00.0', sids: [0x100] });
    assert.ok(!ops.includes('TLBI_NH_ASID'), ops.join());
    assert.ok(ops.includes('CFGI_STE'));
  });

  it("a deferred attach (v7 adopting a live STE) still flushes at probe, with the new domain's ASID", async () => {
    const m = new Machine();
    const p = m.primary();
    await p.probeSmmu();
    await p.probeDevice({ name: '0000:01:00.0', sids: [0x100] });
    m.crash();
    const k = m.kdump('adopt-v7');
    await k.probeSmmu();
    const ops = consumed(m);
    const r = await k.probeDevice({ name: '0000:01:00.0', sids: [0x100] });
    assert.equal(r.deferred, true);
    assert.deepEqual(ops, ['TLBI_NH_ASID', 'CMD_SYNC'], 'the flush, and no attach');
  });

  it('prints "Adding to iommu group N", numbered per kernel, with the bound driver (or the bus) as prefix', async () => {
    const m = new Machine();
    const groups = { next: 0 };
    const k = m.primary({ groups });
    await k.probeSmmu();
    await k.probeDevice({ name: '0000:00:01.0', sids: [0x8], driver: 'virtio-pci' });
    await k.probeDevice({ name: '0000:00:02.0', sids: [0x10] });
    assert.deepEqual(
      k.log.grep('iommu group').map((l) => `${l.device}: ${l.text}`),
      ['virtio-pci 0000:00:01.0: Adding to iommu group 0', 'pci 0000:00:02.0: Adding to iommu group 1'],
    );
    assert.equal(groups.next, 2);
  });
});

describe('queues: Q_MAX_SZ_SHIFT and "allocated N entries"', () => {
  it('without CMA: PAGE_SHIFT + MAX_PAGE_ORDER (4 MiB with 4K pages), capped by IDR1', async () => {
    const m = new Machine();
    const k = m.primary();
    await k.probeSmmu();
    assert.deepEqual([k.smmu.cmdq.shift, k.smmu.evtq.shift], [18, 17]);
    assert.deepEqual(
      k.log.grep(/^allocated/).map((l) => l.text),
      ['allocated 262144 entries for cmdq', 'allocated 131072 entries for evtq', 'allocated 262144 entries for priq'],
    );
  });

  it("with CONFIG_CMA_ALIGNMENT=8 (Debian): 1 MiB queues, as the recordings' 65536 and 32768 entries", async () => {
    const m = new Machine({ smmu: { pri: false } });
    const k = m.primary({ cmaAlignment: 8 });
    await k.probeSmmu();
    assert.deepEqual(
      k.log.grep(/^allocated/).map((l) => l.text),
      ['allocated 65536 entries for cmdq', 'allocated 32768 entries for evtq'],
    );
    const base = m.trace.of('primary', { dir: 'write', register: 'CMDQ_BASE' })[0]!.value;
    assert.equal(findFormat('CMDQ_BASE')!.get([base], 'LOG2SIZE'), 16n);
  });

  it('64K pages without CMA: MAX_PAGE_ORDER 13, so IDR1.CMDQS (19) is the cap', async () => {
    const m = new Machine();
    const k = m.primary({ pageSize: 65536 });
    await k.probeSmmu();
    assert.deepEqual([k.smmu.cmdq.shift, k.smmu.evtq.shift], [19, 19]);
  });
});

describe('features: FEAT_NESTING and arm_smmu_device_iidr_probe', () => {
  it('both stages on an implementation without errata: NESTING (bit 19) is set', async () => {
    const m = new Machine({ smmu: { productId: 0 } });
    const k = m.primary();
    await k.probeSmmu();
    assert.ok(k.smmu.features & FEAT.NESTING);
    assert.deepEqual(features(k), ['ias 48-bit, oas 48-bit (features 0x00f89ff7)']);
  });

  it('MMU-700: BTM and NESTING cleared, CMDQ_FORCE_SYNC set (errata 2268618, 2812531)', async () => {
    const m = new Machine({ smmu: { productId: 0x487, btm: true, hyp: true } });
    const k = m.primary();
    await k.probeSmmu();
    assert.equal(k.smmu.features & (FEAT.NESTING | FEAT.BTM), 0);
    assert.ok(k.smmu.options & OPT.CMDQ_FORCE_SYNC);
  });

  it('MMU-600 r0p0..r0p2: SEV cleared (1076982); before r2: NESTING cleared (1209401)', async () => {
    const m = new Machine({ smmu: { productId: 0x483 } });
    const k = m.primary();
    await k.probeSmmu();
    // The model reports Variant 0, Revision 0.
    assert.equal(k.smmu.features & (FEAT.SEV | FEAT.NESTING), 0);
    assert.equal(k.smmu.options & OPT.CMDQ_FORCE_SYNC, 0);
  });

  it('another implementer is left alone', async () => {
    const m = new Machine({ smmu: { productId: 0x487, idFields: { IIDR: { Implementer: 0x42 } } } });
    const k = m.primary();
    await k.probeSmmu();
    assert.ok(k.smmu.features & FEAT.NESTING);
    assert.equal(k.smmu.options & OPT.CMDQ_FORCE_SYNC, 0);
  });
});

describe('arm_smmu_cmdq_batch_add / batch_submit', () => {
  const tlbi = (n: number) => Array.from({ length: n }, (_, i) => [BigInt(0x12) | (1n << 48n), BigInt(0x1000 * (i + 1))]);
  const batches = async (opts: { productId: number }, n: number) => {
    const m = new Machine({ smmu: { productId: opts.productId } });
    const k = m.primary();
    await k.probeSmmu();
    const calls: number[] = [];
    const ops = consumed(m);
    const orig = k.smmu.issueCmdlist.bind(k.smmu);
    k.smmu.issueCmdlist = async (cmds, sync) => {
      calls.push(cmds.length * 10 + (sync ? 1 : 0));
      return orig(cmds, sync);
    };
    await k.smmu.issueBatch(tlbi(n));
    return { calls, syncs: ops.filter((o) => o === 'CMD_SYNC').length };
  };

  it('64 commands fill a batch; the 65th sends them without a sync; the submit syncs the rest', async () => {
    assert.deepEqual(await batches({ productId: 0 }, 65), { calls: [640, 11], syncs: 1 });
    assert.deepEqual(await batches({ productId: 0 }, 64), { calls: [641], syncs: 1 });
  });

  it('with CMDQ_FORCE_SYNC (MMU-700) the 64th command first sends the 63 before it with a sync', async () => {
    assert.deepEqual(await batches({ productId: 0x487 }, 64), { calls: [631, 11], syncs: 2 });
    assert.deepEqual(await batches({ productId: 0x487 }, 63), { calls: [631], syncs: 1 });
  });
});

describe('firmware: the IORT path prints the option mask', () => {
  it('acpi_smmu_get_options: "option mask 0x0" at notice level before hw_probe; a DT node prints nothing', async () => {
    const m = new Machine();
    const k = m.primary();
    await k.probeSmmu();
    assert.deepEqual(k.log.all()[0], { time: 0, kernel: 'primary', level: 'notice', device: 'arm-smmu-v3 arm-smmu-v3.0.auto', text: 'option mask 0x0' });
    const d = new Machine();
    const kd = d.primary({ firmware: { kind: 'dt', devName: 'arm-smmu-v3 9050000.smmuv3' } });
    await kd.probeSmmu();
    assert.deepEqual(kd.log.grep('option'), []);
  });
});

describe('iommu_subsys_init', () => {
  it('prints the default domain type and the invalidation policy, or passthrough alone', () => {
    const lines: string[] = [];
    const log = { log: (_l: 'info', _d: string, t: string) => void lines.push(t) };
    LinuxKernel.iommuSubsysInit(log, false);
    LinuxKernel.iommuSubsysInit(log, true);
    assert.deepEqual(lines, [
      'iommu: Default domain type: Translated',
      'iommu: DMA domain TLB invalidation policy: strict mode',
      'iommu: Default domain type: Passthrough (set via kernel command line)',
    ]);
  });
});
