// SPDX-License-Identifier: Apache-2.0
// The service definition and its gRPC controller: each call is a step of the session, sent to
// the platform that owns it (which runs it in virtual-time order and calls back into the
// replica holding the session's primary kernel).
import { Controller, Inject, Module, type DynamicModule } from '@nestjs/common';
import { kernelV1 } from '@kdump-twin/contracts';
import type { ServiceContext, ServiceDefinition } from '@kdump-twin/service';
import { kernelHooks } from '@kdump-twin/telemetry';
import { KernelHost, QUEUES, ScriptClient } from '@kdump-twin/transport';

const CTX = Symbol('service context');
let host: KernelHost | undefined;

const DOMAINS: Record<number, 'identity' | 'blocked' | 'dma'> = {
  [kernelV1.DomainType.DOMAIN_TYPE_IDENTITY]: 'identity',
  [kernelV1.DomainType.DOMAIN_TYPE_BLOCKED]: 'blocked',
  [kernelV1.DomainType.DOMAIN_TYPE_DMA]: 'dma',
};

/** Whether proto3 `optional` field `f` was sent (the loader names the set member of its synthetic oneof). */
function present(r: object, f: string): boolean {
  return (r as Record<string, unknown>)[`_${f}`] === f;
}

function faults(text: string): unknown {
  if (!text) return [];
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new RangeError(`faults_json: not JSON (${(e as Error).message})`, { cause: e });
  }
}

type Step = { timeNs: number; panicked?: boolean };

@Controller()
@kernelV1.PrimaryKernelServiceControllerMethods()
class PrimaryKernelController implements kernelV1.PrimaryKernelServiceController {
  private readonly script: ScriptClient;

  constructor(@Inject(CTX) ctx: ServiceContext) {
    this.script = new ScriptClient(ctx.rpc);
  }

  async boot(r: kernelV1.BootRequest): Promise<kernelV1.BootResponse> {
    const s = await this.script.step<Step & { ok: boolean; reason?: string }>(r.sessionId, { op: 'boot' });
    return { ok: s.ok, reason: s.reason ?? '', timeNs: String(s.timeNs) };
  }

  async setupDrivers(r: kernelV1.SetupDriversRequest): Promise<kernelV1.SetupDriversResponse> {
    const s = await this.script.step<Step>(r.sessionId, { op: 'setupDrivers' });
    return { timeNs: String(s.timeNs) };
  }

  async attach(r: kernelV1.AttachRequest): Promise<kernelV1.AttachResponse> {
    const domain = DOMAINS[r.domain];
    if (!domain) throw new RangeError('domain: DOMAIN_TYPE_IDENTITY, DOMAIN_TYPE_BLOCKED or DOMAIN_TYPE_DMA');
    const s = await this.script.step<Step>(r.sessionId, {
      op: 'attach',
      device: r.device,
      domain,
      ...(present(r, 'panicAfterStores') ? { panicAfterStores: r.panicAfterStores } : {}),
    });
    return { panicked: s.panicked ?? false, timeNs: String(s.timeNs) };
  }

  async unmap(r: kernelV1.UnmapRequest): Promise<kernelV1.UnmapResponse> {
    const s = await this.script.step<Step>(r.sessionId, { op: 'unmap', device: r.device, buffer: r.buffer });
    return { panicked: s.panicked ?? false, timeNs: String(s.timeNs) };
  }

  async crash(r: kernelV1.CrashRequest): Promise<kernelV1.CrashResponse> {
    const s = await this.script.step<{ crashAtNs: number; injected: string[] }>(r.sessionId, { op: 'crash', reason: r.reason, faults: faults(r.faultsJson) });
    return { crashAtNs: String(s.crashAtNs), injected: s.injected };
  }

  async getKernelView(r: kernelV1.GetKernelViewRequest): Promise<kernelV1.GetKernelViewResponse> {
    const s = await this.script.step<{ view: unknown }>(r.sessionId, { op: 'view', kernel: 'primary' });
    return { viewJson: JSON.stringify(s.view) };
  }
}

export const CRASH_GENERATOR: ServiceDefinition<Record<string, never>> = {
  name: 'crash-generator',
  defaultPort: 50053,
  packages: ['twin.kernel.v1'],
  protos: ['twin/kernel/v1/kernel.proto'],
  services: ['twin.kernel.v1.PrimaryKernelService'],
  onStart: (ctx) => {
    host = new KernelHost(ctx.rpc, 'primary', (m) => ctx.log.info(m), kernelHooks(ctx.telemetry, 'primary'));
    host.start(QUEUES.primary);
    ctx.onReconnect((why) => host?.dropAll(why));
  },
  onStop: () => host?.dropAll('the service is stopping'),
  module: (ctx): DynamicModule => {
    @Module({})
    class CrashGeneratorModule {}
    return { module: CrashGeneratorModule, controllers: [PrimaryKernelController], providers: [{ provide: CTX, useValue: ctx }] };
  },
};
