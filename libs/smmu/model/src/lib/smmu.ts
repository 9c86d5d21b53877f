// SPDX-License-Identifier: Apache-2.0
// One SMMUv3 instance (IHI0070): the register file with CR0/IRQ_CTRL acknowledgements in
// virtual time, guarded writes (ignored from v3.2 and recorded as violations), the GBPA update
// protocol, GERROR/GERRORN toggles and Service Failure Mode; the command queue consumer; the
// event queue producer with overflow; and the translation pipeline of the domain notes
// section 7 through caches that keep stale entries until an invalidation completes at CMD_SYNC.
// It never throws on anything a driver or device can do: it answers with the architected
// event, error or abort.

import {
  CD_L1,
  CMD,
  commandForOpcode,
  EVENT_CLASS,
  EVENT_IDS,
  findFormat,
  findRegister,
  L1STD,
  OPCODES,
  REGISTERS,
  type EventName,
  type Layout,
  type RegisterLayout,
} from '@kdump-twin/smmu-arch';
import { SeededRng, type Epoch, type PhysicalMemory, type WriterKind } from '@kdump-twin/platform';
import type { VirtualClock } from '@kdump-twin/platform';
import { POW2 } from './pow2';
import { BoundedCache, PERM, PERM_ALL, Tlb, type CacheCounters, type TlbContext, type TlbEntry, type TlbEntrySnapshot } from './cache';
import { idRegisters, smmuConfig, type SmmuConfig } from './config';
import { decodeCd, decodeSte, type DecodedCd, type DecodedSte } from './structures';
import type {
  AccessResult,
  AtcInvalidation,
  AtsCompletion,
  Completion,
  DmaResult,
  InterruptEvent,
  ConsumedCommand,
  InterruptSource,
  MmioResult,
  Path,
  SimulatorError,
  StallResolution,
  SteOrigin,
  Transaction,
  TranslateResult,
  Violation,
} from './types';
import { walk, type WalkFault, type WalkParams } from './walker';

const PAGE1 = 0x10000;
const MAX_VIOLATIONS = 10_000;
const MAX_EVENT_LOG = 10_000;
const MAX_SIMULATOR_ERRORS = 1000;

const REG_BY_OFFSET = new Map<number, RegisterLayout>(REGISTERS.map((r) => [r.absoluteOffset, r]));
const REG_BY_NAME = new Map<string, RegisterLayout>(REGISTERS.map((r) => [r.name, r]));

function R(name: string): RegisterLayout {
  const r = REG_BY_NAME.get(name) ?? findRegister(name);
  if (!r) throw new Error(`smmu-arch has no register ${name}`);
  return r;
}

const CR0 = R('CR0');
const IRQ_CTRL = R('IRQ_CTRL');
const GBPA = R('GBPA');
const GERROR = R('GERROR');
const STRTAB_BASE = R('STRTAB_BASE');
const STRTAB_BASE_CFG = R('STRTAB_BASE_CFG');
const QBASE = R('CMDQ_BASE');
const CMDQ_CONS = R('CMDQ_CONS');
const EVENTQ_PROD = R('EVENTQ_PROD');
const EVENTQ_CONS = R('EVENTQ_CONS');
const IRQ_CFG0 = R('GERROR_IRQ_CFG0');
const IRQ_CFG1 = R('GERROR_IRQ_CFG1');

/** Bits a register layout defines (everything else is RES0 and reads back 0). */
function definedMask(r: RegisterLayout): bigint {
  return ~r.res0Masks[0]! & ((1n << BigInt(r.width)) - 1n);
}

/** One event the SMMU raised, recorded or not. */
export interface EventLogEntry {
  readonly time: number;
  readonly name: EventName;
  readonly sid: number;
  readonly words: readonly bigint[];
  /**
   * written: in the queue; then why it is not: disabled, full (overflow), abort, sfm, buffered
   * (a stall record waiting for a writable queue), simulator-limit (the platform's backing bound
   * refused the write: a simulator error, not an architected loss).
   */
  readonly fate: 'written' | 'disabled' | 'overflow' | 'queue-abort' | 'sfm' | 'buffered' | 'simulator-limit';
}

export interface SmmuCounters {
  transactions: number;
  translated: number;
  bypassed: number;
  aborted: number;
  razWi: number;
  stalled: number;
  eventsWritten: number;
  eventsDroppedDisabled: number;
  eventsDroppedOverflow: number;
  eventsDroppedAbort: number;
  eventsDroppedSfm: number;
  commandsConsumed: number;
  commandErrors: number;
  syncs: number;
  msis: number;
  wiredIrqs: number;
  violations: number;
  gerrorCoalesced: number;
  /** Simulator limits met (see simulatorErrors()); never architected behaviour. */
  simulatorErrors: number;
}

interface PendingAck {
  readonly register: 'CR0ACK' | 'IRQ_CTRLACK';
  readonly mask: bigint;
  readonly value: bigint;
  readonly at: number;
}

interface Stall {
  readonly sid: number;
  readonly stag: number;
  readonly txn: Transaction;
}

/** What decides an ATS-translated access while CR0.ATSCHK=0: nothing cached (cachedTranslation). */
const ATS_UNCHECKED = Object.freeze({ atsUnchecked: true });
/** What decides untranslated traffic while SMMUEN=0 and GBPA.ABORT=0 (cachedTranslation). */
const GBPA_BYPASS = Object.freeze({ gbpaBypass: true });

interface SteCacheEntry {
  readonly sid: number;
  readonly ste: DecodedSte;
  readonly origin: SteOrigin;
  /** TLB contexts for S2-only streams (and S1DSS-bypass nested streams). */
  readonly s2ctx?: TlbContext;
  /**
   * A memo of the CD cache entry for transactions without SSID, for the hit path. Not a cache of
   * its own: it is used only while the CD cache still holds this very entry under its key, and
   * each use counts as a CD cache hit, so the CD cache's bound, counters and snapshots are the
   * whole truth.
   */
  cd0?: CdCacheEntry;
  /** PERM bits an unprivileged data read / write needs under this STE's overrides. */
  readonly needRead: number;
  readonly needWrite: number;
  readonly s1Path: Path;
}

function steEntry(sid: number, ste: DecodedSte, origin: SteOrigin, s2ctx: TlbContext | undefined): SteCacheEntry {
  const oneEl = ste.world === 'NS-EL2';
  const base = { sid: 0, address: 0, size: 1 };
  return {
    sid,
    ste,
    origin,
    s2ctx,
    needRead: permNeeded({ ...base, write: false }, ste, oneEl),
    needWrite: permNeeded({ ...base, write: true }, ste, oneEl),
    s1Path: ste.kind === 'nested' ? 'nested' : 's1',
  };
}

interface CdCacheEntry {
  readonly key: number;
  readonly cd: DecodedCd;
  readonly address: number;
  readonly ctx: TlbContext | undefined;
  readonly global: TlbContext | undefined;
  /** In the CD cache; cleared when it leaves (eviction or invalidation), which retires cd0 memos. */
  live: boolean;
}

interface L1Entry {
  readonly span: number;
  readonly l2ptr: number;
}

/**
 * A pending timer of the SMMU: when it runs and `seq`, its position in the clock's run order at
 * the snapshot, so a restore re-arms every timer (of every SMMU) in the order the original clock
 * would have run them.
 */
export type SmmuTimerSnapshot =
  | {
      readonly kind: 'ack';
      readonly at: number;
      readonly seq: number;
      readonly register: 'CR0ACK' | 'IRQ_CTRLACK';
      readonly mask: string;
      readonly value: string;
    }
  | { readonly kind: 'gbpa' | 'cmdq'; readonly at: number; readonly seq: number };

/** A point-in-time, JSON-serialisable copy of everything an SMMU holds (see snapshot()). */
export interface SmmuSnapshot {
  readonly version: 2;
  readonly config: SmmuConfig;
  readonly registers: Record<string, string>;
  readonly gbpaEffective: string;
  readonly sfm: boolean;
  /** Pending acks, GBPA update and command consumer, in the clock's (time, sequence) order. */
  readonly timers: SmmuTimerSnapshot[];
  readonly pendingInvalidations: string[][];
  readonly atcFailed: boolean;
  readonly stalls: { sid: number; stag: number; txn: Transaction }[];
  readonly nextStag: number;
  readonly bufferedStallRecords: string[][];
  readonly l1std: [number, L1Entry][];
  readonly ste: { sid: number; address: number; words: string[]; origin: SteOrigin }[];
  readonly l1cd: [number, number][];
  readonly cd: { sid: number; key: number; address: number; words: string[] }[];
  readonly tlb: TlbEntrySnapshot[];
  readonly cacheCounters: Record<'l1std' | 'ste' | 'l1cd' | 'cd' | 'tlb', CacheCounters>;
  readonly counters: SmmuCounters;
  readonly violations: (Omit<Violation, 'attempted'> & { attempted: string })[];
  readonly events: { time: number; name: EventName; sid: number; words: string[]; fate: EventLogEntry['fate'] }[];
  readonly rng: number[];
  /** Fault injections: the log, and the stuck-acknowledge state they leave (injectStuckAck). */
  readonly injections: { time: number; what: string }[];
  readonly stuckAck: string;
  readonly stuckAckTo: 0 | 1 | null;
  readonly simulatorErrors: SimulatorError[];
}

type Listener<T> = (e: T) => void;

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

/** The SMMUv3 hardware twin. */
export class SmmuV3 {
  readonly config: SmmuConfig;
  private readonly regs = new Map<string, bigint>();
  private gbpaEffective = 0n;
  private sfm = false;
  private pendingAcks: PendingAck[] = [];
  private ackTimers = new Map<PendingAck, number>();
  private gbpaTimer: { id: number; at: number } | undefined;
  private cmdqTimer: { id: number; at: number } | undefined;
  /** Consumed invalidation commands, applied when the next CMD_SYNC completes. */
  private pendingInvalidations: bigint[][] = [];
  private atcFailed = false;
  private stalls = new Map<string, Stall>();
  private nextStag = 1;
  private bufferedStallRecords: bigint[][] = [];
  private readonly l1std: BoundedCache<number, L1Entry>;
  private readonly steCache: BoundedCache<number, SteCacheEntry>;
  private readonly l1cd: BoundedCache<number, number>;
  private readonly cdCache: BoundedCache<number, CdCacheEntry>;
  readonly tlb: Tlb;
  readonly counters: SmmuCounters = {
    transactions: 0,
    translated: 0,
    bypassed: 0,
    aborted: 0,
    razWi: 0,
    stalled: 0,
    eventsWritten: 0,
    eventsDroppedDisabled: 0,
    eventsDroppedOverflow: 0,
    eventsDroppedAbort: 0,
    eventsDroppedSfm: 0,
    commandsConsumed: 0,
    commandErrors: 0,
    syncs: 0,
    msis: 0,
    wiredIrqs: 0,
    violations: 0,
    gerrorCoalesced: 0,
    simulatorErrors: 0,
  };
  private readonly violationLog: Violation[] = [];
  private readonly eventLog: EventLogEntry[] = [];
  private readonly simErrorLog: SimulatorError[] = [];
  private readonly irqListeners: Listener<InterruptEvent>[] = [];
  private readonly commandListeners: Listener<ConsumedCommand>[] = [];
  private readonly atcListeners: ((inv: AtcInvalidation) => boolean)[] = [];
  private readonly stallListeners: Listener<StallResolution>[] = [];
  private readonly priRespListeners: Listener<{ time: number; sid: number; ssid?: number; prgIndex: number; resp: number }>[] = [];
  private readonly smmuWriter: number;
  private readonly deviceWriters = new Map<number, number>();
  private readonly bypassWriters = new Map<number, number>();
  private readonly ids: ReturnType<typeof idRegisters>;
  private readonly scratch = { lo: 0, hi: 0 };
  /**
   * Hits of the fast path with FIFO replacement (which needs no recency update): each one is an
   * STE, a CD and a TLB hit, folded into those counters whenever they are read (cacheStats,
   * snapshots), so one increment stands for three.
   */
  private fastHits = 0;
  private readonly lru: boolean;
  /** Bumped when SMMUEN, SFM or the stream table's geometry may have changed (translationEpoch). */
  private stateEpoch = 0;
  private memoSid = -1;
  private memoSte: SteCacheEntry | undefined;
  private memoVersion = -1;
  /** CR0ACK fields as booleans, refreshed whenever CR0ACK changes (the data path reads these). */
  private en = { smmuen: false, cmdqen: false, eventqen: false, atschk: false };
  /** Stream table geometry, recomputed after STRTAB_BASE / STRTAB_BASE_CFG writes. */
  private strtabGeom: { base: number; log2: number; fmt: number; split: number; sidLimit: number } | undefined;

  private readonly rng: SeededRng;
  /** Registers of unimplemented features (IDR0.ATOS=0, IDR3.MPAM=0): RES0 to software. */
  private readonly absent = new Set(['GATOS_CTRL', 'GATOS_SID', 'GATOS_ADDR', 'GATOS_PAR', 'MPAMIDR', 'GMPAM', 'GBPMPAM']);

  /** `rng` feeds the adversarial cache mode only; by default a stream forked from the name. */
  constructor(
    private readonly clock: VirtualClock,
    private readonly memory: PhysicalMemory,
    config: Partial<SmmuConfig> = {},
    rng?: SeededRng,
  ) {
    this.config = smmuConfig(config);
    const c = this.config;
    this.rng = rng ?? new SeededRng(`smmu/${c.name}`);
    this.ids = idRegisters(c);
    this.l1std = new BoundedCache('l1std', c.configCacheEntries, c.replacement);
    this.steCache = new BoundedCache('ste', c.configCacheEntries, c.replacement);
    this.l1cd = new BoundedCache('l1cd', c.configCacheEntries, c.replacement);
    this.cdCache = new BoundedCache<number, CdCacheEntry>('cd', c.configCacheEntries, c.replacement, (_k, v) => (v.live = false));
    this.tlb = new Tlb(c.tlbEntries, c.replacement);
    this.lru = c.replacement === 'lru';
    this.smmuWriter = memory.internWriter({ kind: 'smmu', device: c.name });
    this.reset();
  }

  // ---------------------------------------------------------------------------------------
  // Reset, listeners, inspection

  /** Power-on reset (IHI0070 6.3: reset values; the twin's choices for UNKNOWN). Caches empty. */
  reset(): void {
    for (const r of REGISTERS) this.regs.set(r.name, r.resetValue);
    for (const [k, v] of Object.entries(this.ids)) this.regs.set(k, v);
    this.gbpaEffective = this.regs.get('GBPA')!;
    this.refreshEnables();
    this.sfm = false;
    this.stateEpoch++;
    for (const id of this.ackTimers.values()) this.clock.cancel(id);
    this.ackTimers.clear();
    this.pendingAcks = [];
    if (this.gbpaTimer) this.clock.cancel(this.gbpaTimer.id);
    this.gbpaTimer = undefined;
    if (this.cmdqTimer) this.clock.cancel(this.cmdqTimer.id);
    this.cmdqTimer = undefined;
    this.pendingInvalidations = [];
    this.atcFailed = false;
    this.stalls.clear();
    this.bufferedStallRecords = [];
    this.l1std.clear();
    this.steCache.clear();
    this.l1cd.clear();
    this.cdCache.clear();
    this.tlb.invalidateContexts(() => true);
  }

  onInterrupt(l: Listener<InterruptEvent>): () => void {
    this.irqListeners.push(l);
    return () => this.irqListeners.splice(this.irqListeners.indexOf(l), 1);
  }

  /** Every command the queue consumed without an error, in order (for traces and the reference comparison). */
  onCommand(l: Listener<ConsumedCommand>): () => void {
    this.commandListeners.push(l);
    return () => this.commandListeners.splice(this.commandListeners.indexOf(l), 1);
  }

  /** ATS invalidations to devices; return false to model an ATC that never completes. */
  onAtcInvalidate(l: (inv: AtcInvalidation) => boolean): () => void {
    this.atcListeners.push(l);
    return () => this.atcListeners.splice(this.atcListeners.indexOf(l), 1);
  }

  onStallResolved(l: Listener<StallResolution>): () => void {
    this.stallListeners.push(l);
    return () => this.stallListeners.splice(this.stallListeners.indexOf(l), 1);
  }

  onPriResponse(l: Listener<{ time: number; sid: number; ssid?: number; prgIndex: number; resp: number }>): () => void {
    this.priRespListeners.push(l);
    return () => this.priRespListeners.splice(this.priRespListeners.indexOf(l), 1);
  }

  get name(): string {
    return this.config.name;
  }

  /** The architected value of a register (what a read returns), by name. */
  register(name: string): bigint {
    const r = findRegister(name);
    if (!r) throw new RangeError(`no register ${name}`);
    return this.regs.get(r.name) ?? 0n;
  }

  field(register: string, field: string): number {
    const r = R(register);
    return Number(r.get([this.regs.get(r.name) ?? 0n], field));
  }

  violations(): readonly Violation[] {
    return this.violationLog;
  }

  events(): readonly EventLogEntry[] {
    return this.eventLog;
  }

  /**
   * Simulator limits the SMMU met (today: the platform refused a write for memory.maxBackedBytes),
   * each with what the SMMU was doing and the platform's message naming the bound. They are not
   * architected behaviour: no GERROR, no event record, no external abort is made of them.
   */
  simulatorErrors(): readonly SimulatorError[] {
    return this.simErrorLog;
  }

  /** Records a simulator limit; returns its message. */
  private simulatorError(what: string): string {
    const message = this.memory.simulatorErrors().last?.message ?? 'simulator limit: memory.maxBackedBytes';
    this.counters.simulatorErrors++;
    if (this.simErrorLog.length < MAX_SIMULATOR_ERRORS) this.simErrorLog.push({ time: this.clock.now(), smmu: this.config.name, what, message });
    return message;
  }

  inServiceFailureMode(): boolean {
    return this.sfm;
  }

  cacheStats(): Record<
    'l1std' | 'ste' | 'l1cd' | 'cd' | 'tlb',
    { size: number; hits: number; misses: number; inserts: number; evictions: number; invalidations: number }
  > {
    const s = (size: number, c: { hits: number; misses: number; inserts: number; evictions: number; invalidations: number }) => ({ size, ...c });
    return {
      l1std: s(this.l1std.size, this.l1std.counters),
      ste: s(this.steCache.size, this.withFastHits(this.steCache.counters)),
      l1cd: s(this.l1cd.size, this.l1cd.counters),
      cd: s(this.cdCache.size, this.withFastHits(this.cdCache.counters)),
      tlb: s(this.tlb.size, this.withFastHits(this.tlb.counters)),
    };
  }

  /** A cache's counters with the fast path's FIFO hits folded in. */
  private withFastHits(c: CacheCounters): CacheCounters {
    return { ...c, hits: c.hits + this.fastHits };
  }

  /** The STE the configuration cache holds for `sid` (stale or not), for inspection. */
  cachedSte(sid: number): { words: readonly bigint[]; origin: SteOrigin } | undefined {
    const e = this.steCache.peek(sid);
    return e ? { words: e.ste.words, origin: e.origin } : undefined;
  }

  private get2(register: string, field: string): number {
    return this.field(register, field);
  }

  private ack(field: string): boolean {
    return this.get2('CR0ACK', field) === 1;
  }

  private refreshEnables(): void {
    this.en = { smmuen: this.ack('SMMUEN'), cmdqen: this.ack('CMDQEN'), eventqen: this.ack('EVENTQEN'), atschk: this.ack('ATSCHK') };
    this.strtabGeom = undefined;
    this.stateEpoch++;
  }

  private violation(register: string, offset: number, attempted: bigint, rule: string, section: string): void {
    this.counters.violations++;
    if (this.violationLog.length < MAX_VIOLATIONS) {
      this.violationLog.push({ time: this.clock.now(), smmu: this.config.name, register, offset, attempted, rule, section });
    }
  }

  // ---------------------------------------------------------------------------------------
  // MMIO

  /** A 32- or 64-bit read at a byte offset from the SMMU base (page 1 at +0x10000). */
  mmioRead(offset: number, size: 4 | 8): MmioResult {
    const where = this.locate(offset, size);
    if ('abort' in where) return { value: 0n, result: 'abort', rule: where.abort };
    if (!where.reg) return { value: 0n, result: 'raz-wi' };
    const full = this.regs.get(where.reg.name) ?? 0n;
    const value = where.half === 1 ? full >> 32n : where.half === 0 ? full & 0xffffffffn : full;
    return { value, result: 'ok', register: where.reg.name };
  }

  /** A 32- or 64-bit write. Never throws: an illegal write is ignored and recorded. */
  mmioWrite(offset: number, size: 4 | 8, value: bigint): MmioResult {
    const where = this.locate(offset, size);
    if ('abort' in where) {
      this.violation('-', offset, value, where.abort, 'IHI0070 6.2');
      return { value, result: 'abort', rule: where.abort };
    }
    const r = where.reg;
    if (!r) {
      this.violation('-', offset, value, 'write to a reserved or unimplemented location (RAZ/WI)', 'IHI0070 6.2');
      return { value, result: 'raz-wi' };
    }
    const mask32 = 0xffffffffn;
    let v = value & (size === 8 ? (1n << 64n) - 1n : mask32);
    if (where.half !== undefined) {
      const old = this.regs.get(r.name) ?? 0n;
      v = where.half === 1 ? (old & mask32) | (v << 32n) : (old & ~mask32) | v;
    }
    const res = this.writeRegister(r, v, where.half === undefined ? offset : offset - 4 * where.half);
    return { value, register: r.name, ...res };
  }

  private locate(offset: number, size: 4 | 8): { reg?: RegisterLayout; half?: 0 | 1 } | { abort: string } {
    if (!Number.isInteger(offset) || offset < 0 || offset >= 2 * PAGE1) return { abort: `offset ${hex(offset)} outside the SMMU's two 64KB pages` };
    if (size !== 4 && size !== 8) return { abort: `access size ${size} is not 32 or 64 bits` };
    if (offset % size !== 0) return { abort: `unaligned ${size * 8}-bit access at ${hex(offset)}` };
    const r = REG_BY_OFFSET.get(offset);
    if (r) {
      if (size === 8 && r.width === 32) return { abort: `64-bit access to the 32-bit register ${r.name}` };
      // Secure registers, and ATOS/MPAM registers of features this SMMU lacks, are RES0 (RAZ/WI).
      if (r.secure || this.absent.has(r.name)) return {};
      return size === 4 && r.width === 64 ? { reg: r, half: 0 } : { reg: r };
    }
    const lowHalf = REG_BY_OFFSET.get(offset - 4);
    if (lowHalf && lowHalf.width === 64 && size === 4) return { reg: lowHalf, half: 1 };
    return {};
  }

  private guardFails(r: RegisterLayout): { fields: readonly string[] | 'all'; rule: string }[] {
    const out: { fields: readonly string[] | 'all'; rule: string }[] = [];
    for (const g of r.guards) {
      if (r.name === 'GBPA') continue; // the update protocol, below
      if (!g.when.every((t) => this.get2(t.register, t.field) === t.value)) out.push({ fields: g.fields, rule: g.rule });
    }
    return out;
  }

  private writeRegister(r: RegisterLayout, v: bigint, offset: number): { result: AccessResult; rule?: string } {
    if (r.access === 'RO') {
      this.violation(r.name, offset, v, `${r.name} is read-only: write ignored`, r.section);
      return { result: 'ignored-read-only', rule: 'read-only' };
    }
    switch (r.name) {
      case 'CR0':
        return this.writeAcked(CR0, 'CR0ACK', v, offset);
      case 'IRQ_CTRL':
        return this.writeAcked(IRQ_CTRL, 'IRQ_CTRLACK', v, offset);
      case 'GBPA':
        return this.writeGbpa(v, offset);
      case 'GERRORN':
        return this.writeGerrorn(v, offset);
    }
    const fails = this.guardFails(r);
    const old = this.regs.get(r.name) ?? 0n;
    let next = v & definedMask(r);
    let rule: string | undefined;
    const enforce = this.config.archMinor >= 2;
    for (const f of fails) {
      rule = f.rule;
      this.violation(r.name, offset, v, f.rule, 'IHI0070 6.2');
      if (!enforce) continue; // v3.0/v3.1: CONSTRAINED UNPREDICTABLE; the twin lets it through
      if (f.fields === 'all') return { result: 'ignored-guard', rule: f.rule };
      for (const name of f.fields) next = r.with([next], name, r.get([old], name))[0]!;
    }
    this.regs.set(r.name, next);
    switch (r.name) {
      case 'STRTAB_BASE':
      case 'STRTAB_BASE_CFG':
        this.strtabGeom = undefined;
        this.stateEpoch++;
        break;
      case 'CMDQ_PROD':
        this.kickCmdq();
        break;
      case 'EVENTQ_CONS':
        this.flushBufferedStalls();
        break;
    }
    return rule && enforce ? { result: 'ignored-guard', rule } : { result: 'ok' };
  }

  /**
   * CR0 and IRQ_CTRL (IHI0070 6.3.9.1 and domain notes 1.3): each field is an update request
   * that completes when the ACK register shows it, after the configured delay. Rewriting a field
   * whose update is still in flight is CONSTRAINED UNPREDICTABLE; v3.2+ ignores the new value.
   */
  private writeAcked(r: RegisterLayout, ackName: 'CR0ACK' | 'IRQ_CTRLACK', v: bigint, offset: number): { result: AccessResult; rule?: string } {
    const c = this.config;
    let defined = definedMask(r);
    // Fields of features the SMMU lacks are RES0.
    const res0Field = (name: string) => (defined &= ~r.with([0n], name, (1n << BigInt(r.field(name)!.width)) - 1n)[0]!);
    if (r === CR0) {
      if (!c.pri) res0Field('PRIQEN');
      if (!c.ats) res0Field('ATSCHK');
      if (!c.vmw) res0Field('VMW');
      res0Field('DPT_WALK_EN');
    } else if (!c.pri) res0Field('PRIQ_IRQEN');
    const old = this.regs.get(r.name)!;
    const ack = this.regs.get(ackName)!;
    const inflight = (old ^ ack) & defined;
    let stored = v & defined;
    let result: { result: AccessResult; rule?: string } = { result: 'ok' };
    if (((stored ^ old) & inflight) !== 0n) {
      const rule = `${r.name} field rewritten while its previous update is in flight (${ackName} not yet equal)`;
      this.violation(r.name, offset, v, rule, 'IHI0070 6.3.9.1');
      if (c.archMinor >= 2) {
        stored = (stored & ~inflight) | (old & inflight);
        result = { result: 'ignored-guard', rule };
      }
    }
    this.regs.set(r.name, stored);
    const changed = (stored ^ ack) & defined & ~inflight;
    if (changed !== 0n) {
      const p: PendingAck = { register: ackName, mask: changed, value: stored, at: this.clock.now() + c.ackDelayNs };
      if (c.ackDelayNs === 0) this.applyAck(p);
      else this.scheduleAck(p);
    }
    return result;
  }

  private scheduleAck(p: PendingAck): void {
    this.pendingAcks.push(p);
    const id = this.clock.schedule(p.at, `${this.config.name} ${p.register}`, () => {
      this.pendingAcks = this.pendingAcks.filter((x) => x !== p);
      this.ackTimers.delete(p);
      this.applyAck(p);
    });
    this.ackTimers.set(p, id);
  }

  private applyAck(p: PendingAck): void {
    const old = this.regs.get(p.register)!;
    let stuck = p.register === 'CR0ACK' ? this.stuckAck : 0n;
    if (this.stuckAckTo === 1) stuck &= p.value;
    else if (this.stuckAckTo === 0) stuck &= ~p.value;
    const mask = p.mask & ~stuck;
    const next = (old & ~mask) | (p.value & mask);
    this.regs.set(p.register, next);
    if (p.register !== 'CR0ACK') return;
    this.refreshEnables();
    const was = (f: string) => Number(CR0.get([old], f));
    const now = (f: string) => Number(CR0.get([next], f));
    if (was('SMMUEN') === 1 && now('SMMUEN') === 0) {
      // SMMUEN 1->0: stalled transactions are aborted (domain notes 1.3).
      for (const s of [...this.stalls.values()]) this.resolveStall(s, 'disabled');
    }
    if (was('CMDQEN') === 0 && now('CMDQEN') === 1) this.kickCmdq();
    if (was('EVENTQEN') === 0 && now('EVENTQEN') === 1) this.flushBufferedStalls();
  }

  /** GBPA update protocol (IHI0070 6.3.14; domain notes 1.4). */
  private writeGbpa(v: bigint, offset: number): { result: AccessResult; rule?: string } {
    const cur = this.regs.get('GBPA')!;
    const updating = GBPA.get([cur], 'Update') === 1n;
    if (updating) {
      const rule = 'GBPA written while Update==1: ignored, the earlier update completes';
      this.violation('GBPA', offset, v, rule, 'IHI0070 6.3.14');
      return { result: 'ignored-guard', rule };
    }
    const value = v & definedMask(GBPA);
    if (GBPA.get([value], 'Update') === 0n) {
      const rule = 'GBPA written without Update=1: ignored (v3.2+)';
      this.violation('GBPA', offset, v, rule, 'IHI0070 6.3.14');
      if (this.config.archMinor >= 2) return { result: 'ignored-guard', rule };
      this.regs.set('GBPA', value);
      this.gbpaEffective = value;
      this.stateEpoch++;
      return { result: 'ok' };
    }
    this.regs.set('GBPA', value);
    if (this.config.gbpaDelayNs === 0) this.completeGbpa();
    else this.scheduleGbpa(this.clock.now() + this.config.gbpaDelayNs);
    return { result: 'ok' };
  }

  private scheduleGbpa(at: number): void {
    this.gbpaTimer = { at, id: this.clock.schedule(at, `${this.config.name} GBPA.Update`, () => this.completeGbpa()) };
  }

  /** The GBPA update completes: Update reads 0 and the written attributes apply. */
  private completeGbpa(): void {
    this.gbpaTimer = undefined;
    const done = GBPA.with([this.regs.get('GBPA')!], 'Update', 0n)[0]!;
    this.regs.set('GBPA', done);
    this.gbpaEffective = done;
    this.stateEpoch++;
  }

  /** GERRORN acknowledge (IHI0070 6.3.20; domain notes 1.5). */
  private writeGerrorn(v: bigint, offset: number): { result: AccessResult; rule?: string } {
    const gerror = this.regs.get('GERROR')!;
    const old = this.regs.get('GERRORN')!;
    const defined = definedMask(GERROR);
    const active = (gerror ^ old) & defined;
    let next = v & defined;
    const toggledInactive = (next ^ old) & ~active & defined;
    let result: { result: AccessResult; rule?: string } = { result: 'ok' };
    if (toggledInactive !== 0n) {
      const rule = `GERRORN toggles bits ${hex(toggledInactive)} whose errors are not active (CONSTRAINED UNPREDICTABLE; the twin ignores those bits)`;
      this.violation('GERRORN', offset, v, rule, 'IHI0070 6.3.20');
      next = (next & ~toggledInactive) | (old & toggledInactive);
      result = { result: 'ignored-guard', rule };
    }
    this.regs.set('GERRORN', next);
    const nowActive = (gerror ^ next) & defined;
    const cleared = active & ~nowActive;
    const bit = (name: string) => GERROR.with([0n], name, 1n)[0]!;
    if (cleared & bit('CMDQ_ERR')) this.kickCmdq();
    if (cleared & bit('EVENTQ_ABT_ERR')) this.flushBufferedStalls();
    return result;
  }

  private gerrorActive(name: string): boolean {
    const g = this.regs.get('GERROR')!;
    const n = this.regs.get('GERRORN')!;
    return GERROR.get([g ^ n], name) === 1n;
  }

  /** Activates a global error by toggling GERROR[x] if it is not already active (IHI0070 6.3.19). */
  private raiseGerror(name: string): void {
    if (this.gerrorActive(name)) {
      this.counters.gerrorCoalesced++;
      return;
    }
    const g = this.regs.get('GERROR')!;
    this.regs.set('GERROR', GERROR.with([g], name, GERROR.get([g], name) ^ 1n)[0]!);
    if (name === 'MSI_GERROR_ABT_ERR') return; // no interrupt for it
    if (this.field('IRQ_CTRLACK', 'GERROR_IRQEN') === 1) this.signal('GERROR', 'GERROR_IRQ_CFG0', 'GERROR_IRQ_CFG1', 'MSI_GERROR_ABT_ERR');
  }

  /** Service Failure Mode (IHI0070 3.21): traffic, commands and events stop; visible in GERROR.SFM_ERR. */
  injectServiceFailure(): void {
    this.sfm = true;
    this.stateEpoch++;
    this.raiseGerror('SFM_ERR');
    for (const s of [...this.stalls.values()]) this.resolveStall(s, 'abort');
  }

  /**
   * Fault injection, not an MMIO access: sets a register's value directly (e.g. a crashed
   * kernel's corrupted STRTAB_BASE_CFG), bypassing guards and acks. Recorded in the event log
   * of injections; CR0 also sets CR0ACK so the state is consistent.
   */
  injectRegister(name: string, value: bigint): void {
    const r = R(name);
    this.regs.set(r.name, value & ((1n << BigInt(r.width)) - 1n));
    if (r.name === 'CR0') this.regs.set('CR0ACK', value & definedMask(CR0));
    if (r.name === 'IRQ_CTRL') this.regs.set('IRQ_CTRLACK', value & definedMask(IRQ_CTRL));
    if (r.name === 'GBPA') {
      this.gbpaEffective = value;
      this.stateEpoch++;
    }
    this.refreshEnables();
    this.injections.push({ time: this.clock.now(), what: `${r.name} <- ${hex(value)}` });
  }

  /**
   * Fault injection: CR0 fields whose acknowledgement never completes (e.g. a wedged CMDQEN),
   * for updates to `to` only (1: enabling, 0: disabling) or both.
   */
  injectStuckAck(fields: readonly string[], to?: 0 | 1): void {
    this.stuckAck = fields.reduce((m, f) => m | CR0.with([0n], f, 1n)[0]!, 0n);
    this.stuckAckTo = to;
    this.injections.push({ time: this.clock.now(), what: `CR0ACK stuck for ${fields.join(', ')}${to === undefined ? '' : ` -> ${to}`}` });
  }

  /** Fault injection: a global error as the hardware would raise it (e.g. a latched CMDQ_ERR). */
  injectGlobalError(name: string): void {
    this.raiseGerror(name);
    this.injections.push({ time: this.clock.now(), what: `GERROR.${name}` });
  }

  readonly injections: { time: number; what: string }[] = [];
  private stuckAck = 0n;
  private stuckAckTo: 0 | 1 | undefined;

  /** Leaves SFM: the twin's IMPLEMENTATION DEFINED recovery (a reset of the SMMU). */
  recoverFromServiceFailure(): void {
    this.reset();
  }

  // ---------------------------------------------------------------------------------------
  // Interrupts and MSIs

  private emit(source: InterruptSource, kind: InterruptEvent['kind'], address?: number, data?: number): void {
    if (kind === 'msi') this.counters.msis++;
    else this.counters.wiredIrqs++;
    const e: InterruptEvent = { time: this.clock.now(), smmu: this.config.name, source, kind, address, data };
    for (const l of [...this.irqListeners]) l(e);
  }

  private isDoorbell(pa: number): boolean {
    return this.config.msiDoorbells.some((d) => pa >= d.base && pa < d.base + d.size);
  }

  /**
   * An MSI write (IHI0070 3.18): to a doorbell it is an interrupt; elsewhere a 32-bit memory
   * write (how Linux's CMD_SYNC MSI polling works). An aborted write raises `abortErr`.
   */
  private msiWrite(source: InterruptSource, address: number, data: number, abortErr: string): void {
    if (this.isDoorbell(address)) {
      this.emit(source, 'msi', address, data);
      return;
    }
    const err = this.memory.write32(address, data >>> 0, this.smmuWriter);
    if (err === 'backing-limit') {
      // The platform ran out of backing memory: a simulator limit, not an aborted MSI.
      this.simulatorError(`${source} MSI write to ${hex(address)}`);
      return;
    }
    if (err !== undefined) {
      this.raiseGerror(abortErr);
      return;
    }
    this.emit(source, 'msi', address, data);
  }

  /** Raises a queue or GERROR interrupt: MSI when IDR0.MSI and CFG0.ADDR != 0, else wired. */
  private signal(source: InterruptSource, cfg0: string, cfg1: string, abortErr: string): void {
    const address = Number(IRQ_CFG0.get([this.regs.get(cfg0) ?? 0n], 'ADDR'));
    if (this.config.msi && address !== 0) {
      const data = Number(IRQ_CFG1.get([this.regs.get(cfg1) ?? 0n], 'DATA'));
      this.msiWrite(source, address, data, abortErr);
    } else this.emit(source, 'wired');
  }

  // ---------------------------------------------------------------------------------------
  // Queues (IHI0070 3.5; domain notes 1.6)

  private queue(baseReg: string, maxLog2: number, entryBytes: number): { base: number; log2: number } {
    const v = this.regs.get(baseReg) ?? 0n;
    const log2 = Math.min(Number(QBASE.get([v], 'LOG2SIZE')), maxLog2);
    const align = Math.max(2 ** log2 * entryBytes, 32);
    const addr = Number(QBASE.get([v], 'ADDR'));
    return { base: addr - (addr % align), log2 };
  }

  private kickCmdq(): void {
    if (this.cmdqTimer) return;
    this.scheduleCmdq(this.clock.now() + this.config.cmdqLatencyNs);
  }

  private scheduleCmdq(at: number): void {
    this.cmdqTimer = { at, id: this.clock.schedule(at, `${this.config.name} CMDQ`, () => this.consumeOne()) };
  }

  /** Consumes one command, then schedules the next after cmdNs (IHI0070 3.5.2). */
  private consumeOne(): void {
    this.cmdqTimer = undefined;
    if (this.sfm || !this.en.cmdqen || this.gerrorActive('CMDQ_ERR')) return;
    const { base, log2 } = this.queue('CMDQ_BASE', this.config.cmdqLog2Max, 16);
    const wrapMask = 2 ** (log2 + 1) - 1;
    const prod = this.field('CMDQ_PROD', 'WR') & wrapMask;
    const consReg = this.regs.get('CMDQ_CONS')!;
    const cons = Number(CMDQ_CONS.get([consReg], 'RD')) & wrapMask;
    if (prod === cons) return;
    const used = (prod - cons + 2 ** (log2 + 1)) % 2 ** (log2 + 1);
    if (used > 2 ** log2) {
      this.violation(
        'CMDQ_PROD',
        0x98,
        BigInt(prod),
        `inconsistent CMDQ indices (PROD ${hex(prod)}, CONS ${hex(cons)}): CONSTRAINED UNPREDICTABLE, the twin stops consuming`,
        'IHI0070 3.5.1',
      );
      return;
    }
    const slot = base + (cons % 2 ** log2) * 16;
    const words: bigint[] = [];
    for (let i = 0; i < 2; i++) {
      const err = this.memory.readDword(slot + 8 * i, this.scratch);
      if (err !== undefined) {
        this.commandError('ABT');
        return;
      }
      words.push(BigInt(this.scratch.lo) | (BigInt(this.scratch.hi) << 32n));
    }
    const err = this.execute(words, slot);
    if (err !== undefined) {
      this.commandError(err);
      return;
    }
    this.counters.commandsConsumed++;
    for (const l of this.commandListeners) l({ time: this.clock.now(), index: cons, words });
    const nextCons = (cons + 1) & wrapMask;
    this.regs.set('CMDQ_CONS', CMDQ_CONS.with([this.regs.get('CMDQ_CONS')!], 'RD', BigInt(nextCons))[0]!);
    if (nextCons !== prod) this.scheduleCmdq(this.clock.now() + this.config.cmdNs);
  }

  /** CMDQ_CONS.ERR then GERROR.CMDQ_ERR; consumption stops until acknowledged (IHI0070 3.5.3). */
  private commandError(code: 'ILL' | 'ABT' | 'ATC_INV_SYNC'): void {
    this.counters.commandErrors++;
    const cons = this.regs.get('CMDQ_CONS')!;
    this.regs.set('CMDQ_CONS', CMDQ_CONS.with([cons], 'ERR', BigInt({ ILL: 1, ABT: 2, ATC_INV_SYNC: 3 }[code]))[0]!);
    this.raiseGerror('CMDQ_ERR');
  }

  /** Executes one command; returns a CERROR code or undefined (IHI0070 chapter 4). */
  private execute(words: bigint[], slot: number): 'ILL' | 'ATC_INV_SYNC' | undefined {
    const c = this.config;
    const opcode = Number(CMD.get(words, 'Opcode'));
    const l = commandForOpcode(opcode);
    if (!l) return 'ILL';
    const f = (name: string) => (l.field(name) ? l.get(words, name) : 0n);
    const num = (name: string) => Number(f(name));
    if (num('SSec') === 1) return 'ILL'; // Secure commands on the Non-secure queue
    const smmuen = this.en.smmuen;
    switch (opcode) {
      case OPCODES.PREFETCH_CONFIG:
        if (smmuen) this.prefetchConfig(num('StreamID'));
        return undefined;
      case OPCODES.PREFETCH_ADDR:
      case OPCODES.CFGI_VMS_PIDM:
        return undefined; // hints / MPAM: no architectural effect here
      case OPCODES.CFGI_STE:
      case OPCODES.CFGI_STE_RANGE:
      case OPCODES.CFGI_CD_ALL:
      case OPCODES.TLBI_NH_ALL:
      case OPCODES.TLBI_NH_ASID:
      case OPCODES.TLBI_NSNH_ALL:
        this.pendingInvalidations.push(words);
        return undefined;
      case OPCODES.CFGI_CD:
        if (!c.stage1) return 'ILL';
        this.pendingInvalidations.push(words);
        return undefined;
      case OPCODES.TLBI_NH_VA:
      case OPCODES.TLBI_NH_VAA:
        if (this.rangeBytes(l, words) === undefined) return 'ILL';
        this.pendingInvalidations.push(words);
        return undefined;
      case OPCODES.TLBI_EL2_ALL:
      case OPCODES.TLBI_EL2_ASID:
        if (!c.hyp) return 'ILL';
        this.pendingInvalidations.push(words);
        return undefined;
      case OPCODES.TLBI_EL2_VA:
      case OPCODES.TLBI_EL2_VAA:
        if (!c.hyp || this.rangeBytes(l, words) === undefined) return 'ILL';
        this.pendingInvalidations.push(words);
        return undefined;
      case OPCODES.TLBI_S12_VMALL:
        if (!c.stage2) return 'ILL';
        this.pendingInvalidations.push(words);
        return undefined;
      case OPCODES.TLBI_S2_IPA:
        if (!c.stage2 || this.rangeBytes(l, words) === undefined) return 'ILL';
        this.pendingInvalidations.push(words);
        return undefined;
      case OPCODES.ATC_INV: {
        if (!c.ats) return 'ILL';
        if (!smmuen) return undefined; // ignored while SMMUEN==0
        const size = num('Size');
        const inv: AtcInvalidation = {
          time: this.clock.now(),
          sid: num('StreamID'),
          ssid: num('SSV') ? num('SubstreamID') : undefined,
          global: num('Global') === 1,
          address: num('Address'),
          bytes: size >= 52 ? Number.POSITIVE_INFINITY : 4096 * 2 ** size,
        };
        for (const al of [...this.atcListeners]) if (!al(inv)) this.atcFailed = true;
        return undefined;
      }
      case OPCODES.PRI_RESP: {
        if (!c.pri) return 'ILL';
        if (num('Resp') === 3) return 'ILL';
        if (!smmuen) return undefined;
        const e = {
          time: this.clock.now(),
          sid: num('StreamID'),
          ssid: num('SSV') ? num('SubstreamID') : undefined,
          prgIndex: num('PRGIndex'),
          resp: num('Resp'),
        };
        for (const pl of [...this.priRespListeners]) pl(e);
        return undefined;
      }
      case OPCODES.RESUME: {
        if (c.stallModel === 1) return 'ILL';
        const s = this.stalls.get(`${num('StreamID')}/${num('STAG')}`);
        if (s) this.resolveStall(s, num('Ac') === 1 ? 'retry' : num('Ab') === 1 || c.termModel === 1 ? 'abort' : 'terminate');
        return undefined;
      }
      case OPCODES.STALL_TERM: {
        if (c.stallModel === 1) return 'ILL';
        const sid = num('StreamID');
        for (const s of [...this.stalls.values()]) if (s.sid === sid) this.resolveStall(s, 'abort');
        return undefined;
      }
      case OPCODES.CMD_SYNC: {
        const cs = num('CS');
        if (cs === 3) return 'ILL';
        this.completeInvalidations();
        if (this.atcFailed) {
          this.atcFailed = false;
          return 'ATC_INV_SYNC';
        }
        this.counters.syncs++;
        if (cs === 1) {
          const addr = num('MSIAddress');
          if (c.msi && addr !== 0) this.msiWrite('CMD_SYNC', addr, num('MSIData'), 'MSI_CMDQ_ABT_ERR');
          else this.emit('CMD_SYNC', 'wired');
        } else if (cs === 2 && c.sev) this.emit('CMD_SYNC', 'sev');
        void slot;
        return undefined;
      }
      default:
        // EL3 and Secure TLBIs on the Non-secure queue, DPTI without IDR3.DPT, IMPDEF, reserved.
        return 'ILL';
    }
  }

  /**
   * Bytes a TLBI covers (IHI0070 4.4.1 range invalidation): TG=0 is one address; with TG and
   * IDR3.RIL, (NUM+1) * 2^SCALE granules. NUM=SCALE=TTL=0 with TG != 0 is ILLEGAL.
   */
  private rangeBytes(l: Layout, words: bigint[]): number | undefined {
    const tg = Number(l.get(words, 'TG'));
    if (tg === 0) return 1;
    if (!this.config.ril) return 1;
    const num = Number(l.get(words, 'NUM'));
    const scale = Number(l.get(words, 'SCALE'));
    const ttl = Number(l.get(words, 'TTL'));
    if (num === 0 && scale === 0 && ttl === 0) return undefined;
    const granule = [0, 4096, 16384, 65536][tg]!;
    return (num + 1) * 2 ** scale * granule;
  }

  /** Applies every invalidation consumed since the last CMD_SYNC (IHI0070 4.7: completion). */
  private completeInvalidations(): void {
    const list = this.pendingInvalidations;
    this.pendingInvalidations = [];
    for (const words of list) this.applyInvalidation(words);
  }

  private applyInvalidation(words: bigint[]): void {
    const opcode = Number(CMD.get(words, 'Opcode'));
    const l = commandForOpcode(opcode)!;
    const num = (name: string) => Number(l.get(words, name));
    const s2p = this.config.stage2;
    const vmidOf = () => (s2p ? num('VMID') : 0);
    switch (opcode) {
      case OPCODES.CFGI_STE: {
        // Leaf=1 could keep the L1STD; the twin always drops it (permitted, domain notes 1.7).
        this.invalidateSids(num('StreamID'), 1);
        return;
      }
      case OPCODES.CFGI_STE_RANGE: {
        const range = num('Range');
        if (range >= 31) {
          this.l1std.clear();
          this.steCache.clear();
          this.l1cd.clear();
          this.cdCache.clear();
          return;
        }
        const count = 2 ** (range + 1);
        const first = num('StreamID') - (num('StreamID') % count);
        this.invalidateSids(first, count);
        return;
      }
      case OPCODES.CFGI_CD: {
        const sid = num('StreamID');
        const ssid = num('SubstreamID');
        // The STE's cd0 memo is only used while the CD cache holds the same entry: no separate drop.
        this.cdCache.delete(cdKey(sid, ssid));
        if (num('Leaf') === 0) this.l1cd.deleteWhere((k) => Math.floor(k / 2 ** 20) === sid);
        return;
      }
      case OPCODES.CFGI_CD_ALL: {
        const sid = num('StreamID');
        this.cdCache.deleteWhere((k) => Math.floor(k / 2 ** 20) === sid);
        this.l1cd.deleteWhere((k) => Math.floor(k / 2 ** 20) === sid);
        return;
      }
      case OPCODES.TLBI_NH_ALL: {
        const vmid = vmidOf();
        this.tlb.invalidateContexts((c) => c.world === 'NS-EL1' && c.vmid === vmid && c.stage !== 's2');
        return;
      }
      case OPCODES.TLBI_NH_ASID: {
        const vmid = vmidOf();
        const asid = num('ASID');
        this.tlb.invalidateContexts((c) => c.world === 'NS-EL1' && c.vmid === vmid && c.asid === asid && c.stage !== 's2');
        return;
      }
      case OPCODES.TLBI_NH_VA: {
        const vmid = vmidOf();
        const asid = num('ASID');
        this.tlb.invalidateRange(
          (c) => c.world === 'NS-EL1' && c.vmid === vmid && (c.asid === asid || c.asid === -1) && c.stage !== 's2',
          num('Address'),
          this.rangeBytes(l, words)!,
        );
        return;
      }
      case OPCODES.TLBI_NH_VAA: {
        const vmid = vmidOf();
        this.tlb.invalidateRange((c) => c.world === 'NS-EL1' && c.vmid === vmid && c.stage !== 's2', num('Address'), this.rangeBytes(l, words)!);
        return;
      }
      case OPCODES.TLBI_EL2_ALL:
        this.tlb.invalidateContexts((c) => c.world !== 'NS-EL1');
        return;
      case OPCODES.TLBI_EL2_ASID: {
        const asid = num('ASID');
        this.tlb.invalidateContexts((c) => c.world === 'NS-EL2-E2H' && c.asid === asid);
        return;
      }
      case OPCODES.TLBI_EL2_VA: {
        const e2h = this.field('CR2', 'E2H') === 1;
        const asid = num('ASID');
        this.tlb.invalidateRange(
          (c) => (e2h ? c.world === 'NS-EL2-E2H' && (c.asid === asid || c.asid === -1) : c.world === 'NS-EL2'),
          num('Address'),
          this.rangeBytes(l, words)!,
        );
        return;
      }
      case OPCODES.TLBI_EL2_VAA:
        this.tlb.invalidateRange((c) => c.world !== 'NS-EL1', num('Address'), this.rangeBytes(l, words)!);
        return;
      case OPCODES.TLBI_S12_VMALL: {
        const vmid = vmidOf();
        this.tlb.invalidateContexts((c) => c.world === 'NS-EL1' && c.vmid === vmid);
        return;
      }
      case OPCODES.TLBI_S2_IPA: {
        const vmid = vmidOf();
        this.tlb.invalidateRange((c) => c.world === 'NS-EL1' && c.vmid === vmid && c.stage === 's2', num('Address'), this.rangeBytes(l, words)!);
        return;
      }
      case OPCODES.TLBI_NSNH_ALL:
        this.tlb.invalidateContexts((c) => c.world === 'NS-EL1');
        return;
    }
  }

  private invalidateSids(first: number, count: number): void {
    const last = first + count;
    const split = this.strtab().split;
    if (count === 1) this.steCache.delete(first);
    else this.steCache.deleteWhere((sid) => sid >= first && sid < last);
    this.l1std.deleteWhere((idx) => idx * 2 ** split < last && (idx + 1) * 2 ** split > first);
    const inRange = (k: number) => {
      const sid = Math.floor(k / 2 ** 20);
      return sid >= first && sid < last;
    };
    this.cdCache.deleteWhere(inRange);
    this.l1cd.deleteWhere(inRange);
  }

  /** Writes an event record, or drops it, by the queue's state (IHI0070 3.5.4, 7.2). */
  private recordEvent(name: EventName, fields: Record<string, number | bigint>, stall = false): EventLogEntry['fate'] {
    const layout = findFormat(`evt-${name}`)!;
    const values: Record<string, bigint> = {};
    for (const [k, v] of Object.entries(fields)) if (layout.field(k)) values[k] = BigInt(v);
    const enc = layout.encode(values);
    const words = enc.ok ? [...enc.words] : layout.build({ EventID: EVENT_IDS[name] });
    const fate = this.writeEventRecord(words, stall);
    if (this.eventLog.length < MAX_EVENT_LOG) this.eventLog.push({ time: this.clock.now(), name, sid: Number(fields['StreamID'] ?? 0), words, fate });
    return fate;
  }

  private writeEventRecord(words: bigint[], stall: boolean): EventLogEntry['fate'] {
    if (this.sfm) {
      this.counters.eventsDroppedSfm++;
      return 'sfm';
    }
    if (!this.en.eventqen || this.gerrorActive('EVENTQ_ABT_ERR')) {
      if (stall) {
        this.bufferedStallRecords.push(words);
        return 'buffered';
      }
      if (this.en.eventqen) {
        this.counters.eventsDroppedAbort++;
        return 'queue-abort';
      }
      this.counters.eventsDroppedDisabled++;
      return 'disabled';
    }
    const { base, log2 } = this.queue('EVENTQ_BASE', this.config.eventqLog2Max, 32);
    const wrapMask = 2 ** (log2 + 1) - 1;
    const prodReg = this.regs.get('EVENTQ_PROD')!;
    const consReg = this.regs.get('EVENTQ_CONS')!;
    const prod = Number(EVENTQ_PROD.get([prodReg], 'WR')) & wrapMask;
    const cons = Number(EVENTQ_CONS.get([consReg], 'RD')) & wrapMask;
    const size = 2 ** log2;
    const full = prod % size === cons % size && prod !== cons;
    if (full) {
      if (stall) {
        this.bufferedStallRecords.push(words);
        return 'buffered';
      }
      // Overflow: toggle OVFLG only if it equals CONS.OVACKFLG (domain notes 1.6).
      if (EVENTQ_PROD.get([prodReg], 'OVFLG') === EVENTQ_CONS.get([consReg], 'OVACKFLG')) {
        this.regs.set('EVENTQ_PROD', EVENTQ_PROD.with([prodReg], 'OVFLG', EVENTQ_PROD.get([prodReg], 'OVFLG') ^ 1n)[0]!);
      }
      this.counters.eventsDroppedOverflow++;
      return 'overflow';
    }
    const slot = base + (prod % size) * 32;
    const rec = new Uint8Array(32);
    const view = new DataView(rec.buffer);
    for (let i = 0; i < 4; i++) view.setBigUint64(8 * i, words[i] ?? 0n, true);
    const w = this.memory.write(slot, rec, this.smmuWriter);
    if (!w.ok && w.fault === 'backing-limit') {
      // Not an aborted queue write: the simulator could not back the page. PROD stays put.
      this.simulatorError(`event record write at ${hex(slot)}`);
      return 'simulator-limit';
    }
    if (!w.ok) {
      this.raiseGerror('EVENTQ_ABT_ERR');
      this.counters.eventsDroppedAbort++;
      return 'queue-abort';
    }
    const wasEmpty = prod === cons;
    const nextProd = (prod + 1) & wrapMask;
    this.regs.set('EVENTQ_PROD', EVENTQ_PROD.with([prodReg], 'WR', BigInt(nextProd))[0]!);
    this.counters.eventsWritten++;
    if (wasEmpty && this.field('IRQ_CTRLACK', 'EVENTQ_IRQEN') === 1) this.signal('EVENTQ', 'EVENTQ_IRQ_CFG0', 'EVENTQ_IRQ_CFG1', 'MSI_EVENTQ_ABT_ERR');
    return 'written';
  }

  private flushBufferedStalls(): void {
    const pending = this.bufferedStallRecords;
    this.bufferedStallRecords = [];
    for (let i = 0; i < pending.length; i++) {
      const fate = this.writeEventRecord(pending[i]!, true);
      if (fate === 'buffered') {
        // Still not writable: the rest stay buffered, in order.
        this.bufferedStallRecords.push(...pending.slice(i + 1));
        return;
      }
    }
  }

  private resolveStall(s: Stall, how: StallResolution['how']): void {
    this.stalls.delete(`${s.sid}/${s.stag}`);
    let result: TranslateResult;
    if (how === 'retry') result = this.translate(s.txn);
    else {
      const outcome = how === 'terminate' ? 'raz-wi' : 'aborted';
      result = mk(
        outcome,
        -1,
        's1',
        `stalled transaction ${how === 'disabled' ? 'aborted by SMMUEN=0' : how === 'terminate' ? 'terminated (RAZ/WI)' : 'aborted'}`,
        undefined,
        false,
        s.stag,
        false,
        false,
        undefined,
        undefined,
        undefined,
      );
    }
    const e: StallResolution = { time: this.clock.now(), sid: s.sid, stag: s.stag, transaction: s.txn, result, how };
    for (const l of [...this.stallListeners]) l(e);
  }

  // ---------------------------------------------------------------------------------------
  // Stream table and CD fetch (IHI0070 3.3; domain notes 2)

  private strtab(): { base: number; log2: number; fmt: number; split: number; sidLimit: number } {
    if (this.strtabGeom) return this.strtabGeom;
    const cfg = this.regs.get('STRTAB_BASE_CFG')!;
    const log2 = Math.min(Number(STRTAB_BASE_CFG.get([cfg], 'LOG2SIZE')), this.config.sidBits);
    let fmt = Number(STRTAB_BASE_CFG.get([cfg], 'FMT'));
    if (fmt > 1 || (fmt === 1 && !this.config.twoLevelStrtab)) fmt = 0; // reserved: behaves as linear
    let split = Number(STRTAB_BASE_CFG.get([cfg], 'SPLIT'));
    if (split !== 6 && split !== 8 && split !== 10) split = 6; // reserved SPLIT values behave as 6 (IHI0070 6.3.25)
    const written = Number(STRTAB_BASE_CFG.get([cfg], 'LOG2SIZE'));
    const addr = Number(STRTAB_BASE.get([this.regs.get('STRTAB_BASE')!], 'ADDR'));
    const alignBits = fmt === 0 ? written + 6 : Math.max(6, written - split + 3);
    const align = 2 ** alignBits;
    this.strtabGeom = { base: addr - (addr % align), log2, fmt, split, sidLimit: 2 ** log2 };
    return this.strtabGeom;
  }

  private sidInRange(sid: number): boolean {
    return sid < (this.strtabGeom ?? this.strtab()).sidLimit;
  }

  private originOf(address: number): SteOrigin {
    const rec = this.memory.lastWriteAt(address);
    return { address, epoch: rec?.epoch, writer: rec?.writer.kind, cachedAt: this.clock.now() };
  }

  private readWords(pa: number, count: number): bigint[] | { fault: string; address: number } {
    const out: bigint[] = [];
    for (let i = 0; i < count; i++) {
      const err = this.memory.readDword(pa + 8 * i, this.scratch);
      if (err !== undefined) return { fault: err, address: pa + 8 * i };
      out.push(BigInt(this.scratch.lo) | (BigInt(this.scratch.hi) << 32n));
    }
    return out;
  }

  /**
   * The STE for `sid` through the caches: a result, or the architected failure:
   * bad-sid (C_BAD_STREAMID) or fetch (F_STE_FETCH).
   */
  private steFor(
    sid: number,
    insert: boolean,
  ): { entry: SteCacheEntry; cached: boolean } | { fail: 'bad-sid'; why: string } | { fail: 'fetch'; address: number; why: string } {
    const hit = this.steCache.peek(sid);
    if (hit) return { entry: hit, cached: true };
    const t = this.strtab();
    let steAddr: number;
    if (t.fmt === 0) steAddr = t.base + sid * 64;
    else {
      const idx = Math.floor(sid / 2 ** t.split);
      let l1 = this.l1std.lookup(idx);
      if (!l1) {
        const l1Addr = t.base + idx * 8;
        const w = this.readWords(l1Addr, 1);
        if (!Array.isArray(w)) return { fail: 'fetch', address: w.address, why: `external abort (${w.fault}) fetching the L1STD at ${hex(l1Addr)}` };
        l1 = { span: Number(L1STD.get(w, 'Span')), l2ptr: Number(L1STD.get(w, 'L2Ptr')) };
        if (insert && (l1.span !== 0 || this.config.cacheInvalid)) this.l1std.insert(idx, l1);
      }
      let span = l1.span;
      if (span >= 12) span = 0; // Span 12..31 behave as 0 (domain notes 2.2)
      if (span === 0 || span > t.split + 1) return { fail: 'bad-sid', why: `L1STD ${idx} has Span=${l1.span} (invalid for SPLIT=${t.split})` };
      const index = sid % 2 ** t.split;
      if (index >= 2 ** (span - 1)) return { fail: 'bad-sid', why: `StreamID index ${index} beyond the L1STD span (${2 ** (span - 1)} STEs)` };
      const l2Align = 2 ** (6 + span - 1);
      steAddr = l1.l2ptr - (l1.l2ptr % l2Align) + index * 64;
    }
    const words = this.readWords(steAddr, 8);
    if (!Array.isArray(words)) return { fail: 'fetch', address: words.address, why: `external abort (${words.fault}) fetching the STE at ${hex(steAddr)}` };
    const ste = decodeSte(this.config, words, this.field('CR2', 'E2H') === 1);
    let s2ctx: TlbContext | undefined;
    if (ste.kind === 's2' || ste.kind === 'nested') s2ctx = this.tlb.context('NS-EL1', ste.vmid, -1, 's2');
    const entry = steEntry(sid, ste, this.originOf(steAddr), s2ctx);
    if (insert && (ste.illegal !== 'V=0' || this.config.cacheInvalid)) this.steCache.insert(sid, entry);
    return { entry, cached: false };
  }

  /** PREFETCH_CONFIG: load the STE into the cache (a hint: never faults). */
  private prefetchConfig(sid: number): void {
    if (!this.sidInRange(sid)) return;
    this.steFor(sid, true);
  }

  // ---------------------------------------------------------------------------------------
  // Translation (domain notes section 7)

  private deviceWriter(sid: number, bypass: boolean): number {
    const m = bypass ? this.bypassWriters : this.deviceWriters;
    let id = m.get(sid);
    if (id === undefined) {
      id = this.memory.internWriter({ kind: bypass ? 'device-bypass' : 'device-translated', sid, device: this.config.name });
      m.set(sid, id);
    }
    return id;
  }

  private result(outcome: TranslateResult['outcome'], path: Path, why: string, extra: Partial<TranslateResult> = {}): TranslateResult {
    const c = this.counters;
    if (outcome === 'translated') c.translated++;
    else if (outcome === 'bypassed') c.bypassed++;
    else if (outcome === 'aborted') c.aborted++;
    else if (outcome === 'raz-wi') c.razWi++;
    else c.stalled++;
    return mk(
      outcome,
      extra.pa ?? -1,
      path,
      why,
      extra.event,
      extra.recorded ?? false,
      extra.stag,
      extra.tlbHit ?? false,
      extra.steCached ?? false,
      extra.ste,
      extra.ats,
      extra.simulatorError,
    );
  }

  private header(t: Transaction): Record<string, number> {
    return { StreamID: t.sid, SSV: t.ssid === undefined ? 0 : 1, SubstreamID: t.ssid ?? 0 };
  }

  private attrs(t: Transaction, ste?: DecodedSte): { PnU: number; InD: number; RnW: number } {
    let priv = t.privileged ? 1 : 0;
    let inst = t.instruction && !t.write ? 1 : 0;
    if (ste) {
      if (ste.privcfg === 2) priv = 0;
      else if (ste.privcfg === 3) priv = 1;
      if (ste.instcfg === 2) inst = 0;
      else if (ste.instcfg === 3 && !t.write) inst = 1;
    }
    return { PnU: priv, InD: inst, RnW: t.write ? 0 : 1 };
  }

  /**
   * A configuration error or non-configurable fault: abort and try to record (IHI0070 7.3). For
   * ATS traffic (IHI0070 3.9.1.2-3) a Translation Request completes with CA and a checked
   * Translated transaction aborts; either records the event only with CR2.REC_CFG_ATS=1 (for a
   * request's C_BAD_STREAMID, also CR2.RECINVSID=1).
   */
  private configFault(
    t: Transaction,
    name: EventName,
    path: Path,
    why: string,
    fields: Record<string, number> = {},
    origin?: SteOrigin,
    steCached = false,
  ): TranslateResult {
    if (t.ats === 'request' || t.ats === 'translated') {
      let rec = this.field('CR2', 'REC_CFG_ATS') === 1;
      if (name === 'C_BAD_STREAMID' && t.ats === 'request') rec = rec && this.field('CR2', 'RECINVSID') === 1;
      const fate = rec ? this.recordEvent(name, { ...this.header(t), ...fields }) : undefined;
      const how = t.ats === 'request' ? 'ATS translation request completed with CA' : 'ATS-translated transaction aborted';
      return this.result('aborted', path, `${why}: ${how}${rec ? '' : ' (not recorded: CR2.REC_CFG_ATS=0)'}`, {
        event: name,
        recorded: fate === 'written',
        ste: origin,
        steCached,
        ats: t.ats === 'request' ? ATS_CA : undefined,
      });
    }
    const fate = this.recordEvent(name, { ...this.header(t), ...fields });
    return this.result('aborted', path, why, { event: name, recorded: fate === 'written', ste: origin, steCached });
  }

  /** An ATS Translation Request refused with Unsupported Request (IHI0070 3.9.1.2), with F_BAD_ATS_TREQ or silently. */
  private atsUnsupported(t: Transaction, why: string, record: boolean, e?: SteCacheEntry, steCached = false): TranslateResult {
    const fate = record ? this.recordEvent('F_BAD_ATS_TREQ', { ...this.header(t), ...this.attrs(t, e?.ste), InputAddr: t.address }) : undefined;
    return this.result('aborted', 'ats-request', `${why}: Unsupported Request`, {
      event: record ? 'F_BAD_ATS_TREQ' : undefined,
      recorded: fate === 'written',
      ste: e?.origin,
      steCached,
      ats: ATS_UR,
    });
  }

  /**
   * A translation-related fault met by an ATS Translation Request: a Success completion granting
   * nothing (R=W=0), no event, never a stall (IHI0070 3.9.1: the SMMU does not record fault
   * events for ATS translation failures).
   */
  private atsNoAccess(path: Path, why: string, e?: SteCacheEntry, steCached = false): TranslateResult {
    return this.result('aborted', path, `${why}: ATS completion with R=W=0, no event`, { ste: e?.origin, steCached, ats: ATS_NONE });
  }

  /** The ATS Translation Completion for a successful translation with `perms` (IHI0070 13.7.1). */
  private atsGranted(
    t: Transaction,
    e: SteCacheEntry,
    perms: number,
    oneEl: boolean,
    pa: number,
    ipa: boolean,
    path: Path,
    steCached: boolean,
    tlbHit: boolean,
  ): TranslateResult {
    const g = atsGrant(t, e.ste, perms, oneEl);
    if (!g.r && !g.w && !g.x) return this.atsNoAccess(path, 'the translation grants none of the requested permissions', e, steCached);
    const what = `ATS completion: ${ipa ? 'IPA (split-stage)' : 'PA'} ${hex(pa)} R=${+g.r} W=${+g.w} X=${+g.x}`;
    return this.result('translated', path, what, { pa, ste: e.origin, steCached, tlbHit, ats: { status: 'SC', ...g, ipa } });
  }

  /**
   * F_UUT (IHI0070 7.3.2, 16.7.1): a transaction the twin's upstream interface cannot express: a
   * burst crossing a 4KB boundary (dma() splits them), an empty or fractional size, or an address
   * that is not a non-negative integer. Aborted and recorded if possible (also while SMMUEN=0),
   * with the incoming PnU/InD and Reason 1 (crosses 4KB) or 2 (malformed). An ATS-translated one
   * aborts with no event (3.9.1.3); an ATS request gets UR with no event.
   */
  private unsupported(t: Transaction, why: string, reason: number): TranslateResult {
    if (t.ats === 'request') return this.result('aborted', 'uut', `${why}: Unsupported Request, no event`, { ats: ATS_UR });
    if (t.ats === 'translated') return this.result('aborted', 'uut', `${why}: aborted, no event for ATS-translated traffic`);
    const fields = {
      ...this.header(t),
      Reason: reason,
      PnU: t.privileged ? 1 : 0,
      InD: t.instruction && !t.write ? 1 : 0,
      RnW: t.write ? 0 : 1,
      InputAddr: Number.isSafeInteger(t.address) && t.address >= 0 ? t.address : 0,
    };
    const fate = this.recordEvent('F_UUT', fields);
    return this.result('aborted', 'uut', why, { event: 'F_UUT', recorded: fate === 'written' });
  }

  /**
   * Translates one transaction (domain notes 7). Pure in its outcome given the state; side
   * effects are the architected ones: cache fills, event records, HTTU updates, stalls.
   */
  translate(t: Transaction): TranslateResult {
    if (this.config.refetchProbability > 0 && this.rng.chance(this.config.refetchProbability)) this.forget(t);
    // Fast path: an enabled SMMU, an untranslated transaction without SSID inside one 4KB page,
    // its STE and default CD cached, and a TLB hit with the permissions it needs. Everything
    // else, and every miss, takes translateFull(), which applies each step of the flow in order.
    // Both give the same result and count the same cache hits for the same state; the fast path
    // only skips checks whose outcome is cached.
    // (`& 4095` gives the page offset of any non-negative integer below 2^53.)
    if (
      !this.sfm &&
      this.en.smmuen &&
      t.ats === undefined &&
      t.ssid === undefined &&
      t.size > 0 &&
      (t.address & 4095) + t.size <= 4096 &&
      Number.isInteger(t.address) &&
      Number.isInteger(t.size)
    ) {
      const g = this.strtabGeom;
      if (g !== undefined && t.sid < g.sidLimit) {
        // A one-entry memo of the last StreamID's STE (a per-port micro-cache: DMA comes in
        // bursts from one device), valid while the STE cache has not changed.
        let e: SteCacheEntry | undefined;
        if (t.sid === this.memoSid && this.memoVersion === this.steCache.version) e = this.memoSte;
        else {
          e = this.steCache.peek(t.sid);
          this.memoSid = t.sid;
          this.memoSte = e;
          this.memoVersion = this.steCache.version;
        }
        const ce = e?.cd0;
        if (ce !== undefined && ce.live && ce.ctx !== undefined) {
          const ste = e!.ste;
          let owner = ce.ctx;
          let hit = owner.find(t.address);
          if (hit === undefined && ce.global !== undefined) {
            owner = ce.global;
            hit = owner.find(t.address);
          }
          if (hit !== undefined) {
            const need = t.privileged === true || t.instruction === true ? permNeeded(t, ste, ste.world === 'NS-EL2') : t.write ? e!.needWrite : e!.needRead;
            if ((hit.perms & need) === need) {
              if (this.lru) {
                this.steCache.hit(t.sid, e!);
                this.cdCache.hit(ce.key, ce);
                this.tlb.hit(owner, hit);
              } else this.fastHits++;
              this.counters.transactions++;
              this.counters.translated++;
              return mk(
                'translated',
                hit.out + (t.address - hit.base),
                e!.s1Path,
                'TLB hit',
                undefined,
                false,
                undefined,
                true,
                true,
                e!.origin,
                undefined,
                undefined,
              );
            }
          }
        }
      }
    }
    return this.translateFull(t);
  }

  /**
   * What translate() would answer a data access of `sid` without SSID inside the 4KB page at
   * `address`, if it answers it now from what is cached alone: the output page and the cache
   * entry that decides it. SMMUEN=0: GBPA's bypass. Untranslated: a cached bypass STE, or the
   * fast path (STE, CD and TLB entry cached, the permission there). ATS-translated (`ats`): passed through as a PA, unchecked (CR0.ATSCHK=0)
   * or checked against a cached STE with EATS=0b01 (IHI0070 3.9.1.3). Otherwise undefined, as
   * whenever translate() could draw from the RNG (refetchProbability). No side effect: no
   * counter, no recency, no memo. The platform grants devices direct memory from it
   * (device-dmi.ts); an answer stays the same while translationEpoch() does.
   */
  cachedTranslation(sid: number, address: number, write: boolean, ats?: 'translated'): { readonly page: number; readonly entry: object } | undefined {
    if (this.sfm || this.config.refetchProbability > 0 || !Number.isSafeInteger(address) || address < 0) return undefined;
    if (!this.en.smmuen) {
      // SMMUEN=0: GBPA decides untranslated traffic (IHI0070 6.3.14); ATS-translated traffic is F_TRANSL_FORBIDDEN.
      const page = address - (address % 4096);
      if (ats === 'translated' || GBPA.get([this.gbpaEffective], 'ABORT') === 1n || page + 4096 > 2 ** this.config.oasBits) return undefined;
      return { page, entry: GBPA_BYPASS };
    }
    if (ats === 'translated') {
      const page = address - (address % 4096);
      if (page + 4096 > 2 ** this.config.oasBits) return undefined;
      if (!this.en.atschk) return { page, entry: ATS_UNCHECKED };
      const g = this.strtabGeom;
      if (g === undefined || !(sid >= 0 && sid < g.sidLimit)) return undefined;
      const e = this.steCache.peek(sid);
      if (e === undefined || e.ste.kind === 'invalid' || e.ste.kind === 'abort' || e.ste.kind === 'bypass' || e.ste.eats !== 1) return undefined;
      return { page, entry: e };
    }
    const g = this.strtabGeom;
    if (g === undefined || !(sid >= 0 && sid < g.sidLimit)) return undefined;
    const e = this.steCache.peek(sid);
    if (e?.ste.kind === 'bypass') {
      // STE.Config=bypass (an identity domain): the address itself, inside the OAS.
      const page = address - (address % 4096);
      return page + 4096 > 2 ** this.config.oasBits ? undefined : { page, entry: e };
    }
    const ce = e?.cd0;
    if (ce === undefined || !ce.live || ce.ctx === undefined) return undefined;
    let hit = ce.ctx.find(address);
    if (hit === undefined && ce.global !== undefined) hit = ce.global.find(address);
    if (hit === undefined) return undefined;
    const need = write ? e!.needWrite : e!.needRead;
    if ((hit.perms & need) !== need) return undefined;
    const pa = hit.out + (address - hit.base);
    return { page: pa - (pa % 4096), entry: hit };
  }

  /**
   * Changes whenever what cachedTranslation() answers may have: an STE, CD or TLB entry came or
   * went, SMMUEN, SFM, GBPA (as it takes effect) or the stream table's geometry changed. Equal values: the same answers.
   */
  translationEpoch(): number {
    return this.stateEpoch + this.steCache.version + this.cdCache.version + this.tlb.version;
  }

  /** The translation flow, step by step (domain notes section 7). */
  private translateFull(t: Transaction): TranslateResult {
    this.counters.transactions++;
    if (this.sfm) return this.result('aborted', 'sfm', 'Service Failure Mode: all traffic terminated', { ats: t.ats === 'request' ? ATS_CA : undefined });
    const ats = t.ats ?? 'untranslated';
    if (!Number.isSafeInteger(t.address) || t.address < 0 || !Number.isSafeInteger(t.size) || t.size < 1) {
      return this.unsupported(t, `malformed transaction (address ${String(t.address)}, size ${String(t.size)})`, 2);
    }
    if ((t.address % 4096) + t.size > 4096) return this.unsupported(t, `transaction of ${t.size} bytes at ${hex(t.address)} crosses a 4KB boundary`, 1);
    // Translated transactions carry no PASID here (IDR3.PASIDTT=0): Data, Unprivileged, SSV=0 (IHI0070 3.9.1.3).
    if (ats === 'translated' && (t.ssid !== undefined || t.privileged || t.instruction))
      t = { sid: t.sid, address: t.address, size: t.size, write: t.write, ats };
    if (!this.en.smmuen) {
      if (ats === 'request') return this.atsUnsupported(t, 'ATS translation request while SMMUEN=0', true);
      if (ats === 'translated') {
        const fate = this.recordEvent('F_TRANSL_FORBIDDEN', { ...this.header(t), RnW: t.write ? 0 : 1, InputAddr: t.address });
        return this.result('aborted', 'ats-translated', 'ATS-translated transaction while SMMUEN=0', {
          event: 'F_TRANSL_FORBIDDEN',
          recorded: fate === 'written',
        });
      }
      // GBPA (IHI0070 6.3.14): abort silently, or bypass with the attribute overrides.
      if (GBPA.get([this.gbpaEffective], 'ABORT') === 1n) return this.result('aborted', 'gbpa', 'SMMUEN=0 and GBPA.ABORT=1');
      if (t.address + t.size > 2 ** this.config.oasBits) return this.result('aborted', 'gbpa', `GBPA bypass: address above the ${this.config.oasBits}-bit OAS`);
      return this.result('bypassed', 'gbpa', 'SMMUEN=0: GBPA bypass', { pa: t.address });
    }
    // CR0.ATSCHK=0: Translated traffic is not checked against any configuration, so neither the
    // StreamID range nor the stream table is consulted (IHI0070 6.3.9, 3.9.1.3); only the
    // address-size check applies (3.9.1.1).
    if (ats === 'translated' && !this.en.atschk) return this.atsTranslatedPass(t, undefined, false, 'ATS-translated, CR0.ATSCHK=0: passed through unchecked');
    // Step 2: StreamID range (IHI0070 3.3.2).
    if (!this.sidInRange(t.sid)) return this.badStreamId(t, `StreamID ${t.sid} >= 2^${this.strtab().log2}`);
    let e = this.steCache.lookup(t.sid);
    let steCached = true;
    if (e === undefined) {
      const s = this.steFor(t.sid, true);
      if ('fail' in s) {
        if (s.fail === 'bad-sid') return this.badStreamId(t, s.why);
        return this.configFault(t, 'F_STE_FETCH', 'ste-fetch', s.why, { FetchAddr: s.address - (s.address % 8) });
      }
      e = s.entry;
      steCached = false;
    }
    const ste = e.ste;
    if (ste.kind === 'invalid')
      return this.configFault(t, 'C_BAD_STE', 'ste', `STE ${ste.illegal === 'V=0' ? 'V=0' : `ILLEGAL: ${ste.illegal}`}`, {}, e.origin, steCached);
    if (ste.kind === 'abort') {
      if (ats === 'request') return this.atsUnsupported(t, 'ATS translation request to an STE with Config=abort', false, e, steCached);
      return this.result('aborted', 'ste-abort', 'STE.Config=abort: terminated without an event', { ste: e.origin, steCached });
    }
    // ATS (IHI0070 3.9.1.3): with CR0.ATSCHK=1, translated traffic is checked against STE.EATS.
    if (ats === 'translated') {
      if (ste.kind === 'bypass' || ste.eats === 0) {
        const fate = this.recordEvent('F_TRANSL_FORBIDDEN', { ...this.header(t), RnW: t.write ? 0 : 1, InputAddr: t.address });
        return this.result('aborted', 'ats-translated', `ATS-translated with CR0.ATSCHK=1 and ${ste.kind === 'bypass' ? 'a bypass STE' : 'STE.EATS=0'}`, {
          event: 'F_TRANSL_FORBIDDEN',
          recorded: fate === 'written',
          ste: e.origin,
          steCached,
        });
      }
      // Split-stage ATS (13.6.3): the address is an IPA the endpoint got from a translation
      // request; stage 2 translates it, with faults recorded as for any transaction.
      if (ste.eats === 2) return this.stage2Only(t, e, steCached, 'ats-translated');
      return this.atsTranslatedPass(t, e, steCached, 'ATS-translated, allowed by STE.EATS=0b01');
    }
    // An ATS Translation Request needs an effective EATS != 0 (IHI0070 3.9.1.2): Config=bypass
    // makes it 0, and EATS=0b10 behaves as 0b00 while CR0.ATSCHK=0 (5.2 EATS).
    let split = false;
    if (ats === 'request') {
      if (ste.kind === 'bypass') return this.atsUnsupported(t, 'ATS translation request to a bypass STE (effective EATS=0)', true, e, steCached);
      if (ste.eats === 0 || (ste.eats === 2 && !this.en.atschk)) {
        return this.atsUnsupported(
          t,
          `ATS translation request with effective EATS=0${ste.eats === 2 ? ' (split-stage needs CR0.ATSCHK=1)' : ''}`,
          true,
          e,
          steCached,
        );
      }
      split = ste.eats === 2;
    }
    if (ste.kind === 'bypass') {
      if (t.ssid !== undefined) return this.configFault(t, 'C_BAD_SUBSTREAMID', 'ste-bypass', 'SubstreamID on a bypass STE', {}, e.origin, steCached);
      if (t.address + t.size > 2 ** this.config.oasBits)
        return this.bypassAddressSize(t, e, steCached, 'ste-bypass', `bypass input above the ${this.config.oasBits}-bit OAS`);
      return this.result('bypassed', 'ste-bypass', 'STE.Config=bypass', { pa: t.address, ste: e.origin, steCached });
    }
    if (ste.kind === 's2') {
      if (t.ssid !== undefined) return this.configFault(t, 'C_BAD_SUBSTREAMID', 's2', 'SubstreamID while stage 1 is disabled', {}, e.origin, steCached);
      return this.stage2Only(t, e, steCached);
    }
    // Stage 1 enabled: substream handling (domain notes 7 step 5).
    let ssidIndex = 0;
    if (t.ssid !== undefined) {
      if (ste.s1CdMax === 0 || this.config.ssidBits === 0)
        return this.configFault(t, 'C_BAD_SUBSTREAMID', 'cd', 'SubstreamID with S1CDMax=0', {}, e.origin, steCached);
      if (t.ssid >= 2 ** ste.s1CdMax)
        return this.configFault(t, 'C_BAD_SUBSTREAMID', 'cd', `SubstreamID ${t.ssid} >= 2^S1CDMax (${ste.s1CdMax})`, {}, e.origin, steCached);
      if (t.ssid === 0 && ste.s1Dss === 2) return this.configFault(t, 'F_STREAM_DISABLED', 'cd', 'SubstreamID 0 while S1DSS=SSID0', {}, e.origin, steCached);
      ssidIndex = t.ssid;
    } else if (ste.s1CdMax > 0) {
      if (ste.s1Dss === 0) return this.configFault(t, 'F_STREAM_DISABLED', 'cd', 'no SubstreamID and S1DSS=terminate', {}, e.origin, steCached);
      if (ste.s1Dss === 1) {
        // S1DSS=bypass: stage 1 bypassed; stage 2 if nested (IHI0070 13.6.4-13.6.5 for ATS).
        if (ste.kind === 'nested') return this.stage2Only(t, e, steCached, 's1-bypass', split);
        if (t.address + t.size > 2 ** this.config.oasBits)
          return this.bypassAddressSize(t, e, steCached, 's1-bypass', `stage-1 bypass input above the ${this.config.oasBits}-bit IAS`);
        if (ats === 'request') {
          // 13.6.4: an identity-mapped completion, U=0, R=W=1.
          return this.result('translated', 's1-bypass', 'S1DSS=bypass with stage 1 only: identity-mapped ATS completion', {
            pa: t.address,
            ste: e.origin,
            steCached,
            ats: ATS_IDENTITY,
          });
        }
        return this.result('bypassed', 's1-bypass', 'S1DSS=bypass for a transaction without SubstreamID', { pa: t.address, ste: e.origin, steCached });
      }
    }
    const cdr = this.cdFor(t, e, ssidIndex);
    if ('outcome' in cdr) return cdr;
    return this.stage1(t, e, cdr, steCached, split);
  }

  /**
   * ATS-translated traffic that bypasses (CR0.ATSCHK=0, or ATSCHK=1 with full ATS): the address
   * is a PA, checked only against the OAS (IHI0070 3.9.1, 3.9.1.1). Above it the twin takes the
   * first IMPLEMENTATION DEFINED choice of 3.9.1.1: abort, no event (not truncation).
   */
  private atsTranslatedPass(t: Transaction, e: SteCacheEntry | undefined, steCached: boolean, why: string): TranslateResult {
    if (t.address + t.size > 2 ** this.config.oasBits) {
      return this.result('aborted', 'ats-translated', `ATS-translated address ${hex(t.address)} above the ${this.config.oasBits}-bit OAS: aborted, no event`, {
        ste: e?.origin,
        steCached,
      });
    }
    return this.result('bypassed', 'ats-translated', why, { pa: t.address, ste: e?.origin, steCached });
  }

  /**
   * F_ADDR_SIZE for an input above the OAS of a bypass STE or the IAS of a bypassed stage 1
   * (domain notes 7 steps 4 and 8.8): reported as stage 1 (S2=0), CLASS=IN; there is no CD to
   * configure it, so it aborts and is recorded. An ATS request gets R=W=0 instead (3.9.1.2).
   */
  private bypassAddressSize(t: Transaction, e: SteCacheEntry, steCached: boolean, path: Path, why: string): TranslateResult {
    if (t.ats === 'request') return this.atsNoAccess(path, `F_ADDR_SIZE: ${why}`, e, steCached);
    const fate = this.recordEvent('F_ADDR_SIZE', { ...this.header(t), ...this.attrs(t, e.ste), S2: 0, CLASS: EVENT_CLASS.IN, InputAddr: t.address });
    return this.result('aborted', path, why, { event: 'F_ADDR_SIZE', recorded: fate === 'written', ste: e.origin, steCached });
  }

  /** Adversarial mode: drop what this transaction would use from the caches, so it re-reads memory. */
  private forget(t: Transaction): void {
    const e = this.steCache.peek(t.sid);
    this.steCache.delete(t.sid);
    this.cdCache.deleteWhere((k) => Math.floor(k / 2 ** 20) === t.sid);
    this.l1cd.deleteWhere((k) => Math.floor(k / 2 ** 20) === t.sid);
    const t2 = this.strtabGeom ?? this.strtab();
    if (t2.fmt === 1) this.l1std.delete(Math.floor(t.sid / 2 ** t2.split));
    const ctxs = [e?.cd0?.ctx, e?.cd0?.global, e?.s2ctx].filter((c): c is TlbContext => c !== undefined);
    if (ctxs.length && Number.isFinite(t.address) && Number.isFinite(t.size)) this.tlb.invalidateRange((c) => ctxs.includes(c), t.address, Math.max(1, t.size));
  }

  private badStreamId(t: Transaction, why: string): TranslateResult {
    // ATS traffic: governed by CR2.REC_CFG_ATS (configFault); a Translated one ignores RECINVSID.
    if (t.ats === 'request' || t.ats === 'translated' || this.field('CR2', 'RECINVSID') === 1) return this.configFault(t, 'C_BAD_STREAMID', 'sid-range', why);
    return this.result('aborted', 'sid-range', `${why} (not recorded: CR2.RECINVSID=0)`);
  }

  /** Stage-2 translation of a table/CD address (an IPA) for nested configurations. */
  private s2TableWalk(e: SteCacheEntry, ipa: number, write: boolean): { ok: true; pa: number } | WalkFault {
    const s2 = e.ste.s2!;
    const r = walk(this.memory, s2.walk, ipa, write, this.smmuWriter);
    if (!r.ok) return { ...r, ipa };
    if (s2.ptw && r.attr < 4) {
      // S2PTW: stage-1 walks and CD fetches that hit Device memory at stage 2 fault (IHI0070 3.4.4).
      return {
        ok: false,
        fault: 'F_PERMISSION',
        stage: 2,
        level: r.level,
        cls: 'TT',
        ipa,
        why: `stage-1 table access to stage-2 Device memory at IPA ${hex(ipa)} with S2PTW=1`,
      };
    }
    const needed = write ? PERM.PR | PERM.PW : PERM.PR;
    if ((r.perms & needed) !== needed)
      return {
        ok: false,
        fault: 'F_PERMISSION',
        stage: 2,
        level: r.level,
        cls: 'TT',
        ipa,
        why: `stage-2 permission fault on a table access at IPA ${hex(ipa)}`,
      };
    return { ok: true, pa: r.out };
  }

  private cdFor(t: Transaction, e: SteCacheEntry, ssid: number): CdCacheEntry | TranslateResult {
    const ste = e.ste;
    const key = cdKey(t.sid, ssid);
    const hit = this.cdCache.lookup(key);
    if (hit) {
      if (t.ssid === undefined) e.cd0 = hit;
      return hit;
    }
    const nested = ste.kind === 'nested';
    const toPa = (ipa: number): { ok: true; pa: number } | TranslateResult => {
      if (!nested) return { ok: true, pa: ipa };
      const r = this.s2TableWalk(e, ipa, false);
      if (r.ok) return r;
      return this.translationFault(t, e, { ...r, cls: 'CD' }, this.attrs(t, ste), 'cd', undefined);
    };
    let cdAddr: number;
    if (ste.s1CdMax === 0) cdAddr = ste.s1ContextPtr;
    else if (ste.s1Fmt === 0) {
      const size = 2 ** (ste.s1CdMax + 6);
      cdAddr = ste.s1ContextPtr - (ste.s1ContextPtr % size) + ssid * 64;
    } else {
      const split = ste.s1Fmt === 1 ? 6 : 10;
      const l1Entries = Math.max(1, 2 ** (ste.s1CdMax - split));
      const l1Size = Math.max(64, l1Entries * 8);
      const l1Base = ste.s1ContextPtr - (ste.s1ContextPtr % l1Size);
      const idx = Math.floor(ssid / 2 ** split);
      const l1Key = cdKey(t.sid, idx);
      let l2 = this.l1cd.lookup(l1Key);
      if (l2 === undefined) {
        const where = toPa(l1Base + idx * 8);
        if (!('ok' in where)) return where;
        const w = this.readWords(where.pa, 1);
        if (!Array.isArray(w))
          return this.configFault(
            t,
            'F_CD_FETCH',
            'cd',
            `external abort (${w.fault}) fetching the L1CD at ${hex(where.pa)}`,
            { FetchAddr: w.address },
            e.origin,
          );
        l2 = CD_L1.get(w, 'V') === 1n ? Number(CD_L1.get(w, 'L2Ptr')) : -1;
        if (l2 >= 0 || this.config.cacheInvalid) this.l1cd.insert(l1Key, l2);
      }
      if (l2 < 0) return this.configFault(t, 'C_BAD_SUBSTREAMID', 'cd', `L1CD ${idx} has V=0`, {}, e.origin);
      const l2Size = 2 ** (split + 6);
      cdAddr = l2 - (l2 % l2Size) + (ssid % 2 ** split) * 64;
    }
    const where = toPa(cdAddr);
    if (!('ok' in where)) return where;
    const words = this.readWords(where.pa, 8);
    if (!Array.isArray(words))
      return this.configFault(
        t,
        'F_CD_FETCH',
        'cd',
        `external abort (${words.fault}) fetching the CD at ${hex(where.pa)}`,
        { FetchAddr: words.address },
        e.origin,
      );
    const cd = decodeCd(this.config, words, ste);
    const c = this.cdContexts(ste, cd);
    const cache = cd.valid || this.config.cacheInvalid;
    const entry: CdCacheEntry = { key, cd, address: where.pa, ctx: c.ctx, global: c.global, live: cache };
    if (cache) {
      this.cdCache.insert(key, entry);
      if (t.ssid === undefined) e.cd0 = entry;
    }
    return entry;
  }

  /** The TLB contexts a valid CD translates into under `ste`. */
  private cdContexts(ste: DecodedSte, cd: DecodedCd): { ctx?: TlbContext; global?: TlbContext } {
    if (!cd.valid) return {};
    const stage = ste.kind === 'nested' ? 's12' : 's1';
    const oneEl = ste.world === 'NS-EL2';
    return {
      ctx: this.tlb.context(ste.world, ste.vmid, oneEl ? -1 : cd.asid, stage),
      global: oneEl ? undefined : this.tlb.context(ste.world, ste.vmid, -1, stage),
    };
  }

  /**
   * Stage-1 (and nested stage-2) translation through the TLB (domain notes 7 steps 7-9). The two
   * stages' permissions are checked apart, stage 1 first (a stage-1 fault comes before stage 2
   * translates its output): a stage-2 denial is a stage-2 fault (S2=1, CLASS=IN, IPA = stage-1
   * output) under STE.S2R/S2S. `split`: an ATS request under split-stage ATS, answered with the IPA.
   */
  private stage1(t: Transaction, e: SteCacheEntry, ce: CdCacheEntry, steCached: boolean, split = false): TranslateResult {
    const cd = ce.cd;
    if (!cd.valid) return this.configFault(t, 'C_BAD_CD', 'cd', `CD ${cd.illegal === 'V=0' ? 'V=0' : `ILLEGAL: ${cd.illegal}`}`, {}, e.origin, steCached);
    const nested = e.ste.kind === 'nested';
    const path: Path = nested ? 'nested' : 's1';
    const oneEl = e.ste.world === 'NS-EL2';
    const req = t.ats === 'request';
    const need = permNeeded(t, e.ste, oneEl);
    const hit = this.tlb.lookup(ce.ctx!, ce.global, t.address);
    if (hit !== undefined) {
      const off = t.address - hit.base;
      if (!req && (hit.perms & need) === need) {
        this.counters.translated++;
        return mk('translated', hit.out + off, path, 'TLB hit', undefined, false, undefined, true, steCached, e.origin, undefined, undefined);
      }
      // A write to a writable-clean entry (DBM with HD) re-walks to update the descriptor.
      if (!(t.write && hit.dirtyOnWrite)) {
        if (req) {
          if (!anyGrant(atsGrant(t, e.ste, hit.s1Perms, oneEl)))
            return this.atsNoAccess(path, 'stage-1 permissions grant none of the requested permissions', e, steCached);
          return this.atsGranted(t, e, hit.perms, oneEl, split ? hit.ipa + off : hit.out + off, split, path, steCached, true);
        }
        if ((hit.s1Perms & need) !== need) return this.permissionFault(t, e, cd, this.attrs(t, e.ste), 1, hit.level, steCached, path);
        return this.permissionFault(t, e, cd, this.attrs(t, e.ste), 2, hit.level, steCached, path, hit.ipa + off);
      }
    }
    if (cd.walk === undefined) {
      return this.translationFault(
        t,
        e,
        { ok: false, fault: 'F_TRANSLATION', stage: 1, level: 0, cls: 'IN', why: 'EPD0=1: no walks through TTB0' },
        this.attrs(t, e.ste),
        path,
        cd,
        steCached,
      );
    }
    if (t.address + t.size > POW2[cd.inputBits]!) {
      return this.translationFault(
        t,
        e,
        {
          ok: false,
          fault: 'F_TRANSLATION',
          stage: 1,
          level: cd.walk.startLevel,
          cls: 'IN',
          why: `address ${hex(t.address)} outside the TTB0 region (T0SZ=${64 - cd.inputBits})`,
        },
        this.attrs(t, e.ste),
        path,
        cd,
        steCached,
      );
    }
    const params: WalkParams = nested || oneEl ? { ...cd.walk, oneEl, tableAddress: nested ? (ipa, w) => this.s2TableWalk(e, ipa, w) : undefined } : cd.walk;
    const r1 = walk(this.memory, params, t.address, t.write, this.smmuWriter);
    if (!r1.ok) return this.translationFault(t, e, r1, this.attrs(t, e.ste), path, cd, steCached);
    if (req) {
      if (!anyGrant(atsGrant(t, e.ste, r1.perms, oneEl)))
        return this.atsNoAccess(path, 'stage-1 permissions grant none of the requested permissions', e, steCached);
    } else if ((r1.perms & need) !== need) return this.permissionFault(t, e, cd, this.attrs(t, e.ste), 1, r1.level, steCached, path);
    let out = r1.out;
    let s2Perms = PERM_ALL;
    // The walk gives the output of the entry's first byte: the input's offset in it is out - outBase.
    let base = t.address - (r1.out - r1.outBase);
    let shift = r1.shift;
    let dirty = r1.dirtyOnWrite;
    let ipa = -1;
    if (nested) {
      const s2 = e.ste.s2!;
      const r2 = walk(this.memory, s2.walk, r1.out, t.write, this.smmuWriter);
      if (!r2.ok) return this.translationFault(t, e, { ...r2, ipa: r1.out }, this.attrs(t, e.ste), path, cd, steCached);
      if (!req && (r2.perms & need) !== need) return this.permissionFault(t, e, cd, this.attrs(t, e.ste), 2, r2.level, steCached, path, r1.out);
      out = r2.out;
      s2Perms = r2.perms;
      dirty = dirty || r2.dirtyOnWrite;
      // The combined entry covers the smaller of the two mappings.
      if (r2.shift < shift) {
        shift = r2.shift;
        base = t.address - (t.address % 2 ** shift);
      }
      ipa = r1.out - (t.address - base);
    }
    const perms = r1.perms & s2Perms;
    if (r1.global || ce.ctx) {
      const entry: TlbEntry = {
        base,
        shift,
        out: out - (t.address - base),
        perms,
        s1Perms: r1.perms,
        s2Perms,
        ipa,
        dirtyOnWrite: dirty,
        level: r1.level,
        leafAddress: r1.leafAddress,
        attr: r1.attr,
      };
      this.tlb.insert(r1.global && ce.global ? ce.global : ce.ctx!, entry);
    }
    if (req) return this.atsGranted(t, e, perms, oneEl, split ? r1.out : out, split, path, steCached, false);
    this.counters.translated++;
    return mk(
      'translated',
      out,
      path,
      (nested ? NESTED_WALK_WHY : S1_WALK_WHY)[r1.level]!,
      undefined,
      false,
      undefined,
      false,
      steCached,
      e.origin,
      undefined,
      undefined,
    );
  }

  /**
   * Stage-2-only translation: Config=0b110, S1DSS=bypass on a nested STE, or a split-stage ATS
   * Translated transaction (path 'ats-translated', whose address is already a stage-1 output).
   * `ipaOut`: an ATS request under split-stage ATS skipping stage 1, answered with the IPA (13.6.5).
   */
  private stage2Only(t: Transaction, e: SteCacheEntry, steCached: boolean, path: Path = 's2', ipaOut = false): TranslateResult {
    const s2 = e.ste.s2!;
    const acc = this.attrs(t, e.ste);
    // Stage 1 bypassed: an input above the IAS is a stage-1 Address Size fault, before stage 2
    // runs (domain notes 7 step 8.8).
    if (path !== 'ats-translated' && t.address + t.size > 2 ** this.config.oasBits) {
      return this.bypassAddressSize(t, e, steCached, path, `stage-1 bypass input above the ${this.config.oasBits}-bit IAS`);
    }
    const req = t.ats === 'request';
    const need = permNeeded(t, e.ste, false);
    const ctx = e.s2ctx!;
    const hit = this.tlb.lookup(ctx, undefined, t.address);
    if (hit !== undefined) {
      if (req) {
        if (!(t.write && hit.dirtyOnWrite))
          return this.atsGranted(t, e, hit.perms, false, ipaOut ? t.address : hit.out + (t.address - hit.base), ipaOut, path, steCached, true);
      } else if ((hit.perms & need) === need) {
        this.counters.translated++;
        return mk(
          'translated',
          hit.out + (t.address - hit.base),
          path,
          'TLB hit',
          undefined,
          false,
          undefined,
          true,
          steCached,
          e.origin,
          undefined,
          undefined,
        );
      }
    }
    const r = walk(this.memory, s2.walk, t.address, t.write, this.smmuWriter);
    if (!r.ok) return this.translationFault(t, e, { ...r, ipa: t.address }, acc, path, undefined, steCached);
    if (!req && (r.perms & need) !== need) {
      return this.translationFault(
        t,
        e,
        { ok: false, fault: 'F_PERMISSION', stage: 2, level: r.level, cls: 'IN', ipa: t.address, why: 'stage-2 permission fault' },
        acc,
        path,
        undefined,
        steCached,
      );
    }
    this.tlb.insert(ctx, {
      base: t.address - (t.address % 2 ** r.shift),
      shift: r.shift,
      out: r.outBase,
      perms: r.perms,
      s1Perms: PERM_ALL,
      s2Perms: r.perms,
      ipa: -1,
      dirtyOnWrite: r.dirtyOnWrite,
      level: r.level,
      leafAddress: r.leafAddress,
      attr: r.attr,
    });
    if (req) return this.atsGranted(t, e, r.perms, false, ipaOut ? t.address : r.out, ipaOut, path, steCached, false);
    return this.result('translated', path, `stage-2 walk, level ${r.level}`, { pa: r.out, ste: e.origin, steCached });
  }

  private permissionFault(
    t: Transaction,
    e: SteCacheEntry,
    cd: DecodedCd,
    acc: { PnU: number; InD: number; RnW: number },
    stage: 1 | 2,
    level: number,
    steCached: boolean,
    path: Path,
    ipa?: number,
  ): TranslateResult {
    const what = `stage-${stage} permission fault (${t.write ? 'write' : acc.InD ? 'instruction fetch' : 'read'}, ${acc.PnU ? 'privileged' : 'unprivileged'}${ipa !== undefined ? `, IPA ${hex(ipa)}` : ''})`;
    return this.translationFault(t, e, { ok: false, fault: 'F_PERMISSION', stage, level, cls: 'IN', ipa, why: what }, acc, path, cd, steCached);
  }

  /**
   * A translation-related fault (IHI0070 3.12; domain notes 6.3): stall, or terminate as abort
   * or RAZ/WI, recording per CD.R/S/A at stage 1 and STE.S2R/S2S at stage 2 (which always
   * aborts); F_WALK_EABT is not configurable and always aborts. An ATS Translation Request never
   * records or stalls here (3.9.1.2): R=W=0, or CA for an external abort.
   */
  private translationFault(
    t: Transaction,
    e: SteCacheEntry,
    f: WalkFault,
    acc: { PnU: number; InD: number; RnW: number },
    path: Path,
    cd: DecodedCd | undefined,
    steCached = false,
  ): TranslateResult {
    const name: EventName = f.fault;
    const origin = { ste: e.origin, steCached };
    if (f.simulator) {
      const message = this.simulatorError('HTTU update of a descriptor');
      return this.result('aborted', 'simulator', `${f.why}: ${message}`, { ...origin, simulatorError: message });
    }
    const fields: Record<string, number> = {
      ...this.header(t),
      ...acc,
      S2: f.stage === 2 ? 1 : 0,
      CLASS: f.cls === 'CD' ? EVENT_CLASS.CD : f.cls === 'TT' ? EVENT_CLASS.TT : EVENT_CLASS.IN,
      InputAddr: t.address,
    };
    if (f.ipa !== undefined && f.stage === 2) fields['IPA'] = f.ipa - (f.ipa % 4096);
    if (f.fetchAddress !== undefined) fields['FetchAddr'] = f.fetchAddress - (f.fetchAddress % 8);
    if (name === 'F_PERMISSION' && f.cls === 'TT') fields['TTRnW'] = f.ttRead === false ? 0 : 1;
    if (t.ats === 'request') {
      if (name === 'F_WALK_EABT') return this.configFault(t, name, path, f.why, fields, e.origin, steCached);
      return this.atsNoAccess(path, `${name} at stage ${f.stage}: ${f.why}`, e, steCached);
    }
    if (name === 'F_WALK_EABT') {
      const fate = this.recordEvent(name, fields);
      return this.result('aborted', path, f.why, { event: name, recorded: fate === 'written', ...origin });
    }
    const s2 = f.stage === 2 ? e.ste.s2 : undefined;
    const stall = f.stage === 2 ? (s2?.stall ?? false) : (cd?.stall ?? false);
    const record = f.stage === 2 ? (s2?.record ?? true) : (cd?.record ?? true);
    const abort = f.stage === 2 ? true : (cd?.abort ?? true);
    if (stall && f.cls === 'IN') {
      const stag = this.nextStag;
      this.nextStag = (this.nextStag + 1) & 0xffff || 1;
      this.stalls.set(`${t.sid}/${stag}`, { sid: t.sid, stag, txn: t });
      const fate = this.recordEvent(name, { ...fields, Stall: 1, STAG: stag }, true);
      return this.result('stalled', path, `${f.why}: stalled (STAG ${stag})`, { event: name, recorded: fate === 'written', stag, ...origin });
    }
    const fate = record ? this.recordEvent(name, fields) : undefined;
    const off = f.stage === 2 ? 'S2R=0' : 'R=0';
    return this.result(abort ? 'aborted' : 'raz-wi', path, `${f.why}${record ? '' : ` (not recorded: ${off})`}`, {
      event: name,
      recorded: fate === 'written',
      ...origin,
    });
  }

  // ---------------------------------------------------------------------------------------
  // DMA: translate then access memory

  /**
   * A device DMA access of `size` bytes (data for writes): split at 4 KiB boundaries, each
   * chunk translated, then performed on memory with the device as the attributed writer
   * (`device-bypass` when the SMMU passed the address through, `device-translated` when a stage
   * translated it). A PA in an MMIO or unbacked hole is a completer abort; an SMMU abort is an
   * abort; memory the platform cannot back (memory.maxBackedBytes) is 'simulator-error', recorded
   * in simulatorErrors(). ATS translation requests only translate: they access no memory.
   */
  dma(t: Omit<Transaction, 'size'> & { readonly size?: number }, data?: Uint8Array): DmaResult {
    const size = data ? data.length : (t.size ?? 0);
    const translations: TranslateResult[] = [];
    // Read data: the memory's own copy when one chunk is the whole access (the common case), else assembled (RAZ chunks stay zero).
    let out: Uint8Array | undefined;
    let off = 0;
    while (off < size || (size === 0 && off === 0)) {
      const addr = t.address + off;
      const chunk = Math.min(size - off, 4096 - (addr % 4096)) || 0;
      const r = this.translate({ ...t, address: addr, size: Math.max(chunk, 1) });
      translations.push(r);
      if (r.outcome === 'aborted') return { completion: 'abort', translations };
      if (r.outcome === 'stalled') return { completion: 'stalled', translations };
      if (r.outcome !== 'raz-wi' && chunk > 0 && t.ats !== 'request') {
        const bypass = r.outcome === 'bypassed';
        if (t.write) {
          const w = this.memory.write(r.pa, data!.subarray(off, off + chunk), this.deviceWriter(t.sid, bypass));
          if (!w.ok && w.fault === 'backing-limit') {
            this.simulatorError(`DMA write of ${chunk} bytes at ${hex(r.pa)} for StreamID ${t.sid}`);
            return { completion: 'simulator-error', translations, faultAddress: w.address };
          }
          if (!w.ok) return { completion: 'completer-abort', translations, faultAddress: w.address };
        } else {
          const rd = this.memory.read(r.pa, chunk);
          if (!rd.ok) return { completion: 'completer-abort', translations, faultAddress: rd.address };
          if (off === 0 && chunk === size) out = rd.data;
          else (out ??= new Uint8Array(size)).set(rd.data, off);
        }
      }
      if (size === 0) break;
      off += chunk;
    }
    const completion: Completion = 'ok';
    return { completion, translations, data: t.write ? undefined : (out ?? new Uint8Array(size)) };
  }

  // ---------------------------------------------------------------------------------------
  // Snapshot and restore

  /** Everything this SMMU holds, as plain JSON-serialisable data (memory is the platform's). */
  snapshot(): SmmuSnapshot {
    const words = (w: readonly bigint[]) => w.map((x) => hex(x));
    // A timer's position in the clock's run order (time, then scheduling sequence): comparable
    // across a restore, unlike the clock's raw sequence numbers.
    const rank = new Map(this.clock.pendingTimers().map((x, i) => [x.id, i]));
    const seq = (id: number) => rank.get(id) ?? 0;
    const timers: SmmuTimerSnapshot[] = [];
    for (const p of this.pendingAcks) {
      const id = this.ackTimers.get(p);
      if (id !== undefined) timers.push({ kind: 'ack', at: p.at, seq: seq(id), register: p.register, mask: hex(p.mask), value: hex(p.value) });
    }
    if (this.gbpaTimer) timers.push({ kind: 'gbpa', at: this.gbpaTimer.at, seq: seq(this.gbpaTimer.id) });
    if (this.cmdqTimer) timers.push({ kind: 'cmdq', at: this.cmdqTimer.at, seq: seq(this.cmdqTimer.id) });
    timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const counters = (c: CacheCounters): CacheCounters => ({ ...c });
    return {
      version: 2,
      config: this.config,
      registers: Object.fromEntries([...this.regs].map(([k, v]) => [k, hex(v)])),
      gbpaEffective: hex(this.gbpaEffective),
      sfm: this.sfm,
      timers,
      pendingInvalidations: this.pendingInvalidations.map(words),
      atcFailed: this.atcFailed,
      stalls: [...this.stalls.values()].map((s) => ({ sid: s.sid, stag: s.stag, txn: s.txn })),
      nextStag: this.nextStag,
      bufferedStallRecords: this.bufferedStallRecords.map(words),
      l1std: [...this.l1std.entries()],
      ste: [...this.steCache.entries()].map(([sid, e]) => ({ sid, address: e.origin.address, words: words(e.ste.words), origin: e.origin })),
      l1cd: [...this.l1cd.entries()],
      cd: [...this.cdCache.entries()].map(([key, e]) => ({ sid: Math.floor(key / 2 ** 20), key, address: e.address, words: words(e.cd.words) })),
      tlb: this.tlb.snapshot(),
      cacheCounters: {
        l1std: counters(this.l1std.counters),
        ste: this.withFastHits(this.steCache.counters),
        l1cd: counters(this.l1cd.counters),
        cd: this.withFastHits(this.cdCache.counters),
        tlb: this.withFastHits(this.tlb.counters),
      },
      counters: { ...this.counters },
      violations: this.violationLog.map((v) => ({ ...v, attempted: hex(v.attempted) })),
      events: this.eventLog.map((e) => ({ time: e.time, name: e.name, sid: e.sid, words: words(e.words), fate: e.fate })),
      rng: this.rng.getState(),
      injections: this.injections.map((i) => ({ ...i })),
      stuckAck: hex(this.stuckAck),
      stuckAckTo: this.stuckAckTo ?? null,
      simulatorErrors: this.simErrorLog.map((e) => ({ ...e })),
    };
  }

  /** Rebuilds an SMMU from a snapshot on a restored clock and memory. */
  static restore(clock: VirtualClock, memory: PhysicalMemory, s: SmmuSnapshot): SmmuV3 {
    return SmmuV3.restoreAll(clock, memory, [s])[0]!;
  }

  /**
   * Rebuilds several SMMUs sharing one clock, re-arming all their pending timers in the order the
   * original clock would have run them (time, then scheduling sequence), so timers due at the same
   * nanosecond (an ack and the command consumer, or two SMMUs' acks) keep their order.
   */
  static restoreAll(clock: VirtualClock, memory: PhysicalMemory, snaps: readonly SmmuSnapshot[]): SmmuV3[] {
    const smmus = snaps.map((s) => SmmuV3.restoreState(clock, memory, s));
    const timers = smmus.flatMap((m, i) => snaps[i]!.timers.map((t) => ({ m, t })));
    timers.sort((a, b) => a.t.at - b.t.at || a.t.seq - b.t.seq);
    for (const { m, t } of timers) m.armTimer(t);
    return smmus;
  }

  private armTimer(t: SmmuTimerSnapshot): void {
    if (t.kind === 'ack') this.scheduleAck({ register: t.register, mask: BigInt(t.mask), value: BigInt(t.value), at: t.at });
    else if (t.kind === 'gbpa') this.scheduleGbpa(t.at);
    else this.scheduleCmdq(t.at);
  }

  private static restoreState(clock: VirtualClock, memory: PhysicalMemory, s: SmmuSnapshot): SmmuV3 {
    if (s.version !== 2) throw new RangeError(`snapshot version ${String(s.version)} is not supported (expected 2)`);
    const m = new SmmuV3(clock, memory, s.config, SeededRng.fromState(s.rng));
    const big = (x: string) => BigInt(x);
    for (const [k, v] of Object.entries(s.registers)) m.regs.set(k, big(v));
    m.gbpaEffective = big(s.gbpaEffective);
    m.refreshEnables();
    m.sfm = s.sfm;
    m.pendingInvalidations = s.pendingInvalidations.map((w) => w.map(big));
    m.atcFailed = s.atcFailed;
    for (const st of s.stalls) m.stalls.set(`${st.sid}/${st.stag}`, { sid: st.sid, stag: st.stag, txn: st.txn });
    m.nextStag = s.nextStag;
    m.bufferedStallRecords = s.bufferedStallRecords.map((w) => w.map(big));
    for (const [k, v] of s.l1std) m.l1std.insert(k, v);
    const e2h = m.field('CR2', 'E2H') === 1;
    for (const st of s.ste) {
      const ste = decodeSte(m.config, st.words.map(big), e2h);
      const s2ctx = ste.kind === 's2' || ste.kind === 'nested' ? m.tlb.context('NS-EL1', ste.vmid, -1, 's2') : undefined;
      m.steCache.insert(st.sid, steEntry(st.sid, ste, st.origin, s2ctx));
    }
    for (const [k, v] of s.l1cd) m.l1cd.insert(k, v);
    for (const c of s.cd) {
      const owner = m.steCache.peek(c.sid);
      const ste = owner?.ste ?? decodeSte(m.config, [], e2h);
      const cd = decodeCd(m.config, c.words.map(big), ste);
      const x = owner ? m.cdContexts(ste, cd) : {};
      m.cdCache.insert(c.key, { key: c.key, cd, address: c.address, ctx: x.ctx, global: x.global, live: true });
    }
    m.tlb.restore(s.tlb);
    // Counters last: the re-inserts above must not count.
    const cc = s.cacheCounters;
    Object.assign(m.l1std.counters, cc.l1std);
    Object.assign(m.steCache.counters, cc.ste);
    Object.assign(m.l1cd.counters, cc.l1cd);
    Object.assign(m.cdCache.counters, cc.cd);
    Object.assign(m.tlb.counters, cc.tlb);
    Object.assign(m.counters, s.counters);
    m.violationLog.push(...s.violations.map((v) => ({ ...v, attempted: BigInt(v.attempted) })));
    m.eventLog.push(...s.events.map((e) => ({ time: e.time, name: e.name, sid: e.sid, words: e.words.map(big), fate: e.fate })));
    m.injections.push(...s.injections.map((i) => ({ ...i })));
    m.stuckAck = big(s.stuckAck);
    m.stuckAckTo = s.stuckAckTo ?? undefined;
    m.simErrorLog.push(...s.simulatorErrors.map((e) => ({ ...e })));
    return m;
  }
}

/** One object shape for every result, so the hot path stays monomorphic. */
function mk(
  outcome: TranslateResult['outcome'],
  pa: number,
  path: Path,
  why: string,
  event: EventName | undefined,
  recorded: boolean,
  stag: number | undefined,
  tlbHit: boolean,
  steCached: boolean,
  ste: SteOrigin | undefined,
  ats: AtsCompletion | undefined,
  simulatorError: string | undefined,
): TranslateResult {
  return { outcome, pa, path, event, recorded, why, stag, tlbHit, steCached, ste, ats, simulatorError };
}

/** The `why` of a translation by a stage-1 or nested walk, per leaf level (built once: every walk gives one). */
const S1_WALK_WHY: readonly string[] = [0, 1, 2, 3].map((l) => `stage-1 walk, level ${l}`);
const NESTED_WALK_WHY: readonly string[] = [0, 1, 2, 3].map((l) => `nested walk, level ${l}`);

const ATS_UR: AtsCompletion = { status: 'UR', r: false, w: false, x: false, ipa: false };
const ATS_CA: AtsCompletion = { status: 'CA', r: false, w: false, x: false, ipa: false };
/** Success with no permission: what a translation-related fault gives an ATS request. */
const ATS_NONE: AtsCompletion = { status: 'SC', r: false, w: false, x: false, ipa: false };
/** Full ATS skipping stage 1 with stage 2 off: identity, U=0, R=W=1 (IHI0070 13.6.4). */
const ATS_IDENTITY: AtsCompletion = { status: 'SC', r: true, w: true, x: false, ipa: false };

/**
 * R, W and Exe an ATS Translation Completion grants from a translation's PERM bits (IHI0070
 * 13.7.1): Priv and Exe come with a PASID only (else Unprivileged, Data); STE.PRIVCFG overrides
 * the privilege checked against, STE.INSTCFG how Exe and R relate to the X permission.
 */
function atsGrant(t: Transaction, ste: DecodedSte, perms: number, oneEl: boolean): { r: boolean; w: boolean; x: boolean } {
  const pasid = t.ssid !== undefined;
  const exe = pasid && t.instruction === true;
  let priv = pasid && t.privileged === true;
  if (ste.privcfg === 2) priv = false;
  else if (ste.privcfg === 3) priv = true;
  if (oneEl) priv = true;
  const r = (perms & (priv ? PERM.PR : PERM.UR)) !== 0;
  const w = (perms & (priv ? PERM.PW : PERM.UW)) !== 0;
  const x = (perms & (priv ? PERM.PX : PERM.UX)) !== 0;
  if (ste.instcfg === 3) return { r: x, w, x: exe && x };
  if (ste.instcfg === 2) return { r, w, x: exe && r };
  return { r, w, x: exe && r && x };
}

function anyGrant(g: { r: boolean; w: boolean; x: boolean }): boolean {
  return g.r || g.w || g.x;
}

function cdKey(sid: number, ssid: number): number {
  return sid * 2 ** 20 + ssid;
}

/**
 * PERM bits an access needs after the STE PRIVCFG/INSTCFG overrides (IHI0070 5.2): instruction
 * fetches need X, reads R, writes W (domain notes 7 step 7.5). One-EL regimes are privileged.
 */
function permNeeded(t: Transaction, ste: DecodedSte, oneEl: boolean): number {
  let priv = t.privileged === true;
  if (ste.privcfg === 2) priv = false;
  else if (ste.privcfg === 3) priv = true;
  if (oneEl) priv = true;
  if (t.write) return priv ? PERM.PW : PERM.UW;
  let inst = t.instruction === true;
  if (ste.instcfg === 2) inst = false;
  else if (ste.instcfg === 3) inst = true;
  if (inst) return priv ? PERM.PX : PERM.UX;
  return priv ? PERM.PR : PERM.UR;
}

export type { Epoch, WriterKind };
