# syntax=docker/dockerfile:1
# The server as a container: a build stage compiles the TypeScript, the runtime stage keeps the
# compiled JavaScript and the production dependencies only, runs as the unprivileged `node` user,
# and starts `node` directly, so SIGTERM reaches the server (it drains, then exits 0).
#   docker build -t multimodal-inference-server .
#   docker run -p 8080:8080 -p 50051:50051 -v mms-data:/data multimodal-inference-server --demo
#   docker run ... multimodal-inference-server --model vit-base-patch16-224 --pull
ARG NODE_VERSION=22

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci
COPY tsconfig.json ./
COPY src src
COPY scripts/copy-static.mjs scripts/
COPY proto proto
COPY models models
# The compiled server and the playground's static files beside it, then production dependencies only.
RUN npm run build && npm prune --omit=dev

FROM node:${NODE_VERSION}-bookworm-slim
# Models come from the Hugging Face cache under /data (mount one you share with other tools, or
# let `--pull` fill it); generated demo models and tunings go to the server's cache dir.
ENV NODE_ENV=production \
    HF_HOME=/data/huggingface \
    MMS_CACHE_DIR=/data/cache \
    PORT=8080 \
    GRPC_PORT=50051
WORKDIR /app
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json ./
COPY proto proto
COPY models models
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080 50051
HEALTHCHECK --interval=15s --timeout=3s --start-period=300s \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# test/deploy/container.test.ts runs this very command on the compiled build.
ENTRYPOINT ["node", "dist/src/server/main.js"]
