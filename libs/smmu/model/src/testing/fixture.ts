// SPDX-License-Identifier: Apache-2.0
// Test-only scaffolding: a platform with one SMMU, memory helpers, a bump allocator, a page-table
// builder for every granule and stage, and register/queue programming the way Linux's
// arm_smmu_device_reset does it. Structures are built from the smmu-arch field tables (never
// from the model's own decode), so the tests check the model against the tables.

import { CD, CD_L1, findFormat, findRegister, L1STD, STE, type FieldInput, type Granule, GRANULE_SHIFT } from '@kdump-twin/smmu-arch';
import { PhysicalMemory, VirtualClock, type Region, type WriterKind } from '@kdump-twin/platform';
import { SmmuV3 } from '../lib/smmu';
import type { SmmuConfig } from '../lib/config';

export const RAM_BASE = 0x8000_0000;
export const RAM_SIZE = 0x4000_0000; // 1 GiB
export const MMIO_BASE = 0x0800_0000;
export const HOLE_BASE = 0x4000_0000;

export function regions(): Region[] {
  return [
    { name: 'gic-its', base: MMIO_BASE, size: 0x0100_0000, kind: 'mmio' },
    { name: 'hole', base: HOLE_BASE, size: 0x1000_0000, kind: 'hole' },
    { name: 'ram', base: RAM_BASE, size: RAM_SIZE, kind: 'ram' },
  ];
}

export interface Fixture {
  readonly clock: VirtualClock;
  readonly memory: PhysicalMemory;
  readonly smmu: SmmuV3;
  /** The writer id CPU stores are attributed to (see useWriter). */
  readonly cpu: number;
  /** Attributes later CPU stores to another writer, e.g. 'kdump-cpu' after the crash. */
  useWriter(kind: WriterKind): void;
  /** Bump allocator in RAM, aligned. */
  alloc(bytes: number, align?: number): number;
  write64(pa: number, v: bigint): void;
  read64(pa: number): bigint;
  writeWords(pa: number, words: readonly bigint[]): void;
  reg(name: string): bigint;
  field(name: string, field: string): number;
  /** MMIO write by register name (64-bit registers with one 64-bit access). */
  w(name: string, value: bigint | number): ReturnType<SmmuV3['mmioWrite']>;
  /** Writes CR0 and advances virtual time until CR0ACK matches (arm_smmu_write_reg_sync). */
  cr0(value: number): void;
  irqCtrl(value: number): void;
}

export function fixture(config: Partial<SmmuConfig> = {}, maxBackedBytes = 256 * 1024 * 1024): Fixture {
  const clock = new VirtualClock();
  const memory = new PhysicalMemory({ paBits: 48, maxBackedBytes, regions: regions() }, clock);
  const smmu = new SmmuV3(clock, memory, config);
  let cpu = memory.internWriter({ kind: 'primary-cpu' });
  let next = RAM_BASE + 0x10_0000;
  const scratch = { lo: 0, hi: 0 };
  const f: Fixture = {
    clock,
    memory,
    smmu,
    get cpu() {
      return cpu;
    },
    useWriter(kind) {
      cpu = memory.internWriter({ kind });
    },
    alloc(bytes, align = 4096) {
      next = Math.ceil(next / align) * align;
      const pa = next;
      next += bytes;
      return pa;
    },
    write64(pa, v) {
      const err = memory.writeDword(pa, Number(v & 0xffffffffn), Number((v >> 32n) & 0xffffffffn), cpu);
      if (err) throw new Error(`fixture write at 0x${pa.toString(16)}: ${err}`);
    },
    read64(pa) {
      const err = memory.readDword(pa, scratch);
      if (err) throw new Error(`fixture read at 0x${pa.toString(16)}: ${err}`);
      return BigInt(scratch.lo) | (BigInt(scratch.hi) << 32n);
    },
    writeWords(pa, words) {
      words.forEach((w, i) => f.write64(pa + 8 * i, w));
    },
    reg: (name) => smmu.register(name),
    field: (name, field) => smmu.field(name, field),
    w(name, value) {
      const r = findRegister(name)!;
      return smmu.mmioWrite(r.absoluteOffset, r.width === 64 ? 8 : 4, BigInt(value));
    },
    cr0(value) {
      f.w('CR0', value);
      for (let i = 0; i < 1000 && Number(smmu.register('CR0ACK')) !== value; i++) clock.advance(100);
      if (Number(smmu.register('CR0ACK')) !== value) throw new Error(`CR0ACK never reached 0x${value.toString(16)}`);
    },
    irqCtrl(value) {
      f.w('IRQ_CTRL', value);
      for (let i = 0; i < 1000 && Number(smmu.register('IRQ_CTRLACK')) !== value; i++) clock.advance(100);
    },
  };
  return f;
}

export const CR0 = { SMMUEN: 1, PRIQEN: 2, EVENTQEN: 4, CMDQEN: 8, ATSCHK: 16 } as const;

/** Builds a structure from fields through the field table, failing loudly on a bad value. */
export function build(format: string, fields: Record<string, FieldInput>): bigint[] {
  const l = findFormat(format);
  if (!l) throw new Error(`no format ${format}`);
  return l.build(fields);
}

export interface Queues {
  readonly cmdq: number;
  readonly cmdqLog2: number;
  readonly eventq: number;
  readonly eventqLog2: number;
  readonly strtab: number;
}

/**
 * Programs the SMMU as Linux's arm_smmu_device_reset does (domain notes 1.7), with a linear
 * stream table of 2^strtabLog2 STEs (all abort, V=1 Config=0) or a 2-level one.
 */
export function bringUp(
  f: Fixture,
  opts: {
    strtabLog2?: number;
    twoLevel?: { split: number };
    cmdqLog2?: number;
    eventqLog2?: number;
    enable?: boolean;
    eventq?: boolean;
    recinvsid?: boolean;
  } = {},
): Queues {
  const cmdqLog2 = opts.cmdqLog2 ?? 8;
  const eventqLog2 = opts.eventqLog2 ?? 7;
  const strtabLog2 = opts.strtabLog2 ?? 8;
  f.w('CR1', 0xd75);
  f.w('CR2', opts.recinvsid === false ? 0x4 : 0x6);
  let strtab: number;
  if (opts.twoLevel) {
    const l1Entries = 2 ** Math.max(0, strtabLog2 - opts.twoLevel.split);
    strtab = f.alloc(Math.max(64, l1Entries * 8), Math.max(64, l1Entries * 8));
    f.w('STRTAB_BASE', BigInt(strtab) | (1n << 62n));
    f.w('STRTAB_BASE_CFG', build('STRTAB_BASE_CFG', { FMT: 'TWO_LEVEL', SPLIT: opts.twoLevel.split, LOG2SIZE: strtabLog2 })[0]!);
  } else {
    strtab = f.alloc(64 * 2 ** strtabLog2, 64 * 2 ** strtabLog2);
    const abort = STE.build({ V: 1, Config: 'ABORT' });
    for (let sid = 0; sid < 2 ** strtabLog2; sid++) f.writeWords(strtab + 64 * sid, abort);
    f.w('STRTAB_BASE', BigInt(strtab) | (1n << 62n));
    f.w('STRTAB_BASE_CFG', build('STRTAB_BASE_CFG', { FMT: 'LINEAR', LOG2SIZE: strtabLog2 })[0]!);
  }
  const cmdq = f.alloc(16 * 2 ** cmdqLog2, Math.max(32, 16 * 2 ** cmdqLog2));
  f.w('CMDQ_BASE', BigInt(cmdq) | BigInt(cmdqLog2) | (1n << 62n));
  f.w('CMDQ_PROD', 0);
  f.w('CMDQ_CONS', 0);
  f.cr0(CR0.CMDQEN);
  const eventq = f.alloc(32 * 2 ** eventqLog2, Math.max(32, 32 * 2 ** eventqLog2));
  f.w('EVENTQ_BASE', BigInt(eventq) | BigInt(eventqLog2) | (1n << 62n));
  f.w('EVENTQ_PROD', 0);
  f.w('EVENTQ_CONS', 0);
  let cr0 = CR0.CMDQEN;
  if (opts.eventq !== false) {
    cr0 |= CR0.EVENTQEN;
    f.cr0(cr0);
  }
  if (opts.enable !== false) f.cr0(cr0 | CR0.SMMUEN);
  return { cmdq, cmdqLog2, eventq, eventqLog2, strtab };
}

/** Writes commands at CMDQ_PROD, publishes PROD, and runs virtual time until CONS catches up or stops. */
export function submit(f: Fixture, q: Queues, cmds: readonly bigint[][], opts: { run?: boolean } = {}): void {
  const size = 2 ** q.cmdqLog2;
  let prod = f.field('CMDQ_PROD', 'WR');
  for (const c of cmds) {
    f.writeWords(q.cmdq + (prod % size) * 16, c);
    prod = (prod + 1) % (2 * size);
  }
  f.w('CMDQ_PROD', prod);
  if (opts.run !== false) runCmdq(f);
}

export function runCmdq(f: Fixture): void {
  for (let i = 0; i < 100_000; i++) {
    if (f.field('CMDQ_CONS', 'RD') === f.field('CMDQ_PROD', 'WR')) return;
    if (f.clock.pending() === 0) return;
    f.clock.runNext();
  }
}

export const cmd = {
  sync: (cs: 'NONE' | 'IRQ' | 'SEV' = 'NONE', msiAddress = 0, msiData = 0) =>
    build('cmd-CMD_SYNC', { CS: cs, MSIAddress: msiAddress, MSIData: msiData, MSH: 'ISH', MSIAttr: 0xf }),
  cfgiAll: () => build('cmd-CFGI_ALL', {}),
  cfgiSte: (sid: number, leaf = 1) => build('cmd-CFGI_STE', { StreamID: sid, Leaf: leaf }),
  cfgiCd: (sid: number, ssid: number, leaf = 1) => build('cmd-CFGI_CD', { StreamID: sid, SubstreamID: ssid, Leaf: leaf }),
  tlbiNhAsid: (asid: number, vmid = 0) => build('cmd-TLBI_NH_ASID', { ASID: asid, VMID: vmid }),
  tlbiNhVa: (asid: number, va: number, vmid = 0) => build('cmd-TLBI_NH_VA', { ASID: asid, VMID: vmid, Address: BigInt(va), Leaf: 1 }),
  tlbiNsnhAll: () => build('cmd-TLBI_NSNH_ALL', {}),
  tlbiS12Vmall: (vmid: number) => build('cmd-TLBI_S12_VMALL', { VMID: vmid }),
};

/**
 * A page-table builder (VMSAv8-64, Arm ARM D8.3) for tests, writing descriptors to memory. With
 * `space`, table descriptors hold `space.toIpa(pa)` (a nested guest's stage-1 tables live in IPA
 * space) and are read back through `space.toPa`.
 */
export class PageTables {
  readonly root: number;
  readonly startLevel: number;
  private readonly g: number;
  constructor(
    private readonly f: Fixture,
    readonly stage: 1 | 2,
    readonly granule: Granule,
    readonly inputBits: number,
    startLevel?: number,
    private readonly space?: { toIpa(pa: number): number; toPa(ipa: number): number },
  ) {
    this.g = GRANULE_SHIFT[granule];
    const per = this.g - 3;
    this.startLevel = startLevel ?? 4 - Math.ceil((inputBits - this.g) / per);
    const startBits = inputBits - (this.g + per * (3 - this.startLevel));
    const bytes = Math.max(8, 2 ** startBits * 8);
    this.root = f.alloc(Math.max(bytes, 2 ** this.g), Math.max(bytes, 64));
  }

  private shift(level: number): number {
    return this.g + (this.g - 3) * (3 - level);
  }

  /**
   * Maps input `va` to `pa` with a leaf at `level` (3 = page, else a block). `leaf` fields go
   * into the descriptor through the pte-* field table (AF defaults to 1, AP/S2AP to RW).
   */
  map(va: number, pa: number, level = 3, leaf: Record<string, FieldInput> = {}, table: Record<string, FieldInput> = {}): number {
    const s = `s${this.stage}`;
    let t = this.root;
    for (let l = this.startLevel; l < level; l++) {
      const idx = Math.floor(va / 2 ** this.shift(l)) % 2 ** (l === this.startLevel ? this.inputBits - this.shift(l) : this.g - 3);
      const at = t + idx * 8;
      const cur = this.f.read64(at);
      if ((cur & 3n) === 3n) {
        const ta = Number(findFormat(`pte-${s}-${this.granule}-table`)!.get([cur], 'NextLevelTable'));
        t = this.space ? this.space.toPa(ta) : ta;
        continue;
      }
      const next = this.f.alloc(2 ** this.g, 2 ** this.g);
      this.f.write64(
        at,
        build(`pte-${s}-${this.granule}-table`, { Valid: 1, NextLevelTable: BigInt(this.space ? this.space.toIpa(next) : next), ...table })[0]!,
      );
      t = next;
    }
    const idx = Math.floor(va / 2 ** this.shift(level)) % 2 ** (level === this.startLevel ? this.inputBits - this.shift(level) : this.g - 3);
    const kind = level === 3 ? 'page' : `block-l${level}`;
    const defaults: Record<string, FieldInput> =
      this.stage === 1 ? { AF: 1, AP: 'RW_ANY', AttrIndx: 1, SH: 'ISH', nG: 1 } : { AF: 1, S2AP: 'READ_WRITE', MemAttr: 0xf, SH: 'ISH' };
    const at = t + idx * 8;
    this.f.write64(at, build(`pte-${s}-${this.granule}-${kind}`, { Valid: 1, OutputAddress: BigInt(pa), ...defaults, ...leaf })[0]!);
    return at;
  }
}

/**
 * A nested (Config=0b111) guest: stage 2 (4K, 40-bit IPA from level 1, VMID `vmid`) maps the IPA
 * window [GUEST_IPA, +128 MiB) onto PA [RAM_BASE, +128 MiB) with 2 MiB blocks, where the fixture
 * allocates; the guest's stage-1 tables and CD live there and are referenced by IPA.
 */
export const GUEST_IPA = 0x4000_0000;
export class NestedGuest {
  readonly s2: PageTables;
  readonly s1: PageTables;
  readonly cdPa: number;
  constructor(
    private readonly f: Fixture,
    readonly vmid = 3,
    s1Granule: Granule = '4k',
  ) {
    this.s2 = new PageTables(f, 2, '4k', 40, 1);
    for (let i = 0; i < 64; i++) this.s2.map(GUEST_IPA + i * 0x20_0000, RAM_BASE + i * 0x20_0000, 2);
    this.s1 = new PageTables(f, 1, s1Granule, 48, undefined, { toIpa: (pa) => this.toIpa(pa), toPa: (ipa) => ipa - GUEST_IPA + RAM_BASE });
    this.cdPa = f.alloc(64, 64);
  }
  toIpa(pa: number): number {
    return pa - RAM_BASE + GUEST_IPA;
  }
  /** Writes the guest CD (TTB0 as an IPA) and the STE at `sid`; returns the STE words. */
  install(
    q: Queues,
    sid: number,
    cdExtra: Record<string, FieldInput> = {},
    steExtra: Record<string, FieldInput> = {},
    s2Extra: Record<string, FieldInput> = {},
  ): bigint[] {
    this.f.writeWords(this.cdPa, cd(this.s1, 9, { TTB0: BigInt(this.toIpa(this.s1.root)), ...cdExtra }));
    const words = ste({ Config: 'NESTED', S1ContextPtr: BigInt(this.toIpa(this.cdPa)), S1STALLD: 1, ...s2Fields(this.s2, this.vmid), ...s2Extra, ...steExtra });
    this.f.writeWords(q.strtab + 64 * sid, words);
    return words;
  }
}

/** An STE built from the table; `fields` override. */
export function ste(fields: Record<string, FieldInput>): bigint[] {
  return STE.build({ V: 1, ...fields });
}

/** A stage-1 CD as Linux's arm_smmu_make_s1_cd writes it (domain notes 4), over `pt`. */
export function cd(pt: PageTables, asid: number, extra: Record<string, FieldInput> = {}): bigint[] {
  const tg = { '4k': 'G4K', '16k': 'G16K', '64k': 'G64K' }[pt.granule];
  return CD.build({
    V: 1,
    T0SZ: 64 - pt.inputBits,
    TG0: tg,
    IR0: 'WBWA',
    OR0: 'WBWA',
    SH0: 'ISH',
    EPD1: 1,
    IPS: 'PA48',
    AA64: 1,
    R: 1,
    A: 1,
    ASET: 1,
    ASID: asid,
    TTB0: BigInt(pt.root),
    MAIR0: 0xf404ff44,
    ...extra,
  });
}

/** Stage-2 STE fields for `pt` (S2T0SZ/S2SL0/S2TG/S2PS/S2TTB ...). */
export function s2Fields(pt: PageTables, vmid: number): Record<string, FieldInput> {
  const tg = { '4k': 'G4K', '16k': 'G16K', '64k': 'G64K' }[pt.granule];
  const sl0 = pt.granule === '4k' ? 2 - pt.startLevel : 3 - pt.startLevel;
  return {
    S2VMID: vmid,
    S2T0SZ: 64 - pt.inputBits,
    S2SL0: sl0,
    S2TG: tg,
    S2PS: 'PA48',
    S2AA64: 1,
    S2R: 1,
    S2TTB: BigInt(pt.root),
    S2IR0: 'WBWA',
    S2OR0: 'WBWA',
    S2SH0: 'ISH',
  };
}

export function l1std(l2: number, span: number): bigint[] {
  return L1STD.build({ Span: span, L2Ptr: BigInt(l2) });
}

export function l1cd(l2: number): bigint[] {
  return CD_L1.build({ V: 1, L2Ptr: BigInt(l2) });
}

/** Reads the event records in the queue between CONS and PROD (and consumes them). */
export function drainEvents(f: Fixture, q: Queues): bigint[][] {
  const out: bigint[][] = [];
  const size = 2 ** q.eventqLog2;
  const wrap = 2 * size;
  let cons = f.field('EVENTQ_CONS', 'RD');
  const prod = f.field('EVENTQ_PROD', 'WR');
  while (cons !== prod) {
    const base = q.eventq + (cons % size) * 32;
    out.push([0, 1, 2, 3].map((i) => f.read64(base + 8 * i)));
    cons = (cons + 1) % wrap;
  }
  const ovf = f.field('EVENTQ_PROD', 'OVFLG');
  f.w('EVENTQ_CONS', cons | (ovf << 31));
  return out;
}

export function eventName(words: readonly bigint[]): string {
  const id = Number(words[0]! & 0xffn);
  const evt = findFormat('evt')!;
  return evt.decode([BigInt(id)]).names['EventID'] ?? `0x${id.toString(16)}`;
}
