# kap-bridge as a container: build the TypeScript and the validator's generated code, then run it on
# Node 24 with production dependencies only, as a non-root user, on a root filesystem it never
# writes (run it with --read-only; its SQLite folder /data is a volume).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Nothing is compiled: better-sqlite3 ships its SQLite binding built for Linux x64 and arm64 against
# Node-API, so no install script runs; the build stops here if that binding does not load.
RUN npm ci --ignore-scripts && node -e "new (require('better-sqlite3'))(':memory:').close()"
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY console ./console
# The build makes generated/validation (the R4 definitions and compiled JSON-schema validators)
# and generated/console (the console's bundle):
# made here once, so a start only loads them.
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 KAP_SQLITE_FILE=/data/kap-bridge.db
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/generated ./generated
COPY package.json ./
COPY bin ./bin
COPY profiles ./profiles
# Fails the image build if the validator's generated code is missing: a start must not remake it.
RUN node --input-type=module -e "await import('/app/dist/validation/generated.js')"
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["node", "-e", "fetch('http://127.0.0.1:'+process.env.PORT+'/healthz').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"]
CMD ["node", "bin/kap-bridge.js", "serve"]
