// SPDX-License-Identifier: Apache-2.0
// The outcome report: a documented JSON contract (REPORT_SCHEMA, published as
// report.schema.json) built from one run, with no wall-clock field, so the same scenario and
// seed give the same bytes; and its human forms: the per-run summary and the policy-by-scenario
// matrix a kernel engineer pastes into a review thread.

import type { SetupResult } from '@kdump-twin/endpoint';
import { OPT } from '@kdump-twin/kernel';
import { findRegister, STE } from '@kdump-twin/smmu-arch';
import type { Corruption, DmaCounts } from './collect';
import { evaluateInvariants, type InvariantResult } from './invariants';
import type { PlatformRole } from './platform-role';
import { evaluate, type Check, type CheckResult } from './predict';
import { arr, bool, int, map, nullable, obj, oneOf, opt, str, type Schema } from './schema';
import { POLICIES } from './spec';
import { vmcoreResult, type VmcoreResult } from './vmcore';
import type { FleetView, KernelView } from './views';

export const REPORT_SCHEMA_VERSION = 1;

export interface LogEntry {
  readonly t: number;
  readonly kernel: string;
  readonly level: string;
  readonly device: string;
  readonly msg: string;
}

export interface AdoptionReport {
  readonly attempted: boolean;
  readonly adopted: boolean;
  readonly fallbackReason: string | null;
}

export interface DeviceReport {
  readonly name: string;
  readonly kind: string;
  readonly smmu: number;
  readonly rid: string;
  readonly sids: readonly string[];
  readonly ats: boolean;
  readonly kdumpDriver: string;
  readonly primary: { readonly grouped: boolean; readonly domain: string | null; readonly setup: string };
  readonly kdump: {
    readonly grouped: boolean;
    readonly deferred: boolean;
    readonly errno: string | null;
    readonly probedAt: number | null;
    readonly attachedAt: number | null;
    readonly quiescedAt: number | null;
    readonly setup: string;
  };
  readonly dma: {
    readonly total: DmaCounts;
    readonly afterCrash: DmaCounts;
    readonly beforeQuiesce: DmaCounts;
    readonly failurePaths: Record<string, number>;
    readonly steOrigin: { readonly crashed: number; readonly kdump: number };
    readonly inFlightAtCrash: number;
    readonly jobsInFlightAtCrash: number;
    readonly firstFailureAfterCrash: number | null;
  };
  readonly jobs: { readonly ok: number; readonly failed: number; readonly dropped: number };
  readonly aer: { readonly correctable: number; readonly nonFatal: number; readonly fatal: number };
  readonly aerResets: number;
  readonly corruptedBytes: number;
  readonly staleAfterQuiesceBytes: number;
  readonly halted: string | null;
}

export interface SmmuReport {
  readonly name: string;
  /** Event records by fate (written, disabled: discarded while EVENTQEN=0, overflow, ...). */
  readonly events: Record<string, number>;
  readonly gerrorActive: readonly string[];
  readonly sfm: boolean;
  readonly smmuen: boolean;
  readonly cr0: string;
  readonly atschk: boolean;
  /** The kdump kernel's stream table: what it adopted or allocated. */
  readonly strtab: { readonly kind: string; readonly adopted: boolean; readonly entries: number; readonly l2Mapped: number };
  readonly irqs: { readonly gerror: boolean; readonly evtq: boolean; readonly priq: boolean; readonly combined: string };
  /** Commands the kdump kernel put on its command queue, by opcode. */
  readonly kdumpCommands: Record<string, number>;
  /** IORT RMR StreamIDs and the STE the SMMU finds for each at the end. */
  readonly rmr: readonly { readonly sid: string; readonly valid: boolean; readonly config: string }[];
  readonly unbind: { readonly freed: string; readonly registerAccesses: number } | null;
  /** IDs a kdump-kernel domain got that the crashed kernel's domains were using on this SMMU (the v7 hazard, M3). */
  readonly reusedCrashedIds: { readonly asids: readonly number[]; readonly vmids: readonly number[] };
}

export interface Report {
  readonly schemaVersion: number;
  readonly scenario: string;
  readonly scenarioVersion: number;
  readonly title: string;
  readonly policy: string;
  readonly series: 'v7' | 'v10' | null;
  readonly seed: number | string;
  readonly ras: string;
  readonly timeline: {
    readonly bootDoneAt: number;
    readonly crashAt: number | null;
    readonly crashReason: string | null;
    readonly kdumpAt: number | null;
    readonly endAt: number;
  };
  readonly primaryBoot: { readonly ok: boolean; readonly reason: string | null };
  readonly adoption: AdoptionReport & { readonly smmus: readonly (AdoptionReport & { readonly smmu: string; readonly probe: string })[] };
  readonly dma: DmaCounts & {
    readonly inFlightAtCrash: number;
    readonly jobsInFlightAtCrash: number;
    readonly afterCrash: DmaCounts & { readonly beforeQuiesce: DmaCounts };
  };
  readonly aer: { readonly correctable: number; readonly nonFatal: number; readonly fatal: number };
  readonly serror: number;
  readonly kdumpPanicked: boolean;
  readonly panic: { readonly at: number; readonly reason: string; readonly beforeBoot: boolean } | null;
  readonly corruption: Omit<Corruption, 'byDevice' | 'intervals' | 'staleByDevice'>;
  readonly vmcore: VmcoreResult;
  readonly mmio: {
    readonly accesses: number;
    readonly writes: number;
    readonly writesTo: Record<string, number>;
    readonly violations: readonly { t: number; smmu: string; register: string; attempted: string; rule: string; section: string }[];
    readonly primaryViolations: number;
  };
  readonly smmus: readonly SmmuReport[];
  readonly devices: readonly DeviceReport[];
  readonly invariants: readonly InvariantResult[];
  readonly invariantsHold: boolean;
  readonly injections: readonly string[];
  readonly log: readonly LogEntry[];
  readonly prediction: { readonly met: boolean; readonly checks: readonly CheckResult[] } | null;
}

const counts = (): Schema =>
  obj({ issued: int(), completedOk: int(), aborted: int(), bypassed: int(), faulted: int(), stalled: int() }, 'transactions: issued, and how each ended');
const aerCounts = () => obj({ correctable: int(), nonFatal: int(), fatal: int() });
const adoptionFields = {
  attempted: bool(undefined, 'the series was in the kdump kernel and found the SMMU enabled'),
  adopted: bool(undefined, "the kdump kernel kept the crashed kernel's stream table"),
  fallbackReason: nullable(str(undefined, 'the message that explains a refusal or a fallback')),
};

/** The report contract. Keys in `nullable` may hold null. */
export const REPORT_SCHEMA: Schema = obj(
  {
    schemaVersion: int(undefined, 1, 1),
    scenario: str(undefined, 'catalogue id'),
    scenarioVersion: int(),
    title: str(),
    policy: oneOf(POLICIES, undefined, 'the kdump policy'),
    series: nullable(oneOf(['v7', 'v10'])),
    seed: { t: 'seed' },
    ras: str(undefined, 'the platform RAS policy'),
    timeline: obj({ bootDoneAt: int(), crashAt: nullable(int()), crashReason: nullable(str()), kdumpAt: nullable(int()), endAt: int() }, 'virtual nanoseconds'),
    primaryBoot: obj({ ok: bool(), reason: nullable(str()) }),
    adoption: obj({
      ...adoptionFields,
      smmus: arr(obj({ smmu: str(), probe: str(undefined, 'ok or the errno and reason of a failed probe'), ...adoptionFields })),
    }),
    dma: obj(
      {
        issued: int(),
        completedOk: int(),
        aborted: int(),
        bypassed: int(),
        faulted: int(),
        stalled: int(),
        inFlightAtCrash: int(undefined, 0, undefined, 'non-posted transactions outstanding at the panic'),
        jobsInFlightAtCrash: int(undefined, 0, undefined, 'descriptors, commands and copies started and not finished at the panic'),
        afterCrash: obj(
          { issued: int(), completedOk: int(), aborted: int(), bypassed: int(), faulted: int(), stalled: int(), beforeQuiesce: counts() },
          'transactions issued after the panic; beforeQuiesce: before the device was reset by its kdump driver',
        ),
      },
      'every DMA transaction the fleet issued',
    ),
    aer: aerCounts(),
    serror: int(undefined, 0, undefined, 'fatal escalations by firmware (SError / fatal GHES)'),
    kdumpPanicked: bool(),
    panic: nullable(obj({ at: int(), reason: str(), beforeBoot: bool() })),
    corruption: obj(
      {
        totalBytes: int(),
        carveoutBytes: int(undefined, 0, undefined, 'in the crashkernel carve-out (the kdump kernel)'),
        crashedKernelBytes: int(undefined, 0, undefined, "in the crashed kernel's RAM (the dump)"),
        otherBytes: int(),
        staleAfterQuiesceBytes: int(
          undefined,
          0,
          undefined,
          'not corruption by the definition above: bytes a device wrote after its kdump driver reset it into memory the crashed kernel had mapped for it (stale translations: a reused ASID, a stale ATC)',
        ),
        regions: arr(
          obj({
            region: str(),
            kind: str(),
            owner: opt(str()),
            bucket: oneOf(['carveout', 'crashedKernel', 'other']),
            bytes: int(),
            ranges: arr(str()),
            devices: arr(str()),
          }),
        ),
      },
      'bytes written by DMA where no kernel had mapped them for that device at that time',
    ),
    vmcore: obj({
      attempted: bool(),
      saved: bool(),
      reason: opt(str()),
      target: opt(str()),
      pages: int(),
      savedPages: int(),
      bytes: int(),
      corruptedBytes: int(),
      mismatchedBytes: int(),
      modifiedBeforeReadBytes: int(),
      kdumpWrittenBytes: int(),
      startedAt: opt(int()),
      finishedAt: opt(int()),
    }),
    mmio: obj({
      accesses: int(undefined, 0, undefined, "the kdump kernel's MMIO accesses (polls counted each time)"),
      writes: int(),
      writesTo: map(int(), 'kdump-kernel writes per register'),
      violations: arr(
        obj({ t: int(), smmu: str(), register: str(), attempted: str(), rule: str(), section: str() }),
        undefined,
        'architecture rules the kdump kernel broke',
      ),
      primaryViolations: int(),
    }),
    smmus: arr(
      obj({
        name: str(),
        events: map(int(), 'event records by fate (disabled: discarded while EVENTQEN=0)'),
        gerrorActive: arr(str()),
        sfm: bool(),
        smmuen: bool(),
        cr0: str(),
        atschk: bool(),
        strtab: obj({ kind: str(), adopted: bool(), entries: int(), l2Mapped: int() }),
        irqs: obj({ gerror: bool(), evtq: bool(), priq: bool(), combined: str() }),
        kdumpCommands: map(int(), 'commands the kdump kernel queued, by opcode'),
        rmr: arr(obj({ sid: str(), valid: bool(), config: str() })),
        unbind: nullable(obj({ freed: str(), registerAccesses: int() })),
        reusedCrashedIds: obj(
          { asids: arr(int()), vmids: arr(int()) },
          "kdump-kernel domain IDs the crashed kernel's domains were using (the v7 hazard, kdump-adopt-series.md M3)",
        ),
      }),
    ),
    devices: arr(
      obj({
        name: str(),
        kind: str(),
        smmu: int(),
        rid: str(),
        sids: arr(str()),
        ats: bool(),
        kdumpDriver: str(),
        primary: obj({ grouped: bool(), domain: nullable(str()), setup: str() }),
        kdump: obj({
          grouped: bool(),
          deferred: bool(),
          errno: nullable(str()),
          probedAt: nullable(int()),
          attachedAt: nullable(int()),
          quiescedAt: nullable(int()),
          setup: str(),
        }),
        dma: obj({
          total: counts(),
          afterCrash: counts(),
          beforeQuiesce: counts(),
          failurePaths: map(int()),
          steOrigin: obj({ crashed: int(), kdump: int() }),
          inFlightAtCrash: int(),
          jobsInFlightAtCrash: int(),
          firstFailureAfterCrash: nullable(int()),
        }),
        jobs: obj({ ok: int(), failed: int(), dropped: int() }),
        aer: aerCounts(),
        aerResets: int(),
        corruptedBytes: int(),
        staleAfterQuiesceBytes: int(),
        halted: nullable(str()),
      }),
    ),
    invariants: arr(
      obj({ id: str(), smmu: str(), text: str(), applies: bool(), holds: bool(), detail: opt(str()) }),
      undefined,
      'kdump-adopt-series.md section 3.4',
    ),
    invariantsHold: bool(),
    injections: arr(str()),
    log: arr(obj({ t: int(), kernel: str(), level: str(), device: str(), msg: str() }), undefined, 'every kernel and platform message, in time order'),
    prediction: nullable(
      obj({
        met: bool(),
        checks: arr(obj({ path: str(), op: str(), expected: { t: 'any' }, actual: { t: 'any' }, ok: bool() }, undefined, ['path', 'op', 'ok'])),
      }),
    ),
  },
  'kdump-twin outcome report',
);

const GERROR_FIELDS = findRegister('GERROR')!.fields.map((f) => f.name);

type SmmuProbe = { ok: true } | { ok: false; errno: string; reason: string } | undefined;

function adoptionOf(p: PlatformRole, kdump: KernelView, i: number, probe: SmmuProbe): AdoptionReport & { smmu: string; probe: string } {
  const smmu = p.smmus[i]!.name;
  const k = kdump.smmus[i]!;
  const firstCr0 = kdump.trace.find((a) => a.kernel === 'kdump' && a.smmu === smmu && a.dir === 'read' && a.register === 'CR0');
  const attempted = k.series !== null && firstCr0 !== undefined && (BigInt(firstCr0.value) & 1n) === 1n;
  const opt = (k.options & OPT.KDUMP_ADOPT) !== 0;
  const adopted = attempted && opt && probe?.ok === true;
  let reason: string | null = null;
  if (attempted && !adopted) {
    const lines = kdump.log.filter((l) => l.device === k.devName && (l.level === 'err' || l.level === 'warn'));
    const fb = lines.findIndex((l) => l.text === 'kdump: falling back to full reset');
    const cause =
      fb > 0
        ? lines
            .slice(0, fb)
            .reverse()
            .find((l) => l.text.includes('kdump') || !l.text.startsWith('SMMU currently enabled'))
        : undefined;
    reason =
      (cause ?? lines[fb] ?? lines.find((l) => l.text.startsWith('kdump:')) ?? lines[0])?.text ?? (probe && !probe.ok ? probe.reason : 'adoption did not take');
    if (probe && !probe.ok && fb < 0) reason = lines.at(-1)?.text ?? probe.reason;
  }
  return { smmu, probe: probe === undefined ? 'not probed' : probe.ok ? 'ok' : `-${probe.errno}: ${probe.reason}`, attempted, adopted, fallbackReason: reason };
}

/** What the report is built from: the platform (the hub), and what each other role reported. */
export interface ReportInputs {
  readonly platform: PlatformRole;
  readonly primary: KernelView;
  readonly kdump: KernelView | null;
  readonly fleet: FleetView;
  readonly corruption: Corruption;
  readonly boot: { ok: boolean; reason?: string };
  readonly smmuProbes: readonly SmmuProbe[];
  readonly vmcoreSkipped?: { reason: string; target: string | null };
}

const ZERO_AER = { correctable: 0, nonFatal: 0, fatal: 0 } as const;

export function buildReport(x: ReportInputs, predict?: readonly Check[]): Report {
  const p = x.platform;
  const s = p.spec;
  const policy = s.kdump.policy;
  const series = policy === 'adopt-v7' ? 'v7' : policy === 'adopt-v10' ? 'v10' : null;
  const perSmmu = x.kdump ? x.kdump.smmus.map((_, i) => adoptionOf(p, x.kdump!, i, x.smmuProbes[i])) : [];
  const attempted = perSmmu.some((a) => a.attempted);
  const adoption = {
    attempted,
    adopted: attempted && perSmmu.filter((a) => a.attempted).every((a) => a.adopted),
    fallbackReason: perSmmu.find((a) => a.fallbackReason)?.fallbackReason ?? null,
    smmus: perSmmu,
  };
  const c = p.collector;
  const kdumpAcc = (x.kdump?.trace ?? []).filter((a) => a.kernel === 'kdump');
  const writesTo: Record<string, number> = {};
  for (const a of kdumpAcc) if (a.dir === 'write') writesTo[a.register] = (writesTo[a.register] ?? 0) + 1;
  const crashAt = p.crashAt ?? Infinity;
  const violations = p.smmus.flatMap((m) =>
    m
      .violations()
      .filter((v) => v.time >= crashAt)
      .map((v) => ({ t: v.time, smmu: v.smmu, register: v.register, attempted: `0x${v.attempted.toString(16)}`, rule: v.rule, section: v.section })),
  );
  // Each kernel's own lines, then what the platform printed on its console, then firmware's.
  const logs = [x.primary.log, p.logs.primary.all(), x.kdump?.log ?? [], p.logs.kdump.all(), p.logs.platform.all()]
    .flatMap((l, order) => l.map((e, i) => ({ e, order, i })))
    .sort((a, b) => a.e.time - b.e.time || a.order - b.order || a.i - b.i)
    .map(({ e }) => ({ t: e.time, kernel: e.kernel, level: e.level, device: e.device, msg: e.text }));
  const hexs = (n: number) => `0x${n.toString(16)}`;
  const invariants = evaluateInvariants(p, x.primary, x.kdump);
  const atCrash = (name: string) => p.atCrash.get(name) ?? { outstanding: 0, jobs: 0 };
  const vmcore = vmcoreResult(p, x.kdump, x.fleet, x.corruption, x.vmcoreSkipped);
  const report: Report = {
    schemaVersion: REPORT_SCHEMA_VERSION,
    scenario: s.id,
    scenarioVersion: s.version,
    title: s.title,
    policy,
    series,
    seed: s.seed,
    ras: s.platform.ras,
    timeline: { bootDoneAt: p.bootDoneAt, crashAt: p.crashAt ?? null, crashReason: p.crashReason ?? null, kdumpAt: p.kdumpAt ?? null, endAt: p.clock.now() },
    primaryBoot: { ok: x.boot.ok, reason: x.boot.reason ?? null },
    adoption,
    dma: {
      ...c.sum((d) => d.total),
      inFlightAtCrash: p.devices.reduce((n, d) => n + atCrash(d.name).outstanding, 0),
      jobsInFlightAtCrash: p.devices.reduce((n, d) => n + atCrash(d.name).jobs, 0),
      afterCrash: { ...c.sum((d) => d.afterCrash), beforeQuiesce: c.sum((d) => d.beforeQuiesce) },
    },
    aer: { ...p.ras.counts },
    serror: p.serrors.length,
    kdumpPanicked: p.panic !== undefined,
    panic: p.panic ? { ...p.panic } : null,
    corruption: {
      totalBytes: x.corruption.totalBytes,
      carveoutBytes: x.corruption.carveoutBytes,
      crashedKernelBytes: x.corruption.crashedKernelBytes,
      otherBytes: x.corruption.otherBytes,
      staleAfterQuiesceBytes: x.corruption.staleAfterQuiesceBytes,
      regions: x.corruption.regions,
    },
    vmcore,
    mmio: {
      accesses: kdumpAcc.reduce((n, a) => n + a.repeat, 0),
      writes: kdumpAcc.filter((a) => a.dir === 'write').length,
      writesTo,
      violations,
      primaryViolations: p.smmus.reduce((n, m) => n + m.violations().filter((v) => v.time < crashAt).length, 0),
    },
    smmus: p.smmus.map((_, i) => smmuReport(p, x.primary, x.kdump, i)),
    devices: p.devices.map((d): DeviceReport => {
      const dd = c.device(d.name);
      const pv = x.primary.devices[d.name];
      const kv = x.kdump?.devices[d.name];
      const fv = x.fleet.devices[d.name];
      const setup = (r: SetupResult | null | undefined) => (!r ? 'not probed' : r.ok ? 'ok' : `${r.step}: -${r.errno}`);
      return {
        name: d.name,
        kind: d.spec.kind,
        smmu: d.smmu,
        rid: hexs(d.rid),
        sids: d.sids.map(hexs),
        ats: d.spec.ats,
        kdumpDriver: d.spec.kdumpDriver.present ? d.spec.kdumpDriver.role : 'none',
        primary: { grouped: pv?.probe?.grouped ?? false, domain: pv?.probe?.domain ?? null, setup: setup(pv?.setup) },
        kdump: {
          grouped: kv?.probe?.grouped ?? false,
          deferred: kv?.probe?.deferred ?? false,
          errno: kv?.probe?.errno ?? null,
          probedAt: kv?.probedAt ?? null,
          attachedAt: kv?.attachedAt ?? null,
          quiescedAt: kv?.quiescedAt ?? null,
          setup: d.spec.kdumpDriver.present ? setup(kv?.setup) : 'no driver',
        },
        dma: {
          total: dd.total,
          afterCrash: dd.afterCrash,
          beforeQuiesce: dd.beforeQuiesce,
          failurePaths: sortKeys(dd.failurePaths),
          steOrigin: dd.steOrigin,
          inFlightAtCrash: atCrash(d.name).outstanding,
          jobsInFlightAtCrash: atCrash(d.name).jobs,
          firstFailureAfterCrash: dd.firstFailureAfterCrash ?? null,
        },
        jobs: { ok: fv?.jobsOk ?? 0, failed: fv?.jobsFailed ?? 0, dropped: fv?.dropped ?? 0 },
        aer: { ...(p.aerByDevice.get(d.name) ?? ZERO_AER) },
        aerResets: p.aerResets.get(d.name) ?? 0,
        corruptedBytes: x.corruption.byDevice.get(d.name) ?? 0,
        staleAfterQuiesceBytes: x.corruption.staleByDevice.get(d.name) ?? 0,
        halted: fv?.halted ?? null,
      };
    }),
    invariants,
    invariantsHold: invariants.every((r) => r.holds),
    injections: p.injectedFaults(),
    log: logs,
    prediction: null,
  };
  if (!predict) return report;
  const checks = evaluate(report, predict);
  return { ...report, prediction: { met: checks.every((r) => r.ok), checks } };
}

const CR0_REG = findRegister('CR0')!;
const NO_STRTAB = { kind: 'none', adopted: false, entries: 0, l2Mapped: 0 } as const;
const NO_IRQS = { gerror: false, evtq: false, priq: false, combined: 'false' } as const;

function smmuReport(p: PlatformRole, primary: KernelView, kdump: KernelView | null, i: number): SmmuReport {
  const m = p.smmus[i]!;
  const events: Record<string, number> = {};
  for (const e of m.events()) events[e.fate] = (events[e.fate] ?? 0) + 1;
  const active = m.register('GERROR') ^ m.register('GERRORN');
  const k = kdump?.smmus[i];
  const rmr = p.spec.platform.smmus[i]!.firmware.rmrSids.map((sid) => {
    const pa = p.hwStrtab(i, sid).ste;
    const ste = pa === undefined ? undefined : p.readWords(pa, 1);
    return {
      sid: `0x${sid.toString(16)}`,
      valid: ste !== undefined && STE.get(ste, 'V') === 1n,
      config: ste
        ? (Object.entries(STE.field('Config')!.values ?? {}).find(([, v]) => BigInt(v) === STE.get(ste, 'Config'))?.[0] ?? String(STE.get(ste, 'Config')))
        : 'none',
    };
  });
  const cr0 = m.register('CR0');
  const crashed = primary.smmus[i]?.domainIds ?? { asids: [], vmids: [] };
  return {
    name: m.name,
    events: sortKeys(events),
    gerrorActive: GERROR_FIELDS.filter((f) => findRegister('GERROR')!.get([active], f) !== 0n),
    sfm: m.inServiceFailureMode(),
    smmuen: m.field('CR0ACK', 'SMMUEN') === 1,
    cr0: `0x${cr0.toString(16)}`,
    atschk: CR0_REG.get([cr0], 'ATSCHK') === 1n,
    strtab: k ? { ...k.strtab } : { ...NO_STRTAB },
    irqs: k ? { ...k.irqs } : { ...NO_IRQS },
    kdumpCommands: k ? { ...k.commands } : {},
    rmr,
    unbind: k?.unbind ? { ...k.unbind } : null,
    reusedCrashedIds: k
      ? { asids: k.domainIds.asids.filter((a) => crashed.asids.includes(a)), vmids: k.domainIds.vmids.filter((v) => crashed.vmids.includes(v)) }
      : { asids: [], vmids: [] },
  };
}

function sortKeys(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** The report as JSON text: stable key order, two-space indent, newline-terminated. */
export function reportJson(r: Report): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}

// ---------------------------------------------------------------------------------------------
// Human forms

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

function table(head: readonly string[], rows: readonly (readonly string[])[], right: ReadonlySet<number> = new Set()): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (right.has(i) ? lpad(c, w[i]!) : pad(c, w[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

export function bytesText(n: number): string {
  if (n === 0) return '0 B';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function adoptionText(r: Report): string {
  if (!r.adoption.attempted) return r.series ? 'not attempted (SMMU off)' : '-';
  return r.adoption.adopted ? 'adopted' : 'fell back';
}

/** The one-run summary `twinctl run` prints. */
export function formatReport(r: Report, o: { log?: 'kdump' | 'all' | 'none' } = {}): string {
  const out: string[] = [];
  out.push(`scenario ${r.scenario} v${r.scenarioVersion}  policy ${r.policy}  seed ${r.seed}  ras ${r.ras}`);
  if (r.title) out.push(r.title);
  out.push(`crash: ${r.timeline.crashReason ?? '-'}`);
  if (!r.primaryBoot.ok) out.push(`primary boot FAILED: ${r.primaryBoot.reason}`);
  out.push(`adoption: ${adoptionText(r)}${r.adoption.fallbackReason ? ` (${r.adoption.fallbackReason})` : ''}`);
  const d = r.dma;
  const row = (name: string, c: DmaCounts) => [
    name,
    String(c.issued),
    String(c.completedOk),
    String(c.bypassed),
    String(c.aborted),
    String(c.faulted),
    String(c.stalled),
  ];
  out.push('');
  out.push(
    table(
      ['DMA', 'issued', 'ok', 'bypassed', 'aborted', 'faulted', 'stalled'],
      [row('all', d), row('after panic', d.afterCrash), row('  until quiesce', d.afterCrash.beforeQuiesce)],
      new Set([1, 2, 3, 4, 5, 6]),
    ),
  );
  out.push(`in flight at the panic: ${d.inFlightAtCrash} transactions, ${d.jobsInFlightAtCrash} jobs`);
  out.push(
    `AER: ${r.aer.correctable} correctable, ${r.aer.nonFatal} non-fatal, ${r.aer.fatal} fatal; SError ${r.serror}; kdump ${r.kdumpPanicked ? `PANICKED (${r.panic?.reason})` : 'survived'}`,
  );
  out.push(
    `corruption: ${bytesText(r.corruption.totalBytes)} (carve-out ${bytesText(r.corruption.carveoutBytes)}, crashed kernel ${bytesText(r.corruption.crashedKernelBytes)}, other ${bytesText(r.corruption.otherBytes)})${r.corruption.staleAfterQuiesceBytes ? `; stale DMA after quiesce into the crashed kernel's own buffers: ${bytesText(r.corruption.staleAfterQuiesceBytes)}` : ''}`,
  );
  for (const g of r.corruption.regions) out.push(`  ${g.region}: ${bytesText(g.bytes)} by ${g.devices.join(', ')} ${g.ranges.slice(0, 2).join(' ')}`);
  const v = r.vmcore;
  out.push(
    `vmcore: ${v.saved ? `saved (${v.savedPages} pages, ${bytesText(v.corruptedBytes)} corrupted)` : `NOT saved${v.reason ? ` (${v.reason})` : ''}`}${v.kdumpWrittenBytes ? `; the kdump kernel wrote ${v.kdumpWrittenBytes} B of crashed memory` : ''}`,
  );
  const wr = Object.entries(r.mmio.writesTo)
    .map(([k, n]) => `${k}×${n}`)
    .join(' ');
  out.push(`kdump MMIO: ${r.mmio.accesses} accesses, writes: ${wr || 'none'}; violations: ${r.mmio.violations.length}`);
  for (const x of r.mmio.violations.slice(0, 5)) out.push(`  t=${x.t} ${x.register} <- ${x.attempted}: ${x.rule}`);
  const broken = r.invariants.filter((i) => i.applies && !i.holds);
  out.push(
    `section 3.4 invariants: ${r.invariants.filter((i) => i.applies).length} apply, ${broken.length ? `${broken.length} BROKEN: ${broken.map((b) => `${b.id} (${b.detail ?? ''})`).join('; ')}` : 'all hold'}`,
  );
  out.push('');
  out.push(
    table(
      ['device', 'kind', 'SIDs', 'kdump', 'after panic ok/byp/abort/fault', 'AER c/nf/f', 'corrupt'],
      r.devices.map((x) => [
        x.name,
        x.kind,
        x.sids.join(','),
        `${x.kdump.grouped ? (x.kdump.deferred ? 'deferred' : 'attached') : x.kdump.errno ? `-${x.kdump.errno}` : 'no group'}${x.kdumpDriver !== 'none' ? ` ${x.kdumpDriver}` : ''}`,
        `${x.dma.afterCrash.completedOk}/${x.dma.afterCrash.bypassed}/${x.dma.afterCrash.aborted}/${x.dma.afterCrash.faulted}`,
        `${x.aer.correctable}/${x.aer.nonFatal}/${x.aer.fatal}`,
        bytesText(x.corruptedBytes),
      ]),
    ),
  );
  if (r.prediction) {
    out.push('');
    out.push(`prediction: ${r.prediction.met ? 'MET' : 'NOT MET'}`);
    for (const ch of r.prediction.checks)
      out.push(`  ${ch.ok ? 'ok ' : 'FAIL'} ${ch.path} ${ch.op} ${JSON.stringify(ch.expected)}${ch.ok ? '' : ` (got ${JSON.stringify(ch.actual)})`}`);
  }
  const which = o.log ?? 'kdump';
  if (which !== 'none') {
    const lines = r.log.filter((l) => (which === 'all' || l.kernel !== 'primary') && l.level !== 'debug');
    if (lines.length) {
      out.push('');
      out.push(`log (${which === 'all' ? 'all kernels' : 'kdump kernel and platform'}):`);
      for (const l of lines.slice(0, 60))
        out.push(`[${(l.t / 1e9).toFixed(6).padStart(12)}] ${l.kernel === 'platform' ? '' : `${l.kernel}: `}${l.device}: ${l.msg}`);
      if (lines.length > 60) out.push(`... ${lines.length - 60} more lines (--json has them all)`);
    }
  }
  return out.join('\n');
}

/** The policy-by-scenario comparison table. */
export function formatMatrix(reports: readonly Report[]): string {
  const rows = reports.map((r) => {
    const a = r.dma.afterCrash.beforeQuiesce;
    return [
      r.scenario,
      r.policy,
      adoptionText(r),
      String(a.completedOk),
      String(a.bypassed),
      String(a.aborted + a.faulted),
      `${r.aer.correctable}/${r.aer.nonFatal}/${r.aer.fatal}`,
      r.kdumpPanicked ? 'PANIC' : 'no',
      bytesText(r.corruption.totalBytes),
      bytesText(r.corruption.staleAfterQuiesceBytes),
      r.vmcore.saved ? (r.vmcore.corruptedBytes ? `saved, ${bytesText(r.vmcore.corruptedBytes)} bad` : 'saved') : 'LOST',
      r.prediction ? (r.prediction.met ? 'met' : 'NOT MET') : '-',
    ];
  });
  return table(
    ['scenario', 'policy', 'adoption', 'in-flight ok', 'bypassed', 'aborted', 'AER c/nf/f', 'kdump panic', 'corrupted', 'stale DMA', 'vmcore', 'prediction'],
    rows,
    new Set([3, 4, 5]),
  );
}
