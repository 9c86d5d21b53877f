// SPDX-License-Identifier: Apache-2.0
// The platform of a run, and the hub of its co-simulation (docs/services.md): physical memory,
// the SMMU twins, the sequencer that orders every event, the fleet stepped one instant at a time
// (its DMA applied here, in order, with the statistics the report reads), the interrupts the
// SMMUs raise, the RAS engine, fault injections, and the panic, kexec and escalation state.

import { FleetCoupler, PlatformRas, type AerError, type DeviceControl, type DmaRecord, type JobRecord, type KernelPhase } from '@kdump-twin/endpoint';
import { Dmesg, type BusInterrupt, type MmioOutcome, type MmioSize } from '@kdump-twin/kernel';
import { defaultServerMemoryLayout, PhysicalMemory, SeededRng, Sequencer, VirtualClock, type Region } from '@kdump-twin/platform';
import { CD, CD_L1, findFormat, findRegister, GRANULE_SHIFT, L1STD, STE } from '@kdump-twin/smmu-arch';
import { SmmuConfigError, SmmuV3, type SmmuConfig } from '@kdump-twin/smmu-model';
import { CpuHalted } from './bus';
import { DmaCollector, type Mapping } from './collect';
import { DeviceGrants } from './device-dmi';
import { PassableTasks } from './passable';
import { deviceTable, type DeviceInfo } from './devices';
import type { FleetLink, KernelLink, KernelName, NextLoad, Owner, PlatformPort } from './links';
import { applyDma } from './port';
import { SchemaError } from './schema';
import type { Fault, Injection, ScenarioSpec } from './spec';

const PAGE = 4096;
const STRTAB_BASE = findRegister('STRTAB_BASE')!;
const STRTAB_BASE_CFG = findRegister('STRTAB_BASE_CFG')!;

export interface PlatformObserver {
  dma?(r: DmaRecord): void;
  job?(r: JobRecord): void;
  aer?(e: AerError, action: string): void;
  /** The primary kernel panicked at `at`; `inFlight`: per device, what was outstanding then. */
  crash?(at: number, reason: string, inFlight: ReadonlyMap<string, { outstanding: number; jobs: number }>): void;
  /** kexec finished: the kdump kernel starts at `at`. */
  kexec?(at: number): void;
  /** The kdump kernel died (an escalated fatal error, a failed boot). */
  kdumpPanic?(at: number, reason: string): void;
}

export class PlatformRole implements PlatformPort {
  readonly clock = new VirtualClock();
  readonly seq = new Sequencer(this.clock);
  readonly rng: SeededRng;
  readonly memory: PhysicalMemory;
  readonly smmus: SmmuV3[] = [];
  readonly devices: DeviceInfo[];
  readonly ras: PlatformRas;
  readonly collector: DmaCollector;
  /** Lines the platform prints: firmware's own, and what the kernels' AER and GHES handlers print. */
  readonly logs = {
    primary: new Dmesg('primary', () => this.clock.now()),
    kdump: new Dmesg('kdump', () => this.clock.now()),
    platform: new Dmesg('platform', () => this.clock.now()),
  };
  readonly mappings = new Map<string, Mapping[]>();
  readonly quiesced = new Map<string, number>();
  readonly observers: PlatformObserver[] = [];
  readonly kernels: { primary?: KernelLink; kdump?: KernelLink } = {};
  phase: KernelPhase = 'primary';
  bootDoneAt = 0;
  crashAt: number | undefined;
  crashReason: string | undefined;
  kdumpAt: number | undefined;
  panic: { at: number; reason: string; beforeBoot: boolean } | undefined;
  readonly serrors: { at: number; reason: string }[] = [];
  /** Per device at the panic: non-posted requests outstanding, jobs started and not ended. */
  readonly atCrash = new Map<string, { outstanding: number; jobs: number }>();
  private readonly owners = new Map<string, string>();
  private readonly byName = new Map<string, DeviceInfo>();
  private readonly listeners = new Map<number, Set<(e: BusInterrupt) => void>>();
  private readonly writers: Record<KernelName, number>;
  private readonly injector: number;
  private readonly injected: string[] = [];
  private readonly coupler: FleetCoupler;
  private escalating = false;
  private countTrigger: { base: number; count: number } | undefined;
  /** Direct memory for the devices, when the fleet link uses it. */
  deviceGrants: DeviceGrants | undefined;
  /** Kernel tasks whose wake-ups the fleet may run past (a kernel in a service: waits evaluated here, run-ahead steps). */
  readonly passables: PassableTasks;

  constructor(
    readonly spec: ScenarioSpec,
    readonly fleet: FleetLink,
  ) {
    this.rng = new SeededRng(spec.seed);
    const regions: Region[] = spec.platform.regions
      ? spec.platform.regions.map((r) => ({ name: r.name, base: Number(r.base), size: Number(r.size), kind: r.kind, owner: r.owner }))
      : defaultServerMemoryLayout();
    this.memory = new PhysicalMemory({ paBits: spec.platform.paBits, maxBackedBytes: spec.platform.maxBackedMiB * 1024 * 1024, regions }, this.clock);
    this.writers = { primary: this.memory.internWriter({ kind: 'primary-cpu' }), kdump: this.memory.internWriter({ kind: 'kdump-cpu' }) };
    this.injector = this.memory.internWriter({ kind: 'loader', device: 'fault-injection' });
    this.devices = deviceTable(spec);
    spec.platform.smmus.forEach((s, i) => {
      try {
        this.smmus.push(new SmmuV3(this.clock, this.memory, { ...(s.config as Partial<SmmuConfig>), name: `smmu${i}` }, this.rng.fork(`smmu${i}`)));
      } catch (e) {
        if (e instanceof SmmuConfigError) throw new SchemaError('scenario', [{ path: `platform.smmus[${i}].config.${e.field}`, rule: e.rule }]);
        throw e;
      }
      const smmu = this.smmus[i]!;
      // CMD_ATC_INV reaches the device's ATC as a message in this instant; devices always complete it.
      smmu.onAtcInvalidate((inv) => {
        const dev = this.owners.get(`${smmu.name}/${inv.sid}`);
        if (dev)
          this.control(dev, { op: 'atcInvalidate', address: inv.address, bytes: Number.isFinite(inv.bytes) ? inv.bytes : 0, all: !Number.isFinite(inv.bytes) });
        return true;
      });
      smmu.onInterrupt((e) => {
        for (const l of this.listeners.get(i) ?? []) l({ time: e.time, source: e.source, kind: e.kind, address: e.address, data: e.data });
      });
    });
    const cxl = new Map<string, string>();
    for (const d of this.devices) {
      this.byName.set(d.name, d);
      for (const sid of d.sids) {
        const key = `smmu${d.smmu}/${sid}`;
        const other = this.owners.get(key);
        if (other)
          throw new SchemaError('scenario', [
            { path: `devices.${d.name}.sids`, rule: `StreamID 0x${sid.toString(16)} of ${d.name} already belongs to ${other}` },
          ]);
        this.owners.set(key, d.name);
      }
      if (d.spec.cxlMemory) {
        if (!this.memory.region(d.spec.cxlMemory))
          throw new SchemaError('scenario', [{ path: `devices.${d.name}.cxlMemory`, rule: `no memory region named ${d.spec.cxlMemory}` }]);
        cxl.set(d.name, d.spec.cxlMemory);
      }
    }
    this.ras = new PlatformRas(spec.platform.ras, cxl);
    this.collector = new DmaCollector((name) => this.quiesced.get(name));
    const actor = { nextEventTime: () => this.coupler.nextEventTime(), step: (t: number) => this.coupler.step(t) };
    this.passables = new PassableTasks(this.seq, () => this.countTriggerArmed());
    this.coupler = new FleetCoupler(
      fleet,
      {
        at: (t) => {
          if (t > this.clock.now()) this.clock.advanceTo(t);
        },
        horizon: (passive) => this.seq.horizon(actor, passive),
        passable: () => this.passables.passable(),
        passWake: (w) => this.passables.passWake(w),
        apply: (req) => applyDma(this.smmus[this.byName.get(req.device)!.smmu]!, req),
        record: (r) => this.onDma(r),
        aer: (e) => this.onAer(e),
        job: (j) => {
          for (const o of this.observers) o.job?.(j);
        },
        ...(fleet.deviceDmi && fleet.deviceDmi !== 'off' ? { dmi: (this.deviceGrants = new DeviceGrants(this, fleet.deviceDmi)) } : {}),
      },
      (name) => this.byName.get(name)?.base,
    );
    this.seq.addActor(actor);
  }

  region(name: 'primary-ram' | 'crashkernel'): Region {
    const r =
      this.memory.region(name) ??
      this.memory.regions().find((x) => (name === 'primary-ram' ? x.kind === 'ram' && x.owner === 'primary-kernel' : x.kind === 'crashkernel'));
    if (!r)
      throw new SchemaError('scenario', [
        { path: 'platform.regions', rule: `needs a ${name === 'primary-ram' ? "'ram' region owned by primary-kernel" : "'crashkernel' region"}` },
      ]);
    return r;
  }

  smmuNames(): string[] {
    return this.smmus.map((s) => s.name);
  }

  /** The SMMU `device` sits behind. */
  smmuOf(device: string): SmmuV3 | undefined {
    const d = this.byName.get(device);
    return d ? this.smmus[d.smmu] : undefined;
  }

  /**
   * Until when nothing but the fleet and the running task can happen (Sequencer.quiet), and no
   * panic can cut in: now while a panic after N transactions is armed (the fleet may reach N).
   */
  quietUntil(): number | undefined {
    return this.countTriggerArmed() ? this.clock.now() : this.seq.quiet();
  }

  /** A panic after N DMA transactions is armed and has not happened yet. */
  countTriggerArmed(): boolean {
    return this.countTrigger !== undefined && this.crashAt === undefined;
  }

  ownerOf(smmu: string, sid: number): string | undefined {
    return this.owners.get(`${smmu}/${sid}`);
  }

  // ---- the fleet, stepped through the coupler ----

  private onDma(r: DmaRecord): void {
    this.collector.record(r);
    for (const o of this.observers) o.dma?.(r);
    if (this.countTrigger && this.crashAt === undefined && this.collector.transactions - this.countTrigger.base >= this.countTrigger.count)
      this.crash(`panic after ${this.countTrigger.count} DMA transactions`);
  }

  // ---- PlatformPort ----

  /** Why `kernel`'s CPUs stopped (the primary's panic, the kdump kernel's), or undefined while they run. */
  cpuHalted(kernel: KernelName): string | undefined {
    return kernel === 'primary' ? (this.crashAt !== undefined ? this.crashReason! : undefined) : this.panic?.reason;
  }

  /** The memory writer of `kernel`'s CPU stores (`primary-cpu`, `kdump-cpu`). */
  cpuWriter(kernel: KernelName): number {
    return this.writers[kernel];
  }

  private refuse(kernel: KernelName): void {
    const why = this.cpuHalted(kernel);
    if (why !== undefined) throw new CpuHalted(why);
  }

  async mmioRead(kernel: KernelName, smmu: number, offset: number, size: MmioSize) {
    this.refuse(kernel);
    return this.smmus[smmu]!.mmioRead(offset, size);
  }

  async mmioWrite(kernel: KernelName, smmu: number, offset: number, size: MmioSize, value: bigint) {
    this.refuse(kernel);
    return this.smmus[smmu]!.mmioWrite(offset, size, value);
  }

  async memRead(kernel: KernelName, pa: number, length: number) {
    this.refuse(kernel);
    // A CPU load from memory firmware offlined (a failed CXL device's) is an SError.
    const region = this.memory.regionAt(pa)?.name;
    const touch = region ? this.ras.touch(region) : undefined;
    if (touch && touch.kind === 'panic' && kernel === 'kdump') {
      for (const l of touch.lines) this.logs.kdump.log('err', 'kernel', l);
      this.serrors.push({ at: this.clock.now(), reason: touch.reason });
      this.kdumpPanics(touch.reason);
      throw new CpuHalted(touch.reason);
    }
    const r = this.memory.read(pa, length);
    return r.ok ? r : { ok: false as const, fault: r.fault, address: r.address };
  }

  /**
   * What `kernel`'s load would return now, if it is a plain one (no fault, no offlined memory;
   * MMIO reads have no side effects): what a remote platform sends with a wake-up (PlatformPort.sleep).
   */
  peek(kernel: KernelName, at: NextLoad): Uint8Array | MmioOutcome | undefined {
    if (kernel === 'kdump' ? this.panic : this.crashAt !== undefined) return undefined;
    if ('smmu' in at) return this.smmus[at.smmu]?.mmioRead(at.offset, at.size);
    const region = this.memory.regionAt(at.pa)?.name;
    if (region && this.ras.touch(region)) return undefined;
    const r = this.memory.read(at.pa, at.length);
    return r.ok ? r.data : undefined;
  }

  async memWrite(kernel: KernelName, pa: number, data: Uint8Array) {
    this.refuse(kernel);
    const r = this.memory.write(pa, data, this.writers[kernel]);
    return r.ok ? r : { ok: false as const, fault: r.fault, address: r.address };
  }

  now(): number {
    return this.clock.now();
  }

  nextEventTime(): number | undefined {
    return this.seq.nextEventTime();
  }

  sleep(task: number, ns: number): Promise<void> {
    return this.seq.sleep(task, ns);
  }

  spawn(name: string, owner: Owner): number {
    return this.seq.spawn(name, owner);
  }

  finish(task: number): void {
    this.seq.finish(task);
  }

  control(device: string, c: DeviceControl): void {
    this.coupler.control(device, c, this.clock.now());
  }

  addMapping(device: string, m: Mapping): void {
    let l = this.mappings.get(device);
    if (!l) this.mappings.set(device, (l = []));
    l.push(m);
  }

  endMapping(device: string, iova: number): void {
    for (const m of this.mappings.get(device) ?? []) if (m.iova === iova && m.to === Infinity) m.to = this.clock.now();
  }

  onInterrupt(smmu: number, listener: (e: BusInterrupt) => void): () => void {
    let s = this.listeners.get(smmu);
    if (!s) this.listeners.set(smmu, (s = new Set()));
    s.add(listener);
    return () => s!.delete(listener);
  }

  panicNow(reason: string): void {
    this.crash(reason);
  }

  async crashedPages(limit: number): Promise<number[]> {
    const ram = this.memory.regions().filter((r) => r.kind === 'ram' && r.owner === 'primary-kernel');
    const pages = new Set<number>();
    const log = this.memory.writeLog();
    for (let i = 0; i < log.count; i++) {
      const r = log.get(i);
      if (!ram.some((x) => r.address < x.base + x.size && r.address + r.length > x.base)) continue;
      for (let p = r.address - (r.address % PAGE); p < r.address + r.length; p += PAGE) pages.add(p);
    }
    return [...pages]
      .filter((p) => ram.some((x) => p >= x.base && p < x.base + x.size))
      .sort((a, b) => a - b)
      .slice(0, limit);
  }

  // ---- the crash timeline ----

  /** Panic once the fleet has issued `count` more transactions. */
  crashAfter(count: number): void {
    this.countTrigger = { base: this.collector.transactions, count };
  }

  /** The primary kernel's panic: its CPUs stop, stores from now on are the kdump epoch. */
  crash(reason: string): void {
    if (this.crashAt !== undefined) return;
    this.crashAt = this.clock.now();
    this.crashReason = reason;
    this.phase = 'kexec';
    this.memory.setEpoch('kdump');
    const log = this.logs.primary;
    log.log('err', 'kernel', `Kernel panic - not syncing: ${reason}`);
    log.log('err', 'kernel', 'Starting crashdump kernel...');
    log.log('err', 'kernel', 'Bye!');
    this.seq.halt('primary', reason);
    void this.kernels.primary?.halt(reason);
    this.collector.crashAt = this.crashAt;
    for (const d of this.devices) this.atCrash.set(d.name, this.coupler.inFlight(d.name, this.crashAt));
    for (const o of this.observers) o.crash?.(this.crashAt, reason, this.atCrash);
    this.injections('at-crash');
  }

  /** kexec done: the kdump kernel starts. */
  startKdump(kdump: KernelLink): void {
    this.phase = 'kdump';
    this.kdumpAt = this.clock.now();
    this.kernels.kdump = kdump;
    for (const o of this.observers) o.kexec?.(this.kdumpAt);
  }

  /** The kdump kernel dies (or never boots): everything it was doing stops. */
  kdumpPanics(reason: string): void {
    if (this.panic) return;
    this.panic = { at: this.clock.now(), reason, beforeBoot: this.phase !== 'kdump' };
    for (const o of this.observers) o.kdumpPanic?.(this.panic.at, reason);
    this.seq.halt('kdump', reason);
    void this.kernels.kdump?.halt(reason);
  }

  private onAer(e: AerError): void {
    const aerReady = this.phase === 'kdump' && this.kdumpAt !== undefined && this.clock.now() >= this.kdumpAt + this.spec.kdump.aerServiceAtNs;
    const n = this.aerByDevice.get(e.device) ?? { correctable: 0, nonFatal: 0, fatal: 0 };
    this.aerByDevice.set(e.device, n);
    if (e.severity === 'correctable') n.correctable++;
    else if (e.severity === 'non-fatal') n.nonFatal++;
    else n.fatal++;
    const a = this.ras.handle(e, { phase: this.phase, aerServiceReady: this.phase === 'primary' || aerReady });
    for (const o of this.observers) o.aer?.(e, a.kind);
    const log = this.phase === 'kdump' ? this.logs.kdump : this.phase === 'primary' ? this.logs.primary : undefined;
    const pcieport = 'pcieport 0000:00:01.0';
    if (a.kind === 'logged') for (const l of a.lines) (a.by === 'os' ? log : (log ?? this.logs.platform))?.log('err', a.by === 'os' ? pcieport : 'GHES', l);
    else if (a.kind === 'device-reset') {
      for (const l of a.lines) log?.log('err', pcieport, l);
      this.aerResets.set(e.device, (this.aerResets.get(e.device) ?? 0) + 1);
      this.control(e.device, { op: 'flr' });
    } else if (a.kind === 'memory-offline') {
      const lines = a.lines;
      this.clock.after(this.spec.platform.rasEscalationNs, 'firmware memory offline', () => {
        for (const l of lines) this.logs.platform.log('err', 'firmware', l);
      });
    } else if (a.kind === 'panic') {
      if (this.phase === 'primary' || this.escalating) return;
      // Firmware takes a while to escalate (GHES/SDEI): the storm goes on until then.
      this.escalating = true;
      const reason = a.reason;
      const lines = a.lines;
      this.clock.after(this.spec.platform.rasEscalationNs, 'firmware escalation', () => {
        this.serrors.push({ at: this.clock.now(), reason });
        for (const l of lines) (this.phase === 'kdump' ? this.logs.kdump : this.logs.platform).log('err', 'kernel', l);
        this.kdumpPanics(reason);
      });
    }
  }

  /** Per device: AER messages it sent, by severity, and resets the OS's AER recovery did. */
  readonly aerByDevice = new Map<string, { correctable: number; nonFatal: number; fatal: number }>();
  readonly aerResets = new Map<string, number>();

  // ---- fault injections ----

  injections(when: Injection['when']): void {
    for (const [i, inj] of this.spec.injections.entries()) if (inj.when === when) this.inject(inj.fault, i);
  }

  scheduleTimedInjections(): void {
    for (const [i, inj] of this.spec.injections.entries()) {
      if (inj.when === 'at') this.clock.schedule(Math.max(inj.atNs!, this.clock.now()), `injection ${i}`, () => this.inject(inj.fault, i));
    }
  }

  injectedFaults(): readonly string[] {
    return this.injected;
  }

  readWords(pa: number, n: number): bigint[] | undefined {
    const r = this.memory.read(pa, n * 8);
    if (!r.ok) return undefined;
    const v = new DataView(r.data.buffer, r.data.byteOffset, r.data.byteLength);
    return Array.from({ length: n }, (_, i) => v.getBigUint64(i * 8, true));
  }

  /** A rogue store (a fault injection), attributed to no kernel and no device. */
  private poke(pa: number, words: readonly bigint[]): void {
    const bytes = new Uint8Array(words.length * 8);
    const v = new DataView(bytes.buffer);
    words.forEach((x, i) => v.setBigUint64(i * 8, BigInt.asUintN(64, x), true));
    this.memory.write(pa, bytes, this.injector);
  }

  /** Where StreamID `sid`'s L1 descriptor and STE are in the table the SMMU walks now (from its registers). */
  hwStrtab(smmu: number, sid: number): { l1?: number; ste?: number } {
    const m = this.smmus[smmu]!;
    const base = Number(STRTAB_BASE.get([m.register('STRTAB_BASE')], 'ADDR'));
    const cfg = m.register('STRTAB_BASE_CFG');
    const fmt = Number(STRTAB_BASE_CFG.get([cfg], 'FMT'));
    const split = Number(STRTAB_BASE_CFG.get([cfg], 'SPLIT'));
    if (fmt === 0) return { ste: base + sid * 64 };
    const l1 = base + Math.floor(sid / 2 ** split) * 8;
    const d = this.readWords(l1, 1);
    if (!d) return { l1 };
    const l2 = Number(L1STD.get(d, 'L2Ptr'));
    return { l1, ste: L1STD.get(d, 'Span') === 0n || l2 === 0 ? undefined : l2 + (sid % 2 ** split) * 64 };
  }

  /** A live CD of (sid, ssid), through the STE the SMMU walks. */
  private hwCd(smmu: number, sid: number, ssid: number): number | undefined {
    const pa = this.hwStrtab(smmu, sid).ste;
    const ste = pa === undefined ? undefined : this.readWords(pa, 8);
    if (!ste || STE.get(ste, 'Config') !== 5n) return undefined;
    const ptr = Number(STE.get(ste, 'S1ContextPtr'));
    if (STE.get(ste, 'S1Fmt') === 0n) return ptr + ssid * 64;
    const l1 = this.readWords(ptr + Math.floor(ssid / 1024) * 8, 1);
    if (!l1 || CD_L1.get(l1, 'V') !== 1n) return undefined;
    return Number(CD_L1.get(l1, 'L2Ptr')) + (ssid % 1024) * 64;
  }

  /** A fault a script injects now (validated by parseFaults); `i` names it in errors. */
  injectNow(f: Fault, i: number): void {
    this.inject(f, i, `faults[${i}]`);
  }

  private inject(f: Fault, i: number, where = `injections[${i}]`): void {
    const smmu = 'smmu' in f ? this.smmus[f.smmu]! : undefined;
    const fail = (rule: string): never => {
      throw new SchemaError('scenario', [{ path: `${where}.fault`, rule }]);
    };
    const edit = (layout: typeof STE, pa: number, n: number, set: Record<string, bigint>, what: string) => {
      let w = this.readWords(pa, n) ?? layout.zero();
      for (const [name, v] of Object.entries(set)) {
        if (!layout.field(name)) fail(`${what} has no field ${name}`);
        w = layout.with(w, name, v);
      }
      this.poke(pa, w);
    };
    switch (f.kind) {
      case 'register':
        if (!findRegister(f.name)) fail(`no register ${f.name}`);
        smmu!.injectRegister(f.name, f.value);
        break;
      case 'register-field': {
        const r = findRegister(f.register) ?? fail(`no register ${f.register}`);
        if (!r.field(f.field)) fail(`${f.register} has no field ${f.field}`);
        smmu!.injectRegister(f.register, r.with([smmu!.register(f.register)], f.field, f.value)[0]!);
        break;
      }
      case 'l1std': {
        const { l1 } = this.hwStrtab(f.smmu, f.sid);
        if (l1 === undefined) fail('the stream table is linear: it has no L1 descriptors');
        edit(L1STD, l1!, 1, f.set, 'L1STD');
        break;
      }
      case 'ste': {
        const { ste } = this.hwStrtab(f.smmu, f.sid);
        if (ste === undefined) fail(`StreamID 0x${f.sid.toString(16)} has no STE in the table`);
        edit(STE, ste!, 8, f.set, 'STE');
        break;
      }
      case 'cd': {
        const cd = this.hwCd(f.smmu, f.sid, f.ssid) ?? fail(`StreamID 0x${f.sid.toString(16)} has no stage-1 CD for SubstreamID ${f.ssid}`);
        edit(CD, cd, 8, f.set, 'CD');
        break;
      }
      case 'pte': {
        const d = this.byName.get(f.device)!;
        const buf = (this.mappings.get(f.device) ?? []).filter((m) => m.kernel === 'primary')[f.buffer] ?? fail(`${f.device} has no DMA buffer ${f.buffer}`);
        const cd = this.hwCd(d.smmu, d.sids[0]!, 0);
        const words = cd === undefined ? undefined : this.readWords(cd, 8);
        if (!words || CD.get(words, 'V') !== 1n) fail(`${f.device} has no stage-1 translation in the crashed tables`);
        const pte =
          leafPte(this, Number(CD.get(words!, 'TTB0')), Number(CD.get(words!, 'T0SZ')), granuleOf(Number(CD.get(words!, 'TG0'))), buf.iova) ??
          fail(`no leaf PTE for IOVA 0x${buf.iova.toString(16)}`);
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

/** CD.TG0 to a granule (IHI0070 5.4: 0 = 4KB, 1 = 64KB, 2 = 16KB). */
function granuleOf(tg0: number): '4k' | '16k' | '64k' {
  return tg0 === 1 ? '64k' : tg0 === 2 ? '16k' : '4k';
}

/** The leaf page-table entry for `iova` in a VMSAv8-64 stage-1 table (walked as the SMMU would). */
function leafPte(p: PlatformRole, root: number, t0sz: number, granule: '4k' | '16k' | '64k', iova: number): number | undefined {
  const g = GRANULE_SHIFT[granule];
  const bpl = g - 3;
  const ia = 64 - t0sz;
  const startLevel = 3 - Math.floor((ia - g - 1) / bpl);
  const t = findFormat(`pte-s1-${granule}-table`)!;
  let table = root;
  for (let level = startLevel; level <= 3; level++) {
    const shift = g + (3 - level) * bpl;
    const index = level === startLevel ? Math.floor(iova / 2 ** shift) : Math.floor(iova / 2 ** shift) % 2 ** bpl;
    const at = table + index * 8;
    const e = p.readWords(at, 1);
    if (!e || t.get(e, 'Valid') === 0n) return undefined;
    if (level === 3 || t.get(e, 'Type') === 0n) return at;
    table = Number(t.get(e, 'NextLevelTable'));
  }
  return undefined;
}
