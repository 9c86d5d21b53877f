// SPDX-License-Identifier: Apache-2.0
// A scenario driven step by step (the scripting API): the same platform, kernels and fleet as
// a run, with the timeline's steps as calls: boot the primary kernel, attach or unmap, crash
// with injections, kexec, probe the SMMUs under the kdump policy, the iommu core's probe, an
// endpoint driver's probe, the vmcore, and virtual time passing in between. Each step runs as a
// task of the sequencer, so everything else (devices, SMMU timers, driver threads) happens in
// order meanwhile; steps run one at a time. The report is available at any point.

import { collectReport, localLinks, type Outcome, type RunLinks } from './runner';
import type { KernelLink } from './links';
import { PlatformRole } from './platform-role';
import type { Check } from './predict';
import type { Report } from './report';
import type { Fault, ScenarioSpec } from './spec';
import type { SetupResult } from '@kdump-twin/endpoint';

/** A step asked out of order (boot twice, probe before kexec): the error names the rule. */
export class SessionStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SessionStateError';
  }
}

export type SessionPhase = 'created' | 'booted' | 'crashed' | 'kdump' | 'closed';

export class Session {
  readonly p: PlatformRole;
  private primary!: KernelLink;
  private kdump: KernelLink | undefined;
  private readonly out: Outcome = { boot: { ok: false }, smmuProbes: [] };
  private busy: string | undefined;
  private closed = false;

  private constructor(
    readonly spec: ScenarioSpec,
    private readonly links: RunLinks,
  ) {
    this.p = new PlatformRole(spec, links.fleet);
  }

  /** Builds the platform, the fleet and the primary kernel; nothing runs until a step. */
  static async open(spec: ScenarioSpec, links: RunLinks = localLinks(spec)): Promise<Session> {
    const s = new Session(spec, links);
    s.primary = await links.primary(s.p, s.p);
    s.p.kernels.primary = s.primary;
    s.p.scheduleTimedInjections();
    return s;
  }

  /** The step running now, if any. */
  get busyWith(): string | undefined {
    return this.busy;
  }

  get phase(): SessionPhase {
    if (this.closed) return 'closed';
    if (this.p.phase === 'kdump') return 'kdump';
    if (this.p.crashAt !== undefined) return 'crashed';
    return this.out.boot.ok ? 'booted' : 'created';
  }

  now(): number {
    return this.p.now();
  }

  /** Runs `fn` as a task now; the simulation runs until it ends. Steps never overlap. */
  private async step<T>(name: string, fn: (task: number) => Promise<T>): Promise<T> {
    if (this.closed) throw new SessionStateError('the session is closed');
    if (this.busy) throw new SessionStateError(`${name}: the session is busy with ${this.busy}; steps run one at a time`);
    this.busy = name;
    let result: { v: T } | undefined;
    let done = false;
    try {
      this.p.seq.spawn(name, 'runner', async (ctx) => {
        try {
          result = { v: await fn(ctx.id) };
        } finally {
          done = true;
        }
      });
      await this.p.seq.run(() => done);
      if (!result) throw new SessionStateError(`${name}: did not finish`);
      return result.v;
    } finally {
      this.busy = undefined;
    }
  }

  private live(): KernelLink | undefined {
    return this.p.phase === 'primary' ? this.primary : this.p.phase === 'kdump' && !this.p.panic ? this.kdump : undefined;
  }

  /** Lets `ns` of virtual time pass; the running kernel takes its interrupts every 50 us, as in a run. */
  async advance(ns: number): Promise<number> {
    if (!Number.isSafeInteger(ns) || ns < 0) throw new RangeError('ns: a non-negative integer of virtual nanoseconds');
    return this.step('advance', async (T) => {
      const end = this.p.now() + ns;
      while (this.p.now() < end) {
        await this.p.sleep(T, Math.min(50_000, end - this.p.now()));
        await this.live()?.serviceIrqs(T);
      }
      return this.p.now();
    });
  }

  /** The primary kernel probes every SMMU and every device's iommu probe and default domain. */
  async boot(): Promise<{ ok: boolean; reason?: string }> {
    if (this.phase !== 'created') throw new SessionStateError(`boot: the primary kernel boots once, before the crash (phase ${this.phase})`);
    const r = await this.step('boot', (T) => this.primary.boot(T));
    this.out.boot = r;
    this.p.bootDoneAt = this.p.now();
    return r;
  }

  /** Every device's driver sets up its rings and buffers and starts its device. */
  async setupDrivers(): Promise<void> {
    this.need('setupDrivers', 'booted');
    return this.step('setupDrivers', (T) => this.primary.setupDrivers(T));
  }

  /** Moves `device` to a new domain; with `panicAfterStores`, the CPU panics after that many stores into its STE. */
  async attach(device: string, domain: 'identity' | 'blocked' | 'dma', panicAfterStores = Number.MAX_SAFE_INTEGER): Promise<void> {
    this.need('attach', 'booted');
    this.device(device);
    return this.step('attach', (T) => this.primary.reattach(T, device, domain, panicAfterStores));
  }

  /** dma_unmap of the device's buffer `buffer`; the CPU panics before the TLBI. */
  async unmap(device: string, buffer: number): Promise<void> {
    this.need('unmap', 'booted');
    this.device(device);
    return this.step('unmap', (T) => this.primary.unmap(T, device, buffer));
  }

  /** The primary kernel panics now, after `injections` were applied (each as the scenario file's faults are). */
  crash(reason = 'panic requested by the script', injections: readonly Fault[] = []): number {
    if (this.closed) throw new SessionStateError('the session is closed');
    if (this.busy) throw new SessionStateError(`crash: the session is busy with ${this.busy}`);
    if (this.p.crashAt !== undefined) throw new SessionStateError(`crash: the primary kernel already panicked at t=${this.p.crashAt}`);
    this.p.crash(reason);
    injections.forEach((f, i) => this.p.injectNow(f, i));
    return this.p.crashAt!;
  }

  /** kexec: the kdump kernel starts (its SMMU driver has not probed yet). */
  async kexec(): Promise<number> {
    this.need('kexec', 'crashed');
    if (this.p.panic) throw new SessionStateError(`kexec: the kdump kernel cannot start: ${this.p.panic.reason}`);
    this.busy = 'kexec';
    try {
      this.kdump = await this.links.kdump(this.p, this.p);
    } finally {
      this.busy = undefined;
    }
    this.p.startKdump(this.kdump);
    this.p.injections('before-kdump-probe');
    return this.p.kdumpAt!;
  }

  /** arm_smmu_device_probe of every SMMU under the scenario's policy. */
  async probeSmmus(): Promise<Outcome['smmuProbes']> {
    const k = this.needKdump('probeSmmus');
    const r = await this.step('probeSmmus', (T) => k.probeSmmus(T));
    this.out.smmuProbes = r;
    this.p.injections('after-smmu-probe');
    return r;
  }

  /** bus_iommu_probe as the SMMUs register: in 6.12 no device is probed here (each is probed as its driver binds, probeDriver). */
  async probeDevices(): Promise<void> {
    const k = this.needKdump('probeDevices');
    return this.step('probeDevices', (T) => k.probeDevices(T));
  }

  /** The device's endpoint driver probes: reset (FLR), then its first DMA-API use. */
  async probeDriver(device: string): Promise<SetupResult | undefined> {
    const k = this.needKdump('probeDriver');
    this.device(device);
    this.p.quiesced.set(device, this.p.now());
    return this.step('probeDriver', (T) => k.probeDriver(T, device));
  }

  /** makedumpfile through `target` until done or `forNs` of virtual time. */
  async saveVmcore(target: string, maxPages: number, forNs: number): Promise<void> {
    const k = this.needKdump('saveVmcore');
    this.device(target);
    const deadline = this.p.now() + forNs;
    return this.step('saveVmcore', (T) => k.saveVmcore(T, target, maxPages, deadline));
  }

  /**
   * The rest of the scenario's kdump timeline: kexec (if not yet), the SMMU probe at
   * smmuProbeDelayNs, the iommu core's probe, each endpoint driver at its probeAtNs, the vmcore
   * through the dump target, until endAfterKdumpNs; as the runner does it.
   */
  async runKdump(): Promise<void> {
    if (this.phase === 'crashed') {
      await this.advance(Math.max(0, this.p.crashAt! + this.spec.crash.kexecDelayNs - this.now()));
      if (this.p.panic) return;
      await this.kexec();
    }
    this.needKdump('runKdump');
    const at = (ns: number) => this.advance(Math.max(0, this.p.kdumpAt! + ns - this.now()));
    await at(this.spec.crash.smmuProbeDelayNs);
    if (this.p.panic) return;
    await this.probeSmmus();
    if (this.p.panic) return;
    await this.probeDevices();
    const drivers = this.spec.devices
      .filter((d) => d.kdumpDriver.present)
      .sort((a, b) => a.kdumpDriver.probeAtNs - b.kdumpDriver.probeAtNs || (a.name < b.name ? -1 : 1));
    const setups = new Map<string, SetupResult | undefined>();
    for (const d of drivers) {
      await at(d.kdumpDriver.probeAtNs);
      if (this.p.panic) return;
      setups.set(d.name, await this.probeDriver(d.name));
    }
    const end = this.p.kdumpAt! + this.spec.run.endAfterKdumpNs;
    const target = drivers.find((d) => d.kdumpDriver.role === 'dump-target');
    const setup = target ? setups.get(target.name) : undefined;
    if (!this.spec.run.vmcore.save) this.out.vmcoreSkipped = { reason: 'vmcore save disabled by the scenario', target: null };
    else if (!target) this.out.vmcoreSkipped = { reason: 'no device is the dump target (kdumpDriver.role = dump-target)', target: null };
    else if (!setup?.ok)
      this.out.vmcoreSkipped = {
        reason: `the dump target's kdump driver failed (${setup && !setup.ok ? `${setup.step}: -${setup.errno}` : 'its driver did not probe'})`,
        target: target.name,
      };
    else if (!this.p.panic) await this.saveVmcore(target.name, this.spec.run.vmcore.maxPages, Math.max(0, end - this.now()));
    if (!this.p.panic) await this.advance(Math.max(0, end - this.now()));
  }

  /** Changes a device's live traffic parameters (between steps). */
  async setTraffic(device: string, changes: Readonly<Record<string, unknown>>): Promise<Record<string, number>> {
    this.device(device);
    if (this.busy) throw new SessionStateError(`setTraffic: the session is busy with ${this.busy}`);
    return this.links.fleet.setTraffic(device, changes);
  }

  /** A device-register write from outside the kernels (a script's FLR), in this instant. */
  control(device: string, c: Parameters<PlatformRole['control']>[1]): void {
    this.device(device);
    if (this.busy) throw new SessionStateError(`control: the session is busy with ${this.busy}`);
    this.p.control(device, c);
  }

  /** The report as of now (prediction checks if given). */
  async report(predict?: readonly Check[]): Promise<Report> {
    if (this.busy) throw new SessionStateError(`report: the session is busy with ${this.busy}`);
    return collectReport(this.p, this.links.fleet, this.primary, this.kdump, this.out, predict);
  }

  /** The kernel views (MMIO trace, log, driver state) of one kernel. */
  kernel(name: 'primary' | 'kdump'): KernelLink | undefined {
    return name === 'primary' ? this.primary : this.kdump;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.links.close?.();
  }

  private need(step: string, phase: SessionPhase): void {
    if (this.phase !== phase) throw new SessionStateError(`${step}: needs phase ${phase} (now ${this.phase})`);
  }

  private needKdump(step: string): KernelLink {
    if (!this.kdump || this.p.phase !== 'kdump') throw new SessionStateError(`${step}: needs the kdump kernel (kexec first; phase ${this.phase})`);
    if (this.p.panic) throw new SessionStateError(`${step}: the kdump kernel panicked: ${this.p.panic.reason}`);
    return this.kdump;
  }

  private device(name: string): void {
    if (!this.p.devices.some((d) => d.name === name))
      throw new RangeError(`device: no device ${name} in this session (${this.p.devices.map((d) => d.name).join(', ')})`);
  }
}
