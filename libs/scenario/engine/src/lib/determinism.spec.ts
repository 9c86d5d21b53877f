// SPDX-License-Identifier: Apache-2.0
// Same scenario, same seed: the same report, byte for byte (no wall-clock field anywhere); the
// seed does reach the models (device arrival and media-latency jitter).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildScenario, entryDocument, findEntry } from '../catalogue';
import { reportJson } from './report';
import { runScenario } from './runner';

const doc = () => entryDocument(findEntry('S10a-corrupt-page-table')!);

describe('determinism', () => {
  it('two runs of one scenario and seed give byte-identical JSON', async () => {
    const a = reportJson(await runScenario(buildScenario(doc(), { policy: 'adopt-v7', seed: 7 })));
    const b = reportJson(await runScenario(buildScenario(doc(), { policy: 'adopt-v7', seed: 7 })));
    assert.equal(a, b);
    assert.doesNotMatch(a, /"(date|wallClock|timestamp|hostname)"/i);
  });

  it('another seed gives another run', async () => {
    const a = await runScenario(buildScenario(doc(), { policy: 'adopt-v7', seed: 7 }));
    const b = await runScenario(buildScenario(doc(), { policy: 'adopt-v7', seed: 8 }));
    assert.notEqual(reportJson(a), reportJson(b));
    assert.notEqual(a.dma.issued, b.dma.issued, 'arrival jitter changes how many transactions happen');
    assert.equal(a.adoption.adopted, b.adoption.adopted, 'but not the decision');
  });

  it('string seeds work and are stable', async () => {
    const a = await runScenario(buildScenario(doc(), { policy: 'status-quo', seed: 'campaign-42' }));
    const b = await runScenario(buildScenario(doc(), { policy: 'status-quo', seed: 'campaign-42' }));
    assert.equal(reportJson(a), reportJson(b));
    assert.equal(a.seed, 'campaign-42');
  });
});
