// SPDX-License-Identifier: Apache-2.0
// The three remote roles of a run in this process, each on its own NATS connection, as the
// services run them: for tests of the protocol without process start-up in the way.

import { connect, type NatsConnection } from 'nats';
import { runScenario, type Report, type RunOptions, type ScenarioSpec } from '@kdump-twin/scenario';
import { FleetHost } from '../lib/fleet-side';
import { KernelHost } from '../lib/kernel-side';
import { PlatformSession, type CoSimOptions } from '../lib/platform-side';
import { QUEUES } from '../lib/protocol';
import { Rpc } from '../lib/rpc';

export interface Roles {
  readonly platform: Rpc;
  readonly fleet: FleetHost;
  readonly primary: KernelHost;
  readonly kdump: KernelHost;
  close(): Promise<void>;
}

export async function startRoles(url: string, o: { limit?: number } = {}): Promise<Roles> {
  const conns: NatsConnection[] = [];
  const rpc = async () => {
    const nc = await connect({ servers: url, noAsyncTraces: true });
    conns.push(nc);
    return new Rpc(nc, o);
  };
  const platform = await rpc();
  const fleet = new FleetHost(await rpc());
  fleet.start(QUEUES.fleet);
  const primary = new KernelHost(await rpc(), 'primary');
  primary.start(QUEUES.primary);
  const kdump = new KernelHost(await rpc(), 'kdump');
  kdump.start(QUEUES.kdump);
  for (const c of conns) await c.flush();
  return {
    platform,
    fleet,
    primary,
    kdump,
    close: async () => {
      for (const c of conns) await c.close();
    },
  };
}

let seq = 0;

/** runScenario with the fleet and both kernels reached over NATS; `dmi` sets the platform's direct-memory mode (default on). */
export async function runOverNats(
  rpc: Rpc,
  spec: ScenarioSpec,
  o: Omit<RunOptions, 'links'> & CoSimOptions & { onSession?: (s: PlatformSession) => void } = {},
): Promise<Report> {
  const { dmi, deviceDmi, runAhead, waitUntil, ticks, onSession, ...run } = o;
  const session = new PlatformSession(rpc, `t${process.pid}-${++seq}`, spec, undefined, {
    ...(dmi ? { dmi } : {}),
    ...(deviceDmi ? { deviceDmi } : {}),
    ...(runAhead ? { runAhead } : {}),
    ...(waitUntil ? { waitUntil } : {}),
    ...(ticks ? { ticks } : {}),
  });
  onSession?.(session);
  const links = await session.links();
  return runScenario(spec, { ...run, links });
}
