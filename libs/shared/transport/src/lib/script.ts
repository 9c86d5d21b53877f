// SPDX-License-Identifier: Apache-2.0
// A session's steps on NATS: the platform (smmu-twin) owns each session and serves its script
// subject; the kernel, kdump and fleet services' gRPC APIs send their steps there, whichever
// replica a client reached, and the platform runs them in order (calling back into the
// replica that holds the session's kernel or fleet). Arguments are checked here, with the field.

import { parseFaults, SessionStateError, type Session } from '@kdump-twin/scenario';
import type { Subscription } from 'nats';
import { PROTOCOL, SESSION_ID } from './protocol';
import type { Rpc } from './rpc';

export const scriptSubject = (session: string) => `${PROTOCOL}.run.${session}.script`;

export type ScriptOp =
  | { readonly op: 'boot' | 'setupDrivers' | 'kexec' | 'probeSmmus' | 'probeDevices' | 'runKdump' | 'report' | 'status' }
  | { readonly op: 'attach'; readonly device: string; readonly domain: 'identity' | 'blocked' | 'dma'; readonly panicAfterStores?: number }
  | { readonly op: 'unmap'; readonly device: string; readonly buffer: number }
  | { readonly op: 'crash'; readonly reason?: string; readonly faults?: unknown }
  | { readonly op: 'probeDriver' | 'resetDevice'; readonly device: string }
  | { readonly op: 'saveVmcore'; readonly target?: string; readonly maxPages?: number; readonly forNs?: number }
  | { readonly op: 'advance'; readonly ns: number }
  | { readonly op: 'setTraffic'; readonly device: string; readonly changes: Record<string, unknown> }
  | { readonly op: 'view'; readonly kernel: 'primary' | 'kdump' };

const str = (v: unknown, field: string): string => {
  if (typeof v !== 'string' || !v) throw new RangeError(`${field}: a non-empty string`);
  return v;
};
const int = (v: unknown, field: string, min = 0, max = Number.MAX_SAFE_INTEGER): number => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw new RangeError(`${field}: an integer in [${min}, ${max}]`);
  return v;
};

/** Serves a session's steps; `after` runs after each (the machine's event scan); the subscription ends with the session. */
export function serveScript(rpc: Rpc, id: string, s: Session, after?: () => void): Subscription {
  return rpc.serve(scriptSubject(id), async (b) => {
    try {
      return await runOp(s, b as ScriptOp);
    } finally {
      after?.();
    }
  });
}

async function runOp(s: Session, m: ScriptOp): Promise<unknown> {
  const at = () => ({ timeNs: s.now(), phase: s.phase });
  switch (m?.op) {
    case 'status':
      return at();
    case 'boot':
      return { ...(await s.boot()), ...at() };
    case 'setupDrivers':
      await s.setupDrivers();
      return at();
    case 'attach': {
      const domain = m.domain;
      if (domain !== 'identity' && domain !== 'blocked' && domain !== 'dma') throw new RangeError("domain: 'identity', 'blocked' or 'dma'");
      const before = s.p.crashAt;
      await s.attach(str(m.device, 'device'), domain, m.panicAfterStores === undefined ? undefined : int(m.panicAfterStores, 'panicAfterStores', 1, 64));
      return { panicked: before === undefined && s.p.crashAt !== undefined, ...at() };
    }
    case 'unmap': {
      const before = s.p.crashAt;
      await s.unmap(str(m.device, 'device'), int(m.buffer, 'buffer', 0, 1 << 16));
      return { panicked: before === undefined && s.p.crashAt !== undefined, ...at() };
    }
    case 'crash': {
      const faults = parseFaults(m.faults ?? [], s.spec, 'faults');
      const before = s.p.injectedFaults().length;
      const crashAt = s.crash(m.reason || undefined, faults);
      return { crashAtNs: crashAt, injected: s.p.injectedFaults().slice(before), ...at() };
    }
    case 'kexec':
      return { kdumpAtNs: await s.kexec(), ...at() };
    case 'probeSmmus':
      return { probes: await s.probeSmmus(), smmus: s.p.smmuNames(), ...at() };
    case 'probeDevices':
      await s.probeDevices();
      return at();
    case 'probeDriver':
      return { setup: (await s.probeDriver(str(m.device, 'device'))) ?? null, ...at() };
    case 'saveVmcore': {
      const target = m.target || s.spec.devices.find((d) => d.kdumpDriver.present && d.kdumpDriver.role === 'dump-target')?.name;
      if (!target) throw new SessionStateError('target: the scenario has no dump target; name one');
      await s.saveVmcore(
        target,
        m.maxPages ? int(m.maxPages, 'maxPages', 1, 1 << 20) : s.spec.run.vmcore.maxPages,
        m.forNs ? int(m.forNs, 'forNs', 1, 10_000_000_000) : 20_000_000,
      );
      return { vmcore: (await s.report()).vmcore, ...at() };
    }
    case 'runKdump':
      await s.runKdump();
      return { report: await s.report() };
    case 'advance':
      return { timeNs: await s.advance(int(m.ns, 'ns', 0, 10_000_000_000)), phase: s.phase };
    case 'resetDevice':
      s.control(str(m.device, 'device'), { op: 'flr' });
      return at();
    case 'setTraffic':
      if (typeof m.changes !== 'object' || m.changes === null || Array.isArray(m.changes)) throw new RangeError('traffic: a JSON object of parameters');
      return { traffic: await s.setTraffic(str(m.device, 'device'), m.changes) };
    case 'view': {
      if (m.kernel !== 'primary' && m.kernel !== 'kdump') throw new RangeError("kernel: 'primary' or 'kdump'");
      const k = s.kernel(m.kernel);
      return { view: k ? await k.view() : null };
    }
    case 'report':
      return { report: await s.report() };
    default:
      throw new RangeError(`op: no session step ${JSON.stringify((m as { op?: unknown })?.op)}`);
  }
}

/** A service's client of session steps (any replica of smmu-twin that owns the session answers). */
export class ScriptClient {
  constructor(private readonly rpc: Rpc) {}

  step<T = Record<string, unknown>>(session: string, op: ScriptOp): Promise<T> {
    if (typeof session !== 'string' || !SESSION_ID.test(session)) return Promise.reject(new RangeError('session_id: 1-64 letters, digits, - or _'));
    return this.rpc.call<T>(scriptSubject(session), op, 3_600_000);
  }
}
