// SPDX-License-Identifier: Apache-2.0
// The service definition and its gRPC controller: each call is a step of the session, sent to
// the platform that owns it (which runs it in virtual-time order and calls back into the
// replica holding the session's kdump kernel).
import { Controller, Inject, Module, type DynamicModule } from '@nestjs/common';
import { kdumpV1 } from '@kdump-twin/contracts';
import type { ServiceContext, ServiceDefinition } from '@kdump-twin/service';
import { kernelHooks } from '@kdump-twin/telemetry';
import { KernelHost, QUEUES, ScriptClient } from '@kdump-twin/transport';
import type { ProbeOutcome } from '@kdump-twin/kernel';
import { reportJson, type Report } from '@kdump-twin/scenario';
import type { SetupResult } from '@kdump-twin/endpoint';

const CTX = Symbol('service context');
let host: KernelHost | undefined;

type Step = { timeNs: number };

function u64(text: string, field: string): number {
  const n = Number(text || '0');
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${field}: a non-negative integer below 2^53`);
  return n;
}

@Controller()
@kdumpV1.KdumpDriverServiceControllerMethods()
class KdumpDriverController implements kdumpV1.KdumpDriverServiceController {
  private readonly script: ScriptClient;

  constructor(@Inject(CTX) ctx: ServiceContext) {
    this.script = new ScriptClient(ctx.rpc);
  }

  async kexec(r: kdumpV1.KexecRequest): Promise<kdumpV1.KexecResponse> {
    const s = await this.script.step<{ kdumpAtNs: number }>(r.sessionId, { op: 'kexec' });
    return { kdumpAtNs: String(s.kdumpAtNs) };
  }

  async probeSmmus(r: kdumpV1.ProbeSmmusRequest): Promise<kdumpV1.ProbeSmmusResponse> {
    const s = await this.script.step<Step & { probes: (ProbeOutcome | null)[]; smmus: string[] }>(r.sessionId, { op: 'probeSmmus' });
    return {
      probes: s.smmus.map((smmu, i) => {
        const p = s.probes[i];
        return p
          ? { smmu, ok: p.ok, errno: p.ok ? '' : p.errno, reason: p.ok ? '' : p.reason }
          : { smmu, ok: false, errno: '', reason: 'the CPU halted during the probe' };
      }),
      timeNs: String(s.timeNs),
    };
  }

  async probeDevices(r: kdumpV1.ProbeDevicesRequest): Promise<kdumpV1.ProbeDevicesResponse> {
    const s = await this.script.step<Step>(r.sessionId, { op: 'probeDevices' });
    return { timeNs: String(s.timeNs) };
  }

  async probeEndpointDriver(r: kdumpV1.ProbeEndpointDriverRequest): Promise<kdumpV1.ProbeEndpointDriverResponse> {
    const s = await this.script.step<Step & { setup: SetupResult | null }>(r.sessionId, { op: 'probeDriver', device: r.device });
    const x = s.setup;
    return {
      ok: x?.ok ?? false,
      errno: x && !x.ok ? x.errno : '',
      step: x && !x.ok ? x.step : x ? '' : 'the CPU halted during the probe',
      timeNs: String(s.timeNs),
    };
  }

  async saveVmcore(r: kdumpV1.SaveVmcoreRequest): Promise<kdumpV1.SaveVmcoreResponse> {
    const s = await this.script.step<{ vmcore: unknown }>(r.sessionId, {
      op: 'saveVmcore',
      ...(r.target ? { target: r.target } : {}),
      ...(r.maxPages ? { maxPages: r.maxPages } : {}),
      ...(u64(r.forNs, 'for_ns') ? { forNs: u64(r.forNs, 'for_ns') } : {}),
    });
    return { vmcoreJson: JSON.stringify(s.vmcore) };
  }

  async probe(r: kdumpV1.ProbeRequest): Promise<kdumpV1.ProbeResponse> {
    const s = await this.script.step<{ report: Report }>(r.sessionId, { op: 'runKdump' });
    // The same bytes as RunScenario and GetReport give for the same report.
    return { reportJson: reportJson(s.report) };
  }

  async getKdumpView(r: kdumpV1.GetKdumpViewRequest): Promise<kdumpV1.GetKdumpViewResponse> {
    const s = await this.script.step<{ view: unknown }>(r.sessionId, { op: 'view', kernel: 'kdump' });
    return { viewJson: JSON.stringify(s.view) };
  }
}

export const KDUMP_DRIVER: ServiceDefinition<Record<string, never>> = {
  name: 'kdump-driver',
  defaultPort: 50054,
  packages: ['twin.kdump.v1'],
  protos: ['twin/kdump/v1/kdump.proto'],
  services: ['twin.kdump.v1.KdumpDriverService'],
  onStart: (ctx) => {
    host = new KernelHost(ctx.rpc, 'kdump', (m) => ctx.log.info(m), kernelHooks(ctx.telemetry, 'kdump'));
    host.start(QUEUES.kdump);
    ctx.onReconnect((why) => host?.dropAll(why));
  },
  onStop: () => host?.dropAll('the service is stopping'),
  module: (ctx): DynamicModule => {
    @Module({})
    class KdumpDriverModule {}
    return { module: KdumpDriverModule, controllers: [KdumpDriverController], providers: [{ provide: CTX, useValue: ctx }] };
  },
};
