// SPDX-License-Identifier: Apache-2.0
// Predicted outcomes as data: a check is [path into the report, operator, expected value].
// Paths are dotted (`dma.afterCrash.beforeQuiesce.aborted`); `devices[0000:01:00.0]` picks a
// device by name; `log` with `logs` / `!logs` looks for a kdump-kernel message containing the
// text. The catalogue states each scenario's prediction per policy and every run checks it.

import type { Schema } from './schema';

export type Op = '=' | '!=' | '>' | '>=' | '<' | '<=' | 'logs' | '!logs' | 'includes';
export type Check = readonly [path: string, op: Op, value: unknown];

export interface CheckResult {
  readonly path: string;
  readonly op: Op;
  readonly expected: unknown;
  readonly actual: unknown;
  readonly ok: boolean;
}

/** Resolves a dotted path (with `[name]` device selectors) in a JSON-shaped report. */
export function resolve(root: unknown, path: string): unknown {
  let node: unknown = root;
  for (const step of path.match(/[^.[\]]+|\[[^\]]+\]/g) ?? []) {
    if (node === undefined || node === null) return undefined;
    if (step.startsWith('[')) {
      const key = step.slice(1, -1);
      if (!Array.isArray(node)) return undefined;
      node = /^\d+$/.test(key) ? node[Number(key)] : node.find((x) => (x as { name?: string })?.name === key);
    } else node = (node as Record<string, unknown>)[step];
  }
  return node;
}

/**
 * Why `path` with `op` cannot hold against a document of `schema` (the report's), or undefined
 * when it can: every step must name a field, a `[name]` selector must select from an array, a
 * map takes any key, and the end must suit the operator (`logs` a list of lines, `>` and its
 * kin a number, `includes` a list or a string). A typo in a prediction would otherwise resolve
 * to null, and `!=` or `= null` would pass on it.
 */
export function pathIssue(schema: Schema, path: string, op: Op): string | undefined {
  const steps = path.match(/[^.[\]]+|\[[^\]]+\]/g) ?? [];
  if (!steps.length) return 'an empty path';
  let node: Schema = schema;
  const unwrap = (n: Schema): Schema => (n.t === 'opt' || n.t === 'nullable' ? unwrap(n.of) : n);
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    node = unwrap(node);
    const at = steps.slice(0, i).join('.').replace(/\.\[/g, '[') || 'the report';
    if (node.t === 'any') return undefined;
    if (step.startsWith('[')) {
      if (node.t !== 'arr') return `${at} is not a list, so ${step} selects nothing`;
      node = node.of;
    } else if (node.t === 'obj') {
      const next: Schema | undefined = Object.prototype.hasOwnProperty.call(node.fields, step) ? node.fields[step] : undefined;
      if (!next) return `${at} has no field ${step} (fields: ${Object.keys(node.fields).join(', ')})`;
      node = next;
    } else if (node.t === 'map') node = node.of;
    else if (node.t === 'union') {
      const v = Object.values(node.variants).find((x) => Object.prototype.hasOwnProperty.call(x.fields, step));
      if (!v) return `no variant of ${at} has a field ${step}`;
      node = v.fields[step]!;
    } else return `${at} is a ${node.t}, it has no ${step}`;
  }
  const end = unwrap(node);
  if (end.t === 'any') return undefined;
  if ((op === 'logs' || op === '!logs') && end.t !== 'arr') return `${path} is not a list of log lines (${op} needs one)`;
  if ((op === '>' || op === '>=' || op === '<' || op === '<=') && end.t !== 'int' && end.t !== 'num')
    return `${path} is a ${end.t}, not a number (${op} needs one)`;
  if (op === 'includes' && end.t !== 'arr' && end.t !== 'str') return `${path} is a ${end.t}; includes needs a list or a string`;
  return undefined;
}

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function evaluate(report: unknown, checks: readonly Check[]): CheckResult[] {
  return checks.map(([path, op, expected]) => {
    if (op === 'logs' || op === '!logs') {
      const lines = (resolve(report, path) as { msg: string }[] | undefined) ?? [];
      const hit = lines.find((l) => l.msg.includes(String(expected)));
      return { path, op, expected, actual: hit ? hit.msg : null, ok: op === 'logs' ? hit !== undefined : hit === undefined };
    }
    const actual = resolve(report, path) ?? null;
    let ok: boolean;
    switch (op) {
      case '=':
        ok = equal(actual, expected);
        break;
      case '!=':
        ok = !equal(actual, expected);
        break;
      case '>':
        ok = typeof actual === 'number' && actual > (expected as number);
        break;
      case '>=':
        ok = typeof actual === 'number' && actual >= (expected as number);
        break;
      case '<':
        ok = typeof actual === 'number' && actual < (expected as number);
        break;
      case '<=':
        ok = typeof actual === 'number' && actual <= (expected as number);
        break;
      case 'includes':
        ok = (Array.isArray(actual) && actual.some((x) => equal(x, expected))) || (typeof actual === 'string' && actual.includes(String(expected)));
        break;
    }
    return { path, op, expected, actual, ok };
  });
}
