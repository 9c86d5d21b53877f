// SPDX-License-Identifier: Apache-2.0
// The catalogue entries: data only. Each is the baseline with some fields changed, an id that
// starts with the series document's identifier (section 4: R1..R11, S1..S22, S10a..S10l), the
// outcome the document predicts in words, and that prediction per policy as checks
// [path into the report, operator, expected] the runner holds every report to.

import type { Check } from '../lib/predict';
import { POLICIES } from '../lib/spec';
import type { CatalogueEntry } from './entry';

const US = 1_000;
const MS = 1_000_000;

const NIC = '0000:01:00.0';
const NVME = '0000:02:00.0';
const GPU = '0000:03:00.0';

/** A NIC mid-DMA with a network kdump driver and the NVMe dump target: enough for most code-path scenarios. */
const PAIR = [
  { kind: 'nic', name: NIC, kdumpDriver: { present: true, role: 'network', probeAtNs: 3 * MS }, traffic: { rxIntervalNs: 4 * US } },
  { kind: 'nvme', name: NVME, kdumpDriver: { present: true, role: 'dump-target', probeAtNs: 2 * MS }, traffic: { mediaLatencyNs: 200 * US, outstanding: 128 } },
];

/**
 * The pair with slow traffic, for scenarios where the kdump kernel waits out one-second
 * timeouts (CMD_SYNC, ACKs): a second of virtual time with the baseline's rates is a million
 * transactions.
 */
const QUIET = [
  {
    kind: 'nic',
    name: NIC,
    kdumpDriver: { present: true, role: 'network', probeAtNs: 3 * MS },
    traffic: { rxIntervalNs: 200 * US, statsIntervalNs: 1 * MS, txIntervalNs: 0 },
  },
  {
    kind: 'nvme',
    name: NVME,
    kdumpDriver: { present: true, role: 'dump-target', probeAtNs: 2 * MS },
    traffic: { mediaLatencyNs: 5 * MS, outstanding: 32, queueDepth: 4 },
  },
];

/** The same pair plus an accelerator with no kdump driver, whose adopted STE stays live (S22). */
const TRIO = [...PAIR, { kind: 'gpu', name: GPU, kdumpDriver: { present: false } }];

const at = (fault: Record<string, unknown>, when = 'at-crash') => ({ when, fault });
const cfg = (field: string, value: number | string) => at({ kind: 'register-field', register: 'STRTAB_BASE_CFG', field, value });

// Reusable predictions.
const ADOPTED: Check[] = [
  ['adoption.adopted', '=', true],
  ['dma.afterCrash.beforeQuiesce.aborted', '=', 0],
  ['invariantsHold', '=', true],
];
const FELL_BACK = (why: string): Check[] => [
  ['adoption.attempted', '=', true],
  ['adoption.adopted', '=', false],
  ['log', 'logs', why],
  ['log', 'logs', 'kdump: falling back to full reset'],
  ['mmio.writesTo.STRTAB_BASE', '=', 1],
  ['invariantsHold', '=', true],
];
const REFUSED = (why: string): Check[] => [
  ['adoption.attempted', '=', true],
  ['adoption.adopted', '=', false],
  ['adoption.fallbackReason', '=', why],
  ['log', 'logs', why],
  ['mmio.writesTo.STRTAB_BASE', '=', 1],
];
const STATUS_QUO_RESET: Check[] = [
  ['log', 'logs', 'SMMU currently enabled! Resetting...'],
  ['mmio.writesTo.GBPA', '=', 1],
  ['mmio.writesTo.STRTAB_BASE', '=', 1],
  ['dma.afterCrash.beforeQuiesce.aborted', '>', 0],
];

/** R10-M3's unmap windows: the NIC's receive buffers unmapped at 1.2 ms (the ring has wrapped: every buffer's translation is in the TLB), the panic 2 ms after. */
const UNMAP_2MS_BEFORE_PANIC = { trigger: { kind: 'after-unmap', device: NIC, atNs: 1_200 * US, buffer: 1, afterNs: 2 * MS } };

export const ENTRIES: CatalogueEntry[] = [
  {
    id: 'baseline',
    version: 2,
    title: 'healthy server, primary kernel panics while every device is mid-DMA',
    source: 'kdump-adopt-series.md 1.1, 1.3 (cover letter cases (a) and (b))',
    outcome:
      "adopt: no in-flight DMA aborted or bypassed before its driver quiesces the device; v7 gives the kdump kernel's domains the crashed ASIDs in the order the drivers bind, so a new domain hits the TLB entries another device's in-flight DMA keeps refilling: the dump target's commands go through the first NIC's crashed translations and the dump is lost, and the first NIC's received packets land in the second port's crashed buffers (crashed-kernel memory corrupted); v10 saves it, nothing corrupted; status quo: GBPA abort and fresh tables abort in-flight DMA, AER, a fatal escalation panics the kdump kernel; GBPA bypass: in-flight DMA lands on PA = IOVA, in the carve-out",
    headline: true,
    inference:
      "v7's hazard here follows from 6.12 taking ASIDs lowest-free at default-domain allocation, in the order the kdump kernel's drivers bind (each device's IOMMU probe waits for its driver, on IORT and DT machines alike), and the DMA API handing out the same top-down IOVAs; the TLB keeps what in-flight DMA refilled after the reset's TLBI_NSNH_ALL and after each default domain's flush. A larger or adversarial TLB (platform.smmus[0].config.refetchProbability) changes how much of it survives",
    doc: {},
    predict: {
      'adopt-v7': [
        ...ADOPTED,
        ['dma.afterCrash.beforeQuiesce.bypassed', '=', 0],
        ['dma.afterCrash.beforeQuiesce.faulted', '=', 0],
        ['corruption.crashedKernelBytes', '>', 0],
        ['corruption.carveoutBytes', '=', 0],
        ['aer.fatal', '=', 0],
        ['kdumpPanicked', '=', false],
        ['smmus[0].reusedCrashedIds.asids', '!=', []],
        ['vmcore.saved', '=', false],
      ],
      'adopt-v10': [
        ...ADOPTED,
        ['dma.afterCrash.beforeQuiesce.bypassed', '=', 0],
        ['dma.afterCrash.beforeQuiesce.faulted', '=', 0],
        ['corruption.totalBytes', '=', 0],
        ['smmus[0].reusedCrashedIds.asids', '=', []],
        ['corruption.staleAfterQuiesceBytes', '=', 0],
        ['kdumpPanicked', '=', false],
        ['vmcore.saved', '=', true],
        ['vmcore.corruptedBytes', '=', 0],
      ],
      'status-quo': [...STATUS_QUO_RESET, ['aer.fatal', '>', 0], ['kdumpPanicked', '=', true], ['vmcore.saved', '=', false]],
      'gbpa-bypass': [
        ['dma.afterCrash.beforeQuiesce.bypassed', '>', 0],
        ['corruption.carveoutBytes', '>', 0],
      ],
      'no-smmu-driver': [
        ['dma.afterCrash.beforeQuiesce.aborted', '=', 0],
        ['mmio.accesses', '=', 0],
        ['vmcore.saved', '=', false],
      ],
    },
  },

  // ---- R1 (Robin Murphy / Jason): blocking everything vs established kdump practice
  {
    id: 'S1a-ats-translated-inflight',
    version: 1,
    title: 'ATS device with translated requests in flight; an ATS or translated-request failure is fatal',
    source: 'kdump-adopt-series.md 4 R1 S1a',
    outcome: 'status quo: the failure in the GBPA-abort window is fatal and the kdump kernel panics; adopt: no failure until the driver resets the device',
    headline: true,
    doc: {
      devices: [
        ...PAIR,
        {
          kind: 'gpu',
          name: GPU,
          ats: true,
          atcEntries: 1_024,
          aer: { UR: 'fatal', CA: 'fatal', ATS: 'fatal' },
          kdumpDriver: { present: true, role: 'other', probeAtNs: 4 * MS },
        },
      ],
    },
    predict: {
      'status-quo': [
        [`devices[${GPU}].aer.fatal`, '>', 0],
        ['kdumpPanicked', '=', true],
      ],
      'adopt-v7': [
        [`devices[${GPU}].dma.beforeQuiesce.aborted`, '=', 0],
        [`devices[${GPU}].dma.beforeQuiesce.faulted`, '=', 0],
        [`devices[${GPU}].dma.beforeQuiesce.completedOk`, '>', 0],
        ['kdumpPanicked', '=', false],
      ],
      'adopt-v10': [
        [`devices[${GPU}].dma.beforeQuiesce.aborted`, '=', 0],
        ['kdumpPanicked', '=', false],
      ],
    },
  },
  {
    id: 'S1b-corrupt-but-valid-config',
    version: 1,
    title: "a corrupted configuration that still passes the structural checks: the NIC's STE points its CD table at garbage",
    source: 'kdump-adopt-series.md 4 R1 S1b',
    outcome: 'adopt proceeds (accepted risk): the NIC is deferred and its in-flight DMA faults on the bad CD, silently',
    doc: { devices: PAIR, injections: [at({ kind: 'ste', sid: 0x100, set: { S1ContextPtr: '0x81234000' } })] },
    predict: {
      'adopt-v7': [
        ['adoption.adopted', '=', true],
        [`devices[${NIC}].kdump.deferred`, '=', true],
        [`devices[${NIC}].dma.beforeQuiesce.faulted`, '>', 0],
        ['smmus[0].events.written', '=', null],
      ],
    },
  },

  // ---- R2 (Jason): memremap WB is wrong for a non-coherent SMMU
  {
    id: 'S2-non-coherent-smmu',
    version: 1,
    title: 'FEAT_COHERENCY=0 with SMMUEN=1 at the kdump probe',
    source: 'kdump-adopt-series.md 4 R2 S2',
    outcome: 'warn "kdump: non-coherent SMMU unsupported; reset to block all DMAs", status-quo reset, in-flight DMA aborted',
    doc: { devices: PAIR, platform: { smmus: [{ config: { coherent: false }, firmware: { coherent: false } }] } },
    predict: {
      'adopt-v7': [...REFUSED('kdump: non-coherent SMMU unsupported; reset to block all DMAs'), ...STATUS_QUO_RESET],
      'adopt-v10': [...REFUSED('kdump: non-coherent SMMU unsupported; reset to block all DMAs'), ['dma.afterCrash.beforeQuiesce.aborted', '>', 0]],
    },
  },

  // ---- R3 (Jason, Sashiko): the L2 guard in is_attach_deferred is dead code
  {
    id: 'S3-deferral-after-lazy-l2',
    version: 1,
    title: "is_attach_deferred runs only after insert_master made the SID's L2 table exist",
    source: 'kdump-adopt-series.md 4 R3 S3',
    outcome: 'no L2 table is mapped at adopt time; each device insert maps its slot lazily, then the device is deferred',
    doc: { devices: PAIR },
    predict: {
      'adopt-v7': [
        ['adoption.adopted', '=', true],
        ['smmus[0].strtab.adopted', '=', true],
        ['smmus[0].strtab.l2Mapped', '=', 2],
        [`devices[${NIC}].kdump.deferred`, '=', true],
        [`devices[${NVME}].kdump.deferred`, '=', true],
      ],
      'adopt-v10': [
        ['adoption.adopted', '=', true],
        ['smmus[0].strtab.l2Mapped', '=', 2],
        [`devices[${NIC}].kdump.deferred`, '=', true],
      ],
    },
  },

  // ---- R4 (Kevin): no enable-then-disable of EVTQ/PRIQ, warnings in the right place
  {
    id: 'S4-fallback-no-evtq',
    version: 1,
    title: 'kdump fallback path: CR0.EVTQEN/PRIQEN are never observed as 1',
    source: 'kdump-adopt-series.md 4 R4 S4',
    outcome: 'the fallback reset writes no EVTQ/PRIQ register and never sets their enables; the "SMMU currently enabled" warning follows the kdump check',
    doc: { devices: PAIR, platform: { smmus: [{ config: { coherent: false }, firmware: { coherent: false } }] } },
    predict: {
      'adopt-v7': [
        ['mmio.writesTo.EVENTQ_BASE', '=', null],
        ['mmio.writesTo.PRIQ_BASE', '=', null],
        ['log', 'logs', 'SMMU currently enabled! Resetting...'],
        ['invariantsHold', '=', true],
      ],
      'adopt-v10': [
        ['mmio.writesTo.EVENTQ_BASE', '=', null],
        ['mmio.writesTo.PRIQ_BASE', '=', null],
        ['invariantsHold', '=', true],
      ],
      'status-quo': [
        ['mmio.writesTo.EVENTQ_BASE', '=', 1],
        ['mmio.writesTo.PRIQ_BASE', '=', 1],
      ],
    },
  },

  // ---- R5 (Sashiko/Jason): READ_ONCE dropped, no concurrency
  {
    id: 'S5-plain-l1-reads',
    version: 1,
    title: 'adoption reads the L1 table as plain memory',
    source: 'kdump-adopt-series.md 4 R5 S5',
    outcome: 'none: L1 reads are plain reads; adoption proceeds',
    doc: { devices: PAIR },
    predict: { 'adopt-v7': ADOPTED, 'adopt-v10': ADOPTED },
  },

  // ---- R6 (Jason): no physical-address vetting in the driver (v6+)
  {
    id: 'S6a-strtab-in-kdump-ram',
    version: 1,
    title: "STRTAB_BASE points into the kdump kernel's own RAM (zeros) with a valid geometry",
    source: 'kdump-adopt-series.md 4 R6 S6a',
    outcome: 'accepted (no vetting): every L1 slot reads unused, so devices get fresh abort L2 tables and attach at probe',
    inference: 'the hardware walks the injected base too: in-flight DMA meets empty L1 slots',
    doc: { devices: PAIR, injections: [at({ kind: 'register', name: 'STRTAB_BASE', value: '0xe0000000' })] },
    predict: {
      'adopt-v7': [
        ['adoption.adopted', '=', true],
        [`devices[${NIC}].kdump.deferred`, '=', false],
        [`devices[${NIC}].kdump.grouped`, '=', true],
      ],
    },
  },
  {
    id: 'S6b-strtab-base-zero',
    version: 1,
    title: 'STRTAB_BASE address = 0 with a valid geometry',
    source: 'kdump-adopt-series.md 4 R6 S6b',
    outcome: '[INF] memremap(0) fails (twin default: PA 0 is not RAM): -ENOMEM, fallback',
    inference: 'kdump.memremapNonRam=fail (default); S6b-strtab-base-zero-memremap-ok shows the other outcome',
    doc: { devices: PAIR, injections: [at({ kind: 'register', name: 'STRTAB_BASE', value: 0 })] },
    predict: { 'adopt-v7': FELL_BACK('kdump: falling back to full reset'), 'adopt-v10': FELL_BACK('kdump: falling back to full reset') },
  },
  {
    id: 'S6b-strtab-base-zero-memremap-ok',
    version: 1,
    title: 'STRTAB_BASE = 0 and memremap succeeds: whatever reads back at PA 0 is parsed',
    source: 'kdump-adopt-series.md 4 R6 S6b',
    outcome: '[INF] zeros parse as an empty L1 table: adoption proceeds',
    inference: 'kdump.memremapNonRam=succeed',
    doc: { devices: PAIR, injections: [at({ kind: 'register', name: 'STRTAB_BASE', value: 0 })], kdump: { memremapNonRam: 'succeed' } },
    predict: { 'adopt-v7': [['adoption.adopted', '=', true]] },
  },

  // ---- R7 (Pranjal): lazy devm_memremap, cleanup, linear on 2-level hardware
  {
    id: 'S7a-linear-on-2lvl-hw',
    version: 1,
    title: 'a crashed linear stream table (LOG2SIZE 9) on 2-level-capable hardware',
    source: 'kdump-adopt-series.md 4 R7 S7a',
    outcome: 'adopt linear, FEAT_2_LVL_STRTAB cleared; SIDs >= 2^LOG2SIZE get -ERANGE at device probe',
    doc: { devices: PAIR, primary: { legacyLinearStrtab: true }, injections: [cfg('LOG2SIZE', 9)] },
    predict: {
      'adopt-v7': [
        ['adoption.adopted', '=', true],
        ['smmus[0].strtab.kind', '=', 'linear'],
        ['smmus[0].strtab.entries', '=', 512],
        [`devices[${NIC}].kdump.deferred`, '=', true],
        [`devices[${NVME}].kdump.errno`, '=', 'ERANGE'],
      ],
      'adopt-v10': [
        ['adoption.adopted', '=', true],
        ['smmus[0].strtab.kind', '=', 'linear'],
        [`devices[${NVME}].kdump.errno`, '=', 'ERANGE'],
      ],
    },
  },
  {
    id: 'S7b-2lvl-on-linear-hw',
    version: 1,
    title: 'STRTAB_BASE_CFG says 2-level on hardware without 2-level stream tables',
    source: 'kdump-adopt-series.md 4 R7 S7b',
    outcome: 'WARN_ON, -EINVAL, fallback',
    doc: {
      // A linear-only SMMU has at most 6 StreamID bits (IHI0070 6.3.1: ST_LEVEL needs 2-level from SIDSIZE 7).
      devices: [
        { ...PAIR[0], sids: [0x10] },
        { ...PAIR[1], sids: [0x20] },
      ],
      platform: { smmus: [{ config: { twoLevelStrtab: false, sidBits: 6 } }] },
      injections: [cfg('FMT', 1)],
    },
    predict: { 'adopt-v7': FELL_BACK('kdump: falling back to full reset') },
  },
  {
    id: 'S7c-devres-action-fails',
    version: 1,
    title: 'devm_add_action_or_reset fails after a linear adoption',
    source: 'kdump-adopt-series.md 4 R7 S7c',
    outcome: 'cleanup already ran; warn "kdump: failed to set up cleanup action"; FEAT_2_LVL_STRTAB restored; fallback',
    doc: { devices: PAIR, primary: { legacyLinearStrtab: true }, kdump: { failDevresAction: true } },
    predict: { 'adopt-v7': [...FELL_BACK('kdump: failed to set up cleanup action'), ['smmus[0].strtab.kind', '=', '2lvl']] },
  },
  {
    id: 'S7d-unbind-after-adopt',
    version: 1,
    title: 'the SMMU driver is unbound after adoption',
    source: 'kdump-adopt-series.md 4 R7 S7d',
    outcome: 'devres runs the cleanup by the feature bit and touches no register',
    doc: { devices: PAIR, kdump: { unbindAtEnd: true } },
    predict: {
      'adopt-v7': [
        ['adoption.adopted', '=', true],
        ['smmus[0].unbind.registerAccesses', '=', 0],
      ],
    },
  },

  // ---- R8 (Pranjal): the combined IRQ in kdump
  {
    id: 'S8a-combined-irq',
    version: 1,
    title: 'one combined interrupt line (ThunderX2) in the kdump kernel',
    source: 'kdump-adopt-series.md 4 R8 S8a',
    outcome: 'v7 requests it as a plain handler, v10 threaded with a thread that never runs; no EVTQ/PRIQ handler',
    doc: { devices: PAIR, platform: { smmus: [{ firmware: { combinedIrq: true } }] } },
    predict: {
      'adopt-v7': [
        ['smmus[0].irqs.combined', '=', 'plain'],
        ['smmus[0].irqs.evtq', '=', false],
        ['invariantsHold', '=', true],
      ],
      'adopt-v10': [
        ['smmus[0].irqs.combined', '=', 'threaded'],
        ['smmus[0].irqs.evtq', '=', false],
        ['invariantsHold', '=', true],
      ],
    },
  },
  {
    id: 'S8b-late-cmdq-err',
    version: 1,
    title: 'GERROR.CMDQ_ERR raised after the kdump probe',
    source: 'kdump-adopt-series.md 4 R8 S8b',
    outcome: 'handled in hard-IRQ context: the erroneous command skipped, GERRORN acknowledged',
    doc: { devices: PAIR, injections: [{ when: 'at', atNs: 2_500 * US, fault: { kind: 'gerror', name: 'CMDQ_ERR' } }] },
    predict: {
      'adopt-v7': [
        ['log', 'logs', 'unexpected global error reported'],
        ['smmus[0].gerrorActive', '=', []],
        ['adoption.adopted', '=', true],
      ],
    },
  },
  {
    id: 'S8c-no-evtq-thread',
    version: 1,
    title: 'faults while the event queue is disabled and no EVTQ thread exists',
    source: 'kdump-adopt-series.md 4 R8 S8c',
    outcome: 'records are discarded by the disabled queue; nothing drains it, nothing touches EVTQ_CONS',
    doc: { devices: PAIR, injections: [at({ kind: 'pte', device: NIC, buffer: 4, set: 'clear' })] },
    predict: {
      'adopt-v7': [
        ['smmus[0].irqs.evtq', '=', false],
        ['smmus[0].events.disabled', '>', 0],
        ['mmio.writesTo.EVENTQ_CONS', '=', null],
      ],
    },
  },

  // ---- R9 (Pranjal): skip all EVTQ/PRIQ register writes
  {
    id: 'S9-evtq-priq-untouched',
    version: 1,
    title: 'EVTQ and PRIQ BASE/PROD/CONS in kdump',
    source: 'kdump-adopt-series.md 4 R9 S9',
    outcome: "never written; they keep the crashed kernel's values",
    doc: { devices: PAIR },
    predict: {
      'adopt-v7': [
        ['mmio.writesTo.EVENTQ_BASE', '=', null],
        ['mmio.writesTo.EVENTQ_PROD', '=', null],
        ['mmio.writesTo.EVENTQ_CONS', '=', null],
        ['mmio.writesTo.PRIQ_BASE', '=', null],
      ],
      'adopt-v10': [
        ['mmio.writesTo.EVENTQ_BASE', '=', null],
        ['mmio.writesTo.PRIQ_BASE', '=', null],
      ],
      'status-quo': [['mmio.writesTo.EVENTQ_BASE', '=', 1]],
    },
  },

  // ---- R10 (Mostafa): errors, corrupted structures, TLB state, firmware
  {
    id: 'S10a-corrupt-page-table',
    version: 1,
    title: "a corrupted crashed page table: the leaf PTE of the NIC's statistics block is cleared",
    source: 'kdump-adopt-series.md 4 R10 M1 S10a',
    outcome: 'translation faults for that stream only: no event record, no GERROR, no interrupt; the transaction is aborted to the device',
    doc: { devices: PAIR, injections: [at({ kind: 'pte', device: NIC, buffer: 4, set: 'clear' })] },
    predict: {
      'adopt-v7': [
        [`devices[${NIC}].dma.beforeQuiesce.faulted`, '>', 0],
        [`devices[${NVME}].dma.beforeQuiesce.faulted`, '=', 0],
        ['smmus[0].events.written', '=', null],
        ['smmus[0].gerrorActive', '=', []],
      ],
      'adopt-v10': [
        [`devices[${NIC}].dma.beforeQuiesce.faulted`, '>', 0],
        ['smmus[0].events.written', '=', null],
      ],
    },
  },
  {
    id: 'S10b-ras-escalation',
    version: 1,
    title: 'a RAS flow where a PCIe completion abort in the kdump window escalates',
    source: 'kdump-adopt-series.md 4 R10 M1 S10b',
    outcome: 'status quo hits the escalation and the kdump kernel panics; adopt avoids it for streams with live STEs',
    headline: true,
    doc: { devices: PAIR, platform: { ras: 'firmware-first-no-os' } },
    predict: {
      'status-quo': [
        ['kdumpPanicked', '=', true],
        ['serror', '>', 0],
      ],
      'adopt-v7': [
        ['kdumpPanicked', '=', false],
        ['dma.afterCrash.beforeQuiesce.aborted', '=', 0],
      ],
      'adopt-v10': [
        ['kdumpPanicked', '=', false],
        ['dma.afterCrash.beforeQuiesce.aborted', '=', 0],
        ['vmcore.saved', '=', true],
      ],
    },
  },
  {
    id: 'S10c-bad-strtab-fmt',
    version: 1,
    title: 'STRTAB_BASE_CFG.FMT = 2 (reserved)',
    source: 'kdump-adopt-series.md 4 R10 M2 S10c',
    outcome: '"kdump: invalid STRTAB format 2", fallback, status quo',
    doc: { devices: PAIR, injections: [cfg('FMT', 2)] },
    predict: { 'adopt-v7': FELL_BACK('kdump: invalid STRTAB format 2'), 'adopt-v10': FELL_BACK('invalid STRTAB format 2') },
  },
  {
    id: 'S10c-log2size-below-split',
    version: 1,
    title: '2-level STRTAB_BASE_CFG with LOG2SIZE 7 < SPLIT 8',
    source: 'kdump-adopt-series.md 4 R10 M2 S10c',
    outcome: '"kdump: log2size 7 out of range [8, 16]", fallback',
    doc: { devices: PAIR, injections: [cfg('LOG2SIZE', 7)] },
    predict: { 'adopt-v7': FELL_BACK('kdump: log2size 7 out of range [8, 16]'), 'adopt-v10': FELL_BACK('log2size 7 out of range [8, 16]') },
  },
  {
    id: 'S10c-log2size-above-sidsize',
    version: 1,
    title: '2-level STRTAB_BASE_CFG with LOG2SIZE 20 > SIDSIZE 16',
    source: 'kdump-adopt-series.md 4 R10 M2 S10c',
    outcome: '"kdump: log2size 20 out of range [8, 16]", fallback',
    doc: { devices: PAIR, injections: [cfg('LOG2SIZE', 20)] },
    predict: { 'adopt-v7': FELL_BACK('kdump: log2size 20 out of range [8, 16]') },
  },
  {
    id: 'S10c-bad-split',
    version: 1,
    title: 'STRTAB_BASE_CFG.SPLIT = 6',
    source: 'kdump-adopt-series.md 4 R10 M2 S10c',
    outcome: '"kdump: unsupported STRTAB_SPLIT 6 (expected 8)", fallback',
    doc: { devices: PAIR, injections: [cfg('SPLIT', 6)] },
    predict: { 'adopt-v7': FELL_BACK('kdump: unsupported STRTAB_SPLIT 6 (expected 8)'), 'adopt-v10': FELL_BACK('unsupported STRTAB_SPLIT 6 (expected 8)') },
  },
  {
    id: 'S10c-l1-entries-exceed-max',
    version: 1,
    title: 'a 32-bit StreamID SMMU whose crashed LOG2SIZE 26 needs 2^18 L1 entries',
    source: 'kdump-adopt-series.md 4 R10 M2 S10c',
    outcome: 'v7 "kdump: l1 entries 262144 exceeds max 131072"; v10 checks the exponent first: "l1 entries 2^18 exceeds max 131072"; fallback',
    doc: { devices: PAIR, platform: { smmus: [{ config: { sidBits: 32 } }] }, injections: [cfg('LOG2SIZE', 26)] },
    predict: { 'adopt-v7': FELL_BACK('kdump: l1 entries 262144 exceeds max 131072'), 'adopt-v10': FELL_BACK('l1 entries 2^18 exceeds max 131072') },
  },
  {
    id: 'S10c-linear-log2size-cap',
    version: 1,
    title: "a crashed linear table with LOG2SIZE 26 above the kdump kernel's cap",
    source: 'kdump-adopt-series.md 4 R10 M2 S10c',
    outcome:
      'v7 caps at 25 on 2-level-capable hardware: "kdump: unsupported log2size 26 (> 25)"; v10 caps at min(SIDSIZE, 25): "unsupported log2size 26 (> 16)"; fallback',
    doc: { devices: PAIR, primary: { legacyLinearStrtab: true }, injections: [cfg('LOG2SIZE', 26)] },
    predict: { 'adopt-v7': FELL_BACK('kdump: unsupported log2size 26 (> 25)'), 'adopt-v10': FELL_BACK('unsupported log2size 26 (> 16)') },
  },
  {
    id: 'S10c-unaligned-l1-base',
    version: 1,
    title: 'an L1 table base not aligned to the L1 size',
    source: 'kdump-adopt-series.md 4 R10 M2 S10c',
    outcome: 'v7 accepts it (no alignment check); v10 "unaligned l1 stream table base 0x...", fallback',
    doc: { devices: PAIR, injections: [at({ kind: 'register-field', register: 'STRTAB_BASE', field: 'ADDR', value: '0x80c00040' })] },
    predict: { 'adopt-v10': FELL_BACK('unaligned l1 stream table base 0x0000000080c00040') },
  },
  {
    id: 'S10d-l1-bad-span',
    version: 1,
    title: "the NIC's L1 descriptor has SPAN 5 at adopt time",
    source: 'kdump-adopt-series.md 4 R10 M2 S10d',
    outcome: '"L1[1] unsupported span 5 (vs 9)", fallback (v7 and v10)',
    doc: { devices: PAIR, injections: [at({ kind: 'l1std', sid: 0x100, set: { Span: 5 } })] },
    predict: { 'adopt-v7': FELL_BACK('kdump: L1[1] unsupported span 5 (vs 9)'), 'adopt-v10': FELL_BACK('L1[1] unsupported span 5 (vs 9)') },
  },
  {
    id: 'S10d-l1-l2ptr-zero',
    version: 1,
    title: "the NIC's L1 descriptor has SPAN 9 and L2Ptr 0",
    source: 'kdump-adopt-series.md 4 R10 M2 S10d',
    outcome:
      'v7 treats the slot as unused: the NIC gets a fresh abort L2 written into the live L1 table and attaches at probe; v10 "L1[1] bad l2 table base", fallback',
    doc: { devices: PAIR, injections: [at({ kind: 'l1std', sid: 0x100, set: { L2Ptr: 0 } })] },
    predict: {
      'adopt-v7': [
        ['adoption.adopted', '=', true],
        [`devices[${NIC}].kdump.deferred`, '=', false],
        [`devices[${NIC}].kdump.grouped`, '=', true],
        ['vmcore.kdumpWrittenBytes', '>=', 8],
      ],
      'adopt-v10': FELL_BACK('L1[1] bad l2 table base 0x0000000000000000'),
    },
  },
  {
    id: 'S10e-l1-span-changed-live',
    version: 1,
    title: "rogue DMA rewrites the NIC's L1 SPAN to 5 after adoption, before the NIC probes",
    source: 'kdump-adopt-series.md 4 R10 M2 S10e',
    outcome: 'that device\'s probe fails with -EINVAL and "L1[1] span 5 changed since adopt (was 9)"; other buses unaffected; the SMMU stays enabled',
    doc: { devices: PAIR, injections: [at({ kind: 'l1std', sid: 0x100, set: { Span: 5 } }, 'after-smmu-probe')] },
    predict: {
      'adopt-v7': [
        ['adoption.adopted', '=', true],
        [`devices[${NIC}].kdump.errno`, '=', 'EINVAL'],
        ['log', 'logs', 'kdump: L1[1] span 5 changed since adopt (was 9)'],
        [`devices[${NVME}].kdump.grouped`, '=', true],
        ['smmus[0].smmuen', '=', true],
        ['invariantsHold', '=', true],
      ],
    },
  },
  {
    id: 'S10e-l1-span-zero-live',
    version: 1,
    title: "rogue DMA clears the NIC's L1 SPAN after adoption",
    source: 'kdump-adopt-series.md 4 R10 M2 S10e',
    outcome: 'a fresh abort L2 is allocated and written; the NIC attaches normally',
    doc: { devices: PAIR, injections: [at({ kind: 'l1std', sid: 0x100, set: { Span: 0 } }, 'after-smmu-probe')] },
    predict: {
      'adopt-v7': [
        [`devices[${NIC}].kdump.grouped`, '=', true],
        [`devices[${NIC}].kdump.deferred`, '=', false],
      ],
    },
  },
  {
    id: 'S10f-reserved-ste-config',
    version: 1,
    title: "the NIC's STE has V=1 with the reserved Config 1",
    source: 'kdump-adopt-series.md 4 R10 M2 S10f',
    outcome:
      'v7: the device is deferred (Config != abort) and the hardware terminates its traffic; v10: the reservation scan fails, "kdump: failed to reserve in-use ASIDs/VMIDs", fallback',
    inference:
      'the series document guesses C_BAD_STE; the architecture notes (section 3) say reserved Config 0b0xx behaves as 0b000: a silent abort, which the twin follows',
    doc: { devices: PAIR, injections: [at({ kind: 'ste', sid: 0x100, set: { Config: 1 } })] },
    predict: {
      'adopt-v7': [
        ['adoption.adopted', '=', true],
        [`devices[${NIC}].kdump.deferred`, '=', true],
        [`devices[${NIC}].dma.beforeQuiesce.aborted`, '>', 0],
        [`devices[${NIC}].dma.failurePaths.ste-abort`, '>', 0],
      ],
      'adopt-v10': FELL_BACK('kdump: failed to reserve in-use ASIDs/VMIDs'),
    },
  },
  {
    id: 'S10g-cd-asid-zero',
    version: 1,
    title: "the NIC's live CD has ASID 0",
    source: 'kdump-adopt-series.md 4 R10 M2 S10g',
    outcome: 'v7 never reads CDs and adopts; v10 reservation scan: -EINVAL, fallback',
    doc: { devices: PAIR, injections: [at({ kind: 'cd', sid: 0x100, set: { ASID: 0 } })] },
    predict: { 'adopt-v7': [['adoption.adopted', '=', true]], 'adopt-v10': FELL_BACK('kdump: failed to reserve in-use ASIDs/VMIDs') },
  },
  {
    id: 'S10g-s1contextptr-zero',
    version: 1,
    title: "the NIC's S1 STE has S1ContextPtr 0",
    source: 'kdump-adopt-series.md 4 R10 M2 S10g',
    outcome: 'v10 reservation scan: -EINVAL, fallback',
    doc: { devices: PAIR, injections: [at({ kind: 'ste', sid: 0x100, set: { S1ContextPtr: 0 } })] },
    predict: { 'adopt-v10': FELL_BACK('kdump: failed to reserve in-use ASIDs/VMIDs') },
  },
  {
    id: 'S10g-s1cdmax-too-large',
    version: 1,
    title: "the NIC's S1 STE has S1CDMax 21 > SSIDSIZE 20",
    source: 'kdump-adopt-series.md 4 R10 M2 S10g',
    outcome: 'v10 reservation scan: -EINVAL, fallback',
    doc: { devices: PAIR, injections: [at({ kind: 'ste', sid: 0x100, set: { S1CDMax: 21 } })] },
    predict: { 'adopt-v10': FELL_BACK('kdump: failed to reserve in-use ASIDs/VMIDs') },
  },
  {
    id: 'S10g-bad-s1fmt',
    version: 1,
    title: "the NIC's S1 STE has S1Fmt 1 (4K-leaf two-level, which Linux never builds)",
    source: 'kdump-adopt-series.md 4 R10 M2 S10g',
    outcome: 'v10 reservation scan: S1Fmt not linear or 64K-L2, -EINVAL, fallback',
    doc: { devices: PAIR, injections: [at({ kind: 'ste', sid: 0x100, set: { S1Fmt: 1 } })] },
    predict: { 'adopt-v10': FELL_BACK('kdump: failed to reserve in-use ASIDs/VMIDs') },
  },
  {
    id: 'S10g-cd-asid-too-wide',
    version: 1,
    title: "8-bit ASIDs and the NIC's live CD has ASID 0x1ff",
    source: 'kdump-adopt-series.md 4 R10 M2 S10g',
    outcome: 'v10 reservation scan: ASID >= 2^asid_bits, -EINVAL, fallback',
    doc: { devices: PAIR, platform: { smmus: [{ config: { asid16: false } }] }, injections: [at({ kind: 'cd', sid: 0x100, set: { ASID: 0x1ff } })] },
    predict: { 'adopt-v10': FELL_BACK('kdump: failed to reserve in-use ASIDs/VMIDs') },
  },
  {
    id: 'S10g-s2-vmid-zero',
    version: 1,
    title: 'a passed-through device with a stage-2 STE whose VMID is 0',
    source: 'kdump-adopt-series.md 4 R10 M2 S10g',
    outcome: 'v10 reservation scan: VMID 0 is reserved for bypass/S1, -EINVAL, fallback',
    doc: { devices: [{ ...PAIR[0], defaultDomain: 's2' }, PAIR[1]], injections: [at({ kind: 'ste', sid: 0x100, set: { S2VMID: 0 } })] },
    predict: { 'adopt-v10': FELL_BACK('kdump: failed to reserve in-use ASIDs/VMIDs') },
  },
  {
    id: 'S10h-asid-alias-v7',
    version: 2,
    title: "the kdump kernel gives a new domain an ASID the crashed kernel's live stream still fills the TLB with",
    source: 'kdump-adopt-series.md 4 R10 M3 S10h',
    outcome: "v7: the new domain hits crashed-kernel translations: the device's DMA lands in crashed-kernel memory it never mapped (the hazard present in v7)",
    headline: true,
    inference:
      "the NIC was identity-mapped in the primary kernel, so the kdump kernel's ASIDs shift by one against the crashed ones. Its driver binds first, 150 us into the kdump kernel (6.12 probes a device's IOMMU as its driver binds), so its new domain takes the NVMe's crashed ASID 1. The iommu core flushes ASID 1 when it sets the domain up; the alias needs the NVMe's in-flight DMA to refill the TLB after that flush, so it is a race: with the NIC binding at 250 us the NVMe has drained and nothing aliases",
    doc: {
      devices: [
        {
          kind: 'nic',
          name: NIC,
          defaultDomain: 'identity',
          kdumpDriver: { present: true, role: 'network', probeAtNs: 150 * US },
          traffic: { rxIntervalNs: 4 * US },
        },
        {
          kind: 'nvme',
          name: NVME,
          kdumpDriver: { present: true, role: 'dump-target', probeAtNs: 2 * MS },
          traffic: { mediaLatencyNs: 200 * US, outstanding: 128 },
        },
        { kind: 'gpu', name: GPU, kdumpDriver: { present: false } },
      ],
    },
    predict: {
      'adopt-v7': [
        ['adoption.adopted', '=', true],
        ['smmus[0].reusedCrashedIds.asids', '!=', []],
        ['corruption.crashedKernelBytes', '>', 0],
      ],
      'adopt-v10': [
        ['adoption.adopted', '=', true],
        ['smmus[0].reusedCrashedIds.asids', '=', []],
        ['corruption.totalBytes', '=', 0],
        ['corruption.staleAfterQuiesceBytes', '=', 0],
        ['invariantsHold', '=', true],
      ],
    },
  },
  {
    id: 'S10i-ids-reserved-v10',
    version: 1,
    title: "v10 reserves the crashed kernel's ASIDs and VMIDs; a stage-2 device keeps its VMID isolated",
    source: 'kdump-adopt-series.md 4 R10 M3 S10i',
    outcome: 'no kdump-kernel domain takes a crashed ASID or VMID: no alias',
    doc: { devices: [{ ...PAIR[0], defaultDomain: 's2' }, PAIR[1], { kind: 'gpu', name: GPU, kdumpDriver: { present: false } }] },
    predict: {
      'adopt-v10': [
        ['adoption.adopted', '=', true],
        ['smmus[0].reusedCrashedIds.asids', '=', []],
        ['smmus[0].reusedCrashedIds.vmids', '=', []],
        ['corruption.totalBytes', '=', 0],
        ['invariantsHold', '=', true],
      ],
      'adopt-v7': [
        ['smmus[0].reusedCrashedIds.asids', '!=', []],
        ['smmus[0].reusedCrashedIds.vmids', '=', []],
      ],
    },
  },
  {
    id: 'S10j-reset-time-invalidation',
    version: 1,
    title: 'the caches at device_reset',
    source: 'kdump-adopt-series.md 4 R10 M3 S10j',
    outcome: 'CFGI_ALL, TLBI_EL2_ALL (Hyp) and TLBI_NSNH_ALL run, each with a CMD_SYNC; entries refill from the adopted tables',
    doc: { devices: PAIR },
    predict: {
      'adopt-v7': [
        ['smmus[0].kdumpCommands.CFGI_ALL', '=', 1],
        ['smmus[0].kdumpCommands.TLBI_EL2_ALL', '=', 1],
        ['smmus[0].kdumpCommands.TLBI_NSNH_ALL', '=', 1],
        [`devices[${NIC}].dma.beforeQuiesce.completedOk`, '>', 0],
      ],
      'adopt-v10': [
        ['smmus[0].kdumpCommands.CFGI_ALL', '=', 1],
        ['smmus[0].kdumpCommands.TLBI_NSNH_ALL', '=', 1],
      ],
    },
  },
  {
    id: 'S10k-two-smmus',
    version: 1,
    title: 'two SMMUs whose crashed tables both use ASID 1',
    source: 'kdump-adopt-series.md 4 R10 M3 S10k',
    outcome: 'v10 reservations are per SMMU: both adopt, no cross-SMMU interaction',
    doc: {
      platform: { smmus: [{}, {}] },
      devices: [
        { ...PAIR[0], smmu: 0 },
        { ...PAIR[1], smmu: 1 },
      ],
    },
    predict: {
      'adopt-v10': [
        ['adoption.adopted', '=', true],
        ['adoption.smmus[0].adopted', '=', true],
        ['adoption.smmus[1].adopted', '=', true],
        ['invariantsHold', '=', true],
      ],
      'adopt-v7': [
        ['adoption.smmus[0].adopted', '=', true],
        ['adoption.smmus[1].adopted', '=', true],
      ],
    },
  },
  {
    id: 'S10l-no-os-participant',
    version: 1,
    title: 'no OS participant for AER in the kdump window (no firmware hand-off across kexec)',
    source: 'kdump-adopt-series.md 4 R10 M4 S10l',
    outcome: "the outcome is the platform RAS policy's: with firmware first and no OS registered, the status quo's aborts escalate",
    doc: { devices: PAIR, platform: { ras: 'firmware-first-no-os' } },
    predict: { 'status-quo': [['kdumpPanicked', '=', true]], 'adopt-v7': [['kdumpPanicked', '=', false]] },
  },
  {
    id: 'R10-M3-panic-mid-unmap',
    version: 1,
    title: 'the panic comes in the middle of dma_unmap: PTEs cleared, the TLBI never issued',
    source: 'kdump-adopt-series.md 4 R10 M3 ("TLB state is unknown")',
    outcome: "the stale TLB entry keeps translating the unmapped buffer until the kdump kernel's TLBI_NSNH_ALL; with adopt the device then faults on it",
    // After 1.2 ms the RX ring has wrapped: every receive buffer's translation is in the TLB.
    doc: { devices: PAIR, crash: { trigger: { kind: 'mid-unmap', device: NIC, atNs: 1_200 * US, buffer: 1 } } },
    predict: {
      'adopt-v7': [
        ['adoption.adopted', '=', true],
        ['corruption.crashedKernelBytes', '>', 0],
        [`devices[${NIC}].dma.beforeQuiesce.faulted`, '>', 0],
      ],
    },
  },
  {
    id: 'R10-M3-lazy-unmap',
    version: 1,
    title: 'iommu.strict=0: the panic 2 ms after a dma_unmap returned, its TLB invalidation still waiting in the flush queue',
    source: 'kdump-adopt-series.md 4 R10 M3 ("TLB state is unknown"); Linux 6.12 dma-iommu queue_iova / fq_flush_timeout',
    outcome:
      "lazy invalidation leaves the TLBI to the flush queue's 10 ms timer, which dies with the crashed kernel: the NIC keeps writing the freed receive buffers through the stale TLB entries into crashed-kernel memory, under every kdump policy (compare R10-M3-strict-unmap)",
    doc: { devices: PAIR, primary: { strict: false }, crash: UNMAP_2MS_BEFORE_PANIC },
    predict: Object.fromEntries(
      POLICIES.map((p) => [
        p,
        [
          ['corruption.crashedKernelBytes', '>', 0],
          ['log', 'logs', 'iommu: DMA domain TLB invalidation policy: lazy mode'],
        ] as Check[],
      ]),
    ),
  },
  {
    id: 'R10-M3-strict-unmap',
    version: 1,
    title: 'the same dma_unmap 2 ms before the panic with strict invalidation (the default)',
    source: 'kdump-adopt-series.md 4 R10 M3; Linux 6.12 __iommu_dma_unmap -> iommu_iotlb_sync',
    outcome:
      'the TLBI and its CMD_SYNC complete inside dma_unmap: the NIC faults on the unmapped buffers from then on, and nothing it sends there lands in crashed-kernel memory, under every kdump policy',
    doc: { devices: PAIR, crash: UNMAP_2MS_BEFORE_PANIC },
    predict: Object.fromEntries(
      POLICIES.map((p) => [
        p,
        [
          ['corruption.crashedKernelBytes', '=', 0],
          [`devices[${NIC}].dma.total.faulted`, '>', 0],
          ['log', 'logs', 'iommu: DMA domain TLB invalidation policy: strict mode'],
        ] as Check[],
      ]),
    ),
  },
  {
    id: 'R10-M3-panic-mid-ste-update',
    version: 1,
    title: 'the panic comes between two stores of an STE update (the NIC moving to an identity domain)',
    source: 'kdump-adopt-series.md 4 R10 M3; domain notes 7.3 (hitless and breaking updates)',
    outcome: "the SMMU keeps using its cached STE until the kdump kernel's CFGI_ALL; then it reads the half-written entry",
    doc: { devices: PAIR, crash: { trigger: { kind: 'mid-ste-update', device: NIC, atNs: 100 * US, domain: 'identity', afterStores: 1 } } },
    predict: { 'adopt-v7': [['adoption.adopted', '=', true]], 'adopt-v10': [['adoption.adopted', '=', true]] },
  },

  // ---- code-path scenarios S11..S22
  {
    id: 'S11-smmu-disabled-at-probe',
    version: 1,
    title: 'the SMMU is found disabled (SMMUEN=0) at the kdump probe',
    source: 'kdump-adopt-series.md 4 S11',
    outcome: 'no adoption, no warning, no GBPA write (the status-quo GBPA step is conditional on SMMUEN), fresh tables',
    doc: { devices: PAIR, injections: [at({ kind: 'register', name: 'CR0', value: 0 })] },
    predict: {
      'adopt-v7': [
        ['adoption.attempted', '=', false],
        ['mmio.writesTo.GBPA', '=', null],
        ['mmio.writesTo.STRTAB_BASE', '=', 1],
        ['log', '!logs', 'SMMU currently enabled'],
        ['log', '!logs', 'kdump:'],
      ],
    },
  },
  {
    id: 'S12-sfm-active',
    version: 1,
    title: 'GERROR.SFM_ERR is active at the kdump probe',
    source: 'kdump-adopt-series.md 4 S12',
    outcome: 'warn "kdump: SMMU in Service Failure Mode, must reset"; status-quo reset; GERRORN <- GERROR in kdump',
    inference: 'SFM persists until the SMMU is reset: the twin keeps terminating traffic and commands',
    doc: { devices: QUIET, injections: [at({ kind: 'sfm' })] },
    predict: {
      'adopt-v7': [...REFUSED('kdump: SMMU in Service Failure Mode, must reset'), ['mmio.writesTo.GERRORN', '>=', 1]],
      'adopt-v10': REFUSED('kdump: SMMU in Service Failure Mode, must reset'),
    },
  },
  {
    id: 'S13-latched-cmdq-err',
    version: 1,
    title: 'a GERROR.CMDQ_ERR the crashed kernel left latched',
    source: 'kdump-adopt-series.md 4 S13',
    outcome: 'with the series it is acknowledged before the CMDQ is enabled and CFGI_ALL completes; mainline halts the queue: CMD_SYNC timeouts',
    doc: { devices: QUIET, injections: [at({ kind: 'gerror', name: 'CMDQ_ERR' })] },
    predict: {
      'adopt-v7': [
        ['log', '!logs', 'CMD_SYNC timeout'],
        ['adoption.adopted', '=', true],
        ['invariantsHold', '=', true],
      ],
      'adopt-v10': [
        ['log', '!logs', 'CMD_SYNC timeout'],
        ['adoption.adopted', '=', true],
      ],
      'status-quo': [['log', 'logs', 'CMD_SYNC timeout']],
    },
  },
  {
    id: 'S14-cmdq-enable-timeout',
    version: 2,
    title: 'CR0ACK.CMDQEN never follows CR0 in adopt mode',
    source: 'kdump-adopt-series.md 4 S14',
    outcome: '"failed to enable command queue", the probe calls device_disable: CR0 <- 0, SMMUEN drops, in-flight DMA follows GBPA (the worst case)',
    // The CMDQEN poll runs its full 1 s timeout; the NIC's kdump driver comes 50 ms after it gave up, so the statistics DMA in between meets GBPA.
    doc: {
      devices: QUIET.map((d) => ({ ...d, kdumpDriver: { ...d.kdumpDriver, probeAtNs: 1_050 * MS } })),
      run: { endAfterKdumpNs: 1_100 * MS },
      injections: [at({ kind: 'stuck-ack', fields: ['CMDQEN'], to: 1 })],
    },
    predict: {
      'adopt-v7': [
        ['log', 'logs', 'failed to enable command queue'],
        ['adoption.adopted', '=', false],
        ['smmus[0].smmuen', '=', false],
        ['dma.afterCrash.beforeQuiesce.bypassed', '>', 0],
      ],
    },
  },
  {
    id: 'S15-memremap-fails',
    version: 1,
    title: 'STRTAB_BASE points into an unbacked hole: memremap fails at adopt time',
    source: 'kdump-adopt-series.md 4 S15',
    outcome: '-ENOMEM, fallback with no specific message besides the fallback warning',
    doc: { devices: PAIR, injections: [at({ kind: 'register', name: 'STRTAB_BASE', value: '0x40000000' })] },
    predict: { 'adopt-v7': [...FELL_BACK('kdump: falling back to full reset'), ['adoption.fallbackReason', '=', 'kdump: falling back to full reset']] },
  },
  {
    id: 'S16-atschk-retained',
    version: 1,
    title: 'the crashed kernel ran with CR0.ATSCHK=0',
    source: 'kdump-adopt-series.md 4 S16',
    outcome: 'adopt keeps ATSCHK=0 (v7 and v10); the status quo sets it when FEAT_ATS',
    doc: { devices: PAIR, injections: [at({ kind: 'register-field', register: 'CR0', field: 'ATSCHK', value: 0 })] },
    predict: { 'adopt-v7': [['smmus[0].atschk', '=', false]], 'adopt-v10': [['smmus[0].atschk', '=', false]], 'status-quo': [['smmus[0].atschk', '=', true]] },
  },
  {
    id: 'S17-rmr-sids',
    version: 1,
    title: "IORT RMRs for the NIC's StreamID (a translating adopted STE) and StreamID 0x101 (an adopted abort STE)",
    source: 'kdump-adopt-series.md 4 S17',
    outcome: 'adopt leaves both alone: the NIC stays translating and deferred, 0x101 stays abort; the status quo installs bypass STEs for both',
    // The crashed kernel had blocked 0x101 (abort STE) after installing its RMR bypass at boot.
    doc: { devices: PAIR, platform: { smmus: [{ firmware: { rmrSids: [0x100, 0x101] } }] }, injections: [at({ kind: 'ste', sid: 0x101, set: { Config: 0 } })] },
    predict: {
      'adopt-v7': [
        ['smmus[0].rmr[0].config', '=', 'S1_TRANS'],
        ['smmus[0].rmr[1].config', '=', 'ABORT'],
        [`devices[${NIC}].kdump.deferred`, '=', true],
        ['invariantsHold', '=', true],
      ],
      'status-quo': [['smmus[0].rmr[1].config', '=', 'BYPASS']],
    },
  },
  {
    id: 'S18-two-sids-one-live',
    version: 1,
    title: 'a device with two StreamIDs: one STE abort, the other stage-2',
    source: 'kdump-adopt-series.md 4 S18',
    outcome: 'deferred: any live stream defers the device',
    doc: { devices: [{ ...PAIR[0], sids: [0x100, 0x180], defaultDomain: 's2' }, PAIR[1]], injections: [at({ kind: 'ste', sid: 0x180, set: { Config: 0 } })] },
    predict: { 'adopt-v7': [[`devices[${NIC}].kdump.deferred`, '=', true]], 'adopt-v10': [[`devices[${NIC}].kdump.deferred`, '=', true]] },
  },
  {
    id: 'S19-sid-beyond-adopted-range',
    version: 1,
    title: 'a device whose StreamID lies beyond the crashed table (LOG2SIZE 9 < SIDSIZE 16)',
    source: 'kdump-adopt-series.md 4 S19',
    outcome: '-ERANGE at probe_device, no IOMMU group; its DMA is rejected by the still-enabled SMMU [INF]',
    doc: {
      devices: [
        PAIR[1],
        { kind: 'nic', name: '0000:03:00.0', kdumpDriver: { present: true, role: 'network', probeAtNs: 3 * MS }, traffic: { rxIntervalNs: 4 * US } },
      ],
      injections: [cfg('LOG2SIZE', 9)],
    },
    predict: {
      'adopt-v7': [
        ['devices[0000:03:00.0].kdump.errno', '=', 'ERANGE'],
        ['devices[0000:03:00.0].dma.failurePaths.sid-range', '>', 0],
      ],
    },
  },
  {
    id: 'S20-unused-l1-slot',
    version: 1,
    title: 'a device on a bus whose L1 slot the crashed kernel never used',
    source: 'kdump-adopt-series.md 4 S20',
    outcome: 'a fresh all-abort L2 is allocated, the L1 written with one 64-bit store, the device not deferred and attached at once',
    doc: { devices: [...PAIR, { kind: 'nic', name: '0000:05:00.0', inPrimary: false, kdumpDriver: { present: true, role: 'network', probeAtNs: 3 * MS } }] },
    predict: {
      'adopt-v7': [
        ['devices[0000:05:00.0].kdump.deferred', '=', false],
        ['devices[0000:05:00.0].kdump.grouped', '=', true],
        ['vmcore.kdumpWrittenBytes', '>=', 8],
        [`devices[${NIC}].kdump.deferred`, '=', true],
      ],
    },
  },
  {
    id: 'S21-late-sfm',
    version: 1,
    title: 'the SMMU enters Service Failure Mode after the adoption',
    source: 'kdump-adopt-series.md 4 S21',
    outcome: 'the GERROR handler logs "device has entered Service Failure Mode!" and calls device_disable (CR0 <- 0)',
    doc: { devices: QUIET, injections: [{ when: 'at', atNs: 2_500 * US, fault: { kind: 'sfm' } }] },
    predict: {
      'adopt-v7': [
        ['log', 'logs', 'device has entered Service Failure Mode!'],
        ['smmus[0].smmuen', '=', false],
      ],
    },
  },
  {
    id: 'S22-live-device-no-driver',
    version: 2,
    title: 'a device with a live adopted STE and no driver in the kdump kernel',
    source: 'kdump-adopt-series.md 4 S22',
    outcome: 'it never attaches: its STE and its DMA into crashed-kernel memory stay until reboot; with v10 its IDs stay reserved',
    inference:
      "6.12 probes a device's IOMMU when its driver binds (IORT and DT alike), so a device without a driver is never probed: no group, rather than a group whose attach is deferred; its adopted STE stays all the same",
    doc: { devices: TRIO },
    predict: {
      'adopt-v7': [
        [`devices[${GPU}].kdump.grouped`, '=', false],
        [`devices[${GPU}].kdump.probedAt`, '=', null],
        [`devices[${GPU}].kdump.attachedAt`, '=', null],
        [`devices[${GPU}].dma.steOrigin.crashed`, '>', 0],
        [`devices[${GPU}].dma.afterCrash.completedOk`, '>', 0],
      ],
      'adopt-v10': [
        [`devices[${GPU}].kdump.grouped`, '=', false],
        [`devices[${GPU}].dma.steOrigin.crashed`, '>', 0],
        ['smmus[0].reusedCrashedIds.asids', '=', []],
      ],
    },
  },
];
