// SPDX-License-Identifier: Apache-2.0
// The scenario timeline, as a task of the sequencer (docs/services.md): the primary kernel
// boots (SMMU probe, every device's default domain, every driver's rings and buffers), the
// devices run, the panic comes (at a time, after N transactions, between two stores of an STE
// update, inside dma_unmap), kexec, the kdump kernel's SMMU probe under its policy, the iommu
// core's probe of every device, the endpoint drivers' probes (reset, then first DMA-API use),
// the vmcore, the end. The same code runs in one process (local links) and across the four
// services (remote links); the report is built from what each role reports.

import { FleetSim } from '@kdump-twin/endpoint';
import { SeededRng, type DmiMode } from '@kdump-twin/platform';
import { computeCorruption } from './collect';
import { deviceTable } from './devices';
import { KernelRole } from './kernel-role';
import type { FleetLink, KernelLink, PlatformPort } from './links';
import { PlatformRole } from './platform-role';
import type { Check } from './predict';
import { buildReport, type Report } from './report';
import type { ScenarioSpec } from './spec';
import type { FleetView, KernelView } from './views';
import { pageDigest } from './kernel-role';

/** How the platform reaches the other roles: direct objects in one process, RPC clients between services. */
export interface RunLinks {
  readonly fleet: FleetLink;
  /** The primary kernel, created before the boot (a service opens its session here). */
  primary(platform: PlatformPort, p: PlatformRole): KernelLink | Promise<KernelLink>;
  /** The kdump kernel, created at the kexec hand-off. */
  kdump(platform: PlatformPort, p: PlatformRole): KernelLink | Promise<KernelLink>;
  /** Ends the run's sessions in the other roles (after the report's views were fetched). */
  close?(): Promise<void>;
}

export interface RunOptions {
  /** Called with the platform before anything runs (telemetry adapters add observers here). */
  readonly onPlatform?: (p: PlatformRole) => void;
  /** The predicted outcome to check the report against (a catalogue entry's, for this policy). */
  readonly predict?: readonly Check[];
  /** The other roles; default: all in this process. */
  readonly links?: RunLinks;
  /** Called with every role's view at the end (a service keeps the MMIO traces for later queries). */
  readonly onViews?: (v: RunViews) => void;
}

/** What each role reported at the end of a run. */
export interface RunViews {
  readonly primary: KernelView;
  readonly kdump: KernelView | null;
  readonly fleet: FleetView;
}

/** The fleet in this process. */
export class LocalFleet implements FleetLink {
  readonly sim = new FleetSim();

  constructor(
    spec: ScenarioSpec,
    /** Direct memory for the devices (device-dmi.ts); off by default: in one process nothing crosses, and this run is the reference. */
    readonly deviceDmi: DmiMode = 'off',
  ) {
    const rng = new SeededRng(spec.seed);
    for (const d of deviceTable(spec)) this.sim.add({ base: d.base, params: d.params }, rng.fork(`device ${d.name}`));
  }

  async slice(input: Parameters<FleetSim['slice']>[0]) {
    return this.sim.slice(input);
  }

  nextEventTime(): number | undefined {
    return this.sim.nextEventTime();
  }

  async setTraffic(device: string, changes: Readonly<Record<string, unknown>>): Promise<Record<string, number>> {
    return this.sim.setTraffic(device, changes);
  }

  async view(expected?: { device: string; pages: Readonly<Record<string, string>> }): Promise<FleetView> {
    return fleetView(this.sim, expected);
  }
}

/** The fleet's contribution to the report (also what the fleet service answers). */
export function fleetView(sim: FleetSim, expected?: { device: string; pages: Readonly<Record<string, string>> }): FleetView {
  let disk: FleetView['disk'] = null;
  if (expected) {
    const blocks = sim.disk(expected.device);
    const lbaBytes = (sim.get(expected.device)?.cfg as { lbaBytes?: number } | undefined)?.lbaBytes ?? 4096;
    let mismatched = 0;
    let missing = 0;
    for (const [lba, digest] of Object.entries(expected.pages)) {
      // A WRITE command's data is kept under its starting LBA; find the page inside it.
      let hit: string | undefined;
      for (const [start, data] of blocks ?? []) {
        const off = (Number(lba) - start) * lbaBytes;
        if (off >= 0 && off + 4096 <= data.length) {
          hit = pageDigest(data.subarray(off, off + 4096));
          break;
        }
      }
      if (hit === undefined) missing++;
      else if (hit !== digest) mismatched++;
    }
    disk = { mismatchedPages: mismatched, missingPages: missing };
  }
  return { devices: sim.stats(), disk };
}

/** Both kernels in this process, over the platform object itself. */
export function localLinks(spec: ScenarioSpec, o: { readonly deviceDmi?: DmiMode } = {}): RunLinks {
  return {
    fleet: new LocalFleet(spec, o.deviceDmi),
    primary: (port, p) => new KernelRole('primary', spec, port, p.region('primary-ram'), p.smmuNames()),
    kdump: (port, p) => new KernelRole('kdump', spec, port, p.region('crashkernel'), p.smmuNames()),
  };
}

/** What the timeline learned that only the runner knows: the boot's result, each SMMU probe's, why no vmcore was attempted. */
export interface Outcome {
  boot: { ok: boolean; reason?: string };
  smmuProbes: ({ ok: true } | { ok: false; errno: string; reason: string } | undefined)[];
  vmcoreSkipped?: { reason: string; target: string | null };
}

/** Runs a validated scenario to its report. Same spec, same seed: the same report, byte for byte. */
export async function runScenario(spec: ScenarioSpec, o: RunOptions = {}): Promise<Report> {
  const links = o.links ?? localLinks(spec);
  const p = new PlatformRole(spec, links.fleet);
  o.onPlatform?.(p);
  const primary = await links.primary(p, p);
  p.kernels.primary = primary;
  let kdump: KernelLink | undefined;
  p.scheduleTimedInjections();
  const out: Outcome = { boot: { ok: false }, smmuProbes: [] };
  let done = false;
  p.seq.spawn('scenario', 'runner', async (ctx) => {
    try {
      await timeline(
        spec,
        p,
        primary,
        () => kdump,
        (k) => (kdump = k),
        links,
        ctx,
        out,
      );
    } finally {
      done = true;
    }
  });
  try {
    await p.seq.run(() => done);
    return await collectReport(p, links.fleet, primary, kdump, out, o.predict, o.onViews);
  } finally {
    await links.close?.();
  }
}

/** The report of a run (or of a session so far) from the platform and what each role reports now. */
export async function collectReport(
  p: PlatformRole,
  fleetLink: FleetLink,
  primary: KernelLink,
  kdump: KernelLink | undefined,
  out: Outcome,
  predict?: readonly Check[],
  onViews?: (v: RunViews) => void,
): Promise<Report> {
  const primaryView = await primary.view();
  const kdumpView: KernelView | null = kdump ? await kdump.view() : null;
  const vm = kdumpView?.vmcore;
  const fleet = await fleetLink.view(vm && vm.attempted && vm.target ? { device: vm.target, pages: vm.expected } : undefined);
  onViews?.({ primary: primaryView, kdump: kdumpView, fleet });
  const corruption = computeCorruption(
    p.memory,
    (smmu, sid) => p.ownerOf(smmu, sid),
    p.mappings,
    (dev) => p.quiesced.get(dev),
  );
  return buildReport(
    { platform: p, primary: primaryView, kdump: kdumpView, fleet, corruption, boot: out.boot, smmuProbes: out.smmuProbes, vmcoreSkipped: out.vmcoreSkipped },
    predict,
  );
}

async function timeline(
  spec: ScenarioSpec,
  p: PlatformRole,
  primary: KernelLink,
  kdumpOf: () => KernelLink | undefined,
  setKdump: (k: KernelLink) => void,
  links: RunLinks,
  ctx: { id: number; sleep(ns: number): Promise<void> },
  out: Outcome,
): Promise<void> {
  const T = ctx.id;
  const live = (): KernelLink | undefined => (p.phase === 'primary' ? primary : p.phase === 'kdump' && !p.panic ? kdumpOf() : undefined);
  /** Lets virtual time pass to `t`; the running kernel takes its interrupts every 50 us. */
  const until = async (t: number, step = 50_000) => {
    while (p.now() < t && !p.panic) {
      await ctx.sleep(Math.min(step, t - p.now()));
      await live()?.serviceIrqs(T);
    }
  };

  out.boot = await primary.boot(T);
  p.bootDoneAt = p.now();
  if (!out.boot.ok) return;
  await primary.setupDrivers(T);

  const t = spec.crash.trigger;
  const at = p.bootDoneAt + ('atNs' in t ? t.atNs : 0);
  if (t.kind === 'time') {
    await until(at);
    p.crash(`panic at t=${p.now()} ns (the scenario's crash time)`);
  } else if (t.kind === 'transactions') {
    p.crashAfter(t.count);
    const base = p.collector.transactions;
    while (p.crashAt === undefined && p.now() < p.bootDoneAt + 1_000_000_000) {
      await ctx.sleep(10_000);
      if (p.crashAt === undefined) await primary.serviceIrqs(T);
    }
    if (p.crashAt === undefined) p.crash(`panic after 1 s of virtual time: only ${p.collector.transactions - base} of ${t.count} transactions happened`);
  } else if (t.kind === 'mid-ste-update') {
    await until(at);
    await primary.reattach(T, t.device, t.domain, t.afterStores);
    if (p.crashAt === undefined) p.crash(`panic after the STE update of ${t.device} completed (fewer than ${t.afterStores} STE stores)`);
  } else if (t.kind === 'mid-unmap') {
    await until(at);
    await primary.unmap(T, t.device, t.buffer);
    if (p.crashAt === undefined) p.crash(`panic after dma_unmap of ${t.device} completed`);
  } else {
    await until(at);
    await primary.unmap(T, t.device, t.buffer, false);
    const returned = p.now();
    await until(returned + t.afterNs);
    if (p.crashAt === undefined) p.crash(`panic ${t.afterNs} ns after dma_unmap of ${t.device} buffer ${t.buffer} returned`);
  }

  await until(p.crashAt! + spec.crash.kexecDelayNs);
  if (p.panic) return;
  const kdump = await links.kdump(p, p);
  setKdump(kdump);
  p.startKdump(kdump);
  p.injections('before-kdump-probe');
  await until(p.kdumpAt! + spec.crash.smmuProbeDelayNs);
  out.smmuProbes = await kdump.probeSmmus(T);
  p.injections('after-smmu-probe');
  await kdump.probeDevices(T);
  const devices = deviceTable(spec);
  const drivers = devices
    .filter((d) => d.spec.kdumpDriver.present)
    .sort((a, b) => a.spec.kdumpDriver.probeAtNs - b.spec.kdumpDriver.probeAtNs || (a.name < b.name ? -1 : 1));
  const setups = new Map<string, Awaited<ReturnType<KernelLink['probeDriver']>>>();
  for (const d of drivers) {
    await until(p.kdumpAt! + d.spec.kdumpDriver.probeAtNs);
    if (p.panic) break;
    p.quiesced.set(d.name, p.now());
    setups.set(d.name, await kdump.probeDriver(T, d.name));
  }
  const end = p.kdumpAt! + spec.run.endAfterKdumpNs;
  if (!spec.run.vmcore.save) out.vmcoreSkipped = { reason: 'vmcore save disabled by the scenario', target: null };
  else if (!p.panic) {
    const target = drivers.find((d) => d.spec.kdumpDriver.role === 'dump-target');
    const setup = target ? setups.get(target.name) : undefined;
    if (!target) out.vmcoreSkipped = { reason: 'no device is the dump target (kdumpDriver.role = dump-target)', target: null };
    else if (!setup?.ok)
      out.vmcoreSkipped = {
        reason: `the dump target's kdump driver failed (${setup && !setup.ok ? `${setup.step}: -${setup.errno}` : 'its driver did not probe'})`,
        target: target.name,
      };
    else await kdump.saveVmcore(T, target.name, spec.run.vmcore.maxPages, end);
  }
  await until(end);
  if (spec.kdump.unbindAtEnd && !p.panic) await kdump.unbind();
}
