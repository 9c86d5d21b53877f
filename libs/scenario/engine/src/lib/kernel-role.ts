// SPDX-License-Identifier: Apache-2.0
// A kernel of the run (the primary, or the kdump kernel after kexec): one arm-smmu-v3 driver
// instance per SMMU sharing a page allocator and, as in 6.12 and v7, one ASID space; the iommu
// core; the endpoint drivers; makedumpfile. Its CPUs touch hardware only through a
// PlatformPort, and its code runs on tasks of the sequencer: the runner's task for the work the
// runner asks for, a task per poll loop for the drivers.

import { createDriver, NVME_OPC, NVME_SC, NvmeDriver, type HostKernel, type SetupResult, type TaskContext } from '@kdump-twin/endpoint';
import {
  Dmesg,
  inStep,
  LinuxKernel,
  MmioTrace,
  PageAllocator,
  type BusInterrupt,
  type BusPort,
  type NextAccess,
  type PollWait,
  type DeviceProbe,
  type DomainType,
  type KdumpPolicy,
  type MasterSpec,
  type MmioSize,
  type ProbeOutcome,
  type StepObserver,
} from '@kdump-twin/kernel';
import type { Region } from '@kdump-twin/platform';
import { TaskHalted } from '@kdump-twin/platform';
import { commandForOpcode, findFormat, STE } from '@kdump-twin/smmu-arch';
import { CommandTap, CpuHalted, HaltableBus } from './bus';
import { deviceTable, type DeviceInfo } from './devices';
import type { BootResult, KernelLink, NextLoad, PlatformPort } from './links';
import type { DeviceKind, ScenarioSpec } from './spec';
import type { DeviceKernelView, KernelView, SmmuDriverView, VmcoreKernelView } from './views';

const CMD = findFormat('cmd')!;
const CFGI_RANGE = findFormat('cmd-CFGI_STE_RANGE')!;
const PAGE = 4096;

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

/** FNV-1a over a page, as 16 hex digits (two 32-bit lanes): makedumpfile's and the disk's digest. */
export function pageDigest(b: Uint8Array): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < b.length; i++) {
    h1 = Math.imul(h1 ^ b[i]!, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ b[i]! ^ (i & 0xff), 0x01000193) >>> 0;
  }
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
}

/** The kernel's bus to one SMMU: a PlatformPort bound to the SMMU and to the task doing the work. */
class SimBus implements BusPort {
  constructor(
    private readonly port: PlatformPort,
    private readonly index: number,
    readonly smmu: string,
    private readonly kernel: 'primary' | 'kdump',
    private readonly task: () => number,
    /** Makes `task` the one doing the kernel's work again (it resumed after its delay). */
    private readonly resume: (task: number) => void,
  ) {}

  mmioRead(offset: number, size: MmioSize) {
    return this.port.mmioRead(this.kernel, this.index, offset, size);
  }

  mmioWrite(offset: number, size: MmioSize, value: bigint) {
    return this.port.mmioWrite(this.kernel, this.index, offset, size, value);
  }

  memRead(pa: number, length: number) {
    return this.port.memRead(this.kernel, pa, length);
  }

  memWrite(pa: number, data: Uint8Array) {
    return this.port.memWrite(this.kernel, pa, data);
  }

  now(): number {
    return this.port.now();
  }

  /**
   * The task doing the kernel's work sleeps. Another of the kernel's tasks may do kernel work
   * while it sleeps (the flush queue's timer while the runner waits for a CMD_SYNC), so the
   * sleeper is the one again when it wakes, like a context switch restoring `current`.
   */
  async delay(ns: number, next?: NextAccess, wait?: PollWait): Promise<void> {
    const task = this.task();
    await this.port.sleep(
      task,
      ns,
      next && this.load(next),
      wait && { wait: { loads: wait.loads.map((l) => this.load(l)), poll: { deadline: wait.deadline, step: wait.step } } },
    );
    this.resume(task);
  }

  private load(a: NextAccess): NextLoad {
    return 'offset' in a ? { smmu: this.index, offset: a.offset, size: a.size } : a;
  }

  nextHardwareEvent(): number | undefined {
    return this.port.nextEventTime();
  }

  onInterrupt(listener: (e: BusInterrupt) => void): () => void {
    return this.port.onInterrupt(this.index, listener);
  }
}

/** The driver names dev_info prints for each kind unless a device names its own. */
const DEFAULT_DRIVER_NAMES: Readonly<Record<DeviceKind, string>> = { nic: 'e1000e', nvme: 'nvme', gpu: 'amdgpu' };

interface DeviceState {
  readonly info: DeviceInfo;
  driver?: ReturnType<typeof createDriver>;
  probe?: DeviceProbe;
  setup?: SetupResult;
  probedAt?: number;
  attachedAt?: number;
  quiescedAt?: number;
}

/** Pages of makedumpfile's list announced at once (willRead): 256 KiB, a quarter of a NATS message. */
const READ_AHEAD_PAGES = 64;

export class KernelRole implements KernelLink {
  readonly kernels: LinuxKernel[] = [];
  readonly buses: HaltableBus[] = [];
  readonly taps: CommandTap[] = [];
  readonly pages: PageAllocator;
  readonly log: Dmesg;
  readonly trace = new MmioTrace();
  private readonly devices = new Map<string, DeviceState>();
  private task = 0;
  halted: string | undefined;
  private readonly unbinds: ({ freed: string; registerAccesses: number } | null)[] = [];
  private vmcore: VmcoreKernelView | null = null;
  private readonly host: HostKernel;
  /** Who watches the probes' steps (a telemetry adapter, see observeSteps). */
  private stepSink: StepObserver | undefined;
  private readonly steps: StepObserver = { step: (step, now, attrs, fn, result) => (this.stepSink ? this.stepSink.step(step, now, attrs, fn, result) : fn()) };

  constructor(
    readonly name: 'primary' | 'kdump',
    readonly spec: ScenarioSpec,
    private readonly port: PlatformPort,
    ram: Region,
    smmuNames: readonly string[],
  ) {
    this.pages = new PageAllocator(ram.base, ram.size);
    this.log = new Dmesg(name, () => port.now());
    const asids = new Map<number, string>();
    const groups = { next: 0 };
    const cmaAlignment = spec.kernelConfig.cmaAlignment || undefined;
    const k = spec.kdump;
    const policy: KdumpPolicy | undefined = name === 'kdump' ? k.policy : undefined;
    spec.platform.smmus.forEach((s, i) => {
      const bus = new HaltableBus(
        new SimBus(
          port,
          i,
          smmuNames[i]!,
          name,
          () => this.task,
          (t) => (this.task = t),
        ),
      );
      this.buses.push(bus);
      const tap = new CommandTap(() => {
        const q = this.kernels[i]?.smmu.cmdq;
        return q && q.base ? { base: q.base, bytes: (1 << q.shift) * q.entBytes } : undefined;
      }, commandName);
      this.taps.push(tap);
      bus.tap = (pa, data) => tap.store(pa, data);
      bus.onHalt = (why) => {
        if (name === 'primary') port.panicNow(why);
      };
      // dev_name: an IORT node becomes the platform device arm-smmu-v3.N.auto; a DT node is named by unit address and node name.
      const devName =
        s.firmware.kind === 'dt'
          ? `arm-smmu-v3 ${s.firmware.dtNode ?? `${(0x905_0000 + i * 0x2_0000).toString(16)}.smmuv3`}`
          : `arm-smmu-v3 arm-smmu-v3.${i}.auto`;
      const firmware = {
        coherent: s.firmware.coherent ?? (s.config.coherent as boolean | undefined) ?? true,
        rmrSids: s.firmware.rmrSids,
        combinedIrq: s.firmware.combinedIrq,
        msiDomain: s.firmware.msiDomain,
        devName,
        kind: s.firmware.kind,
      };
      const timers = { arm: (timer: string, ns: number, fn: () => Promise<void>) => this.timer(timer, ns, fn) };
      const common = {
        ram: { base: ram.base, size: ram.size },
        pages: this.pages,
        asids,
        groups,
        cmaAlignment,
        log: this.log,
        trace: this.trace,
        firmware,
        steps: this.steps,
        timers,
        hz: spec.kernelConfig.hz,
      };
      this.kernels.push(
        name === 'primary'
          ? new LinuxKernel(bus, {
              kernel: 'primary',
              passthrough: spec.primary.passthrough,
              strict: spec.primary.strict,
              pageSize: spec.primary.pageSize,
              legacyLinearStrtab: spec.primary.legacyLinearStrtab,
              ...common,
            })
          : new LinuxKernel(bus, {
              kernel: 'kdump',
              policy,
              passthrough: k.passthrough,
              strict: k.strict,
              pageSize: spec.primary.pageSize,
              memremapNonRam: k.memremapNonRam,
              failDevresAction: k.failDevresAction,
              gbpaBypass: k.gbpaBypass,
              v10KexecPrefix: k.v10KexecPrefix,
              ...common,
            }),
      );
    });
    for (const d of deviceTable(spec)) this.devices.set(d.name, { info: d });
    this.host = this.makeHost();
  }

  /** Lets `sink` see every probe step of this kernel (SMMU probes, lazy L2, deferred attach, endpoint-driver probes). */
  observeSteps(sink: StepObserver | undefined): void {
    this.stepSink = sink;
  }

  private kernelOf(d: DeviceState): LinuxKernel {
    return this.kernels[d.info.smmu]!;
  }

  private master(d: DeviceState): MasterSpec {
    return { name: d.info.name, sids: d.info.sids, ats: d.info.spec.ats };
  }

  /** Runs a kernel operation on the runner's task; undefined if the CPU halted during it. */
  private async on<T>(task: number, fn: () => Promise<T>): Promise<T | undefined> {
    this.task = task;
    if (this.halted !== undefined) return undefined;
    try {
      return await fn();
    } catch (e) {
      if (e instanceof CpuHalted || e instanceof TaskHalted) return undefined;
      throw e;
    }
  }

  /** The DMA API, CPU loads and stores, device registers and threads the endpoint drivers get. */
  private makeHost(): HostKernel {
    const cpu = this.buses[0]!;
    return {
      kernel: this.name,
      alive: () => this.halted === undefined,
      now: () => this.port.now(),
      dmaAlloc: async (device, bytes) => {
        const d = this.devices.get(device)!;
        const pa = this.pages.alloc(bytes);
        if (pa === undefined) return { ok: false, errno: 'ENOMEM' };
        // dma_alloc_coherent returns zeroed memory: the carve-out may hold what stray DMA left there.
        if (this.name === 'kdump') await cpu.memWrite(pa, new Uint8Array(Math.ceil(bytes / PAGE) * PAGE));
        const k = this.kernelOf(d);
        const r = await k.dmaMapResult(device, pa, bytes);
        if (!r.ok) return { ok: false, errno: r.errno };
        this.port.addMapping(device, { kernel: this.name, pa, bytes, iova: r.iova, from: this.port.now(), to: Infinity });
        await this.syncAts(d);
        if (this.name === 'kdump' && d.attachedAt === undefined && k.master(device)?.domain !== undefined && !k.master(device)!.attachDeferred)
          d.attachedAt = this.port.now();
        return { ok: true, pa, iova: r.iova };
      },
      cpuWrite: async (pa, data) => {
        await cpu.memWrite(pa, data);
      },
      cpuRead: async (pa, n) => {
        const r = await cpu.memRead(pa, n);
        return r.ok ? r.data : undefined;
      },
      control: async (device, c) => {
        if (this.halted !== undefined) throw new CpuHalted(this.halted);
        this.port.control(device, c);
      },
      spawn: (name, body) => this.spawn(name, body),
      log: (level, device, text) => this.log.log(level, device, text),
    };
  }

  /** A thread of this kernel: parks for its first turn, ends with the body or when the kernel halts. */
  private spawn(name: string, body: (t: TaskContext, id: number) => Promise<void>): void {
    const id = this.port.spawn(name, this.name);
    void (async () => {
      try {
        await this.port.sleep(id, 0);
        await body(
          {
            // A hook sees every access (buses' CpuHook): loads it watches are not waited out elsewhere.
            sleep: (ns, next, o) =>
              this.port.sleep(
                id,
                ns,
                next,
                o && { ...(o.paced ? { paced: true } : {}), ...(o.watch && this.buses.every((b) => !b.hook) ? { wait: { loads: o.watch } } : {}) },
              ),
            endWait: () => this.port.endWait?.(id),
            now: () => this.port.now(),
          },
          id,
        );
      } catch (e) {
        if (!(e instanceof CpuHalted || e instanceof TaskHalted)) throw e;
      } finally {
        this.port.finish(id);
      }
    })();
  }

  /**
   * A kernel timer (mod_timer): a thread of this kernel that sleeps `ns` and runs `fn` as the
   * one doing the kernel's work, unless the kernel halted first (a panic stops its timers).
   */
  private timer(name: string, ns: number, fn: () => Promise<void>): void {
    this.spawn(name, async (t, id) => {
      await t.sleep(ns);
      await this.on(id, fn);
    });
  }

  /** The device may use ATS once its STE has EATS set by this kernel (pci_enable_ats at attach). */
  private async syncAts(d: DeviceState): Promise<void> {
    if (!d.info.spec.ats) return;
    const pa = this.kernelOf(d).smmu.stePa(d.info.sids[0]!);
    if (pa === undefined) return;
    const r = await this.buses[0]!.memRead(pa, 16);
    if (!r.ok) return;
    const v = new DataView(r.data.buffer, r.data.byteOffset, 16);
    const w = [v.getBigUint64(0, true), v.getBigUint64(8, true)];
    if (STE.get(w, 'V') === 1n && STE.get(w, 'EATS') !== 0n) this.port.control(d.info.name, { op: 'setAts', enabled: true });
  }

  // ---- KernelLink ----

  async boot(task: number): Promise<BootResult> {
    const r = await this.on(task, async (): Promise<BootResult> => {
      LinuxKernel.iommuSubsysInit(this.log, this.spec.primary.passthrough, this.spec.primary.strict);
      for (const [i, k] of this.kernels.entries()) {
        const p = await k.probeSmmu();
        if (!p.ok) return { ok: false, reason: `smmu${i}: ${p.reason}` };
      }
      return { ok: true };
    });
    return r ?? { ok: false, reason: `the primary kernel halted: ${this.halted}` };
  }

  async setupDrivers(task: number): Promise<void> {
    await this.on(task, async () => {
      for (const d of this.devices.values()) {
        if (!d.info.spec.inPrimary) continue;
        // really_probe: dma_configure gives the device its fwspec and probes its IOMMU, then the driver's probe runs.
        await this.iommuProbe(d, this.primaryDomainType(d), this.driverName(d));
        d.driver = createDriver(d.info.name, d.info.params, this.host);
        d.setup = await d.driver.setup();
      }
    });
  }

  async reattach(task: number, device: string, domain: 'identity' | 'blocked' | 'dma', afterStores: number): Promise<void> {
    const d = this.devices.get(device)!;
    const k = this.kernelOf(d);
    const m = k.master(device);
    const stes = d.info.sids.map((sid) => k.smmu.stePa(sid)).filter((x): x is number => x !== undefined);
    let stores = 0;
    const bus = this.buses[d.info.smmu]!;
    bus.hook = {
      after: (a) => {
        if (a.op !== 'mem-write' || !stes.some((s) => a.pa < s + 64 && a.pa + a.length > s)) return undefined;
        return ++stores >= afterStores
          ? `panic during the STE update of ${device} (after ${stores} STE store${stores === 1 ? '' : 's'}, moving it to a ${domain} domain)`
          : undefined;
      },
    };
    if (m) {
      await this.on(task, async () => {
        const dom = await k.domains.alloc(domain);
        await k.domains.attach(m, dom);
      });
    }
    bus.hook = undefined;
  }

  async unmap(task: number, device: string, buffer: number, midPanic = true): Promise<void> {
    const d = this.devices.get(device)!;
    const buf = d.driver?.buffers[buffer];
    if (!buf) return;
    const bus = this.buses[d.info.smmu]!;
    // The DMA API considers the buffer unmapped from the moment dma_unmap starts.
    this.port.endMapping(device, buf.iova);
    if (midPanic)
      bus.hook = {
        before: (a) => (a.op === 'mmio-write' ? `panic during dma_unmap of ${device} buffer ${buffer} (PTEs cleared, TLBI not issued)` : undefined),
      };
    await this.on(task, async () => void (await this.kernelOf(d).dmaUnmap(device, buf.iova, buf.bytes)));
    bus.hook = undefined;
  }

  async probeSmmus(task: number): Promise<(ProbeOutcome | undefined)[]> {
    const out: (ProbeOutcome | undefined)[] = [];
    if (this.spec.kdump.policy !== 'no-smmu-driver') LinuxKernel.iommuSubsysInit(this.log, this.spec.kdump.passthrough, this.spec.kdump.strict);
    for (const k of this.kernels) out.push(await this.on(task, () => k.probeSmmu()));
    return out;
  }

  /**
   * bus_iommu_probe when the kdump kernel's SMMUs register: 6.12 probes no device there. A device
   * has no fwspec until its driver binds (of_iommu_configure on a DT machine, acpi_dma_configure
   * with the IORT, both from really_probe), so each IOMMU probe waits for its driver (probeDriver)
   * and a device without a driver is never probed, as the QEMU recordings show for both firmwares.
   */
  async probeDevices(task: number): Promise<void> {
    void task;
  }

  private primaryDomainType(d: DeviceState): DomainType {
    return this.spec.primary.passthrough || d.info.spec.defaultDomain === 'identity' ? 'identity' : d.info.spec.defaultDomain;
  }

  private kdumpDomainType(): DomainType {
    return this.spec.kdump.passthrough ? 'identity' : 'dma';
  }

  /** The name its dev_info lines carry once its driver is bound. */
  private driverName(d: DeviceState): string {
    return d.info.spec.driver ?? DEFAULT_DRIVER_NAMES[d.info.spec.kind];
  }

  /** iommu_probe_device for one device, recorded on the device. */
  private async iommuProbe(d: DeviceState, type: DomainType, driver: string): Promise<DeviceProbe> {
    d.probedAt = this.port.now();
    const r = await this.kernelOf(d).probeDevice({ ...this.master(d), driver }, type);
    d.probe = r;
    if (r.grouped && !r.deferred && !r.errno) d.attachedAt = this.port.now();
    return r;
  }

  async probeDriver(task: number, device: string): Promise<SetupResult | undefined> {
    const d = this.devices.get(device)!;
    const p = await this.on(task, () => this.iommuProbe(d, this.kdumpDomainType(), this.driverName(d)));
    if (!p) return undefined;
    d.driver = createDriver(d.info.name, d.info.params, this.host);
    d.quiescedAt = this.port.now();
    const r = await this.on(task, () =>
      inStep(
        this.steps,
        'endpoint.probe',
        () => this.port.now(),
        { device, kind: d.info.spec.kind },
        () => d.driver!.probeKdump(),
        (v) => (v.ok ? { ok: true } : { ok: false, step: v.step, errno: v.errno }),
      ),
    );
    if (!r) return undefined;
    d.setup = r;
    if (d.attachedAt === undefined && r.ok) d.attachedAt = this.port.now();
    return r;
  }

  async serviceIrqs(task: number): Promise<void> {
    for (const k of this.kernels) if (k.probeResult?.ok) await this.on(task, () => k.serviceInterrupts());
  }

  async unbind(): Promise<void> {
    this.unbinds.length = 0;
    for (const k of this.kernels) {
      // devres cleanup touches no register: count what reached the bus while it ran.
      let accesses = 0;
      const bus = k.smmu.hw.bus as HaltableBus;
      bus.hook = { before: () => void accesses++ };
      const r = k.smmu.unbind();
      bus.hook = undefined;
      this.unbinds.push({ freed: r.freed, registerAccesses: accesses });
    }
  }

  async halt(reason: string): Promise<void> {
    if (this.halted !== undefined) return;
    this.halted = reason;
    for (const b of this.buses) b.halt(reason);
  }

  /**
   * makedumpfile: the crashed kernel's pages in use, read by the CPU, written by the dump
   * target's NVMe WRITEs from bounce buffers in the carve-out, until done, the deadline, or the
   * kernel halts. What the CPU copied is kept as a digest per page for the disk comparison.
   */
  async saveVmcore(task: number, target: string, maxPages: number, deadline: number): Promise<void> {
    const d = this.devices.get(target);
    const driver = d?.driver;
    const v: { -readonly [K in keyof VmcoreKernelView]: VmcoreKernelView[K] } = {
      attempted: true,
      target,
      reason: null,
      pages: 0,
      savedPages: 0,
      done: false,
      startedAt: this.port.now(),
      finishedAt: null,
      readAt: {},
      expected: {},
    };
    this.vmcore = v;
    if (!(driver instanceof NvmeDriver)) {
      v.attempted = false;
      v.reason = 'the dump target is not an NVMe controller';
      return;
    }
    const list = await this.port.crashedPages(maxPages);
    v.pages = list.length;
    const readAt: Record<string, number> = {};
    const expected: Record<string, string> = {};
    const perCmd = Math.max(1, Math.floor(driver.buffersPerCommand / PAGE));
    const lbaBytes = (d!.info.params as { lbaBytes: number }).lbaBytes;
    let next = 0;
    let inflight = 0;
    let failed: string | undefined;
    const cpu = this.buses[0]!;
    await this.on(task, async () => {
      while (!failed && this.halted === undefined && this.port.now() < deadline && (next < list.length || inflight > 0)) {
        // What this turn reads next: what the free commands can take (none frees up before the
        // task sleeps), at most READ_AHEAD_PAGES. A hint only.
        if (next < list.length && driver.canSubmit)
          this.port.willRead?.(list.slice(next, next + Math.min(READ_AHEAD_PAGES, driver.submittable * perCmd)), PAGE);
        while (!failed && next < list.length && driver.canSubmit) {
          const batch = list.slice(next, next + perCmd);
          const data = new Uint8Array(batch.length * PAGE);
          for (const [j, p] of batch.entries()) {
            readAt[String(p)] = this.port.now();
            const r = await cpu.memRead(p, PAGE);
            if (r.ok) data.set(r.data, j * PAGE);
          }
          const lba = (next * PAGE) / lbaBytes;
          batch.forEach((_, j) => (expected[String(lba + (j * PAGE) / lbaBytes)] = pageDigest(data.subarray(j * PAGE, (j + 1) * PAGE))));
          const count = batch.length;
          next += count;
          inflight++;
          const ok = await driver.submit(NVME_OPC.WRITE, lba, data, data.length, (sc) => {
            inflight--;
            if (sc !== NVME_SC.SUCCESS) failed = `NVMe WRITE of LBA ${lba} completed with status 0x${sc.toString(16)}`;
            else v.savedPages += count;
          });
          if (!ok) {
            next -= count;
            inflight--;
            break;
          }
        }
        await this.port.sleep(task, 10_000);
        this.task = task;
      }
    });
    v.readAt = readAt;
    v.expected = expected;
    v.finishedAt = this.port.now();
    v.done = next >= list.length && inflight === 0 && !failed && this.halted === undefined;
    v.reason =
      this.halted !== undefined
        ? `the kdump kernel panicked: ${this.halted}`
        : (failed ?? (!v.done ? `timed out after ${v.savedPages} of ${list.length} pages` : null));
  }

  async view(): Promise<KernelView> {
    const smmus: SmmuDriverView[] = this.kernels.map((k, i) => {
      const s = k.smmu;
      const st = s.strtab;
      const strtab =
        st.kind === 'none'
          ? { kind: 'none' as const, adopted: false, entries: 0, l2Mapped: 0 }
          : st.kind === 'linear'
            ? { kind: 'linear' as const, adopted: st.adopted, entries: st.numEnts, l2Mapped: 0 }
            : { kind: '2lvl' as const, adopted: st.adopted, entries: st.numL1, l2Mapped: st.l2ptrs.filter((x) => x !== undefined).length };
      const l2Tables =
        st.kind === 'linear'
          ? [{ base: st.table, firstSid: 0, bytes: st.numEnts * 64 }]
          : st.kind === '2lvl'
            ? st.l2ptrs.flatMap((l2, slot) => (l2 === undefined ? [] : [{ base: l2, firstSid: slot * 256, bytes: 256 * 64 }]))
            : [];
      const asids: number[] = [];
      const vmids: number[] = [];
      for (const m of s.masters.values()) {
        const dom = k.domains.domainOf(m) ?? k.defaultDomain(m.name);
        if (dom?.asid !== undefined) asids.push(dom.asid);
        if (dom?.vmid !== undefined) vmids.push(dom.vmid);
      }
      const p = k.probeResult;
      return {
        devName: s.fw.devName,
        series: s.series ?? null,
        options: s.options,
        features: s.features,
        probe: p === undefined ? null : p.ok ? { ok: true } : { ok: false, errno: p.errno, reason: p.reason },
        strtab,
        l2Tables,
        irqs: { gerror: s.irqs.gerror, evtq: s.irqs.evtq, priq: s.irqs.priq, combined: String(s.irqs.combined) },
        asids: [...s.asids.entries()].sort((a, b) => a[0] - b[0]),
        vmids: [...s.vmids.entries()].sort((a, b) => a[0] - b[0]),
        domainIds: { asids: [...new Set(asids)].sort((a, b) => a - b), vmids: [...new Set(vmids)].sort((a, b) => a - b) },
        commands: Object.fromEntries(Object.entries(this.taps[i]!.counts).sort(([a], [b]) => (a < b ? -1 : 1))),
        unbind: this.unbinds[i] ?? null,
      };
    });
    const devices: Record<string, DeviceKernelView> = {};
    for (const [name, d] of this.devices) {
      const m = this.kernelOf(d).master(name);
      devices[name] = {
        probe: d.probe ?? null,
        setup: d.setup ?? null,
        probedAt: d.probedAt ?? null,
        attachedAt: d.attachedAt ?? null,
        quiescedAt: d.quiescedAt ?? null,
        attached: m !== undefined && !m.attachDeferred && m.domain !== undefined,
      };
    }
    const trace = this.trace.all().map((a) => ({
      time: a.time,
      kernel: a.kernel,
      smmu: a.smmu,
      register: a.register,
      offset: a.offset,
      dir: a.dir,
      size: a.size,
      value: `0x${a.value.toString(16)}`,
      result: a.result,
      repeat: a.repeat,
    }));
    return { name: this.name, halted: this.halted ?? null, smmus, devices, log: [...this.log.all()], trace, vmcore: this.vmcore };
  }
}
