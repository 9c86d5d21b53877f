# syntax=docker/dockerfile:1
# SPDX-License-Identifier: Apache-2.0
# Container image of dma-fleet. Build from the repository root (the context is the whole checkout,
# trimmed by .dockerignore):
#
#   docker build -f deploy/docker/dma-fleet.Dockerfile -t kdump-twin/dma-fleet:0.1.0 .
#
# Stage "build": npm ci and the Nx build of dma-fleet (tsc -b: apps/dma-fleet/dist and the dist of every
# workspace library it uses), then the dev dependencies are pruned. Stage "runtime": the same
# slim base with only what runs: node_modules (production), the root package.json, each workspace
# package.json the node_modules/@kdump-twin/* symlinks point at, the dist folders and proto/.
# tools/deploy/k8s.spec.ts checks this file statically (no Docker engine there).

FROM node:20.20-bookworm-slim AS build
WORKDIR /app
ENV CI=true NX_DAEMON=false NX_NO_CLOUD=true NX_SKIP_NX_CACHE=true
COPY . .
# No dependency install script is needed (native binaries come as optional dependencies).
RUN npm ci --ignore-scripts --no-audit --no-fund
RUN npx nx run-many -t build -p dma-fleet --outputStyle=static
RUN npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20.20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PROTO_DIR=/app/proto \
    GRPC_HOST=0.0.0.0 \
    GRPC_PORT=50052
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
# the services load their gRPC contracts from proto/ at run time (PROTO_DIR)
COPY --from=build /app/proto ./proto
COPY --from=build /app/apps/dma-fleet/package.json ./apps/dma-fleet/package.json
COPY --from=build /app/apps/dma-fleet/dist ./apps/dma-fleet/dist
COPY --from=build /app/libs/shared/contracts/package.json ./libs/shared/contracts/package.json
COPY --from=build /app/libs/shared/contracts/dist ./libs/shared/contracts/dist
COPY --from=build /app/libs/shared/service/package.json ./libs/shared/service/package.json
COPY --from=build /app/libs/shared/service/dist ./libs/shared/service/dist
COPY --from=build /app/libs/shared/telemetry/package.json ./libs/shared/telemetry/package.json
COPY --from=build /app/libs/shared/telemetry/dist ./libs/shared/telemetry/dist
COPY --from=build /app/libs/shared/transport/package.json ./libs/shared/transport/package.json
COPY --from=build /app/libs/shared/transport/dist ./libs/shared/transport/dist
COPY --from=build /app/libs/scenario/engine/package.json ./libs/scenario/engine/package.json
COPY --from=build /app/libs/scenario/engine/dist ./libs/scenario/engine/dist
COPY --from=build /app/libs/endpoint/devices/package.json ./libs/endpoint/devices/package.json
COPY --from=build /app/libs/endpoint/devices/dist ./libs/endpoint/devices/dist
COPY --from=build /app/libs/sim/platform/package.json ./libs/sim/platform/package.json
COPY --from=build /app/libs/sim/platform/dist ./libs/sim/platform/dist
COPY --from=build /app/libs/smmu/arch/package.json ./libs/smmu/arch/package.json
COPY --from=build /app/libs/smmu/arch/dist ./libs/smmu/arch/dist
COPY --from=build /app/libs/smmu/model/package.json ./libs/smmu/model/package.json
COPY --from=build /app/libs/smmu/model/dist ./libs/smmu/model/dist
COPY --from=build /app/libs/kernel/driver/package.json ./libs/kernel/driver/package.json
COPY --from=build /app/libs/kernel/driver/dist ./libs/kernel/driver/dist
# Files are root-owned and read-only to the process: it runs as uid 10001 (no home, no shell
# needed) and writes nothing (readOnlyRootFilesystem in deploy/k8s).
USER 10001:10001
EXPOSE 50052
ENTRYPOINT ["node", "apps/dma-fleet/dist/main.js"]
