// SPDX-License-Identifier: Apache-2.0
// Scale: a full 16-bit 2-level stream table (devices on all 256 buses) with thousands of
// devices mid-DMA across the panic, adopted by v7 with lazy L2 and every device deferred, within
// a bounded simulated memory. Run time and peak memory against device count are measured by
// `npm run bench -- scale` (BENCHMARKS.md), not here.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildScenario, scaleBdf, scaleDocument } from '../catalogue';
import { runScenario } from './runner';
import type { PlatformRole } from './platform-role';

describe('scale', () => {
  it('device names cover every bus before reusing one', () => {
    assert.equal(scaleBdf(0), '0000:00:00.0');
    assert.equal(scaleBdf(255), '0000:ff:00.0');
    assert.equal(scaleBdf(256), '0000:00:00.1');
    assert.equal(scaleBdf(256 * 8), '0000:00:01.0');
    assert.throws(() => scaleDocument(70_000), /devices: an integer in \[2, 65536\]/);
  });

  it('2048 devices over 256 buses: a full 2-level table adopted, only the dump target probed, every device still translating, the vmcore saved', async () => {
    let world: PlatformRole | undefined;
    const r = await runScenario(buildScenario(scaleDocument(2048)), { onPlatform: (w) => (world = w) });
    assert.equal(r.devices.length, 2048);
    assert.equal(r.adoption.adopted, true);
    assert.equal(r.smmus[0]!.strtab.kind, '2lvl');
    assert.equal(r.smmus[0]!.strtab.entries, 256, 'LOG2SIZE 16 with SPLIT 8: 256 L1 descriptors');
    // 6.12 probes a device's IOMMU as its driver binds: only the NVMe has a kdump driver, so only
    // its bus's L2 table is mapped (lazily, at its insert) and only it is deferred; the NICs keep
    // translating through the adopted tables, which the SMMU walks without the kernel.
    assert.equal(r.smmus[0]!.strtab.l2Mapped, 1, "the dump target's bus only");
    assert.deepEqual(
      r.devices.filter((d) => d.kdump.deferred).map((d) => d.kind),
      ['nvme'],
    );
    assert.equal(r.devices.filter((d) => d.kdump.grouped).length, 1);
    assert.equal(r.dma.afterCrash.beforeQuiesce.aborted + r.dma.afterCrash.beforeQuiesce.faulted, 0);
    assert.ok(r.dma.afterCrash.issued > 2048, 'the devices kept DMAing after the panic');
    assert.equal(r.corruption.totalBytes, 0);
    assert.equal(r.vmcore.saved, true, r.vmcore.reason);
    assert.equal(r.invariantsHold, true);
    const stats = world!.memory.stats();
    assert.ok(stats.backedBytes < world!.memory.maxBackedBytes, 'within the backing bound');
    assert.ok(stats.backedBytes / 2048 < 128 * 1024, `under 128 KiB of simulated memory per device (${Math.round(stats.backedBytes / 2048)} B)`);
  });
});
