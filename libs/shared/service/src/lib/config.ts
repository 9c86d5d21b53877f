// SPDX-License-Identifier: Apache-2.0
// One typed configuration per service, from environment variables, each documented; a bad
// value stops the service at start-up with the variable and the rule.

export interface VarSpec<T> {
  readonly doc: string;
  readonly default: T;
  parse(text: string): T;
}

export class ConfigError extends Error {
  constructor(readonly issues: readonly string[]) {
    super(`configuration: ${issues.join('; ')}`);
    this.name = 'ConfigError';
  }
}

export const vars = {
  string: (doc: string, def: string, rule?: { re: RegExp; text: string }): VarSpec<string> => ({
    doc,
    default: def,
    parse: (t) => {
      if (rule && !rule.re.test(t)) throw new Error(rule.text);
      return t;
    },
  }),
  int: (doc: string, def: number, min: number, max: number): VarSpec<number> => ({
    doc,
    default: def,
    parse: (t) => {
      const n = Number(t);
      if (!/^\d+$/.test(t.trim()) || !Number.isSafeInteger(n) || n < min || n > max) throw new Error(`an integer in [${min}, ${max}]`);
      return n;
    },
  }),
  oneOf: <T extends string>(doc: string, def: T, values: readonly T[]): VarSpec<T> => ({
    doc,
    default: def,
    parse: (t) => {
      if (!values.includes(t as T)) throw new Error(`one of ${values.join(', ')}`);
      return t as T;
    },
  }),
};

export type ConfigOf<S extends Record<string, VarSpec<unknown>>> = { readonly [K in keyof S]: S[K] extends VarSpec<infer T> ? T : never };

/** Reads every variable of `spec` from `env`; ConfigError lists every bad one. */
export function loadConfig<S extends Record<string, VarSpec<unknown>>>(spec: S, env: Record<string, string | undefined> = process.env): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  const issues: string[] = [];
  for (const [name, v] of Object.entries(spec)) {
    const text = env[name];
    if (text === undefined || text === '') {
      out[name] = v.default;
      continue;
    }
    try {
      out[name] = v.parse(text);
    } catch (e) {
      issues.push(`${name}=${JSON.stringify(text)}: ${(e as Error).message}`);
    }
  }
  if (issues.length) throw new ConfigError(issues);
  return out as ConfigOf<S>;
}

/** The variables as a Markdown table (service READMEs quote it). */
export function configTable(spec: Record<string, VarSpec<unknown>>): string {
  return [
    '| variable | default | meaning |',
    '|---|---|---|',
    ...Object.entries(spec).map(([k, v]) => `| \`${k}\` | \`${String(v.default)}\` | ${v.doc} |`),
  ].join('\n');
}

/** What every service reads. */
export function commonVars(defaultPort: number) {
  return {
    NATS_URL: vars.string('the NATS server (the co-simulation fabric)', 'nats://127.0.0.1:4222', {
      re: /^(nats:\/\/)?[^\s:/]+:\d{1,5}(,(nats:\/\/)?[^\s:/]+:\d{1,5})*$/,
      text: 'nats://host:port (comma-separated for a cluster)',
    }),
    GRPC_HOST: vars.string('address the gRPC server binds (0.0.0.0 in a container)', '127.0.0.1', {
      re: /^[0-9A-Za-z.:[\]-]+$/,
      text: 'a host name or IP address',
    }),
    GRPC_PORT: vars.int('gRPC port', defaultPort, 1, 65535),
    LOG_LEVEL: vars.oneOf('least severe level logged', 'info', ['debug', 'info', 'warn', 'error'] as const),
    SERVICE_ID: vars.string('this replica in logs and NATS connection names; empty for <service>-<pid>', '', {
      re: /^[A-Za-z0-9_.-]{0,64}$/,
      text: 'up to 64 letters, digits, . _ -',
    }),
  };
}
