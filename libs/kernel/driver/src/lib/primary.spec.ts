// SPDX-License-Identifier: Apache-2.0
// The primary kernel on the hardware twin: hw_probe, queues, stream table, arm_smmu_device_reset
// (domain notes 1.7), default domains, DMA map/unmap with the invalidations Linux issues.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Machine } from './machine';
import { FEAT } from './features';

describe('primary boot (arm_smmu_device_probe on a server SMMU)', () => {
  it('probes, resets and enables as Linux 6.12 does', async () => {
    const m = new Machine();
    const k = m.primary();
    const r = await k.probeSmmu();
    assert.deepEqual(r, { ok: true });
    assert.ok(m.clock.now() < 100_000, `the probe takes tens of microseconds of virtual time, not poll timeouts (${m.clock.now()} ns)`);
    assert.equal(m.trace.all().filter((a) => a.repeat > 100).length, 0, 'no poll ran long');
    // 2_LVL_STRTAB..MSI, COHERENCY, TRANS_S1/S2, STALLS, HYP, RANGE_INV, ATTR_TYPES_OVR, HA, HD,
    // S2FWB: no bit 24 (FEAT_EVTQ exists only in the v10 series).
    assert.deepEqual(
      k.log.grep(/features/).map((l) => l.text),
      ['ias 48-bit, oas 48-bit (features 0x00f09ff7)'],
    );
    assert.ok(k.smmu.features & FEAT.TWO_LVL_STRTAB);
    // CR1 0xD75, CR2 0x6, a 2-level STRTAB_BASE_CFG 0x10210 for 16 SID bits (domain notes 1.7).
    const w = (reg: string) => m.trace.of('primary', { dir: 'write', register: reg }).map((a) => a.value);
    assert.deepEqual(w('CR1'), [0xd75n]);
    assert.deepEqual(w('CR2'), [0x6n]);
    assert.deepEqual(w('STRTAB_BASE_CFG'), [0x10210n]);
    // CR0 sequence: 0 -> CMDQEN -> +EVTQEN -> +PRIQEN -> +ATSCHK -> +SMMUEN.
    assert.deepEqual(w('CR0'), [0n, 0x8n, 0xcn, 0xen, 0x1en, 0x1fn]);
    assert.equal(m.smmu.register('CR0ACK'), 0x1fn);
    // CFGI_ALL, TLBI_EL2_ALL (Hyp), TLBI_NSNH_ALL, each synced: 6 commands consumed.
    assert.equal(m.smmu.counters.commandsConsumed, 6);
    assert.equal(m.smmu.counters.syncs, 3);
    assert.equal(m.smmu.violations().length, 0, 'a correct driver breaks no architecture rule');
    assert.deepEqual(k.smmu.irqs, { gerror: true, evtq: true, priq: true, combined: false });
  });

  it('attaches a DMA domain and the device DMAs through it; unmap invalidates the TLB', async () => {
    const m = new Machine();
    const k = m.primary();
    await k.probeSmmu();
    const p = await k.probeDevice({ name: '0000:01:00.0', sids: [0x100] });
    assert.equal(p.grouped, true);
    assert.equal(p.deferred, false);
    const buf = 0x9000_0000;
    const iova = await k.dmaMap('0000:01:00.0', buf, 8192);
    assert.equal(iova, 0xffff_e000, 'dma-iommu allocates top-down below 4 GiB, size-aligned');
    const t = m.smmu.dma({ sid: 0x100, address: iova + 0x10, write: true }, new Uint8Array(16).fill(7));
    assert.equal(t.completion, 'ok', t.translations[0]!.why);
    assert.equal(t.translations[0]!.pa, buf + 0x10);
    await k.dmaUnmap('0000:01:00.0', iova, 8192);
    const after = m.smmu.dma({ sid: 0x100, address: iova + 0x10, write: true }, new Uint8Array(16));
    assert.equal(after.completion, 'abort');
    assert.equal(after.translations[0]!.event, 'F_TRANSLATION');
    // The TLBI was a range command (RIL): one TLBI_NH_VA for 2 pages.
    assert.equal(m.smmu.violations().length, 0);
  });

  it('HA/HD come from IDR0.HTTU whatever the coherency (arm_smmu_get_httu, DT)', async () => {
    const m = new Machine({ smmu: { coherent: false } });
    const k = m.primary({ firmware: { coherent: false } });
    await k.probeSmmu();
    assert.equal(k.smmu.features & (FEAT.HA | FEAT.HD), FEAT.HA | FEAT.HD);
    assert.equal(k.smmu.features & FEAT.COHERENCY, 0);
    assert.deepEqual(
      k.log.grep(/features/).map((l) => l.text),
      ['ias 48-bit, oas 48-bit (features 0x00f09ef7)'],
    );
  });

  it('a linear stream table when SIDSIZE <= 8', async () => {
    const m = new Machine({ smmu: { sidBits: 8, twoLevelStrtab: true } });
    const k = m.primary();
    await k.probeSmmu();
    assert.equal(k.smmu.strtab.kind, 'linear');
    assert.deepEqual(
      m.trace.of('primary', { dir: 'write', register: 'STRTAB_BASE_CFG' }).map((a) => a.value),
      [8n],
    );
  });

  it("the machine's log is one timeline of every kernel; each kernel keeps its own", async () => {
    const m = new Machine();
    const p = m.primary();
    await p.probeSmmu();
    m.crash();
    const k = m.kdump('adopt-v7');
    await k.probeSmmu();
    assert.ok(p.log.all().every((l) => l.kernel === 'primary'));
    assert.ok(k.log.all().every((l) => l.kernel === 'kdump'));
    assert.deepEqual(
      m.log.all().map((l) => `${l.kernel}: ${l.text}`),
      [...p.log.all(), ...k.log.all()].map((l) => `${l.kernel}: ${l.text}`),
    );
    assert.ok(m.log.all().length >= 3);
  });
});
