// SPDX-License-Identifier: Apache-2.0
// The endpoint fleet in a service (dma-fleet): one FleetSim per session, built from the
// scenario exactly as in one process, answering the platform's slices; and the platform's
// client of it.

import type { FleetSliceIn, FleetSliceOut } from '@kdump-twin/endpoint';
import { LocalFleet, type DmiMode, type FleetLink, type FleetView, type ScenarioSpec } from '@kdump-twin/scenario';
import type { Subscription } from 'nats';
import { SESSION_ID, SUBJECTS } from './protocol';
import { RoundTripCount } from './round-trips';
import type { Rpc } from './rpc';
import { packSliceIn, packSliceOut, unpackSliceIn, unpackSliceOut, type WireSliceIn, type WireSliceOut } from './slice-pack';

type FleetCall =
  | { readonly call: 'init'; readonly spec: ScenarioSpec }
  | { readonly call: 'slice'; readonly input: WireSliceIn; readonly pack?: boolean }
  | { readonly call: 'view'; readonly expected?: { device: string; pages: Record<string, string> } }
  | { readonly call: 'setTraffic'; readonly device: string; readonly changes: Record<string, unknown> }
  | { readonly call: 'devices' }
  | { readonly call: 'close' };

/** A device of a session as the fleet service lists it. */
export interface FleetDeviceInfo {
  readonly name: string;
  readonly kind: string;
  readonly traffic: Record<string, number>;
  readonly jobsOk: number;
  readonly jobsFailed: number;
  readonly dropped: number;
  readonly halted: string | null;
  readonly outstanding: number;
  readonly flrs: number;
}

interface Session {
  readonly id: string;
  readonly sub: Subscription;
  fleet?: LocalFleet;
}

/** What a telemetry adapter sees of the fleet's sessions (each runs in the context its message carried). */
export interface FleetHostHooks {
  init?(session: string, scenario: string): void;
  slice?(session: string, input: FleetSliceIn, out: FleetSliceOut): void;
  close?(session: string): void;
}

/** The fleet service's engine. */
export class FleetHost {
  readonly sessions = new Map<string, Session>();
  /** Requests the sessions' devices had answered under direct-memory grants, over every session closed so far. */
  readonly dmi = { served: 0 };

  constructor(
    private readonly rpc: Rpc,
    private readonly log: (msg: string) => void = () => undefined,
    private readonly hooks: FleetHostHooks = {},
  ) {}

  start(queue: string): void {
    this.rpc.serve(SUBJECTS.fleetOpen, (b) => this.open(b as { session: string }), { queue });
  }

  private open(b: { session: string }): { ok: true } {
    if (typeof b?.session !== 'string' || !SESSION_ID.test(b.session)) throw new RangeError('session: 1-64 letters, digits, - or _');
    if (this.sessions.has(b.session)) throw new RangeError(`session ${b.session} is already open here`);
    const sub = this.rpc.serve(SUBJECTS.fleet(b.session), (m) => this.handle(b.session, m as FleetCall));
    this.sessions.set(b.session, { id: b.session, sub });
    this.log(`session ${b.session}: fleet opened`);
    return { ok: true };
  }

  private handle(id: string, m: FleetCall): unknown {
    const s = this.sessions.get(id)!;
    switch (m?.call) {
      case 'init':
        s.fleet = new LocalFleet(m.spec);
        this.hooks.init?.(id, m.spec.id);
        return { next: s.fleet.nextEventTime() ?? null, devices: s.fleet.sim.all().length };
      case 'slice': {
        if (!s.fleet) throw new RangeError(`session ${id}: slice before init`);
        // `pack: true` asks for the requests in columns (slice-pack.ts); without it (a script) the answer is plain JSON.
        const input = unpackSliceIn(m.input);
        const out = s.fleet.sim.slice(input);
        this.hooks.slice?.(id, input, out);
        return m.pack === true ? packSliceOut(out) : out;
      }
      case 'view':
        if (!s.fleet) throw new RangeError(`session ${id}: view before init`);
        return s.fleet.view(m.expected);
      case 'devices': {
        if (!s.fleet) throw new RangeError(`session ${id}: devices before init`);
        const sim = s.fleet.sim;
        return Object.entries(sim.stats()).map(([name, x]): FleetDeviceInfo => ({
          name,
          kind: x.kind,
          traffic: sim.traffic(name) ?? {},
          jobsOk: x.jobsOk,
          jobsFailed: x.jobsFailed,
          dropped: x.dropped,
          halted: x.halted,
          outstanding: x.outstanding,
          flrs: x.flrs,
        }));
      }
      case 'setTraffic':
        if (!s.fleet) throw new RangeError(`session ${id}: setTraffic before init`);
        return s.fleet.sim.setTraffic(m.device, m.changes ?? {});
      case 'close':
        this.dmi.served += s.fleet?.sim.dmi.served ?? 0;
        this.hooks.close?.(id);
        s.sub.unsubscribe();
        this.sessions.delete(id);
        this.log(`session ${id}: fleet closed`);
        return null;
      default:
        throw new RangeError(`call: one of init, slice, view, devices, setTraffic, close (got ${JSON.stringify((m as { call?: unknown })?.call)})`);
    }
  }

  dropAll(why: string): void {
    for (const s of this.sessions.values()) {
      this.hooks.close?.(s.id);
      s.sub.unsubscribe();
      this.log(`session ${s.id}: dropped (${why})`);
    }
    this.sessions.clear();
  }
}

/** The platform's client of a session's fleet. */
export class RemoteFleet implements FleetLink {
  private next: number | undefined;

  private constructor(
    private readonly rpc: Rpc,
    private readonly subject: string,
    private readonly headers: () => Readonly<Record<string, string>> | undefined,
    /** Direct memory for the devices (smmu-twin's DEVICE_DMI). */
    readonly deviceDmi: DmiMode,
    private readonly count: RoundTripCount,
  ) {}

  /** Opens the session on a fleet replica and builds its devices; `headers` go with every call after (a telemetry adapter's baggage). */
  static async open(
    rpc: Rpc,
    session: string,
    spec: ScenarioSpec,
    headers: () => Readonly<Record<string, string>> | undefined = () => undefined,
    deviceDmi: DmiMode = 'on',
    count = new RoundTripCount(),
  ): Promise<RemoteFleet> {
    await rpc.call(SUBJECTS.fleetOpen, { session });
    const f = new RemoteFleet(rpc, SUBJECTS.fleet(session), headers, deviceDmi, count);
    count.fleetCall();
    const r = await rpc.call<{ next: number | null }>(f.subject, { call: 'init', spec });
    f.next = r.next ?? undefined;
    return f;
  }

  async slice(input: FleetSliceIn): Promise<FleetSliceOut> {
    const raw = await this.rpc.call<WireSliceOut & { next: number | null }>(
      this.subject,
      { call: 'slice', input: packSliceIn(input), pack: true },
      30_000,
      this.headers(),
    );
    const out = unpackSliceOut(raw);
    this.count.slice(input, out);
    this.next = raw.next ?? undefined;
    return { ...out, next: this.next };
  }

  nextEventTime(): number | undefined {
    return this.next;
  }

  view(expected?: { device: string; pages: Readonly<Record<string, string>> }): Promise<FleetView> {
    this.count.fleetCall();
    return this.rpc.call<FleetView>(this.subject, { call: 'view', ...(expected ? { expected } : {}) }, 30_000, this.headers());
  }

  setTraffic(device: string, changes: Readonly<Record<string, unknown>>): Promise<Record<string, number>> {
    this.count.fleetCall();
    return this.rpc.call(this.subject, { call: 'setTraffic', device, changes });
  }

  async close(): Promise<void> {
    this.count.fleetCall();
    await this.rpc.call(this.subject, { call: 'close' }, 30_000, this.headers());
  }
}
