// SPDX-License-Identifier: Apache-2.0
// Predicted outcomes as data: a check is [path into the report, operator, expected value].
// Paths are dotted (`dma.afterCrash.beforeQuiesce.aborted`); `devices[0000:01:00.0]` picks a
// device by name; `log` with `logs` / `!logs` looks for a kdump-kernel message containing the
// text. The catalogue states each scenario's prediction per policy and every run checks it.

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
