// SPDX-License-Identifier: Apache-2.0
// The service definition and its gRPC controller: proto to library calls, nothing more. A
// device's list comes from whichever replica holds the session (over NATS); traffic changes
// and resets go to the session's platform, which applies them in virtual-time order.
import { Controller, Inject, Module, type DynamicModule } from '@nestjs/common';
import { fleetV1 } from '@kdump-twin/contracts';
import { NotFound, type ServiceContext, type ServiceDefinition } from '@kdump-twin/service';
import { fleetHooks } from '@kdump-twin/telemetry';
import { FleetHost, QUEUES, ScriptClient, SESSION_ID, SUBJECTS, type FleetDeviceInfo } from '@kdump-twin/transport';

const CTX = Symbol('service context');
let host: FleetHost | undefined;

function device(d: FleetDeviceInfo): fleetV1.Device {
  return {
    name: d.name,
    kind: d.kind,
    trafficJson: JSON.stringify(d.traffic),
    jobsOk: String(d.jobsOk),
    jobsFailed: String(d.jobsFailed),
    dropped: String(d.dropped),
    halted: d.halted ?? '',
    outstanding: d.outstanding,
    flrs: d.flrs,
  };
}

function json(text: string, field: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text || '{}');
  } catch (e) {
    throw new RangeError(`${field}: not JSON (${(e as Error).message})`, { cause: e });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RangeError(`${field}: a JSON object`);
  return v as Record<string, unknown>;
}

@Controller()
@fleetV1.FleetServiceControllerMethods()
class FleetController implements fleetV1.FleetServiceController {
  private readonly script: ScriptClient;

  constructor(@Inject(CTX) private readonly ctx: ServiceContext) {
    this.script = new ScriptClient(ctx.rpc);
  }

  private async devices(session: string): Promise<FleetDeviceInfo[]> {
    if (!SESSION_ID.test(session)) throw new RangeError('session_id: 1-64 letters, digits, - or _');
    try {
      return await this.ctx.rpc.call<FleetDeviceInfo[]>(SUBJECTS.fleet(session), { call: 'devices' });
    } catch (e) {
      if ((e as Error).name === 'PeerLost') throw new NotFound(`session ${session}: no fleet holds it (closed, or never opened)`);
      throw e;
    }
  }

  async listDevices(r: fleetV1.ListDevicesRequest): Promise<fleetV1.ListDevicesResponse> {
    return { devices: (await this.devices(r.sessionId)).map(device) };
  }

  async setTraffic(r: fleetV1.SetTrafficRequest): Promise<fleetV1.SetTrafficResponse> {
    await this.script.step(r.sessionId, { op: 'setTraffic', device: r.device, changes: json(r.trafficJson, 'traffic_json') });
    const d = (await this.devices(r.sessionId)).find((x) => x.name === r.device);
    return { device: d ? device(d) : undefined };
  }

  async resetDevice(r: fleetV1.ResetDeviceRequest): Promise<fleetV1.ResetDeviceResponse> {
    const s = await this.script.step<{ timeNs: number }>(r.sessionId, { op: 'resetDevice', device: r.device });
    return { timeNs: String(s.timeNs) };
  }
}

export const DMA_FLEET: ServiceDefinition<Record<string, never>> = {
  name: 'dma-fleet',
  defaultPort: 50052,
  packages: ['twin.fleet.v1'],
  protos: ['twin/fleet/v1/fleet.proto'],
  services: ['twin.fleet.v1.FleetService'],
  onStart: (ctx) => {
    host = new FleetHost(ctx.rpc, (m) => ctx.log.info(m), fleetHooks(ctx.telemetry));
    host.start(QUEUES.fleet);
    ctx.onReconnect((why) => host?.dropAll(why));
  },
  onStop: () => {
    host?.dropAll('the service is stopping');
  },
  module: (ctx): DynamicModule => {
    @Module({})
    class DmaFleetModule {}
    return { module: DmaFleetModule, controllers: [FleetController], providers: [{ provide: CTX, useValue: ctx }] };
  },
};
