// SPDX-License-Identifier: Apache-2.0
// Campaign documents: errors name the field and the rule; the work items are the exact product
// in one fixed order; the matrix counts each item once, with Wilson intervals.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  campaignMatrix,
  checkWorkItem,
  formatCampaignMatrix,
  MAX_TRACES_PER_CELL,
  outcomeOf,
  parseCampaign,
  progressOf,
  runWorkItem,
  wilson,
  workItem,
  workItemRun,
  type CampaignResult,
  type RunOutcome,
} from './campaign';
import { buildScenario, entryDocument, findEntry } from '../catalogue';
import { runScenario } from './runner';
import { SchemaError } from './schema';

const root = join(__dirname, '..', '..', '..', '..', '..');
const doc = (over: Record<string, unknown> = {}) => ({
  id: 'unit',
  scenarios: ['S10f-reserved-ste-config', 'baseline'],
  policies: ['status-quo', 'adopt-v7'],
  seeds: { from: 7, count: 3 },
  axes: [
    {
      key: 'crash.trigger.atNs',
      name: 'panicAt',
      values: [
        { label: '200us', value: 200000 },
        { label: '400us', value: 400000 },
      ],
    },
    { key: 'devices[0].traffic.rxIntervalNs', values: [2000, 8000] },
  ],
  ...over,
});

function rejects(input: unknown, path: string, rule: RegExp): void {
  assert.throws(
    () => parseCampaign(input),
    (e: unknown) => {
      assert.ok(e instanceof SchemaError, String(e));
      const hit = e.issues.find((i) => i.path === path);
      assert.ok(hit, `no issue at ${path}: ${e.message}`);
      assert.match(hit.rule, rule);
      return true;
    },
  );
}

describe('campaign documents', () => {
  it('the committed campaigns parse, with the sizes their titles give', () => {
    const scale = parseCampaign(JSON.parse(readFileSync(join(root, 'campaigns', 'ci-scale.json'), 'utf8')));
    assert.equal(scale.total, 1000);
    // The exactly-once test's document: ci-scale's matrix of shorter runs.
    const once = parseCampaign(JSON.parse(readFileSync(join(root, 'campaigns', 'exactly-once.json'), 'utf8')));
    assert.equal(once.total, 1000);
    assert.deepEqual([once.scenarios, once.policies, once.seeds], [scale.scenarios, scale.policies, scale.seeds]);
    const reviewers = parseCampaign(JSON.parse(readFileSync(join(root, 'campaigns', 'reviewers.json'), 'utf8')));
    assert.equal(reviewers.total, 2 * 2 * 2 * 5 * 20);
  });

  it('a device mix is an axis over the whole devices list: without the ATS accelerator the status quo no longer panics the kdump kernel', async () => {
    const mix = parseCampaign(JSON.parse(readFileSync(join(root, 'campaigns', 'device-mix.json'), 'utf8')));
    assert.equal(mix.total, 3 * 5 * 20);
    const at = (injection: string, policy: string) => {
      for (let n = 0; n < mix.total; n++) {
        const w = workItem(mix, n);
        if (w.injection === injection && w.policy === policy && w.seed === 1) return w;
      }
      throw new Error(`no item ${injection} ${policy}`);
    };
    const run = (injection: string) => runWorkItem(at(injection, 'status-quo'));
    const withGpu = await run('mix=nic2+nvme+ats-gpu');
    const without = await run('mix=nic2+nvme');
    assert.deepEqual(
      withGpu.devices.map((d) => d.name),
      ['0000:01:00.0', '0000:01:00.1', '0000:02:00.0', '0000:03:00.0'],
    );
    assert.deepEqual(
      without.devices.map((d) => d.name),
      ['0000:01:00.0', '0000:01:00.1', '0000:02:00.0'],
    );
    // The cover letter's case (a): the accelerator's translated request fails fatally and firmware-first AER panics kdump.
    assert.equal(withGpu.kdumpPanicked, true);
    assert.equal(withGpu.vmcore.saved, false);
    assert.equal(without.kdumpPanicked, false);
    assert.equal(without.vmcore.saved, true);
    assert.throws(() => workItemRun({ scenario: 'nope', policy: 'status-quo', seed: 1, sets: [] }), /work item: scenario: unknown scenario "nope"/);
  });

  it('bad fields are named with the rule', () => {
    rejects(doc({ id: 'Bad Id' }), 'id', /must match/);
    rejects(doc({ scenarios: ['nope'] }), 'scenarios[0]', /unknown scenario "nope"/);
    rejects(doc({ scenarios: ['baseline', 'baseline'] }), 'scenarios[1]', /listed twice/);
    rejects(doc({ policies: ['adopt-v8'] }), 'policies[0]', /one of/);
    rejects(doc({ seeds: { from: 1, count: 0 } }), 'seeds.count', /must be in \[1, 1000000\]/);
    rejects(doc({ axes: [{ key: 'crash.trigger.atNs', values: [1, 1] }] }), 'axes[0].values[1]', /appears twice/);
    rejects(
      doc({
        axes: [
          { key: 'a', values: [1] },
          { key: 'a', values: [2] },
        ],
      }),
      'axes[1].key',
      /already an axis/,
    );
    rejects(doc({ sets: ['nokey'] }), 'sets[0]', /key=value/);
    rejects(doc({ extra: 1 }), 'extra', /unknown key/);
  });

  it('a value no scenario accepts is refused before any work is queued, naming the combination', () => {
    rejects(
      doc({ axes: [{ key: 'crash.trigger.atNs', values: ['soon'] }] }),
      'axes',
      /S10f-reserved-ste-config under status-quo with crash\.trigger\.atNs=soon: .*crash\.trigger\.atNs/,
    );
  });

  it('the size bounds hold', () => {
    rejects(doc({ seeds: { from: 1, count: 200_000 } }), 'seeds.count', /more than 1000000/);
    const many = Array.from({ length: 4 }, (_, i) => ({ key: `devices[0].traffic.k${i}`, values: Array.from({ length: 9 }, (_, j) => j) }));
    rejects(doc({ axes: many }), 'axes', /more than 4096/);
  });

  it('the items are the exact product, each once, seed fastest, and item n is the same wherever it is made', () => {
    const s = parseCampaign(doc());
    assert.equal(s.total, 2 * 4 * 2 * 3);
    const keys = new Set<string>();
    for (let n = 0; n < s.total; n++) {
      const w = workItem(s, n);
      assert.equal(w.id, `unit/${n}`);
      keys.add(`${w.scenario}|${w.injection}|${w.policy}|${w.seed}`);
      assert.deepEqual(workItem(parseCampaign(doc()), n), w);
    }
    assert.equal(keys.size, s.total);
    assert.deepEqual(
      [0, 1, 2, 3].map((n) => [workItem(s, n).seed, workItem(s, n).policy]),
      [
        [7, 'status-quo'],
        [8, 'status-quo'],
        [9, 'status-quo'],
        [7, 'adopt-v7'],
      ],
    );
    assert.equal(workItem(s, 6).injection, 'panicAt=200us, devices[0].traffic.rxIntervalNs=8000');
    assert.deepEqual(workItem(s, 6).sets, ['crash.trigger.atNs=200000', 'devices[0].traffic.rxIntervalNs=8000']);
    assert.equal(workItem(s, 24).scenario, 'baseline');
    assert.throws(() => workItem(s, s.total), RangeError);
  });

  it('without policies, each scenario runs under the policies its entry predicts; without axes the injection is the catalogue one', () => {
    const s = parseCampaign({ id: 'p', scenarios: ['baseline'], seeds: { count: 1 } });
    assert.deepEqual(s.policies['baseline'], Object.keys(findEntry('baseline')!.predict));
    assert.equal(workItem(s, 0).injection, 'catalogued');
  });

  it('the traced subset is every Nth item', () => {
    const s = parseCampaign(doc({ trace: { every: 10 } }));
    const traced = Array.from({ length: s.total }, (_, n) => workItem(s, n))
      .filter((w) => w.traced)
      .map((w) => w.n);
    assert.deepEqual(traced, [0, 10, 20, 30, 40]);
  });

  it('a work item from the queue must be the campaign own item n', () => {
    const s = parseCampaign(doc());
    const w = workItem(s, 5);
    assert.deepEqual(checkWorkItem(s, JSON.parse(JSON.stringify(w))), w);
    assert.throws(() => checkWorkItem(s, { ...w, policy: 'adopt-v10' }), /policy/);
    assert.throws(() => checkWorkItem(s, { ...w, n: s.total }), /n: an integer in 0\.\.47/);
    assert.throws(() => checkWorkItem(s, 'x'), /expected an object/);
  });
});

describe('campaign aggregation', () => {
  it('Wilson intervals match the closed form', () => {
    const a = wilson(0, 10);
    assert.equal(a.lo, 0);
    assert.ok(Math.abs(a.hi - 0.2775) < 1e-4, String(a.hi));
    const b = wilson(5, 10);
    assert.ok(Math.abs(b.lo - 0.2366) < 1e-4 && Math.abs(b.hi - 0.7634) < 1e-4, JSON.stringify(b));
    const c = wilson(50, 50);
    assert.ok(Math.abs(c.lo - 0.9287) < 1e-4 && c.hi === 1, JSON.stringify(c));
    assert.deepEqual(wilson(0, 0), { lo: 0, hi: 1 });
  });

  it('the outcome of a real run comes from its report', async () => {
    const e = findEntry('S10f-reserved-ste-config')!;
    const r = await runScenario(buildScenario(entryDocument(e), { policy: 'gbpa-bypass', seed: 1, sets: ['run.endAfterKdumpNs=5000000'] }));
    const o = outcomeOf(r);
    assert.equal(o.corrupted, r.corruption.totalBytes > 0);
    assert.equal(o.inflightAborted, r.dma.afterCrash.beforeQuiesce.aborted + r.dma.afterCrash.beforeQuiesce.faulted > 0);
    assert.equal(o.vmcoreSaved, r.vmcore.saved);
    assert.equal(o.predictionMet, null);
  });

  it('each item counts once, errors and redeliveries are counted, cells follow the item order', () => {
    const s = parseCampaign(doc());
    const ok = (v: boolean): RunOutcome => ({
      vmcoreSaved: v,
      kdumpPanicked: !v,
      corrupted: false,
      inflightAborted: !v,
      adopted: v,
      invariantsHold: true,
      predictionMet: v,
    });
    const results: CampaignResult[] = [];
    for (let n = 0; n < s.total; n++) {
      const w = workItem(s, n);
      results.push({
        campaign: 'unit',
        id: w.id,
        n,
        scenario: w.scenario,
        policy: w.policy,
        injection: w.injection,
        seed: w.seed,
        outcome: ok(w.seed !== 9),
        worker: 'w',
        attempt: n === 3 ? 2 : 1,
        route: 'in-process',
        wallMs: 1,
      });
    }
    results[1] = { ...results[1]!, outcome: undefined, error: 'boom' } as CampaignResult;
    // A second result of an item, and one of another campaign: neither counts.
    results.push({ ...results[0]!, outcome: ok(false) }, { ...results[0]!, campaign: 'other' });
    const m = campaignMatrix(s, results);
    assert.equal(m.done, s.total);
    assert.equal(m.errors, 1);
    assert.equal(m.redelivered, 1);
    assert.equal(m.cells.length, 16);
    const first = m.cells[0]!;
    assert.deepEqual(
      [first.scenario, first.injection, first.policy, first.runs, first.errors],
      ['S10f-reserved-ste-config', 'panicAt=200us, devices[0].traffic.rxIntervalNs=2000', 'status-quo', 3, 1],
    );
    // Item 0 (seed 7) saved, item 1 errored, item 2 (seed 9) not saved: 1 of 2.
    assert.deepEqual({ k: first.rates.vmcoreSaved.k, n: first.rates.vmcoreSaved.n }, { k: 1, n: 2 });
    assert.match(formatCampaignMatrix(m), /48\/48 runs, 1 errors, 1 ran on a redelivery/);
    assert.match(formatCampaignMatrix(m), /status-quo\s+3 \(1 err\)\s+50\.0% \[9\.5,90\.5\]/);
    assert.ok(m.cells.every((c) => c.traces.length === 0 && c.moreTraces === 0));
    assert.doesNotMatch(formatCampaignMatrix(m), /traced runs/);
  });

  it('a cell lists its traced runs for Jaeger, outliers first, capped at MAX_TRACES_PER_CELL', () => {
    const s = parseCampaign({
      id: 'traces',
      scenarios: ['S10f-reserved-ste-config'],
      policies: ['adopt-v7'],
      seeds: { from: 1, count: 40 },
      trace: { every: 2 },
    });
    const results: CampaignResult[] = [];
    for (let n = 0; n < s.total; n++) {
      const w = workItem(s, n);
      // Saved in every run but seed 39 (item 38, traced): the outlier.
      const outcome: RunOutcome = {
        vmcoreSaved: w.seed !== 39,
        kdumpPanicked: false,
        corrupted: false,
        inflightAborted: false,
        adopted: true,
        invariantsHold: true,
        predictionMet: null,
      };
      results.push({
        campaign: 'traces',
        id: w.id,
        n,
        scenario: w.scenario,
        policy: w.policy,
        injection: w.injection,
        seed: w.seed,
        outcome,
        worker: 'w',
        attempt: 1,
        route: 'in-process',
        wallMs: 1,
        ...(w.traced ? { traceId: n.toString(16).padStart(32, '0') } : {}),
      });
    }
    const [cell] = campaignMatrix(s, results).cells;
    assert.equal(cell!.traces.length, MAX_TRACES_PER_CELL);
    assert.equal(cell!.moreTraces, 20 - MAX_TRACES_PER_CELL);
    assert.deepEqual(cell!.traces[0], { n: 38, seed: 39, traceId: (38).toString(16).padStart(32, '0'), outlier: true });
    assert.deepEqual(
      cell!.traces.slice(1, 4).map((t) => [t.n, t.outlier]),
      [
        [0, false],
        [2, false],
        [4, false],
      ],
    );
    const text = formatCampaignMatrix(campaignMatrix(s, results));
    assert.match(
      text,
      /traced runs \(Jaeger: \/trace\/<id>; \* = vmcore outcome differs from the cell\):\n {4}adopt-v7: 0{30}26 \(seed 39 \*\), 0{32} \(seed 1\), 0{31}2 \(seed 3\), \+17 more \(--json\)$/,
    );
  });

  it('progress: rate from the first to the latest result, ETA from the rest', () => {
    assert.deepEqual(progressOf(100, 0, 0, null, null), { total: 100, done: 0, errors: 0, rate: null, etaS: null });
    const p = progressOf(100, 11, 1, 0, 5_000);
    assert.equal(p.rate, 2);
    assert.equal(p.etaS, 44.5);
    assert.equal(progressOf(10, 10, 0, 0, 1000).etaS, 0);
  });
});
