// SPDX-License-Identifier: Apache-2.0
// The scenario timeline, in virtual time: the primary kernel boots (SMMU probe, every device's
// default domain, every driver's rings and buffers), the devices run, the panic comes (at a
// time, after N transactions, between two stores of an STE update, in the middle of an unmap),
// kexec, the kdump kernel's SMMU probe under its policy, the iommu core's probe of every device,
// the endpoint drivers' probes (quiesce, then the first DMA-API use), the vmcore save, the end.

import { createDriver } from '@kdump-twin/endpoint';
import type { DeviceProbe } from '@kdump-twin/kernel';
import { computeCorruption, type Corruption } from './collect';
import type { Check } from './predict';
import { buildReport, type Report } from './report';
import type { ScenarioSpec } from './spec';
import { noSave, saveVmcore, type VmcoreResult } from './vmcore';
import { World, type DeviceState } from './world';

export interface RunOptions {
  /** Called with the world before anything runs (telemetry adapters add observers here). */
  readonly onWorld?: (w: World) => void;
  /** The predicted outcome to check the report against (a catalogue entry's, for this policy). */
  readonly predict?: readonly Check[];
}

const byName = (a: DeviceState, b: DeviceState) => (a.spec.name < b.spec.name ? -1 : a.spec.name > b.spec.name ? 1 : 0);

async function bootPrimary(w: World): Promise<{ ok: boolean; reason?: string }> {
  const set = w.primary;
  for (const [i, k] of set.kernels.entries()) {
    const r = await k.probeSmmu();
    if (!r.ok) return { ok: false, reason: `smmu${i}: ${r.reason}` };
  }
  const devices = [...w.devices.values()].filter((d) => d.spec.inPrimary).sort(byName);
  for (const d of devices) {
    const type = w.spec.primary.passthrough || d.spec.defaultDomain === 'identity' ? 'identity' : d.spec.defaultDomain;
    d.primaryProbe = await set.kernelOf(d).probeDevice(w.master(d), type);
  }
  const host = w.host(set);
  for (const d of devices) {
    d.primaryDriver = createDriver(d.endpoint, d.params, host, w.clock);
    d.primarySetup = await d.primaryDriver.setup();
  }
  return { ok: true };
}

/** Waits for the crash trigger and makes the primary kernel panic. */
async function crash(w: World): Promise<void> {
  const t = w.spec.crash.trigger;
  const set = w.primary;
  const at = w.bootDoneAt + ('atNs' in t ? t.atNs : 0);
  switch (t.kind) {
    case 'time':
      await w.advanceTo(at);
      w.crash(`panic at t=${w.clock.now()} ns (the scenario's crash time)`);
      return;
    case 'transactions': {
      const base = w.collector.transactions;
      w.collector.onTransaction = () => {
        if (w.crashAt === undefined && w.collector.transactions - base >= t.count) w.crash(`panic after ${t.count} DMA transactions`);
      };
      await w.advanceUntil(() => w.crashAt !== undefined, w.bootDoneAt + 1_000_000_000);
      w.collector.onTransaction = undefined;
      if (w.crashAt === undefined) w.crash(`panic after 1 s of virtual time: only ${w.collector.transactions - base} of ${t.count} transactions happened`);
      return;
    }
    case 'mid-ste-update': {
      await w.advanceTo(at);
      const d = w.devices.get(t.device)!;
      const k = set.kernelOf(d);
      const m = k.master(t.device);
      const stes = d.sids.map((sid) => k.smmu.stePa(sid)).filter((x): x is number => x !== undefined);
      let stores = 0;
      const bus = set.buses[d.spec.smmu]!;
      bus.onHalt = (why) => w.crash(why);
      bus.hook = {
        after: (a) => {
          if (a.op !== 'mem-write' || !stes.some((s) => a.pa < s + 64 && a.pa + a.length > s)) return undefined;
          return ++stores >= t.afterStores ? `panic during the STE update of ${t.device} (after ${stores} STE store${stores === 1 ? '' : 's'}, moving it to a ${t.domain} domain)` : undefined;
        },
      };
      if (m) {
        await set.guarded(async () => {
          const dom = await k.domains.alloc(t.domain);
          await k.domains.attach(m, dom);
        });
      }
      bus.hook = undefined;
      if (w.crashAt === undefined) w.crash(`panic after the STE update of ${t.device} completed (${stores} STE stores, fewer than ${t.afterStores})`);
      return;
    }
    case 'mid-unmap': {
      await w.advanceTo(at);
      const d = w.devices.get(t.device)!;
      const k = set.kernelOf(d);
      const buf = w.primaryBuffers(t.device)[t.buffer];
      const bus = set.buses[d.spec.smmu]!;
      bus.onHalt = (why) => w.crash(why);
      if (buf) {
        // The DMA API considers the buffer unmapped from the moment dma_unmap starts.
        buf.to = w.clock.now();
        bus.hook = { before: (a) => (a.op === 'mmio-write' ? `panic during dma_unmap of ${t.device} buffer ${t.buffer} (PTEs cleared, TLBI not issued)` : undefined) };
        await set.guarded(() => k.dmaUnmap(t.device, buf.iova, buf.bytes));
      }
      bus.hook = undefined;
      if (w.crashAt === undefined) w.crash(buf ? `panic after dma_unmap of ${t.device} completed` : `panic (${t.device} has no buffer ${t.buffer})`);
      return;
    }
  }
}

/** The kdump kernel: SMMU probe, every device's iommu probe, endpoint drivers, the vmcore. */
async function runKdump(w: World): Promise<{ smmuProbes: ({ ok: true } | { ok: false; errno: string; reason: string } | undefined)[]; vmcore: (c: Corruption) => VmcoreResult }> {
  const s = w.spec;
  await w.advanceTo(w.crashAt! + s.crash.kexecDelayNs);
  if (w.panic) return { smmuProbes: [], vmcore: () => noSave(`the kdump kernel never booted: ${w.panic!.reason}`) };
  w.startKdump();
  const set = w.kdump!;
  w.injections('before-kdump-probe');
  await w.advanceTo(w.kdumpAt! + s.crash.smmuProbeDelayNs);
  const smmuProbes: ({ ok: true } | { ok: false; errno: string; reason: string } | undefined)[] = [];
  for (const k of set.kernels) smmuProbes.push(await set.guarded(() => k.probeSmmu()));
  w.injections('after-smmu-probe');
  const devices = [...w.devices.values()].sort(byName);
  for (const d of devices) {
    if (w.panic) break;
    const k = set.kernelOf(d);
    const type = s.kdump.passthrough ? 'identity' : 'dma';
    d.kdumpProbeAt = w.clock.now();
    const r: DeviceProbe | undefined = await set.guarded(() => k.probeDevice(w.master(d), type));
    if (!r) break;
    d.kdumpProbe = r;
    if (r.grouped && !r.deferred && !r.errno) d.kdumpAttachedAt = w.clock.now();
  }
  const host = w.host(set);
  const drivers = devices.filter((d) => d.spec.kdumpDriver.present).sort((a, b) => a.spec.kdumpDriver.probeAtNs - b.spec.kdumpDriver.probeAtNs || byName(a, b));
  for (const d of drivers) {
    await w.advanceTo(w.kdumpAt! + d.spec.kdumpDriver.probeAtNs);
    if (w.panic) break;
    d.kdumpDriver = createDriver(d.endpoint, d.params, host, w.clock);
    d.quiescedAt = w.clock.now();
    const r = await set.guarded(() => d.kdumpDriver!.probeKdump());
    if (!r) break;
    d.kdumpSetup = r;
    if (d.kdumpAttachedAt === undefined && r.ok) d.kdumpAttachedAt = w.clock.now();
  }
  const end = w.kdumpAt! + s.run.endAfterKdumpNs;
  let vm: (c: Corruption) => VmcoreResult = () => noSave('vmcore save disabled by the scenario');
  if (s.run.vmcore.save && !w.panic) {
    const target = devices.find((d) => d.spec.kdumpDriver.present && d.spec.kdumpDriver.role === 'dump-target');
    if (!target) vm = () => noSave('no device is the dump target (kdumpDriver.role = dump-target)');
    else if (!target.kdumpSetup?.ok) {
      const why = target.kdumpSetup && !target.kdumpSetup.ok ? `${target.kdumpSetup.step}: -${target.kdumpSetup.errno}` : 'its driver did not probe';
      vm = () => noSave(`the dump target's kdump driver failed (${why})`, target.spec.name);
    } else vm = (await saveVmcore(w, target, s.run.vmcore.maxPages, end)).finish;
  } else if (w.panic) vm = () => noSave(`the kdump kernel panicked: ${w.panic!.reason}`);
  await w.advanceTo(end);
  if (s.kdump.unbindAtEnd && !w.panic) {
    for (const [i, k] of set.kernels.entries()) {
      const before = w.trace.all().length;
      const r = k.smmu.unbind();
      w.unbinds.push({ smmu: w.smmus[i]!.name, freed: r.freed, registerAccesses: w.trace.all().length - before });
    }
  }
  return { smmuProbes, vmcore: vm };
}

/** Runs a validated scenario to its report. Same spec, same seed: the same report, byte for byte. */
export async function runScenario(spec: ScenarioSpec, o: RunOptions = {}): Promise<Report> {
  const w = new World(spec);
  o.onWorld?.(w);
  w.scheduleTimedInjections();
  const boot = await bootPrimary(w);
  w.bootDoneAt = w.clock.now();
  if (!boot.ok) return buildReport(w, { primaryBoot: boot, smmuProbes: [], vmcore: noSave('the primary kernel did not boot'), corruption: computeCorruption(w.memory, (smmu, sid) => w.ownerOf(smmu, sid), w.mappings, (dev) => w.devices.get(dev)?.quiescedAt) }, o.predict);
  await crash(w);
  const k = await runKdump(w);
  const corruption = computeCorruption(w.memory, (smmu, sid) => w.ownerOf(smmu, sid), w.mappings, (dev) => w.devices.get(dev)?.quiescedAt);
  return buildReport(w, { primaryBoot: boot, smmuProbes: k.smmuProbes, vmcore: k.vmcore(corruption), corruption }, o.predict);
}
