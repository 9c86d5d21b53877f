// SPDX-License-Identifier: Apache-2.0
// What this smmu-twin replica holds: machines (CreateMachine, Restore), scenario sessions
// (each a Session over remote links, a Machine over its platform and its script subject),
// and the last runs' reports and kernel views. A NATS reconnect ends every session and fails
// every run in flight, saying why: their messages may have been lost.

import type { KdumpPolicy } from '@kdump-twin/kernel';
import {
  buildScenario,
  CATALOGUE,
  entryDocument,
  findEntry,
  POLICIES,
  runScenario,
  Session,
  type CatalogueEntry,
  type Report,
  type RunViews,
  type ScenarioSpec,
} from '@kdump-twin/scenario';
import { Abandoned, Exhausted, NotFound, type ServiceContext } from '@kdump-twin/service';
import { Machine } from '@kdump-twin/smmu-model';
import { RunTracer } from '@kdump-twin/telemetry';
import { PlatformSession, serveScript, type CoSimOptions } from '@kdump-twin/transport';
import type { Context } from '@opentelemetry/api';
import type { Subscription } from 'nats';

export interface ScenarioRefInput {
  readonly catalogueId?: string;
  readonly documentJson?: string;
  readonly policy?: string;
  readonly seed?: string;
  readonly sets?: readonly string[];
}

interface SessionEntry {
  readonly id: string;
  readonly session: Session;
  readonly machine: Machine;
  readonly sub: Subscription;
}

const MAX_RUNS = 64;

export class Registry {
  readonly machines = new Map<string, Machine>();
  readonly sessions = new Map<string, SessionEntry>();
  readonly runs = new Map<string, { report: Report; views: RunViews }>();
  private readonly inFlight = new Set<(why: string) => void>();
  private readonly deleted = new Map<string, Set<() => void>>();
  private seq = 0;
  private readonly tag = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;

  constructor(
    private readonly ctx: ServiceContext,
    /** MAX_MACHINES: machines and sessions held at once (runs are not counted: they end by themselves). */
    private readonly maxHeld: number,
    /** KERNEL_DMI, DEVICE_DMI, RUN_AHEAD, WAIT_UNTIL: the co-simulation's mechanisms its runs and sessions use. */
    private readonly co: CoSimOptions = {},
  ) {
    ctx.onReconnect((why) => {
      for (const fail of this.inFlight) fail(why);
      for (const id of [...this.sessions.keys()]) void this.closeSession(id, why);
    });
  }

  private nextId(prefix: string): string {
    return `${prefix}${this.tag}-${++this.seq}`;
  }

  // ---- scenarios ----

  spec(ref: ScenarioRefInput | undefined): { spec: ScenarioSpec; entry?: CatalogueEntry } {
    if (!ref) throw new RangeError('scenario: required');
    let doc: Record<string, unknown>;
    let entry: CatalogueEntry | undefined;
    if (ref.catalogueId) {
      entry = findEntry(ref.catalogueId);
      if (!entry) throw new NotFound(`scenario.catalogue_id: no catalogue entry ${ref.catalogueId} (ListScenarios lists them)`);
      doc = entryDocument(entry);
    } else if (ref.documentJson) {
      try {
        doc = JSON.parse(ref.documentJson) as Record<string, unknown>;
      } catch (e) {
        throw new RangeError(`scenario.document_json: not JSON (${(e as Error).message})`, { cause: e });
      }
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new RangeError('scenario.document_json: a JSON object');
    } else throw new RangeError('scenario: one of catalogue_id or document_json');
    if (ref.policy && !POLICIES.includes(ref.policy as KdumpPolicy)) throw new RangeError(`scenario.policy: one of ${POLICIES.join(', ')}`);
    // The seed as twinctl parses it: an integer (negative too) is a number, anything else a string seed.
    const seed = ref.seed ? (/^-?\d+$/.test(ref.seed) ? Number(ref.seed) : ref.seed) : undefined;
    const spec = buildScenario(doc, {
      ...(ref.policy ? { policy: ref.policy as KdumpPolicy } : {}),
      ...(seed !== undefined ? { seed } : {}),
      sets: ref.sets ?? [],
    });
    return { spec, ...(entry ? { entry } : {}) };
  }

  catalogue(): readonly CatalogueEntry[] {
    return CATALOGUE;
  }

  /** A whole run across the services. */
  async run(ref: ScenarioRefInput, predict: boolean, parent?: Context): Promise<{ id: string; report: Report }> {
    const { spec, entry } = this.spec(ref);
    if (predict && !entry) throw new RangeError('predict: only catalogue scenarios have a predicted outcome');
    const checks = predict ? entry!.predict[spec.kdump.policy] : undefined;
    if (predict && !checks)
      throw new RangeError(`predict: ${entry!.id} predicts no outcome for ${spec.kdump.policy} (it does for ${Object.keys(entry!.predict).join(', ')})`);
    const id = this.nextId('r');
    // Traced (OTEL_* set): the run's span under the caller's (its gRPC metadata), its context on every NATS call.
    const rt = this.ctx.telemetry.enabled ? new RunTracer(this.ctx.telemetry, spec, id, parent) : undefined;
    const ps = new PlatformSession(this.ctx.rpc, id, spec, () => rt?.fleetBaggage(), this.co);
    let views: RunViews | undefined;
    let fail!: (why: string) => void;
    let lose!: (e: Error) => void;
    const failed = new Promise<never>((_, reject) => {
      fail = (why) => reject(new Abandoned(`run ${id} abandoned: ${why}`));
      lose = reject;
    });
    // Settled after the race is decided (a late abandon or loss) is not an unhandled rejection.
    failed.catch(() => undefined);
    this.inFlight.add(fail);
    // A kernel or the fleet that goes away mid-run (kill -9) fails the run within seconds, named.
    const unwatch = ps.watchPeers((e) => lose(e));
    let report: Report | undefined;
    let error: unknown;
    try {
      const go = async () => {
        const links = await ps.links();
        return runScenario(spec, {
          links: rt ? rt.links(links) : links,
          ...(checks ? { predict: checks } : {}),
          onViews: (v) => (views = v),
          ...(rt ? { onPlatform: (p) => rt.observe(p) } : {}),
        });
      };
      const run = rt ? rt.within(go) : go();
      report = await Promise.race([run, failed]);
      this.runs.set(id, { report, views: views! });
      while (this.runs.size > MAX_RUNS) this.runs.delete(this.runs.keys().next().value!);
      this.ctx.log.info('run done', {
        run: id,
        scenario: spec.id,
        policy: spec.kdump.policy,
        roundTrips: ps.roundTrips.c,
        wakeUpsWaitedOut: ps.wakeUpsWaitedOut,
        wakeUpsPassedByFleet: ps.wakeUpsPassedByFleet,
        stepsPassedByFleet: ps.stepsPassedByFleet,
        ticksSkipped: ps.ticksSkipped,
      });
      return { id, report };
    } catch (e) {
      error = e;
      throw e;
    } finally {
      unwatch();
      this.inFlight.delete(fail);
      rt?.end(report, error);
    }
  }

  // ---- sessions ----

  private room(what: string): void {
    const held = this.machines.size + this.sessions.size;
    if (held >= this.maxHeld)
      throw new Exhausted(
        `${what}: this replica holds ${held} machines and sessions, its MAX_MACHINES (${this.maxHeld}); DeleteMachine or CloseSession frees one`,
      );
  }

  async openSession(ref: ScenarioRefInput): Promise<SessionEntry> {
    this.room('OpenSession');
    const { spec } = this.spec(ref);
    const id = this.nextId('s');
    const ps = new PlatformSession(this.ctx.rpc, id, spec, undefined, this.co);
    const session = await Session.open(spec, await ps.links());
    const machine = Machine.over(id, session.p, () => session.busyWith);
    const sub = serveScript(this.ctx.rpc, id, session, () => machine.scan());
    const e = { id, session, machine, sub };
    this.sessions.set(id, e);
    this.ctx.log.info('session opened', { session: id, scenario: spec.id, policy: spec.kdump.policy });
    return e;
  }

  session(id: string): SessionEntry {
    const s = this.sessions.get(id);
    if (!s) throw new NotFound(`session_id: no session ${id} on this replica`);
    return s;
  }

  async closeSession(id: string, why = 'closed by a client'): Promise<void> {
    const s = this.session(id);
    this.sessions.delete(id);
    s.sub.unsubscribe();
    this.ended(id);
    await s.session.close().catch(() => undefined);
    this.ctx.log.info('session closed', { session: id, why });
  }

  // ---- machines ----

  addMachine(m: Machine): Machine {
    this.room('machine');
    this.machines.set(m.id, m);
    return m;
  }

  newMachineId(): string {
    return this.nextId('m');
  }

  machine(id: string): Machine {
    const m = this.machines.get(id) ?? this.sessions.get(id)?.machine;
    if (!m) throw new NotFound(`machine_id: no machine or session ${id} on this replica`);
    return m;
  }

  deleteMachine(id: string): void {
    if (!this.machines.delete(id)) throw new NotFound(`machine_id: no machine ${id} (sessions end with CloseSession)`);
    this.ended(id);
  }

  /** Watchers' streams end when their machine or session does. */
  onEnd(id: string, fn: () => void): () => void {
    let s = this.deleted.get(id);
    if (!s) this.deleted.set(id, (s = new Set()));
    s.add(fn);
    return () => s!.delete(fn);
  }

  private ended(id: string): void {
    for (const f of this.deleted.get(id) ?? []) f();
    this.deleted.delete(id);
  }
}
