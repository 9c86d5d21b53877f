// SPDX-License-Identifier: Apache-2.0
// One scenario's machine: platform memory with its regions, the SMMU twins, the endpoint fleet
// behind them with their drivers, the primary kernel (one driver instance per SMMU sharing one
// page allocator and, as in 6.12, one ASID space) and later the kdump kernel, the platform RAS
// engine, and the collectors the report reads. Everything runs on one virtual clock.

import {
  createDevice,
  createDriver,
  Fleet,
  GPU_DEFAULTS,
  NIC_DEFAULTS,
  NVME_DEFAULTS,
  PlatformRas,
  READ_ERROR_DEFAULT,
  type AerError,
  type DeviceParams,
  type DmaRecord,
  type Endpoint,
  type HostKernel,
  type JobRecord,
  type KernelPhase,
  type SetupResult,
} from '@kdump-twin/endpoint';
import { Dmesg, LinuxKernel, LocalBus, MmioTrace, PageAllocator, type DeviceProbe, type KdumpPolicy, type MasterSpec } from '@kdump-twin/kernel';
import { defaultServerMemoryLayout, PhysicalMemory, SeededRng, VirtualClock, type Region } from '@kdump-twin/platform';
import { CD, CD_L1, commandForOpcode, findFormat, findRegister, GRANULE_SHIFT, L1STD, STE } from '@kdump-twin/smmu-arch';
import { SmmuConfigError, SmmuV3, type SmmuConfig } from '@kdump-twin/smmu-model';
import { CommandTap, CpuHalted, HaltableBus } from './bus';
import { DmaCollector, type Mapping } from './collect';
import { SmmuDmaPort } from './port';
import { SchemaError } from './schema';
import type { DeviceSpec, Fault, Injection, ScenarioSpec } from './spec';

type Driver = ReturnType<typeof createDriver>;

export interface DeviceState {
  readonly spec: DeviceSpec;
  readonly rid: number;
  readonly sids: readonly number[];
  readonly endpoint: Endpoint;
  readonly params: DeviceParams;
  primaryDriver?: Driver;
  kdumpDriver?: Driver;
  primaryProbe?: DeviceProbe;
  kdumpProbe?: DeviceProbe;
  primarySetup?: SetupResult;
  kdumpSetup?: SetupResult;
  /** When the kdump kernel's driver reset the device (its FLR). */
  quiescedAt?: number;
  /** When the kdump kernel's iommu core probed it. */
  kdumpProbeAt?: number;
  /** When the kdump kernel attached a domain to it (at probe, or deferred to the first DMA use). */
  kdumpAttachedAt?: number;
  readonly aer: { correctable: number; nonFatal: number; fatal: number };
  aerResets: number;
  outstandingAtCrash: number;
  jobsAtCrash: number;
}

const CMD = findFormat('cmd')!;
const CFGI_RANGE = findFormat('cmd-CFGI_STE_RANGE')!;

/** A command's name from its dwords; CFGI_STE_RANGE with Range=31 is CFGI_ALL (IHI0070 4.3.6). */
function commandName(dw0: bigint, dw1: bigint | undefined): string {
  const op = Number(CMD.get([dw0], 'Opcode'));
  const l = commandForOpcode(op);
  if (!l) return `opcode 0x${op.toString(16)}`;
  if (l === CFGI_RANGE) {
    if (dw1 === undefined) return '?range';
    return CFGI_RANGE.get([dw0, dw1], 'Range') === 31n ? 'CFGI_ALL' : 'CFGI_STE_RANGE';
  }
  return l.name.replace(/^cmd-/, '');
}

/** The requester ID of a PCI device name "DDDD:BB:dd.f". */
export function ridOf(bdf: string): number {
  const m = /^[0-9a-f]{4}:([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/.exec(bdf);
  if (!m) throw new SchemaError('device', [{ path: 'name', rule: `not a PCI device name: ${bdf}` }]);
  return (parseInt(m[1]!, 16) << 8) | (parseInt(m[2]!, 16) << 3) | parseInt(m[3]!, 10);
}

/** One kernel (primary or kdump): a driver instance per SMMU, one page allocator, one log. */
export class KernelSet {
  readonly kernels: LinuxKernel[] = [];
  readonly buses: HaltableBus[] = [];
  /** Per SMMU: the commands this kernel queued, by name. */
  readonly commands: CommandTap[] = [];
  /** The kernel's page allocator, shared by every SMMU driver instance and every device driver. */
  readonly pages: PageAllocator;
  readonly log: Dmesg;
  halted: string | undefined;

  constructor(
    readonly name: 'primary' | 'kdump',
    readonly world: World,
    ram: Region,
    policy: KdumpPolicy | undefined,
  ) {
    this.pages = new PageAllocator(ram.base, ram.size);
    this.log = new Dmesg(name, () => world.clock.now());
    const asids = new Map<number, string>();
    world.smmus.forEach((smmu, i) => {
      const s = world.spec.platform.smmus[i]!;
      const bus = new HaltableBus(new LocalBus(smmu, world.memory, world.clock, { kind: name === 'primary' ? 'primary-cpu' : 'kdump-cpu' }));
      this.buses.push(bus);
      const tap = new CommandTap(() => {
        const q = this.kernels[i]?.smmu.cmdq;
        return q && q.base ? { base: q.base, bytes: (1 << q.shift) * q.entBytes } : undefined;
      }, commandName);
      this.commands.push(tap);
      bus.tap = (pa, data) => tap.store(pa, data);
      const firmware = { coherent: s.firmware.coherent ?? (s.config.coherent as boolean | undefined) ?? true, rmrSids: s.firmware.rmrSids, combinedIrq: s.firmware.combinedIrq, msiDomain: s.firmware.msiDomain, devName: `arm-smmu-v3 arm-smmu-v3.${i}.auto` };
      const k = world.spec.kdump;
      const common = { ram: { base: ram.base, size: ram.size }, pages: this.pages, asids, trace: world.trace, log: this.log, firmware };
      this.kernels.push(
        name === 'primary'
          ? new LinuxKernel(bus, { kernel: 'primary', passthrough: world.spec.primary.passthrough, pageSize: world.spec.primary.pageSize, legacyLinearStrtab: world.spec.primary.legacyLinearStrtab, ...common })
          : new LinuxKernel(bus, { kernel: 'kdump', policy, passthrough: k.passthrough, pageSize: world.spec.primary.pageSize, memremapNonRam: k.memremapNonRam, failDevresAction: k.failDevresAction, gbpaBypass: k.gbpaBypass, v10KexecPrefix: k.v10KexecPrefix, ...common }),
      );
    });
  }

  kernelOf(d: DeviceState): LinuxKernel {
    return this.kernels[d.spec.smmu]!;
  }

  halt(reason: string): void {
    if (this.halted !== undefined) return;
    this.halted = reason;
    for (const b of this.buses) b.halt(reason);
  }

  /** Runs a kernel operation; undefined if the CPU halted during it. */
  async guarded<T>(fn: () => Promise<T>): Promise<T | undefined> {
    if (this.halted !== undefined) return undefined;
    try {
      return await fn();
    } catch (e) {
      if (e instanceof CpuHalted) return undefined;
      throw e;
    }
  }
}

/** The DMA API and CPU stores a device driver gets from its kernel. */
class Host implements HostKernel {
  private readonly writer: number;

  constructor(
    private readonly world: World,
    private readonly set: KernelSet,
  ) {
    this.writer = world.memory.internWriter({ kind: set.name === 'primary' ? 'primary-cpu' : 'kdump-cpu' });
  }

  get kernel(): 'primary' | 'kdump' {
    return this.set.name;
  }

  alive(): boolean {
    return this.set.halted === undefined;
  }

  async dmaAlloc(device: string, bytes: number): Promise<{ ok: true; pa: number; iova: number } | { ok: false; errno: string }> {
    const d = this.world.devices.get(device)!;
    const pa = this.set.pages.alloc(bytes);
    if (pa === undefined) return { ok: false, errno: 'ENOMEM' };
    // dma_alloc_coherent returns zeroed memory: the carve-out may hold what stray DMA left there.
    if (this.set.name === 'kdump') this.cpuWrite(pa, new Uint8Array(Math.ceil(bytes / 4096) * 4096));
    const k = this.set.kernelOf(d);
    const r = await this.set.guarded(() => k.dmaMapResult(device, pa, bytes));
    if (r === undefined) return { ok: false, errno: 'EHALTED' };
    if (!r.ok) return { ok: false, errno: r.errno };
    this.world.addMapping(device, { kernel: this.set.name, pa, bytes, iova: r.iova, from: this.world.clock.now(), to: Infinity });
    this.world.syncAts(d, this.set);
    if (this.set.name === 'kdump' && d.kdumpAttachedAt === undefined && k.master(device)?.domain !== undefined && !k.master(device)!.attachDeferred) d.kdumpAttachedAt = this.world.clock.now();
    return { ok: true, pa, iova: r.iova };
  }

  cpuWrite(pa: number, data: Uint8Array): void {
    this.world.memory.write(pa, data, this.writer);
  }

  cpuRead(pa: number, length: number): Uint8Array | undefined {
    const r = this.world.memory.read(pa, length);
    return r.ok ? r.data : undefined;
  }

  log(level: 'err' | 'warn' | 'info', device: string, text: string): void {
    this.set.log.log(level, device, text);
  }
}

function paramsOf(d: DeviceSpec): DeviceParams {
  if (d.kind === 'nic') return { kind: 'nic', ...NIC_DEFAULTS, ...d.traffic };
  if (d.kind === 'nvme') return { kind: 'nvme', ...NVME_DEFAULTS, ...d.traffic };
  return { kind: 'gpu', ...GPU_DEFAULTS, ...d.traffic, ...(d.cxlMemory ? { cxlMemory: d.cxlMemory } : {}) };
}

export class World {
  readonly clock = new VirtualClock();
  readonly rng: SeededRng;
  readonly memory: PhysicalMemory;
  readonly smmus: SmmuV3[] = [];
  readonly trace = new MmioTrace();
  readonly fleets: Fleet[] = [];
  readonly devices = new Map<string, DeviceState>();
  readonly mappings = new Map<string, Mapping[]>();
  readonly ras: PlatformRas;
  readonly collector: DmaCollector;
  /** The platform's own messages (firmware, RAS) on the timeline. */
  readonly platformLog: Dmesg;
  readonly primary: KernelSet;
  kdump: KernelSet | undefined;
  phase: KernelPhase = 'primary';
  bootDoneAt = 0;
  crashAt: number | undefined;
  crashReason: string | undefined;
  kdumpAt: number | undefined;
  /** The kdump kernel panicked (or never booted): when and why. */
  panic: { at: number; reason: string; beforeBoot: boolean } | undefined;
  readonly serrors: { at: number; reason: string }[] = [];
  /** S7d: the SMMU driver unbound at the end (what devres freed, register accesses it made). */
  readonly unbinds: { smmu: string; freed: string; registerAccesses: number }[] = [];
  /** Extra observers (traces) get every transaction and job. */
  readonly observers: { dma?(r: DmaRecord): void; job?(r: JobRecord): void; aer?(e: AerError, action: string): void }[] = [];
  private readonly owners = new Map<string, string>();
  private escalating = false;
  private readonly injected: string[] = [];

  constructor(readonly spec: ScenarioSpec) {
    this.rng = new SeededRng(spec.seed);
    const regions: Region[] = spec.platform.regions
      ? spec.platform.regions.map((r) => ({ name: r.name, base: Number(r.base), size: Number(r.size), kind: r.kind, owner: r.owner }))
      : defaultServerMemoryLayout();
    this.memory = new PhysicalMemory({ paBits: spec.platform.paBits, maxBackedBytes: spec.platform.maxBackedMiB * 1024 * 1024, regions }, this.clock);
    spec.platform.smmus.forEach((s, i) => {
      try {
        const smmu = new SmmuV3(this.clock, this.memory, { ...(s.config as Partial<SmmuConfig>), name: `smmu${i}` }, this.rng.fork(`smmu${i}`));
        this.smmus.push(smmu);
      } catch (e) {
        if (e instanceof SmmuConfigError) throw new SchemaError('scenario', [{ path: `platform.smmus[${i}].config.${e.field}`, rule: e.rule }]);
        throw e;
      }
      const fleet = new Fleet();
      this.fleets.push(fleet);
      this.smmus[i]!.onAtcInvalidate((inv) => fleet.atcInvalidate(inv.sid, inv.address, inv.bytes));
    });
    this.platformLog = new Dmesg('platform', () => this.clock.now());
    const cxl = new Map<string, string>();
    for (const d of spec.devices) if (d.cxlMemory) cxl.set(d.name, d.cxlMemory);
    for (const [dev, region] of cxl) if (!this.memory.region(region)) throw new SchemaError('scenario', [{ path: `devices.${dev}.cxlMemory`, rule: `no memory region named ${region}` }]);
    this.ras = new PlatformRas(spec.platform.ras, cxl);
    this.collector = new DmaCollector((name) => this.devices.get(name)?.quiescedAt);
    const obs = {
      dma: (r: DmaRecord) => {
        this.collector.record(r);
        for (const o of this.observers) o.dma?.(r);
      },
      job: (r: JobRecord) => {
        for (const o of this.observers) o.job?.(r);
      },
      aer: (e: AerError) => this.onAer(e),
    };
    for (const d of [...spec.devices].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const rid = ridOf(d.name);
      const sids = d.sids ?? [rid + spec.platform.smmus[d.smmu]!.sidBase];
      const params = paramsOf(d);
      const base = { name: d.name, rid, sids, ats: d.ats, atcEntries: d.atcEntries, aer: d.aer, readLatencyNs: d.readLatencyNs, maxReadTags: d.maxReadTags, onReadError: d.onReadError ?? READ_ERROR_DEFAULT[d.kind] };
      const endpoint = createDevice(base, params, this.clock, new SmmuDmaPort(this.smmus[d.smmu]!), obs, this.rng.fork(`device ${d.name}`));
      try {
        this.fleets[d.smmu]!.add(endpoint);
      } catch (e) {
        throw new SchemaError('scenario', [{ path: `devices.${d.name}.sids`, rule: (e as Error).message }]);
      }
      for (const sid of sids) this.owners.set(`smmu${d.smmu}/${sid}`, d.name);
      this.devices.set(d.name, { spec: d, rid, sids, endpoint, params, aer: { correctable: 0, nonFatal: 0, fatal: 0 }, aerResets: 0, outstandingAtCrash: 0, jobsAtCrash: 0 });
    }
    this.primary = new KernelSet('primary', this, this.region('primary-ram'), undefined);
  }

  region(name: string): Region {
    const r = this.memory.region(name) ?? this.memory.regions().find((x) => (name === 'primary-ram' ? x.kind === 'ram' && x.owner === 'primary-kernel' : x.kind === 'crashkernel'));
    if (!r) throw new SchemaError('scenario', [{ path: 'platform.regions', rule: `needs a ${name === 'primary-ram' ? "'ram' region owned by primary-kernel" : "'crashkernel' region"}` }]);
    return r;
  }

  /** The device that owns StreamID `sid` behind SMMU `smmu` (by its name, e.g. "smmu0"). */
  ownerOf(smmu: string, sid: number): string | undefined {
    return this.owners.get(`${smmu}/${sid}`);
  }

  addMapping(device: string, m: Mapping): void {
    let l = this.mappings.get(device);
    if (!l) this.mappings.set(device, (l = []));
    l.push(m);
  }

  /** Mappings the primary kernel made for a device, in allocation order. */
  primaryBuffers(device: string): Mapping[] {
    return (this.mappings.get(device) ?? []).filter((m) => m.kernel === 'primary');
  }

  host(set: KernelSet): HostKernel {
    return new Host(this, set);
  }

  master(d: DeviceState): MasterSpec {
    return { name: d.spec.name, sids: d.sids, ats: d.spec.ats };
  }

  /** The device may use ATS once its STE has EATS set by its kernel (pci_enable_ats at attach). */
  syncAts(d: DeviceState, set: KernelSet): void {
    if (!d.spec.ats) return;
    const pa = set.kernelOf(d).smmu.stePa(d.sids[0]!);
    if (pa === undefined) return;
    const w = this.readWords(pa, 2);
    if (w && STE.get(w, 'V') === 1n && STE.get(w, 'EATS') !== 0n) d.endpoint.atsEnabled = true;
  }

  readWords(pa: number, n: number): bigint[] | undefined {
    const r = this.memory.read(pa, n * 8);
    if (!r.ok) return undefined;
    const v = new DataView(r.data.buffer, r.data.byteOffset, r.data.byteLength);
    return Array.from({ length: n }, (_, i) => v.getBigUint64(i * 8, true));
  }

  /** A rogue store (a fault injection), attributed to no kernel: a device write through bypass with no StreamID. */
  private poke(pa: number, words: readonly bigint[]): void {
    const w = this.memory.internWriter({ kind: 'loader', device: 'fault-injection' });
    const bytes = new Uint8Array(words.length * 8);
    const v = new DataView(bytes.buffer);
    words.forEach((x, i) => v.setBigUint64(i * 8, BigInt.asUintN(64, x), true));
    this.memory.write(pa, bytes, w);
  }

  private onAer(e: AerError): void {
    const d = this.devices.get(e.device)!;
    if (e.severity === 'correctable') d.aer.correctable++;
    else if (e.severity === 'non-fatal') d.aer.nonFatal++;
    else d.aer.fatal++;
    const aerReady = this.phase === 'kdump' && this.kdumpAt !== undefined && this.clock.now() >= this.kdumpAt + this.spec.kdump.aerServiceAtNs;
    const a = this.ras.handle(e, { phase: this.phase, aerServiceReady: this.phase === 'primary' || aerReady });
    for (const o of this.observers) o.aer?.(e, a.kind);
    const log = this.phase === 'kdump' ? this.kdump!.log : this.phase === 'primary' ? this.primary.log : undefined;
    const pcieport = 'pcieport 0000:00:01.0';
    if (a.kind === 'logged') for (const l of a.lines) (a.by === 'os' ? log : (log ?? this.platformLog))?.log(a.by === 'os' ? 'err' : 'err', a.by === 'os' ? pcieport : 'GHES', l);
    else if (a.kind === 'device-reset') {
      for (const l of a.lines) log?.log('err', pcieport, l);
      d.aerResets++;
      d.endpoint.flr();
    } else if (a.kind === 'memory-offline') {
      const lines = a.lines;
      this.clock.after(this.spec.platform.rasEscalationNs, 'firmware memory offline', () => {
        for (const l of lines) this.platformLog.log('err', 'firmware', l);
      });
    } else if (a.kind === 'panic') {
      if (this.phase === 'primary' || this.escalating) return;
      // Firmware takes a while to escalate (GHES/SDEI): the storm goes on until then.
      this.escalating = true;
      const reason = a.reason;
      const lines = a.lines;
      this.clock.after(this.spec.platform.rasEscalationNs, 'firmware escalation', () => {
        this.serrors.push({ at: this.clock.now(), reason });
        const now = this.phase === 'kdump' ? this.kdump!.log : undefined;
        for (const l of lines) (now ?? this.platformLog).log('err', 'kernel', l);
        this.kdumpPanics(reason);
      });
    }
  }

  /** The kdump kernel dies (or never boots): everything it was doing stops. */
  kdumpPanics(reason: string): void {
    if (this.panic) return;
    this.panic = { at: this.clock.now(), reason, beforeBoot: this.phase !== 'kdump' };
    this.kdump?.halt(reason);
  }

  /** The primary kernel's panic: its CPUs stop, memory stores from now on are the kdump epoch. */
  crash(reason: string): void {
    if (this.crashAt !== undefined) return;
    this.crashAt = this.clock.now();
    this.crashReason = reason;
    this.phase = 'kexec';
    this.memory.setEpoch('kdump');
    this.primary.log.log('err', 'kernel', `Kernel panic - not syncing: ${reason}`);
    this.primary.log.log('err', 'kernel', 'Starting crashdump kernel...');
    this.primary.log.log('err', 'kernel', 'Bye!');
    this.primary.halt(reason);
    this.collector.crashAt = this.crashAt;
    for (const d of this.devices.values()) {
      d.outstandingAtCrash = d.endpoint.outstanding;
      d.jobsAtCrash = d.endpoint.jobsInFlight;
    }
    this.injections('at-crash');
  }

  /** Starts the kdump kernel (after kexec). */
  startKdump(): void {
    this.phase = 'kdump';
    this.kdumpAt = this.clock.now();
    const policy = this.spec.kdump.policy;
    this.kdump = new KernelSet('kdump', this, this.region('crashkernel'), policy);
  }

  /** The kernel whose CPU runs now (it takes the SMMU's interrupts), if any. */
  private liveKernel(): KernelSet | undefined {
    if (this.phase === 'primary') return this.primary;
    if (this.phase === 'kdump' && this.kdump && this.kdump.halted === undefined) return this.kdump;
    return undefined;
  }

  /** The running kernel takes the interrupts the SMMUs raised (GERROR, events, MSIs). */
  private async serviceIrqs(): Promise<void> {
    const set = this.liveKernel();
    if (!set) return;
    for (const k of set.kernels) if (k.probeResult?.ok) await set.guarded(() => k.serviceInterrupts());
  }

  /**
   * Lets virtual time pass to `t` (devices keep working, the running kernel takes its
   * interrupts every step), stopping early once the kdump kernel panicked.
   */
  async advanceTo(t: number): Promise<void> {
    const step = 50_000;
    while (this.clock.now() < t && !this.panic) {
      this.clock.advanceTo(Math.min(t, this.clock.now() + step));
      await this.serviceIrqs();
    }
  }

  /** Advances until `done()` or `limit`, in small steps. */
  async advanceUntil(done: () => boolean, limit: number): Promise<void> {
    const step = 10_000;
    while (!done() && !this.panic && this.clock.now() < limit) {
      this.clock.advanceTo(Math.min(limit, this.clock.now() + step));
      await this.serviceIrqs();
    }
  }

  injections(when: Injection['when']): void {
    for (const [i, inj] of this.spec.injections.entries()) if (inj.when === when) this.inject(inj.fault, i);
  }

  /** Injections at absolute times, as timers. */
  scheduleTimedInjections(): void {
    for (const [i, inj] of this.spec.injections.entries()) {
      if (inj.when === 'at') this.clock.schedule(Math.max(inj.atNs!, this.clock.now()), `injection ${i}`, () => this.inject(inj.fault, i));
    }
  }

  injectedFaults(): readonly string[] {
    return this.injected;
  }

  /** Where StreamID `sid`'s STE lives in the table the SMMU walks now (the kdump kernel's view once it exists). */
  locateSte(smmu: number, sid: number): number | undefined {
    const k = (this.kdump ?? this.primary).kernels[smmu]!;
    const st = k.smmu.strtab;
    if (st.kind === 'linear') return sid < st.numEnts ? st.table + sid * 64 : undefined;
    if (st.kind === '2lvl') {
      const l1 = this.readWords(st.l1tab + Math.floor(sid / 256) * 8, 1);
      if (!l1) return undefined;
      const l2 = Number(L1STD.get(l1, 'L2Ptr'));
      return L1STD.get(l1, 'Span') === 0n || l2 === 0 ? undefined : l2 + (sid % 256) * 64;
    }
    return undefined;
  }

  private inject(f: Fault, i: number): void {
    const where = `injections[${i}]`;
    const smmu = 'smmu' in f ? this.smmus[f.smmu]! : undefined;
    const fail = (rule: string) => {
      throw new SchemaError('scenario', [{ path: `${where}.fault`, rule }]);
    };
    switch (f.kind) {
      case 'register':
        if (!findRegister(f.name)) fail(`no register ${f.name}`);
        smmu!.injectRegister(f.name, f.value);
        break;
      case 'register-field': {
        const r = findRegister(f.register);
        if (!r) return fail(`no register ${f.register}`);
        if (!r.field(f.field)) return fail(`${f.register} has no field ${f.field}`);
        smmu!.injectRegister(f.register, r.with([smmu!.register(f.register)], f.field, f.value)[0]!);
        break;
      }
      case 'l1std': {
        const k = this.primary.kernels[f.smmu]!;
        const st = k.smmu.strtab;
        if (st.kind !== '2lvl') return fail('the crashed stream table is not 2-level');
        const pa = st.l1tab + Math.floor(f.sid / 256) * 8;
        let w = this.readWords(pa, 1) ?? [0n];
        for (const [name, v] of Object.entries(f.set)) {
          if (!L1STD.field(name)) return fail(`L1STD has no field ${name}`);
          w = L1STD.with(w, name, v);
        }
        this.poke(pa, w);
        break;
      }
      case 'ste': {
        const pa = this.locateSte(f.smmu, f.sid);
        if (pa === undefined) return fail(`StreamID 0x${f.sid.toString(16)} has no STE in the crashed table`);
        let w = this.readWords(pa, 8)!;
        for (const [name, v] of Object.entries(f.set)) {
          if (!STE.field(name)) return fail(`STE has no field ${name}`);
          w = STE.with(w, name, v);
        }
        this.poke(pa, w);
        break;
      }
      case 'cd': {
        const pa = this.locateSte(f.smmu, f.sid);
        const ste = pa === undefined ? undefined : this.readWords(pa, 8);
        if (!ste || STE.get(ste, 'Config') !== 5n) return fail(`StreamID 0x${f.sid.toString(16)} has no stage-1 STE`);
        let cdPa = Number(STE.get(ste, 'S1ContextPtr'));
        if (STE.get(ste, 'S1Fmt') !== 0n) {
          const l1 = this.readWords(cdPa + Math.floor(f.ssid / 1024) * 8, 1);
          const leaf = l1 && CD_L1.get(l1, 'V') === 1n ? Number(CD_L1.get(l1, 'L2Ptr')) : 0;
          if (!leaf) return fail(`no CD leaf table for SubstreamID ${f.ssid}`);
          cdPa = leaf + (f.ssid % 1024) * 64;
        } else cdPa += f.ssid * 64;
        let w = this.readWords(cdPa, 8)!;
        for (const [name, v] of Object.entries(f.set)) {
          if (!CD.field(name)) return fail(`CD has no field ${name}`);
          w = CD.with(w, name, v);
        }
        this.poke(cdPa, w);
        break;
      }
      case 'pte': {
        const d = this.devices.get(f.device)!;
        const buf = this.primaryBuffers(f.device)[f.buffer];
        if (!buf) return fail(`${f.device} has no DMA buffer ${f.buffer}`);
        const dom = this.primary.kernelOf(d).domains.domainOf(this.primary.kernelOf(d).master(f.device)!);
        const pt = dom?.pgtable;
        if (!pt) return fail(`${f.device} has no translating domain in the crashed kernel`);
        const pte = leafPte(this, pt.root, pt.startLevel, pt.cfg.granule, buf.iova);
        if (pte === undefined) return fail(`no leaf PTE for IOVA 0x${buf.iova.toString(16)}`);
        this.poke(pte, [f.set === 'clear' ? 0n : 0xdead_beef_0000_0003n]);
        break;
      }
      case 'sfm':
        smmu!.injectServiceFailure();
        break;
      case 'gerror':
        smmu!.injectGlobalError(f.name);
        break;
      case 'stuck-ack':
        smmu!.injectStuckAck(f.fields, f.to);
        break;
      case 'memory':
        this.poke(Number(f.pa), f.dwords);
        break;
    }
    this.injected.push(`${f.kind}${'smmu' in f ? ` smmu${f.smmu}` : ''} at ${this.clock.now()} ns`);
  }
}

/** The leaf page-table entry for `iova` in a VMSAv8-64 table (walked as the SMMU would). */
function leafPte(w: World, root: number, startLevel: number, granule: '4k' | '16k' | '64k', iova: number): number | undefined {
  const g = GRANULE_SHIFT[granule];
  const bpl = g - 3;
  let table = root;
  for (let level = startLevel; level <= 3; level++) {
    const shift = g + (3 - level) * bpl;
    const index = level === startLevel ? Math.floor(iova / 2 ** shift) : Math.floor(iova / 2 ** shift) % 2 ** bpl;
    const at = table + index * 8;
    const e = w.readWords(at, 1);
    const t = findFormat(`pte-s1-${granule}-table`)!;
    if (!e || t.get(e, 'Valid') === 0n) return undefined;
    if (level === 3 || t.get(e, 'Type') === 0n) return at;
    table = Number(t.get(e, 'NextLevelTable'));
  }
  return undefined;
}

export { CpuHalted };
