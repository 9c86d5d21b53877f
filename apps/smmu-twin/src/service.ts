// SPDX-License-Identifier: Apache-2.0
// smmu-twin's definition and its two gRPC controllers: proto to Machine, Session and runner
// calls, and back. 64-bit fields travel as decimal strings; anything wrong in a request is a
// status naming the field (errors.ts).
import { Controller, Inject, Module, type DynamicModule } from '@nestjs/common';
import { Observable } from 'rxjs';
import { archV1, scenarioV1, smmuV1 } from '@kdump-twin/contracts';
import { entryPolicies, reportJson, type AccessView, type KernelView, type Report } from '@kdump-twin/scenario';
import { NotFound, vars, type ServiceContext, type ServiceDefinition, type VarSpec } from '@kdump-twin/service';
import { Machine, MachineInputError, type MachineEvent, type RegisterAccessResult, type RegisterTarget, type SystemSnapshot } from '@kdump-twin/smmu-model';
import { ScriptClient, SESSION_ID } from '@kdump-twin/transport';
import { extractMetadata } from '@kdump-twin/telemetry';
import type { Metadata } from '@grpc/grpc-js';
import { Registry, type ScenarioRefInput } from './registry';

const REGISTRY = Symbol('registry');
const CTX = Symbol('service context');

const RESULT: Record<string, archV1.AccessResult> = {
  ok: archV1.AccessResult.ACCESS_RESULT_OK,
  'ignored-guard': archV1.AccessResult.ACCESS_RESULT_IGNORED_GUARD,
  'ignored-read-only': archV1.AccessResult.ACCESS_RESULT_IGNORED_READ_ONLY,
  'raz-wi': archV1.AccessResult.ACCESS_RESULT_RAZ_WI,
  abort: archV1.AccessResult.ACCESS_RESULT_ABORT,
};

const KIND: Record<MachineEvent['kind'], smmuV1.MachineEventKind> = {
  interrupt: smmuV1.MachineEventKind.MACHINE_EVENT_KIND_INTERRUPT,
  'event-record': smmuV1.MachineEventKind.MACHINE_EVENT_KIND_EVENT_RECORD,
  gerror: smmuV1.MachineEventKind.MACHINE_EVENT_KIND_GERROR,
};

/** A uint64 field (a decimal string from the loader) as an address or count below 2^53. */
function num(v: string | number | undefined, field: string): number {
  const n = typeof v === 'number' ? v : Number(v ?? '0');
  if (!Number.isSafeInteger(n) || n < 0) throw new MachineInputError(field, 'a non-negative integer below 2^53');
  return n;
}

function present(r: object, f: string): boolean {
  return (r as Record<string, unknown>)[`_${f}`] === f;
}

function target(r: { register?: string | undefined; offset?: number | undefined; target?: string }): RegisterTarget {
  if (r.target === 'register' && r.register) return { register: r.register };
  if (r.target === 'offset') return { offset: r.offset ?? 0 };
  throw new MachineInputError('target', 'one of register (a name) or offset');
}

function access(a: RegisterAccessResult): archV1.RegisterAccess {
  return {
    timeNs: String(a.time),
    actor: 'script',
    smmu: a.smmu,
    offset: a.offset,
    register: a.register ?? '',
    sizeBits: a.size * 8,
    direction: a.dir === 'read' ? archV1.AccessDirection.ACCESS_DIRECTION_READ : archV1.AccessDirection.ACCESS_DIRECTION_WRITE,
    value: a.value.toString(),
    result: RESULT[a.result] ?? archV1.AccessResult.ACCESS_RESULT_UNSPECIFIED,
    rule: a.rule ?? '',
  };
}

function traced(a: AccessView): scenarioV1.TracedAccess {
  return {
    access: {
      timeNs: String(a.time),
      actor: `${a.kernel}-kernel`,
      smmu: a.smmu,
      offset: a.offset,
      register: a.register,
      sizeBits: a.size * 8,
      direction: a.dir === 'read' ? archV1.AccessDirection.ACCESS_DIRECTION_READ : archV1.AccessDirection.ACCESS_DIRECTION_WRITE,
      value: BigInt(a.value).toString(),
      result: RESULT[a.result] ?? archV1.AccessResult.ACCESS_RESULT_UNSPECIFIED,
      rule: '',
    },
    repeat: a.repeat,
  };
}

function ats(k: smmuV1.AtsKind): 'request' | 'translated' | undefined {
  return k === smmuV1.AtsKind.ATS_KIND_REQUEST ? 'request' : k === smmuV1.AtsKind.ATS_KIND_TRANSLATED ? 'translated' : undefined;
}

function ref(r: scenarioV1.ScenarioRef | undefined): ScenarioRefInput {
  if (!r) throw new RangeError('scenario: required');
  return { catalogueId: r.catalogueId ?? '', documentJson: r.documentJson ?? '', policy: r.policy, seed: r.seed, sets: r.sets };
}

@Controller()
@smmuV1.SmmuTwinServiceControllerMethods()
class SmmuTwinController implements smmuV1.SmmuTwinServiceController {
  constructor(@Inject(REGISTRY) private readonly reg: Registry) {}

  createMachine(r: smmuV1.CreateMachineRequest): smmuV1.CreateMachineResponse {
    const smmus = (r.smmus.length ? r.smmus : [{ name: '', configJson: '' }]).map((s, i) => {
      let config: Record<string, unknown> = {};
      if (s.configJson) {
        try {
          config = JSON.parse(s.configJson) as Record<string, unknown>;
        } catch (e) {
          throw new RangeError(`smmus[${i}].config_json: not JSON (${(e as Error).message})`, { cause: e });
        }
      }
      return { ...config, ...(s.name ? { name: s.name } : {}) };
    });
    const regions = r.regions.map((x, i) => ({
      name: x.name,
      base: num(x.base, `regions[${i}].base`),
      size: num(x.size, `regions[${i}].size`),
      kind: x.kind as never,
      ...(x.owner ? { owner: x.owner } : {}),
    }));
    // The scenario document's bound (platform.maxBackedMiB), so a machine cannot ask for more than a run may.
    if (r.maxBackedMib > MAX_BACKED_MIB) throw new RangeError(`max_backed_mib: 0 (256) or 1..${MAX_BACKED_MIB} MiB (got ${r.maxBackedMib})`);
    const m = this.reg.addMachine(
      wrap(() =>
        Machine.create(this.reg.newMachineId(), {
          seed: r.seed ? (/^\d+$/.test(r.seed) ? Number(r.seed) : r.seed) : 1,
          memory: { paBits: r.paBits || 48, maxBackedBytes: (r.maxBackedMib || 256) * 1024 * 1024, ...(regions.length ? { regions } : {}) },
          smmus,
        }),
      ),
    );
    return { machineId: m.id, smmus: m.smmus.map((s) => ({ name: s.name, idr: [0, 1, 2, 3, 4, 5].map((i) => Number(s.register(`IDR${i}`))) })) };
  }

  deleteMachine(r: smmuV1.DeleteMachineRequest): smmuV1.DeleteMachineResponse {
    this.reg.deleteMachine(r.machineId);
    return {};
  }

  listMachines(): smmuV1.ListMachinesResponse {
    const all = [...this.reg.machines.values(), ...[...this.reg.sessions.values()].map((s) => s.machine)];
    return { machines: all.map((m) => ({ machineId: m.id, kind: m.kind, timeNs: String(m.time), smmus: m.smmus.map((s) => s.name) })) };
  }

  readRegister(r: smmuV1.ReadRegisterRequest): smmuV1.ReadRegisterResponse {
    return { access: access(this.reg.machine(r.machineId).readRegister(r.smmu, target(r), r.size)) };
  }

  writeRegister(r: smmuV1.WriteRegisterRequest): smmuV1.WriteRegisterResponse {
    const m = this.reg.machine(r.machineId);
    let v: bigint;
    try {
      v = BigInt(r.value || '0');
    } catch (e) {
      throw new MachineInputError('value', 'a uint64', 'invalid', e);
    }
    return { access: access(m.writeRegister(r.smmu, target(r), v, r.size)) };
  }

  readMemory(r: smmuV1.ReadMemoryRequest): smmuV1.ReadMemoryResponse {
    return { data: this.reg.machine(r.machineId).readMemory(num(r.pa, 'pa'), r.length) };
  }

  writeMemory(r: smmuV1.WriteMemoryRequest): smmuV1.WriteMemoryResponse {
    this.reg.machine(r.machineId).writeMemory(num(r.pa, 'pa'), new Uint8Array(r.data ?? []));
    return {};
  }

  translate(r: smmuV1.TranslateRequest): smmuV1.TranslateResponse {
    const t = this.reg.machine(r.machineId).translate(r.smmu, {
      sid: r.sid,
      ...(present(r, 'ssid') ? { ssid: r.ssid } : {}),
      address: num(r.address, 'address'),
      size: r.size,
      write: r.write,
      privileged: r.privileged,
      instruction: r.instruction,
      ...(ats(r.ats) ? { ats: ats(r.ats) } : {}),
    });
    return {
      outcome: t.outcome,
      ...(t.pa >= 0 ? { pa: String(t.pa) } : {}),
      path: t.path,
      event: t.event ?? '',
      recorded: t.recorded,
      why: t.why,
      tlbHit: t.tlbHit,
      steCached: t.steCached,
      simulatorError: t.simulatorError ?? '',
    };
  }

  submitDma(r: smmuV1.SubmitDmaRequest): smmuV1.SubmitDmaResponse {
    const m = this.reg.machine(r.machineId);
    if (m.kind === 'session') throw new MachineInputError('machine_id', "a session's DMA comes from its fleet: use a machine (CreateMachine)", 'precondition');
    const out = m.submitDma(
      r.smmu,
      (r.transactions ?? []).map((t, i) => ({
        sid: t.sid,
        ...(present(t, 'ssid') ? { ssid: t.ssid } : {}),
        address: num(t.address, `transactions[${i}].address`),
        size: t.size,
        write: t.write,
        ...(t.write ? { data: new Uint8Array(t.data ?? []) } : {}),
        ...(ats(t.ats) ? { ats: ats(t.ats) } : {}),
      })),
    );
    return {
      results: out.map((x) => ({
        status: x.status,
        outcome: x.outcome,
        ...(x.pa !== undefined ? { pa: String(x.pa) } : {}),
        path: x.path,
        event: x.event ?? '',
        data: x.data ?? new Uint8Array(0),
      })),
      timeNs: String(m.time),
    };
  }

  advanceTime(r: smmuV1.AdvanceTimeRequest): smmuV1.AdvanceTimeResponse {
    return { timeNs: String(this.reg.machine(r.machineId).advance(num(r.ns, 'ns'))) };
  }

  snapshot(r: smmuV1.SnapshotRequest): smmuV1.SnapshotResponse {
    const m = this.reg.machine(r.machineId);
    return { snapshot: new TextEncoder().encode(JSON.stringify(m.snapshot())), timeNs: String(m.time) };
  }

  restore(r: smmuV1.RestoreRequest): smmuV1.RestoreResponse {
    let snap: SystemSnapshot;
    try {
      snap = JSON.parse(new TextDecoder().decode(r.snapshot)) as SystemSnapshot;
    } catch (e) {
      throw new RangeError(`snapshot: not JSON (${(e as Error).message})`, { cause: e });
    }
    const m = this.reg.addMachine(wrap(() => Machine.restore(this.reg.newMachineId(), snap)));
    return { machineId: m.id, timeNs: String(m.time) };
  }

  watchEvents(r: smmuV1.WatchEventsRequest): Observable<smmuV1.WatchEventsResponse> {
    const m = this.reg.machine(r.machineId);
    const smmu = present(r, 'smmu') ? r.smmu : undefined;
    return new Observable<smmuV1.WatchEventsResponse>((sub) => {
      const un = m.watch(
        (e) => sub.next({ timeNs: String(e.time), smmu: e.smmu, kind: KIND[e.kind], name: e.name, detail: e.detail, address: String(e.address), data: e.data }),
        smmu,
      );
      const end = this.reg.onEnd(m.id, () => sub.complete());
      return () => {
        un();
        end();
      };
    });
  }

  listViolations(r: smmuV1.ListViolationsRequest): smmuV1.ListViolationsResponse {
    return {
      violations: this.reg
        .machine(r.machineId)
        .violations()
        .map((v) => ({ timeNs: String(v.time), smmu: v.smmu, register: v.register, attempted: v.attempted.toString(), rule: v.rule, section: v.section })),
    };
  }
}

/** Configuration mistakes of a new machine (RangeError from the models) name their field already. */
function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof RangeError || (e as Error).name === 'SmmuConfigError' || (e as Error).name === 'PlatformConfigError')
      throw new RangeError((e as Error).message, { cause: e });
    throw e;
  }
}

@Controller()
@scenarioV1.ScenarioServiceControllerMethods()
class ScenarioController implements scenarioV1.ScenarioServiceController {
  private readonly script: ScriptClient;

  constructor(
    @Inject(REGISTRY) private readonly reg: Registry,
    @Inject(CTX) ctx: ServiceContext,
  ) {
    this.script = new ScriptClient(ctx.rpc);
  }

  listScenarios(): scenarioV1.ListScenariosResponse {
    return {
      entries: this.reg.catalogue().map((e) => ({
        id: e.id,
        version: e.version,
        title: e.title,
        source: e.source,
        outcome: e.outcome,
        policies: entryPolicies(e),
        headline: e.headline ?? false,
      })),
    };
  }

  async runScenario(r: scenarioV1.RunScenarioRequest, md?: Metadata): Promise<scenarioV1.RunScenarioResponse> {
    const t0 = Date.now();
    // The caller's trace context (traceparent in the metadata) parents the run's span.
    const { id, report } = await this.reg.run(ref(r.scenario), r.predict, extractMetadata(md));
    return {
      runId: id,
      reportJson: reportJson(report),
      ...(report.prediction ? { predictionMet: report.prediction.met } : {}),
      wallMs: String(Date.now() - t0),
    };
  }

  async openSession(r: scenarioV1.OpenSessionRequest): Promise<scenarioV1.OpenSessionResponse> {
    const e = await this.reg.openSession(ref(r.scenario));
    return {
      sessionId: e.id,
      smmus: e.session.p.smmuNames(),
      devices: e.session.p.devices.map((d) => ({ name: d.name, kind: d.spec.kind, smmu: d.smmu, sids: [...d.sids] })),
    };
  }

  async closeSession(r: scenarioV1.CloseSessionRequest): Promise<scenarioV1.CloseSessionResponse> {
    await this.reg.closeSession(r.sessionId);
    return {};
  }

  listSessions(): scenarioV1.ListSessionsResponse {
    return {
      sessions: [...this.reg.sessions.values()].map((s) => ({
        sessionId: s.id,
        scenario: s.session.spec.id,
        phase: s.session.phase,
        timeNs: String(s.session.now()),
      })),
    };
  }

  async advanceSession(r: scenarioV1.AdvanceSessionRequest): Promise<scenarioV1.AdvanceSessionResponse> {
    const s = await this.script.step<{ timeNs: number; phase: string }>(r.sessionId, { op: 'advance', ns: num(r.ns, 'ns') });
    return { timeNs: String(s.timeNs), phase: s.phase };
  }

  async getReport(r: scenarioV1.GetReportRequest): Promise<scenarioV1.GetReportResponse> {
    runOrSessionId(r.id);
    const run = this.reg.runs.get(r.id);
    if (run) return { reportJson: reportJson(run.report) };
    if (!r.id.startsWith('s')) throw new NotFound(`id: no run ${r.id} on this replica (the last 64 runs are kept)`);
    const s = await this.script.step<{ report: Report }>(r.id, { op: 'report' });
    return { reportJson: reportJson(s.report) };
  }

  async getMmioTrace(r: scenarioV1.GetMmioTraceRequest): Promise<scenarioV1.GetMmioTraceResponse> {
    const kernel = r.kernel || 'kdump';
    if (kernel !== 'kdump' && kernel !== 'primary') throw new RangeError("kernel: 'kdump' or 'primary'");
    let view: KernelView | null;
    runOrSessionId(r.id);
    const run = this.reg.runs.get(r.id);
    if (run) view = kernel === 'kdump' ? run.views.kdump : run.views.primary;
    else if (r.id.startsWith('s')) view = (await this.script.step<{ view: KernelView | null }>(r.id, { op: 'view', kernel })).view;
    else throw new NotFound(`id: no run ${r.id} on this replica (the last 64 runs are kept)`);
    const trace = view?.trace ?? [];
    const picked = r.limit ? trace.slice(0, r.limit) : trace;
    return { accesses: picked.map(traced), total: String(trace.reduce((n, a) => n + a.repeat, 0)) };
  }
}

export const SMMU_TWIN: ServiceDefinition<{
  MAX_MACHINES: ReturnType<typeof vars.int>;
  KERNEL_DMI: VarSpec<'on' | 'off'>;
  DEVICE_DMI: VarSpec<'on' | 'off'>;
  RUN_AHEAD: VarSpec<'on' | 'off'>;
  WAIT_UNTIL: VarSpec<'on' | 'off'>;
}> = {
  name: 'smmu-twin',
  defaultPort: 50051,
  packages: ['twin.smmu.v1', 'twin.scenario.v1'],
  protos: ['twin/smmu/v1/smmu.proto', 'twin/scenario/v1/scenario.proto'],
  services: ['twin.smmu.v1.SmmuTwinService', 'twin.scenario.v1.ScenarioService'],
  vars: {
    MAX_MACHINES: vars.int('machines and sessions one replica holds at most', 256, 1, 100_000),
    KERNEL_DMI: vars.oneOf("direct memory for the kernels (docs/services.md): 'off' makes every kernel load cross NATS, to measure what it saves", 'on', [
      'on',
      'off',
    ] as const),
    DEVICE_DMI: vars.oneOf(
      "direct memory for the devices (docs/services.md): 'off' makes every device read end its fleet slice, to measure what it saves",
      'on',
      ['on', 'off'] as const,
    ),
    RUN_AHEAD: vars.oneOf(
      "the kernels' paced threads run their wake-ups ahead (docs/services.md): 'off' makes every wake-up a round trip, to measure what it saves",
      'on',
      ['on', 'off'] as const,
    ),
    WAIT_UNTIL: vars.oneOf(
      "poll loops wait on the platform until what they read changes (docs/services.md): 'off' makes every poll wake-up a round trip, to measure what it saves",
      'on',
      ['on', 'off'] as const,
    ),
  },
  module: (ctx): DynamicModule => {
    @Module({})
    class SmmuTwinModule {}
    const reg = new Registry(ctx as unknown as ServiceContext, ctx.config.MAX_MACHINES, {
      dmi: ctx.config.KERNEL_DMI,
      deviceDmi: ctx.config.DEVICE_DMI,
      runAhead: ctx.config.RUN_AHEAD,
      waitUntil: ctx.config.WAIT_UNTIL,
    });
    return {
      module: SmmuTwinModule,
      controllers: [SmmuTwinController, ScenarioController],
      providers: [
        { provide: REGISTRY, useValue: reg },
        { provide: CTX, useValue: ctx },
      ],
    };
  },
};

/** A run or session id as this service hands them out (r… or s…, at most 64 characters), or a RangeError naming the field: never echoed whole. */
function runOrSessionId(id: string): void {
  if (typeof id !== 'string' || !SESSION_ID.test(id))
    throw new RangeError(`id: a run or session id is 1-64 letters, digits, - or _ (got ${typeof id === 'string' ? `${id.length} characters` : typeof id})`);
}

/** CreateMachine's bound on simulated memory, the scenario document's (platform.maxBackedMiB). */
const MAX_BACKED_MIB = 65_536;
