// SPDX-License-Identifier: Apache-2.0
// What twinctl says about its commands, kept apart from the commands themselves: the help text
// and the names of the commands that load the scenario engine, gRPC, NATS or OpenTelemetry, so
// `twinctl decode` and its siblings start without loading any of those (main.ts imports the
// heavy commands only when one is asked for).
import { KDUMP_POLICIES } from '@kdump-twin/kernel';

/** smmu-twin's gRPC address when neither --smmu-twin nor KDUMP_TWIN_SMMU_TWIN names one. */
export const DEFAULT_SMMU_TWIN = '127.0.0.1:50051';

/** The commands scenarios.ts runs. */
export const SCENARIO_COMMANDS: ReadonlySet<string> = new Set(['scenarios', 'run', 'matrix']);

export const SCENARIO_USAGE = `scenario commands:
  twinctl scenarios [--json]                  the catalogue, one line of purpose each
  twinctl run <scenario|file.json> [--policy P] [--series v7|v10] [--seed N]
              [--set key=value ...] [--json] [--log kdump|all|none]
              [--services [--smmu-twin host:port]]
                                              run one scenario and print its report: in
                                              process, or through the four services
  twinctl matrix [scenario ...] [--policies P,P,...] [--json] [--services ...]
                                              the policy-by-scenario comparison table
                                              (default: the headline scenarios, every policy)

--services runs through smmu-twin (and the other three over NATS) at --smmu-twin, else
$KDUMP_TWIN_SMMU_TWIN, else ${DEFAULT_SMMU_TWIN}; the report is the same as in process.

policies: ${KDUMP_POLICIES.join(', ')}; --policy adopt with --series v7|v10 picks the series version.
--set takes dotted keys of the scenario document: crash.trigger.atNs=300000,
devices[2].traffic.outstanding=64, devices.0000:01:00.0.ats=true, platform.ras=os-first.
Exit codes: 0 ok, 1 rejected input (the message names the key), 2 bad usage, 3 prediction not met.`;

export const CAMPAIGN_USAGE = `campaign commands (NATS at --nats, else $NATS_URL, else nats://127.0.0.1:4222):
  twinctl campaign run <campaign.json> [--workers N] [--ack-wait-ms MS] [--progress-ms MS]
                       [--replicas R] [--no-wait] [--json]
                                              store the campaign, queue every item without a
                                              result, follow progress (counts, rate, ETA) and
                                              print the outcome matrix; --workers N also runs N
                                              local workers; run again to resume;
                                              --replicas R: JetStream replicas of the
                                              campaign streams (default 1; 3 on a cluster)
  twinctl campaign status <id> [--json]       counts, queue depth, redeliveries, ETA
  twinctl campaign report <id> [--json]       the outcome matrix so far (rates, Wilson 95%)
  twinctl campaign worker [--name W] [--smmu-twin host:port] [--health-port P]
                       [--ack-wait-ms MS] [--max-items N] [--idle-exit-ms MS] [--die-after N]
                                              take items until SIGTERM; traced items go
                                              through the services when --smmu-twin is given
  twinctl campaign purge <id>                 remove a campaign's queued work, results and document

Credentials: NATS_CREDS (file), or NATS_USER/NATS_PASSWORD, or NATS_TOKEN.
Exit codes: 0 ok, 1 rejected input (the message names the field) or no NATS, 2 bad usage.`;
