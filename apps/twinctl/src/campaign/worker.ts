// SPDX-License-Identifier: Apache-2.0
// `twinctl campaign worker`: pulls work items from the shared durable consumer one at a time,
// runs each (in process, or through the four services for the traced subset), publishes the
// result under the item's id and only then acknowledges the work message. A worker that dies
// before the acknowledgement leaves the item to JetStream, which redelivers it after AckWait;
// the next worker finds no result and runs it, or finds one (the first worker died between the
// publish and the ack) and only acknowledges. So every item ends with exactly one result.

import { createHash, randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { context, trace, TraceFlags, type Context } from '@opentelemetry/api';
import { HealthImplementation } from 'grpc-health-check';
import type { JsMsg, NatsConnection } from 'nats';
import {
  checkWorkItem,
  findEntry,
  outcomeOf,
  parseCampaign,
  reportJson,
  runScenario,
  SchemaError,
  workItemRun,
  type CampaignResult,
  type CampaignSpec,
  type Report,
  type WorkItem,
} from '@kdump-twin/scenario';
import { runTraced, Telemetry } from '@kdump-twin/telemetry';
import { ScenarioClient } from '../remote';
import { codec, ensureQueue, lastOn, MAX_RUN_ATTEMPTS, natsPause, RESULTS_STREAM, retryNats, SUBJECT, WORK_STREAM, WORKERS } from './queue';

export interface WorkerOptions {
  readonly name: string;
  /** smmu-twin's address: traced items run through the services there. Unset: everything in process. */
  readonly smmuTwin?: string;
  readonly ackWaitMs?: number;
  /** Stop after this many items taken. */
  readonly maxItems?: number;
  /** Fault injection for tests and drills: the process kills itself (SIGKILL) holding item N+1, unacknowledged. */
  readonly dieAfter?: number;
  /** Stop when no work arrived for this long. */
  readonly idleExitMs?: number;
  readonly log: (line: string) => void;
}

export interface WorkerStats {
  /** Items run and published. */
  ran: number;
  /** Deliveries whose item already had a result (acknowledged, not run again). */
  alreadyDone: number;
  /** Results that record a failed run (bad scenario, lost after MAX_RUN_ATTEMPTS, ...). */
  errors: number;
  /** Messages that were not work items of a known campaign (terminated). */
  rejected: number;
  /** Items given back (nak) after a run failed for a reason that may pass. */
  retried: number;
  /** Results stored by this worker, and publishes JetStream dropped as duplicates of a stored one. */
  published: number;
  duplicatePublishes: number;
  /** NATS operations that failed and were tried again (no responders or a timeout while JetStream elects a leader, a reconnect). */
  natsRetries: number;
}

/** Attempts of one NATS operation of the worker before the delivery is left to redelivery. */
const NATS_ATTEMPTS = 8;

interface Ran {
  report: Report;
  route: CampaignResult['route'];
  traceId?: string;
}

/** A parent context in a trace of its own, sampled: the item's run is found in Jaeger by this id. */
function freshTrace(): { ctx: Context; traceId: string } {
  const traceId = randomBytes(16).toString('hex');
  return {
    traceId,
    ctx: trace.setSpanContext(context.active(), { traceId, spanId: randomBytes(8).toString('hex'), traceFlags: TraceFlags.SAMPLED, isRemote: true }),
  };
}

class ItemRunner {
  private client: ScenarioClient | undefined;

  constructor(private readonly smmuTwin: string | undefined) {}

  async run(item: WorkItem): Promise<Ran> {
    const entry = findEntry(item.scenario)!;
    const telemetry = Telemetry.get();
    const traced = item.traced && telemetry.enabled ? freshTrace() : undefined;
    if (item.traced && this.smmuTwin) {
      this.client ??= new ScenarioClient(this.smmuTwin);
      const c = this.client;
      const call = () =>
        c.run({ catalogueId: item.scenario, policy: item.policy, seed: String(item.seed), sets: item.sets, predict: item.policy in entry.predict });
      const report = traced ? await context.with(traced.ctx, call) : await call();
      return { report, route: 'services', ...(traced ? { traceId: traced.traceId } : {}) };
    }
    const { spec, options } = workItemRun(item);
    const report = traced ? await runTraced(telemetry, spec, options, 'campaign', traced.ctx) : await runScenario(spec, options);
    return { report, route: 'in-process', ...(traced ? { traceId: traced.traceId } : {}) };
  }

  close(): void {
    this.client?.close();
  }
}

export class CampaignWorker {
  readonly stats: WorkerStats = { ran: 0, alreadyDone: 0, errors: 0, rejected: 0, retried: 0, published: 0, duplicatePublishes: 0, natsRetries: 0 };
  private stopping = false;
  private readonly specs = new Map<string, { spec: CampaignSpec; generation: number }>();
  private readonly runner: ItemRunner;
  private taken = 0;
  private readonly js;

  constructor(
    private readonly nc: NatsConnection,
    private readonly o: WorkerOptions,
  ) {
    this.runner = new ItemRunner(o.smmuTwin);
    this.js = nc.jetstream();
  }

  /** Finish the item in hand, then return from run(). */
  stop(): void {
    this.stopping = true;
  }

  async run(onReady?: () => void): Promise<WorkerStats> {
    // Retried like every other operation: a worker started while a controller raises the
    // streams' replicas (the work queue made again at R3) meets timeouts until its leader is elected.
    const jsm = await this.nats('make the work queue', () => ensureQueue(this.nc, { ackWaitMs: this.o.ackWaitMs }));
    const consumer = await this.nats(`get the consumer ${WORKERS}`, () => this.js.consumers.get(WORK_STREAM, WORKERS));
    onReady?.();
    let idleSince = Date.now();
    try {
      while (!this.stopping && (this.o.maxItems === undefined || this.taken < this.o.maxItems)) {
        let m: JsMsg | null;
        try {
          m = await consumer.next({ expires: 1000 });
        } catch (e) {
          // The consumer's leader is moving (503, timeout) or the connection is back on another server.
          if (this.nc.isClosed()) throw e;
          this.stats.natsRetries++;
          await natsPause(this.stats.natsRetries);
          continue;
        }
        if (!m) {
          if (this.o.idleExitMs !== undefined && Date.now() - idleSince >= this.o.idleExitMs) break;
          continue;
        }
        this.taken++;
        if (this.o.dieAfter !== undefined && this.taken > this.o.dieAfter) {
          this.o.log(`worker ${this.o.name}: injected kill holding ${m.subject} seq ${m.seq} (not acknowledged)`);
          process.kill(process.pid, 'SIGKILL');
        }
        try {
          await this.handle(m, jsm);
        } catch (e) {
          // A NATS operation failed NATS_ATTEMPTS times: the item is not acknowledged, so it comes
          // back after AckWait (its result, if stored, is found then and only acknowledged).
          if (this.nc.isClosed()) throw e;
          this.o.log(`worker ${this.o.name}: ${m.subject} seq ${m.seq} left to redelivery: ${(e as Error).message}`);
        }
        idleSince = Date.now();
      }
    } finally {
      this.runner.close();
    }
    return this.stats;
  }

  /** The stored campaign, cached; `generation` asks again when the cached one is older (purged and queued again). */
  private async specOf(
    campaign: string,
    generation: unknown,
    jsm: Awaited<ReturnType<NatsConnection['jetstreamManager']>>,
  ): Promise<{ spec: CampaignSpec; generation: number } | string> {
    const known = this.specs.get(campaign);
    if (known && known.generation === generation) return known;
    const stored = await this.nats('read the campaign document', () => lastOn(jsm, SUBJECT.spec(campaign)));
    if (!stored) return `no campaign document is stored for "${campaign}" (${RESULTS_STREAM} ${SUBJECT.spec(campaign)})`;
    try {
      const got = { spec: parseCampaign((stored.data as { document?: unknown }).document, `campaign ${campaign}`), generation: stored.seq };
      this.specs.set(campaign, got);
      return got;
    } catch (e) {
      if (e instanceof SchemaError) return e.message;
      throw e;
    }
  }

  /** One NATS operation through retryNats, its retries counted; the error names what failed. */
  private async nats<T>(what: string, op: () => Promise<T>): Promise<T> {
    let attempts = 1;
    const onRetry = () => {
      attempts++;
      this.stats.natsRetries++;
    };
    try {
      return await retryNats(this.nc, op, { attempts: NATS_ATTEMPTS, onRetry });
    } catch (e) {
      throw new Error(`${what}: ${(e as Error).message} (after ${attempts} attempts)`, { cause: e });
    }
  }

  private reject(m: JsMsg, why: string): void {
    this.stats.rejected++;
    this.o.log(`worker ${this.o.name}: rejected ${m.subject} seq ${m.seq}: ${why}`);
    m.term();
  }

  private async handle(m: JsMsg, jsm: Awaited<ReturnType<NatsConnection['jetstreamManager']>>): Promise<void> {
    let raw: unknown;
    try {
      raw = codec.decode(m.data);
    } catch (e) {
      return this.reject(m, `not JSON: ${(e as Error).message}`);
    }
    const campaign = (raw as { campaign?: unknown } | null)?.campaign;
    if (typeof campaign !== 'string' || m.subject !== SUBJECT.work(campaign))
      return this.reject(m, `field campaign: must name the subject's campaign (${m.subject})`);
    const generation = (raw as { generation?: unknown }).generation;
    const stored = await this.specOf(campaign, generation, jsm);
    if (typeof stored === 'string') return this.reject(m, stored);
    if (generation !== stored.generation)
      return this.reject(
        m,
        `field generation: ${JSON.stringify(generation)} is not the stored campaign's (${stored.generation}): an item of a purged campaign`,
      );
    let item: WorkItem;
    try {
      item = checkWorkItem(stored.spec, raw);
    } catch (e) {
      if (e instanceof SchemaError) return this.reject(m, e.message);
      throw e;
    }
    const existing = await this.nats('look the result up', () => lastOn(jsm, SUBJECT.result(item.campaign, item.n)));
    if (existing && (existing.data as { generation?: unknown }).generation === stored.generation) {
      this.stats.alreadyDone++;
      await this.nats('acknowledge', () => m.ackAck());
      return;
    }
    const attempt = m.info.deliveryCount;
    const base = {
      campaign: item.campaign,
      generation: stored.generation,
      id: item.id,
      n: item.n,
      scenario: item.scenario,
      policy: item.policy,
      injection: item.injection,
      seed: item.seed,
      worker: this.o.name,
      attempt,
    };
    let result: CampaignResult;
    if (attempt > MAX_RUN_ATTEMPTS) {
      result = { ...base, error: `lost: delivered ${attempt} times and no worker finished it (each vanished or gave it back)`, route: 'in-process', wallMs: 0 };
    } else {
      const t0 = Date.now();
      // Keep the delivery alive while a run waits on the services (an in-process run holds the loop anyway).
      const keep = setInterval(() => m.working(), 5_000);
      try {
        const r = await this.runner.run(item);
        result = {
          ...base,
          outcome: outcomeOf(r.report),
          digest: createHash('sha256').update(reportJson(r.report)).digest('hex'),
          route: r.route,
          ...(r.traceId ? { traceId: r.traceId } : {}),
          wallMs: Date.now() - t0,
        };
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        if (!(e instanceof SchemaError) && attempt < MAX_RUN_ATTEMPTS) {
          this.stats.retried++;
          this.o.log(`worker ${this.o.name}: ${item.id} attempt ${attempt} failed, given back: ${msg}`);
          m.nak(1_000);
          return;
        }
        result = { ...base, error: msg, route: item.traced && this.o.smmuTwin ? 'services' : 'in-process', wallMs: Date.now() - t0 };
      } finally {
        clearInterval(keep);
      }
    }
    if (result.error !== undefined) this.stats.errors++;
    // The same message id every attempt: a publish that was stored but whose answer was lost is a duplicate the next time.
    const ack = await this.nats('publish the result', () =>
      this.js.publish(SUBJECT.result(item.campaign, item.n), codec.encode(result), { msgID: `${item.id}@${stored.generation}` }),
    );
    if (ack.duplicate) this.stats.duplicatePublishes++;
    else this.stats.published++;
    await this.nats('acknowledge', () => m.ackAck());
    this.stats.ran++;
  }
}

/** grpc.health.v1 for the worker's probes: SERVING while NATS is connected and the consumer answers. */
export async function startHealth(host: string, port: number, nc: NatsConnection): Promise<{ server: grpc.Server; port: number; serving(on: boolean): void }> {
  const health = new HealthImplementation({ '': 'NOT_SERVING', 'kdump_twin.campaign.Worker': 'NOT_SERVING' });
  const server = new grpc.Server();
  health.addToServer(server);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const serving = (on: boolean) => {
    for (const s of ['', 'kdump_twin.campaign.Worker']) health.setStatus(s, on ? 'SERVING' : 'NOT_SERVING');
  };
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') serving(false);
      else if (s.type === 'reconnect') serving(true);
    }
  })();
  return { server, port: bound, serving };
}
