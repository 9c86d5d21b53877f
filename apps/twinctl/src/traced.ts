// SPDX-License-Identifier: Apache-2.0
// The scenario and campaign commands, which trace when OTEL_* is set: OpenTelemetry starts
// before the command and exports what it traced before the process ends. main.ts imports this
// file only when one of these commands is asked for.
import { Telemetry, TelemetryConfigError } from '@kdump-twin/telemetry';
import type { CliResult } from './cli';
import { runCampaignCommand } from './campaign/command';
import { runScenarioCommand } from './scenarios';

export async function runTracedCommand(cmd: string, rest: readonly string[]): Promise<CliResult> {
  let telemetry: Telemetry;
  try {
    telemetry = Telemetry.start('twinctl');
  } catch (e) {
    if (!(e instanceof TelemetryConfigError)) throw e;
    return { code: 2, stdout: '', stderr: `twinctl: ${e.message}\n` };
  }
  const r = cmd === 'campaign' ? await runCampaignCommand(rest) : await runScenarioCommand(cmd, rest);
  await telemetry.shutdown();
  return r;
}
