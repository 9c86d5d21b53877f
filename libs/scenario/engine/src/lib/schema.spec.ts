// SPDX-License-Identifier: Apache-2.0
// The published JSON Schemas: regenerated from the one description and diffed against the
// committed files (schema/*.json), and checked by an independent validator (Ajv, draft
// 2020-12) on real documents: a report from a run, the scenario files of the catalogue.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Ajv2020 from 'ajv/dist/2020';
import { buildScenario, CATALOGUE, entryDocument, findEntry } from '../catalogue';
import { schemaDocuments } from './schema-documents';
import { runScenario } from './runner';
import { arr, bool, int, issuesOf, obj, SchemaError, str, toJsonSchema, union, validate } from './schema';

const dir = join(__dirname, '..', '..', 'schema');

describe('published JSON Schemas', () => {
  it('schema/*.json are what the generator writes (run `npm run schema:gen` after changing a contract)', () => {
    for (const [name, text] of Object.entries(schemaDocuments())) assert.equal(readFileSync(join(dir, name), 'utf8'), text, `${name} is stale`);
  });

  it('a real report satisfies report.schema.json; a broken one does not', async () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    const validate = ajv.compile(JSON.parse(readFileSync(join(dir, 'report.schema.json'), 'utf8')));
    const e = findEntry('S10d-l1-l2ptr-zero')!;
    const r = JSON.parse(JSON.stringify(await runScenario(buildScenario(entryDocument(e), { policy: 'adopt-v7' }), { predict: e.predict['adopt-v7'] })));
    assert.equal(validate(r), true, JSON.stringify(validate.errors));
    const broken = { ...r, dma: { ...r.dma, issued: 'many' } };
    assert.equal(validate(broken), false);
    assert.equal(validate({ ...r, surprise: 1 }), false, 'unknown top-level keys are not part of the contract');
  });

  it('every catalogue scenario document satisfies scenario.schema.json', () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    const validate = ajv.compile(JSON.parse(readFileSync(join(dir, 'scenario.schema.json'), 'utf8')));
    for (const e of CATALOGUE) assert.equal(validate(JSON.parse(JSON.stringify(entryDocument(e)))), true, `${e.id}: ${JSON.stringify(validate.errors)}`);
    assert.equal(validate({ ...entryDocument(CATALOGUE[0]!), crash: { trigger: { kind: 'time', atNs: 'soon' } } }), false);
    buildScenario(entryDocument(CATALOGUE[0]!));
  });
});

describe('the schema description itself', () => {
  const s = obj(
    {
      a: int(3, 0, 9),
      b: bool(),
      u: union('kind', { x: obj({ kind: str(), n: int(1) }), y: obj({ kind: str(), m: int(undefined, 0, 1) }, undefined, ['m']) }),
    },
    'test',
    ['b'],
  );
  it('fills defaults, requires what has none, validates unions by their tag', () => {
    assert.deepEqual(issuesOf(s, { b: true, u: { kind: 'x' } }), []);
    assert.deepEqual(
      issuesOf(s, { u: { kind: 'y' } }).map((i) => i.path),
      ['b', 'u.m'],
    );
    assert.deepEqual(
      issuesOf(s, { b: true, u: { kind: 'z' } }).map((i) => i.path),
      ['u.kind'],
    );
    assert.deepEqual(
      issuesOf(s, { b: true, a: 10, u: { kind: 'x' } }).map((i) => i.rule),
      ['must be in [0, 9], got 10'],
    );
  });
  it('emits draft 2020-12 with required keys and no additional properties', () => {
    const j = toJsonSchema(s, 'id', 't') as { required: string[]; additionalProperties: boolean; properties: { u: { oneOf: unknown[] } } };
    assert.deepEqual(j.required, ['b', 'u']);
    assert.equal(j.additionalProperties, false);
    assert.equal(j.properties.u.oneOf.length, 2);
  });
});

describe('the schema validator', () => {
  it('a list past its maximum is refused at once, without checking each of its entries (a million devices costs no more than the parse)', () => {
    const s = arr(obj({ n: int(undefined, 0, 9) }), undefined, 'pairs', 0, 2);
    const r = (() => {
      try {
        validate(s, [{ n: 'x' }, { n: -1 }, { n: 99 }], 'doc');
        return undefined;
      } catch (e) {
        return e as SchemaError;
      }
    })();
    assert.ok(r instanceof SchemaError);
    assert.deepEqual(r.issues, [{ path: '', rule: 'must have 0..2 entries, got 3' }]);
    // Within the bound, every entry is still checked.
    assert.throws(() => validate(s, [{ n: 'x' }], 'doc'), /\[0\]\.n/);
  });
});
