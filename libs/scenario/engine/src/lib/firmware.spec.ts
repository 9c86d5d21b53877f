// SPDX-License-Identifier: Apache-2.0
// The machine descriptions the QEMU reference needed (tools/reference): devices meet the IOMMU
// when their driver binds (device tree and IORT alike), the firmware names the SMMU, the
// kernel's CMA alignment, the driver names dev_info prints, and ID register fields as an
// implementation reports them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DmaRecord } from '@kdump-twin/endpoint';
import type { LogLine } from '@kdump-twin/kernel';
import { runScenario, type RunViews } from './runner';
import { parseScenario } from './spec';

const machine = (firmware: 'acpi' | 'dt', over: Record<string, unknown> = {}) => ({
  id: `fw-${firmware}`,
  platform: { smmus: [{ config: { msi: false, ats: false, pri: false }, firmware: { kind: firmware, msiDomain: false } }] },
  devices: [
    { kind: 'nvme', name: '0000:00:01.0', driver: 'virtio-pci', kdumpDriver: { probeAtNs: 1_000_000 } },
    { kind: 'nic', name: '0000:00:02.0', kdumpDriver: { present: true, probeAtNs: 3_000_000 } },
  ],
  kdump: { policy: 'status-quo' },
  run: { vmcore: { save: false }, endAfterKdumpNs: 5_000_000 },
  ...over,
});

async function run(doc: object): Promise<{ views: RunViews; dma: DmaRecord[]; report: Awaited<ReturnType<typeof runScenario>> }> {
  let views: RunViews | undefined;
  const dma: DmaRecord[] = [];
  const report = await runScenario(parseScenario(doc), { onPlatform: (p) => p.observers.push({ dma: (r) => dma.push(r) }), onViews: (v) => (views = v) });
  return { views: views!, dma, report };
}

const line = (l: LogLine) => (l.device ? `${l.device}: ${l.text}` : l.text);

/** The runs of what a device's DMA got after the kdump kernel's reset, as QEMU's trace classes them. */
function kdumpRuns(dma: readonly DmaRecord[], device: string, after: number): string[] {
  const out: string[] = [];
  for (const r of dma) {
    if (r.device !== device || r.time < after) continue;
    const c = r.completion;
    const k = c.outcome === 'translated' ? 'translated' : c.path === 'ste-abort' || c.path === 'gbpa' ? 'abort' : `error(${c.event ?? c.outcome})`;
    if (out.at(-1) !== k) out.push(k);
  }
  return out;
}

describe('firmware kind: a device meets the IOMMU when its driver binds (device tree and IORT alike in 6.12)', () => {
  it('names the SMMU by its node, and the devices by their drivers, in both kernels', async () => {
    const { views } = await run(machine('dt'));
    const lines = views.kdump!.log.map(line);
    assert.ok(lines.includes('arm-smmu-v3 9050000.smmuv3: SMMU currently enabled! Resetting...'), lines.join('\n'));
    assert.ok(lines.includes('virtio-pci 0000:00:01.0: Adding to iommu group 0'));
    assert.ok(lines.includes('e1000e 0000:00:02.0: Adding to iommu group 1'));
    assert.deepEqual(lines.slice(0, 2), ['iommu: Default domain type: Translated', 'iommu: DMA domain TLB invalidation policy: strict mode']);
    const acpi = (await run(machine('acpi'))).views.kdump!.log.map(line);
    assert.ok(acpi.includes('arm-smmu-v3 arm-smmu-v3.0.auto: SMMU currently enabled! Resetting...'));
    assert.ok(acpi.includes('arm-smmu-v3 arm-smmu-v3.0.auto: option mask 0x0'), 'acpi_smmu_get_options');
    assert.ok(acpi.includes('e1000e 0000:00:02.0: Adding to iommu group 1'), 'the IORT too: probed as its driver binds');
  });

  it("status quo: the NIC still receiving meets C_BAD_STREAMID, then an abort STE once the disk's attach made the L2, then its new domain", async () => {
    const { dma, report } = await run(machine('dt'));
    const nic = report.devices.find((d) => d.name === '0000:00:02.0')!;
    const disk = report.devices.find((d) => d.name === '0000:00:01.0')!;
    assert.ok(nic.kdump.probedAt! > disk.kdump.probedAt!, 'each IOMMU probe waits for its driver');
    assert.equal(nic.kdump.probedAt, report.timeline.kdumpAt! + 3_000_000);
    const runs = kdumpRuns(dma, '0000:00:02.0', report.timeline.kdumpAt!);
    // Through the crashed kernel's tables until the reset, GBPA.ABORT in its window, then exactly
    // what the QEMU recordings show.
    assert.deepEqual(runs, ['translated', 'abort', 'error(C_BAD_STREAMID)', 'abort', 'translated']);
  });

  it('IORT (the default): the same order as a device tree, as the status-quo-acpi recording shows (the fwspec comes at acpi_dma_configure)', async () => {
    const { dma, report } = await run(machine('acpi'));
    const nic = report.devices.find((d) => d.name === '0000:00:02.0')!;
    assert.equal(nic.kdump.probedAt, report.timeline.kdumpAt! + 3_000_000);
    assert.deepEqual(kdumpRuns(dma, '0000:00:02.0', report.timeline.kdumpAt!), ['translated', 'abort', 'error(C_BAD_STREAMID)', 'abort', 'translated']);
  });

  it('a device without a kdump driver is never probed: no group, its StreamID stays as the reset left it', async () => {
    const doc = machine('dt', {
      devices: [
        { kind: 'nvme', name: '0000:00:01.0', kdumpDriver: { probeAtNs: 1_000_000 } },
        { kind: 'nic', name: '0000:00:02.0' },
      ],
    });
    const { report } = await run(doc);
    const nic = report.devices.find((d) => d.name === '0000:00:02.0')!;
    assert.deepEqual([nic.kdump.grouped, nic.kdump.probedAt], [false, null]);
  });
});

describe('AER: a device whose errors nothing reports', () => {
  it("aer.reported=false (a root-bus endpoint without AER, no RCEC): its aborted DMA raises nothing, the other device's does", async () => {
    const quiet = machine('acpi', {
      devices: [
        { kind: 'nvme', name: '0000:00:01.0', kdumpDriver: { probeAtNs: 1_000_000 } },
        { kind: 'nic', name: '0000:00:02.0', aer: { reported: false }, kdumpDriver: { present: true, probeAtNs: 3_000_000 } },
      ],
    });
    const loud = machine('acpi');
    const aer = async (doc: object) => {
      const { report } = await run(doc);
      const nic = report.devices.find((d) => d.name === '0000:00:02.0')!;
      return { failed: nic.dma.afterCrash.aborted + nic.dma.afterCrash.faulted, aer: nic.aer.correctable + nic.aer.nonFatal + nic.aer.fatal };
    };
    const [q, l] = [await aer(quiet), await aer(loud)];
    assert.ok(l.failed > 0 && l.aer > 0, JSON.stringify(l));
    assert.ok(q.failed > 0, JSON.stringify(q));
    assert.equal(q.aer, 0);
  });
});

describe('kernelConfig and the ID registers of a described machine', () => {
  it("cmaAlignment caps the queues as Debian's kernel does, and the driver says so", async () => {
    const { views } = await run(machine('dt', { kernelConfig: { cmaAlignment: 8 } }));
    const lines = views.primary.log.map(line);
    assert.ok(lines.includes('arm-smmu-v3 9050000.smmuv3: allocated 65536 entries for cmdq'), lines.join('\n'));
    assert.ok(lines.includes('arm-smmu-v3 9050000.smmuv3: allocated 32768 entries for evtq'));
  });

  it('refuses a bad description naming the field and the rule', async () => {
    assert.throws(() => parseScenario(machine('dt', { kernelConfig: { cmaAlignment: 13 } })), /kernelConfig\.cmaAlignment/);
    assert.throws(() => parseScenario({ ...machine('dt'), platform: { smmus: [{ firmware: { kind: 'of' } }] } }), /platform\.smmus\[0\]\.firmware\.kind/);
    assert.throws(() => parseScenario({ ...machine('dt'), devices: [{ kind: 'nic', name: '0000:00:02.0', driver: 'e1000e x' }] }), /devices\[0\]\.driver/);
    const bad = { ...machine('dt'), platform: { smmus: [{ config: { idFields: { IDR0: { MSI: 1 } } } }] } };
    await assert.rejects(() => runScenario(parseScenario(bad)), /platform\.smmus\[0\]\.config\.idFields\.IDR0\.MSI.*set by the key msi/);
  });
});
