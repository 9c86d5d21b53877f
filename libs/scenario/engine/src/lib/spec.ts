// SPDX-License-Identifier: Apache-2.0
// A crash scenario as data: the platform and its SMMUs, the devices and their traffic, what the
// primary kernel set up, the crash trigger, fault injections, the kdump kernel's policy and
// series version, the RAS policy and the seed. One schema gives the validator (defaults, errors
// naming the key) and the JSON Schema of scenario files (scenario.schema.json).

import {
  ENDPOINT_DEFAULTS,
  GPU_DEFAULTS,
  NIC_DEFAULTS,
  NVME_DEFAULTS,
  RAS_POLICIES,
  type AerSeverity,
  type GpuParams,
  type NicParams,
  type NvmeParams,
  type RasPolicy,
} from '@kdump-twin/endpoint';
import type { KdumpPolicy } from '@kdump-twin/kernel';
import { DEFAULT_SMMU_CONFIG } from '@kdump-twin/smmu-model';
import { arr, bool, int, map, obj, oneOf, opt, str, u64, union, validate, type Schema, SchemaError } from './schema';

export const POLICIES: readonly KdumpPolicy[] = ['status-quo', 'adopt-v7', 'adopt-v10', 'gbpa-bypass', 'no-smmu-driver'];
const SEVERITIES = ['correctable', 'non-fatal', 'fatal'] as const;
const BDF = '^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\\.[0-7]$';
const US = 1_000;
const MS = 1_000_000;

/** Traffic parameters of a kind, from the endpoint library's defaults (every key optional). */
function traffic(defaults: object, doc: string): Extract<Schema, { t: 'obj' }> {
  const fields: Record<string, Schema> = {};
  for (const [k, v] of Object.entries(defaults)) fields[k] = int(v as number, 0, 1 << 30);
  return obj(fields, doc);
}

const aer = obj(
  {
    UR: oneOf(SEVERITIES, ENDPOINT_DEFAULTS.aer.UR, 'severity of an Unsupported Request (the SMMU terminated the access)'),
    CA: oneOf(SEVERITIES, ENDPOINT_DEFAULTS.aer.CA, 'severity of a Completer Abort (the access hit an MMIO or unbacked hole)'),
    ATS: oneOf(SEVERITIES, ENDPOINT_DEFAULTS.aer.ATS, 'severity of a failed ATS translation request'),
    reported: bool(true, "false: nothing reports the device's errors (a root-bus endpoint without AER and no RCEC, as on QEMU's virt machine)"),
  },
  'the Uncorrectable Error Severity the device gives each failed completion',
);

const kdumpDriver = (present: boolean, role: string, probeAtNs: number) =>
  obj(
    {
      present: bool(present, 'the kdump kernel has a driver for this device'),
      role: oneOf(['dump-target', 'network', 'other'], role, 'dump-target: the storage the vmcore is written to'),
      probeAtNs: int(probeAtNs, 0, 10_000 * MS, 'when the driver probes, virtual ns after the kdump kernel starts'),
    },
    "the device's driver in the kdump kernel",
  );

const deviceCommon = (kdump: Extract<Schema, { t: 'obj' }>) => ({
  name: str(undefined, 'PCI device name (dev_name), e.g. 0000:01:00.0; the requester ID comes from it', BDF),
  smmu: int(0, 0, 15, 'index of the SMMU the device sits behind'),
  sids: opt(arr(int(undefined, 0, 2 ** 32 - 1), undefined, 'StreamIDs (default: the requester ID plus the SMMU sidBase)', 1, 8)),
  ats: bool(false, 'the device has an ATS capability and an ATC (needs an ATS-capable SMMU)'),
  atcEntries: int(ENDPOINT_DEFAULTS.atcEntries, 1, 65_536),
  aer,
  readLatencyNs: int(ENDPOINT_DEFAULTS.readLatencyNs, 1, 1_000 * MS),
  maxReadTags: int(ENDPOINT_DEFAULTS.maxReadTags, 1, 1_024, 'non-posted requests in flight at most'),
  onReadError: opt(oneOf(['continue', 'halt'], undefined, 'what a failed read makes the engine do (default by kind)')),
  defaultDomain: oneOf(
    ['dma', 'identity', 's2'],
    'dma',
    "the primary kernel's domain for the device (s2: a stage-2 domain, as VFIO/KVM give a passed-through device)",
  ),
  inPrimary: bool(true, 'the primary kernel probed the device (false: it appears only in the kdump kernel, e.g. its bus slot was unused)'),
  driver: opt(
    str(undefined, "its driver's name in dev_info lines (default by kind: nvme, e1000e, amdgpu); a dt IOMMU probe runs as it binds", '^[A-Za-z0-9_.-]+$'),
  ),
  kdumpDriver: kdump,
});

export const DEVICE_SCHEMA = union(
  'kind',
  {
    nic: obj(
      {
        kind: str(),
        ...deviceCommon(kdumpDriver(false, 'network', 3 * MS)),
        traffic: traffic(NIC_DEFAULTS, 'NIC rings, wire arrivals, statistics write-back'),
      },
      'a NIC',
      ['name'],
    ),
    nvme: obj(
      {
        kind: str(),
        ...deviceCommon(kdumpDriver(true, 'dump-target', 2 * MS)),
        traffic: traffic(NVME_DEFAULTS, 'NVMe queue pair, queue depth, media latency, I/O size'),
      },
      'an NVMe controller',
      ['name'],
    ),
    gpu: obj(
      {
        kind: str(),
        ...deviceCommon(kdumpDriver(false, 'other', 4 * MS)),
        traffic: traffic(GPU_DEFAULTS, 'copy-engine jobs and pacing'),
        cxlMemory: opt(str(undefined, 'CXL: the memory region this device backs (offlined by firmware under cxl-offline)')),
      },
      'a GPU or accelerator copy engine',
      ['name'],
    ),
  },
  'a PCIe endpoint',
);

/** SMMU configuration keys a scenario may set; defaults are the hardware model's (an MMU-700-like server SMMU). */
const SMMU_KEYS: Record<string, [number, number, string?]> = {
  sidBits: [0, 32, 'IDR1.SIDSIZE'],
  ssidBits: [0, 20, 'IDR1.SSIDSIZE'],
  oasBits: [32, 52, 'IDR5.OAS in bits'],
  archMinor: [0, 4, 'AIDR.ArchMinorRev'],
  ackDelayNs: [0, 1_000 * MS, 'CR0/IRQ_CTRL write to ACK'],
  gbpaDelayNs: [0, 1_000 * MS, 'GBPA Update to completion'],
  cmdqLatencyNs: [0, 1_000 * MS, 'CMDQ_PROD write to the consumer running'],
  cmdNs: [0, 1 * MS, 'virtual ns per consumed command'],
  tlbEntries: [1, 1 << 20],
  configCacheEntries: [1, 1 << 20],
  httu: [0, 2, 'IDR0.HTTU'],
  stallModel: [0, 2, 'IDR0.STALL_MODEL'],
  termModel: [0, 1, 'IDR0.TERM_MODEL'],
  cmdqLog2Max: [0, 19, 'IDR1.CMDQS'],
  eventqLog2Max: [0, 19, 'IDR1.EVENTQS'],
  priqLog2Max: [0, 19, 'IDR1.PRIQS (RES0 without PRI)'],
  productId: [0, 0xfff, 'IIDR.ProductID (0x483 MMU-600, 0x487 MMU-700: their errata apply)'],
};
const SMMU_FLAGS: Record<string, string> = {
  twoLevelStrtab: 'IDR0.ST_LEVEL',
  twoLevelCd: 'IDR0.CD2L',
  coherent: 'IDR0.COHACC',
  asid16: 'IDR0.ASID16',
  vmid16: 'IDR0.VMID16',
  hyp: 'IDR0.Hyp',
  ats: 'IDR0.ATS',
  pri: 'IDR0.PRI',
  stage1: 'IDR0.S1P',
  stage2: 'IDR0.S2P',
  msi: 'IDR0.MSI',
  sev: 'IDR0.SEV',
  ril: 'IDR3.RIL',
  btm: 'IDR0.BTM',
  cacheInvalid: 'cache STEs/CDs with V=0 (permitted)',
  attrTypesOverride: 'IDR1.ATTR_TYPES_OVR',
  attrPermsOverride: 'IDR1.ATTR_PERMS_OVR',
};

function smmuConfigSchema(): Extract<Schema, { t: 'obj' }> {
  const d = DEFAULT_SMMU_CONFIG as unknown as Record<string, number | boolean>;
  const fields: Record<string, Schema> = {};
  for (const [k, [min, max, doc]] of Object.entries(SMMU_KEYS)) fields[k] = int(d[k] as number, min, max, doc);
  for (const [k, doc] of Object.entries(SMMU_FLAGS)) fields[k] = bool(d[k] as boolean, doc);
  fields.refetchProbability = { t: 'num', def: 0, min: 0, max: 1, doc: 'adversarial caching: probability a transaction re-reads what it uses' };
  fields.replacement = oneOf(['fifo', 'lru'], DEFAULT_SMMU_CONFIG.replacement, 'cache replacement');
  fields.idFields = opt(
    map(
      map(int(undefined, 0, 2 ** 32 - 1)),
      'ID register fields no key above describes, by register and IHI0070 field name (IIDR.Implementer, IDR3.BBML, IDR5.STALL_MAX, ...)',
    ),
  );
  return obj(fields, "what the SMMU implements (its IDRs) and its timing; defaults are the hardware model's");
}

const SMMU_CONFIG = smmuConfigSchema();

export const SMMU_SCHEMA = obj(
  {
    config: SMMU_CONFIG,
    sidBase: int(0, 0, 2 ** 31, 'IORT ID mapping: StreamID = requester ID + sidBase'),
    firmware: obj(
      {
        coherent: opt(bool(undefined, 'DT dma-coherent / IORT COHACC override (default: the SMMU config)')),
        rmrSids: arr(int(undefined, 0, 2 ** 32 - 1), [], 'IORT RMR StreamIDs that get bypass STEs at probe'),
        combinedIrq: bool(false, 'one combined interrupt line (ThunderX2)'),
        msiDomain: bool(true, 'a GIC ITS: queue and GERROR interrupts are MSIs'),
        kind: oneOf(
          ['acpi', 'dt'],
          'acpi',
          "acpi (IORT: every device's IOMMU probe when the SMMU registers) or dt (device tree: a device's IOMMU probe when its driver binds)",
        ),
        dtNode: opt(str(undefined, "dt: the SMMU's device name (unit address and node name); default QEMU virt's 9050000.smmuv3")),
      },
      'the firmware description of the SMMU',
    ),
  },
  'one SMMUv3 instance',
);

const REGION = obj(
  { name: str(), base: u64(), size: u64(), kind: oneOf(['ram', 'crashkernel', 'device-buffer', 'mmio', 'hole']), owner: opt(str()) },
  'a physical memory region',
  ['name', 'base', 'size', 'kind'],
);

const smmuRef = int(0, 0, 15, 'SMMU index');
const FAULT = union(
  'kind',
  {
    register: obj(
      { kind: str(), smmu: smmuRef, name: str(undefined, 'register name, e.g. STRTAB_BASE_CFG'), value: u64() },
      'overwrite a register as the crashed kernel left it',
      ['name', 'value'],
    ),
    'register-field': obj({ kind: str(), smmu: smmuRef, register: str(), field: str(), value: u64() }, 'overwrite one field of a register', [
      'register',
      'field',
      'value',
    ]),
    l1std: obj(
      { kind: str(), smmu: smmuRef, sid: int(undefined, 0, 2 ** 32 - 1, 'a StreamID in the slot'), set: map(u64(), 'fields of the L1STD (Span, L2Ptr)') },
      'rewrite the L1 stream table descriptor covering a StreamID',
      ['sid'],
    ),
    ste: obj(
      {
        kind: str(),
        smmu: smmuRef,
        sid: int(undefined, 0, 2 ** 32 - 1),
        set: map(u64(), 'STE fields (IHI0070 5.2 names: Config, S1ContextPtr, S1CDMax, S2VMID, ...)'),
      },
      'rewrite fields of a live STE',
      ['sid'],
    ),
    cd: obj(
      { kind: str(), smmu: smmuRef, sid: int(undefined, 0, 2 ** 32 - 1), ssid: int(0, 0, 2 ** 20 - 1), set: map(u64(), 'CD fields (ASID, V, TTB0, ...)') },
      'rewrite fields of a live CD',
      ['sid'],
    ),
    pte: obj(
      {
        kind: str(),
        device: str(undefined, 'device name', BDF),
        buffer: int(0, 0, 1 << 20, "index of the device's DMA buffer (allocation order)"),
        set: oneOf(['clear', 'garbage'], 'clear'),
      },
      "corrupt the crashed kernel's leaf page-table entry for a device buffer",
      ['device'],
    ),
    sfm: obj({ kind: str(), smmu: smmuRef }, 'the SMMU enters Service Failure Mode (GERROR.SFM_ERR)'),
    gerror: obj(
      {
        kind: str(),
        smmu: smmuRef,
        name: oneOf(['CMDQ_ERR', 'EVTQ_ABT_ERR', 'PRIQ_ABT_ERR', 'MSI_CMDQ_ABT_ERR', 'MSI_EVTQ_ABT_ERR', 'MSI_PRIQ_ABT_ERR', 'MSI_GERROR_ABT_ERR']),
      },
      'a latched global error',
      ['name'],
    ),
    'stuck-ack': obj(
      {
        kind: str(),
        smmu: smmuRef,
        fields: arr(str(), undefined, 'CR0 or IRQ_CTRL fields whose ACK stops following', 1),
        to: opt(int(undefined, 0, 1, 'only updates to this value get stuck')),
      },
      'an ACK register that stops acknowledging',
      ['fields'],
    ),
    memory: obj({ kind: str(), pa: u64(), dwords: arr(u64(), undefined, 'little-endian dwords', 1, 512) }, 'raw stores into physical memory (a rogue write)', [
      'pa',
      'dwords',
    ]),
  },
  'a fault',
);

const INJECTION = obj(
  {
    when: oneOf(
      ['at-crash', 'before-kdump-probe', 'after-smmu-probe', 'at'],
      'at-crash',
      'at-crash: left by the dying kernel; after-smmu-probe: live corruption before devices probe',
    ),
    atNs: opt(int(undefined, 0, 1_000_000 * MS, "with when='at': absolute virtual time")),
    fault: FAULT,
  },
  'a fault injected at a point of the timeline',
  ['fault'],
);

const TRIGGER = union(
  'kind',
  {
    time: obj({ kind: str(), atNs: int(200 * US, 1, 1_000_000 * MS, 'virtual ns after the primary kernel finished booting') }, 'the panic at a virtual time'),
    transactions: obj(
      { kind: str(), count: int(undefined, 1, 1e12, 'DMA transactions the fleet issued since its drivers started') },
      'the panic after N transactions',
      ['count'],
    ),
    'mid-ste-update': obj(
      {
        kind: str(),
        device: str(undefined, undefined, BDF),
        atNs: int(100 * US, 1, 1_000_000 * MS),
        domain: oneOf(['identity', 'blocked', 'dma'], 'identity', 'the domain the primary kernel moves the device to'),
        afterStores: int(1, 1, 8, 'STE dword stores that land before the CPU stops'),
      },
      'the panic in the middle of an STE update (between two stores of the entry writer)',
      ['device'],
    ),
    'mid-unmap': obj(
      { kind: str(), device: str(undefined, undefined, BDF), atNs: int(100 * US, 1, 1_000_000 * MS), buffer: int(0, 0, 1 << 20, 'device buffer index') },
      'the panic in the middle of dma_unmap: PTEs cleared, TLBI never issued',
      ['device'],
    ),
    'after-unmap': obj(
      {
        kind: str(),
        device: str(undefined, undefined, BDF),
        atNs: int(100 * US, 1, 1_000_000 * MS, 'when dma_unmap runs, after the primary kernel finished booting'),
        buffer: int(0, 0, 1 << 20, 'device buffer index'),
        afterNs: int(
          1 * MS,
          0,
          1_000_000 * MS,
          'from dma_unmap returning to the panic: strict invalidation issued the TLBI inside it; lazy (primary.strict=false) leaves it in the flush queue for 10 ms',
        ),
      },
      'the panic some time after a dma_unmap completed',
      ['device'],
    ),
  },
  'what makes the primary kernel panic',
  { kind: 'time', atNs: 200 * US },
);

export const SCENARIO_SCHEMA = obj(
  {
    id: str(undefined, 'scenario identifier; catalogue ids start with the series document identifier (S12-..., R1-...)', '^[A-Za-z0-9][A-Za-z0-9._-]*$'),
    version: int(1, 1, 1_000, 'revision of this scenario'),
    title: str('', 'one line of purpose'),
    source: opt(str(undefined, 'where it comes from, e.g. kdump-adopt-series.md section 4 S12')),
    outcome: opt(str(undefined, 'the predicted outcome, in words')),
    seed: { t: 'seed', def: 1, doc: 'the seed every random stream derives from' },
    platform: obj(
      {
        paBits: int(48, 32, 52),
        maxBackedMiB: int(1_024, 1, 65_536, 'bound on backed (written) simulated memory'),
        regions: opt(arr(REGION, undefined, 'the physical memory map (default: an arm64 server map with a 512 MiB crashkernel)', 1, 64)),
        ras: oneOf(RAS_POLICIES, 'firmware-first', 'the platform RAS policy'),
        rasEscalationNs: int(200 * US, 0, 10_000 * MS, 'from an error firmware escalates to the panic (or the memory offline) it causes'),
        smmus: arr(SMMU_SCHEMA, [{}], 'the SMMUv3 instances', 1, 16),
      },
      'the machine',
    ),
    devices: arr(DEVICE_SCHEMA, [], 'PCIe endpoints', 0, 1 << 17),
    primary: obj(
      {
        passthrough: bool(false, 'iommu.passthrough=1: identity default domains'),
        strict: bool(
          true,
          "iommu.strict: true (strict, Debian's default) invalidates on every dma_unmap; false (iommu.strict=0, lazy) queues unmapped IOVAs in a flush queue flushed when full (255) or 10 ms after the first",
        ),
        pageSize: { t: 'int', def: 4096, min: 4096, max: 65536, doc: 'CPU page size (4096, 16384 or 65536): io-pgtable granule' },
        legacyLinearStrtab: bool(false, 'a crashed kernel that predates 2-level stream tables (linear table on 2-level hardware)'),
      },
      'the primary (crashed) kernel',
    ),
    crash: obj(
      {
        trigger: TRIGGER,
        kexecDelayNs: int(500 * US, 0, 100_000 * MS, 'from the panic to the kdump kernel starting'),
        smmuProbeDelayNs: int(100 * US, 0, 100_000 * MS, 'from the kdump kernel starting to its SMMU probe'),
      },
      'the crash',
    ),
    kernelConfig: obj(
      {
        cmaAlignment: int(0, 0, 12, 'CONFIG_CMA_ALIGNMENT with CONFIG_DMA_CMA (Debian: 8); 0: no CMA. Caps the queues at 2^(PAGE_SHIFT + it) bytes'),
        hz: int(
          250,
          100,
          1000,
          "CONFIG_HZ (Debian arm64: 250): kernel timers fire on jiffy boundaries, the flush queue's 10 ms timeout 8 to 12 ms after it is armed at 250",
        ),
      },
      'the build configuration both kernels share, where it changes the driver',
    ),
    injections: arr(INJECTION, [], 'fault injections', 0, 256),
    kdump: obj(
      {
        policy: oneOf(POLICIES, 'adopt-v7', 'the kdump kernel: status-quo, adopt-v7, adopt-v10, gbpa-bypass, no-smmu-driver'),
        aerServiceAtNs: int(300 * US, 0, 100_000 * MS, "when the kdump kernel's AER service probes (OS-first), after it starts"),
        memremapNonRam: oneOf(['fail', 'succeed'], 'fail', '[INF] memremap of MMIO or a hole fails (default) or parses what reads back'),
        failDevresAction: bool(false, 'S7c: devm_add_action_or_reset fails'),
        gbpaBypass: oneOf(['stay-disabled', 'reset-window'], 'stay-disabled', 'gbpa-bypass: leave the SMMU disabled, or bypass only during the reset window'),
        passthrough: bool(false, 'iommu.passthrough=1 in the kdump kernel'),
        strict: bool(true, 'iommu.strict in the kdump kernel (see primary.strict)'),
        v10KexecPrefix: str('', 'prefix of the v10 kexec-helper messages (none in the tree read; "kexec: " in another)'),
        unbindAtEnd: bool(false, 'S7d: unbind the SMMU driver at the end of the run (devres cleanup)'),
      },
      'the kdump kernel',
    ),
    run: obj(
      {
        endAfterKdumpNs: int(20 * MS, 1, 100_000 * MS, 'the run ends this long after the kdump kernel starts'),
        vmcore: obj(
          {
            save: bool(true, 'write the vmcore to the dump target'),
            maxPages: int(4_096, 0, 1 << 22, 'pages of crashed-kernel memory makedumpfile saves at most'),
          },
          'the vmcore save',
        ),
      },
      'run limits',
    ),
  },
  'a kdump-twin crash scenario',
  ['id'],
);

export type DeviceKind = 'nic' | 'nvme' | 'gpu';

export interface DeviceSpec {
  readonly kind: DeviceKind;
  readonly name: string;
  readonly smmu: number;
  readonly sids?: readonly number[];
  readonly ats: boolean;
  readonly atcEntries: number;
  readonly aer: { readonly UR: AerSeverity; readonly CA: AerSeverity; readonly ATS: AerSeverity; readonly reported: boolean };
  readonly readLatencyNs: number;
  readonly maxReadTags: number;
  readonly onReadError?: 'continue' | 'halt';
  readonly defaultDomain: 'dma' | 'identity' | 's2';
  readonly inPrimary: boolean;
  readonly driver?: string;
  readonly kdumpDriver: { readonly present: boolean; readonly role: 'dump-target' | 'network' | 'other'; readonly probeAtNs: number };
  readonly traffic: Partial<NicParams & NvmeParams & GpuParams> & Record<string, number>;
  readonly cxlMemory?: string;
}

export type Fault =
  | { readonly kind: 'register'; readonly smmu: number; readonly name: string; readonly value: bigint }
  | { readonly kind: 'register-field'; readonly smmu: number; readonly register: string; readonly field: string; readonly value: bigint }
  | { readonly kind: 'l1std'; readonly smmu: number; readonly sid: number; readonly set: Record<string, bigint> }
  | { readonly kind: 'ste'; readonly smmu: number; readonly sid: number; readonly set: Record<string, bigint> }
  | { readonly kind: 'cd'; readonly smmu: number; readonly sid: number; readonly ssid: number; readonly set: Record<string, bigint> }
  | { readonly kind: 'pte'; readonly device: string; readonly buffer: number; readonly set: 'clear' | 'garbage' }
  | { readonly kind: 'sfm'; readonly smmu: number }
  | { readonly kind: 'gerror'; readonly smmu: number; readonly name: string }
  | { readonly kind: 'stuck-ack'; readonly smmu: number; readonly fields: readonly string[]; readonly to?: 0 | 1 }
  | { readonly kind: 'memory'; readonly pa: bigint; readonly dwords: readonly bigint[] };

export interface Injection {
  readonly when: 'at-crash' | 'before-kdump-probe' | 'after-smmu-probe' | 'at';
  readonly atNs?: number;
  readonly fault: Fault;
}

export type CrashTrigger =
  | { readonly kind: 'time'; readonly atNs: number }
  | { readonly kind: 'transactions'; readonly count: number }
  | {
      readonly kind: 'mid-ste-update';
      readonly device: string;
      readonly atNs: number;
      readonly domain: 'identity' | 'blocked' | 'dma';
      readonly afterStores: number;
    }
  | { readonly kind: 'mid-unmap'; readonly device: string; readonly atNs: number; readonly buffer: number }
  | { readonly kind: 'after-unmap'; readonly device: string; readonly atNs: number; readonly buffer: number; readonly afterNs: number };

export interface SmmuSpec {
  readonly config: Record<string, number | boolean>;
  readonly sidBase: number;
  readonly firmware: {
    readonly coherent?: boolean;
    readonly rmrSids: readonly number[];
    readonly combinedIrq: boolean;
    readonly msiDomain: boolean;
    readonly kind: 'acpi' | 'dt';
    readonly dtNode?: string;
  };
}

export interface RegionSpec {
  readonly name: string;
  readonly base: bigint;
  readonly size: bigint;
  readonly kind: 'ram' | 'crashkernel' | 'device-buffer' | 'mmio' | 'hole';
  readonly owner?: string;
}

export interface ScenarioSpec {
  readonly id: string;
  readonly version: number;
  readonly title: string;
  readonly source?: string;
  readonly outcome?: string;
  readonly seed: number | string;
  readonly platform: {
    readonly paBits: number;
    readonly maxBackedMiB: number;
    readonly regions?: readonly RegionSpec[];
    readonly ras: RasPolicy;
    readonly rasEscalationNs: number;
    readonly smmus: readonly SmmuSpec[];
  };
  readonly devices: readonly DeviceSpec[];
  readonly primary: { readonly passthrough: boolean; readonly strict: boolean; readonly pageSize: 4096 | 16384 | 65536; readonly legacyLinearStrtab: boolean };
  readonly crash: { readonly trigger: CrashTrigger; readonly kexecDelayNs: number; readonly smmuProbeDelayNs: number };
  readonly kernelConfig: { readonly cmaAlignment: number; readonly hz: number };
  readonly injections: readonly Injection[];
  readonly kdump: {
    readonly policy: KdumpPolicy;
    readonly aerServiceAtNs: number;
    readonly memremapNonRam: 'fail' | 'succeed';
    readonly failDevresAction: boolean;
    readonly gbpaBypass: 'stay-disabled' | 'reset-window';
    readonly passthrough: boolean;
    readonly strict: boolean;
    readonly v10KexecPrefix: string;
    readonly unbindAtEnd: boolean;
  };
  readonly run: { readonly endAfterKdumpNs: number; readonly vmcore: { readonly save: boolean; readonly maxPages: number } };
}

/** Checks the relations one field cannot state alone (names unique, references resolve). */
function crossCheck(s: ScenarioSpec): { path: string; rule: string }[] {
  const issues: { path: string; rule: string }[] = [];
  const names = new Map<string, number>();
  s.devices.forEach((d, i) => {
    if (names.has(d.name)) issues.push({ path: `devices[${i}].name`, rule: `duplicate device name ${d.name} (also devices[${names.get(d.name)}])` });
    names.set(d.name, i);
    if (d.smmu >= s.platform.smmus.length)
      issues.push({ path: `devices[${i}].smmu`, rule: `no SMMU ${d.smmu} (platform.smmus has ${s.platform.smmus.length})` });
    if (d.ats && d.smmu < s.platform.smmus.length && s.platform.smmus[d.smmu]!.config.ats === false)
      issues.push({ path: `devices[${i}].ats`, rule: 'the SMMU does not implement ATS' });
  });
  const known = (name: string, path: string) => {
    if (!names.has(name)) issues.push({ path, rule: `no device named ${name}` });
  };
  const t = s.crash.trigger;
  if (t.kind === 'mid-ste-update' || t.kind === 'mid-unmap' || t.kind === 'after-unmap') known(t.device, 'crash.trigger.device');
  s.injections.forEach((inj, i) => {
    if (inj.when === 'at' && inj.atNs === undefined) issues.push({ path: `injections[${i}].atNs`, rule: "required when when='at'" });
    const f = inj.fault;
    if ('smmu' in f && f.smmu >= s.platform.smmus.length) issues.push({ path: `injections[${i}].fault.smmu`, rule: `no SMMU ${f.smmu}` });
    if (f.kind === 'pte') known(f.device, `injections[${i}].fault.device`);
  });
  if (![4096, 16384, 65536].includes(s.primary.pageSize))
    issues.push({ path: 'primary.pageSize', rule: `must be one of 4096, 16384, 65536, got ${s.primary.pageSize}` });
  const regionNames = new Set((s.platform.regions ?? []).map((r) => r.name));
  s.devices.forEach((d, i) => {
    if (d.cxlMemory !== undefined && s.platform.regions && !regionNames.has(d.cxlMemory))
      issues.push({ path: `devices[${i}].cxlMemory`, rule: `no memory region named ${d.cxlMemory}` });
  });
  return issues;
}

/** Validates a scenario document (JSON-shaped), filling defaults. Throws SchemaError naming every bad key. */
/** Faults a script injects now (the `fault` objects of injections[]), validated against `spec`. */
export function parseFaults(input: unknown, spec: ScenarioSpec, what = 'injections'): Fault[] {
  const faults = validate<Fault[]>(arr(FAULT, [], 'faults to inject now', 0, 256), input, what);
  const issues = crossCheck({ ...spec, injections: faults.map((fault) => ({ when: 'at-crash' as const, fault })) });
  if (issues.length)
    throw new SchemaError(
      what,
      issues.map((i) => ({ ...i, path: i.path.replace(/^injections\[(\d+)\]\.fault/, '[$1]') })),
    );
  return faults;
}

export function parseScenario(input: unknown, what = 'scenario'): ScenarioSpec {
  const s = validate<ScenarioSpec>(SCENARIO_SCHEMA, input, what);
  const more = crossCheck(s);
  if (more.length) throw new SchemaError(what, more);
  return s;
}

/** Parses a `--set key=value` value: JSON when it parses (numbers, booleans, lists, "0x.." strings stay strings), else the text. */
function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Applies `key=value` overrides to a scenario document before validation: dotted keys, list
 * indices (`devices[1].traffic.rxEntries=64`) and device names (`devices.0000:01:00.0.ats=true`).
 */
export function applyOverrides(doc: Record<string, unknown>, sets: readonly string[]): Record<string, unknown> {
  const out = structuredClone(doc);
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new SchemaError('--set', [{ path: s, rule: 'expected key=value' }]);
    const key = s.slice(0, eq);
    const value = parseValue(s.slice(eq + 1));
    const parts = key.match(/[^.[\]]+|\[\d+\]/g) ?? [];
    // A device name contains dots: re-join "devices.0000:01:00.0.x" into ["devices", "0000:01:00.0", "x"].
    const steps: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (steps.at(-1) === 'devices' && /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}$/.test(p) && parts[i + 1] !== undefined) {
        steps.push(`${p}.${parts[++i]}`);
      } else steps.push(p);
    }
    let node: unknown = out;
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      const last = i === steps.length - 1;
      const at = steps.slice(0, i + 1).join('.');
      if (Array.isArray(node)) {
        const idx = /^\[(\d+)\]$/.test(step)
          ? Number(step.slice(1, -1))
          : /^\d+$/.test(step)
            ? Number(step)
            : node.findIndex((d) => (d as { name?: string })?.name === step);
        if (idx < 0 || idx > node.length) throw new SchemaError('--set', [{ path: at, rule: `no list entry ${step}` }]);
        if (idx === node.length && !last) node.push({});
        if (last) node[idx] = value;
        else {
          if (typeof node[idx] !== 'object' || node[idx] === null) node[idx] = {};
          node = node[idx];
        }
        continue;
      }
      const o = node as Record<string, unknown>;
      if (last) o[step] = value;
      else {
        if (typeof o[step] !== 'object' || o[step] === null) o[step] = /^\[\d+\]$/.test(steps[i + 1]!) ? [] : {};
        node = o[step];
      }
    }
  }
  return out;
}
