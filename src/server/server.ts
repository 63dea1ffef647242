/**
 * Assembles the server: config -> model specs (catalog, thread budget) -> registry -> HTTP + gRPC.
 * `startServer` listens first and loads models in the background, so liveness answers at once
 * and readiness flips when every model is warm.
 */
import type { Server } from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { CatalogEntry } from '../models/catalog/catalog.js';
import type { ServerConfig } from './config.js';
import { startGrpcServer, type GrpcTransport } from './grpc/grpc-server.js';
import { createHttpApp } from './http/app.js';
import { createHttpServer } from './http/http-server.js';
import { PreprocessPool } from '../models/image/preprocess-pool.js';
import { PixelBudget } from './pixel-budget.js';
import { FitPool } from '../pipelines/alignment/fit-off-thread.js';
import { AlignmentStore } from './alignment-store.js';
import { Admission } from './admission.js';
import { ServerMetrics } from './metrics.js';
import { TASK_SERVICES } from './services/index.js';
import { ModelRegistry, type ModelLoader } from './model-registry.js';
import { measureVariantAgreements } from './variant-agreements.js';
import { resolveModels } from './model-sources.js';
import { applyLayoutTunings } from './layout-tunings.js';
import { AccessControl } from './access/access-control.js';
import { ImageUrlFetcher } from './image-url/index.js';

export interface RunningServer {
  registry: ModelRegistry;
  metrics: ServerMetrics;
  http: Server;
  httpPort: number;
  grpc: GrpcTransport;
  grpcPort: number;
  /** Resolves when every model has loaded or failed. */
  loaded: Promise<void>;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Replaces the model loader (tests gate it to observe the loading state). */
  loader?: ModelLoader;
  /** Replaces models/catalog.json. */
  catalog?: CatalogEntry[];
}

export async function startServer(config: ServerConfig, logger: Logger, options: StartOptions = {}): Promise<RunningServer> {
  // First: a bad keys file or proxy list stops start-up before any thread or port is taken.
  const access = await AccessControl.create(config.access, logger);
  const metrics = new ServerMetrics();
  metrics.initRefusals(TASK_SERVICES.map((service) => service.name ?? service.task));
  const budget = new PixelBudget({
    capacityBytes: config.limits.pixelBudgetBytes,
    maxWaitMs: config.limits.pixelBudgetWaitMs,
    onChange: ({ usedBytes, waiting }) => {
      metrics.pixelBudgetBytes.set(usedBytes);
      metrics.pixelBudgetWaiting.set(waiting);
    },
  });
  const preprocessor = new PreprocessPool({
    threads: config.preprocessThreads,
    limits: { maxPixels: config.limits.maxImagePixels, timeoutSeconds: Math.ceil(config.limits.decodeTimeoutMs / 1000) },
    budget,
  });
  const { specs, missing } = await resolveModels(config, logger, options.catalog).catch(async (error: unknown) => {
    await preprocessor.close();
    throw error;
  });
  let grpc: GrpcTransport | undefined;
  const registry: ModelRegistry = new ModelRegistry(
    specs,
    missing,
    { logger, preprocessor, embeddingCacheBytes: config.limits.embeddingCacheBytes, decodeCacheBytes: config.limits.decodeCacheBytes, metrics, onStateChange: () => grpc?.setServing(registry.ready) },
    options.loader,
  );
  const admission = new Admission(registry, {
    maxInFlight: config.limits.maxInFlightRequests,
    maxInFlightPerClient: config.limits.maxInFlightPerClient,
  });
  const alignments = new AlignmentStore(path.join(config.cacheDir, 'alignments'));
  await alignments.load();
  for (const broken of alignments.list().filter((a) => 'error' in a)) logger.warn({ alignment: broken.name, error: (broken as { error: string }).error }, 'stored alignment unreadable');
  const fitter = new FitPool();
  const { enabled: fetchImageUrls, ...urlPolicy } = config.imageUrls;
  const imageUrls = fetchImageUrls ? new ImageUrlFetcher({ ...urlPolicy, maxBytes: config.limits.imageBytes }) : undefined;
  const services = { registry, imageBytesLimit: config.limits.imageBytes, maxPrompts: config.limits.maxPrompts, alignments, fitter, imageUrls };
  const app = createHttpApp({ registry, metrics, admission, access, logger, limits: config.limits, requestTimeoutMs: config.requestTimeoutMs, services });
  const http = createHttpServer(app, config.limits);
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(config.port, config.host, () => {
      http.off('error', reject);
      resolve();
    });
  }).catch(async (error: unknown) => {
    await preprocessor.close(); // in a process that goes on (tests), its threads would leak
    throw error;
  });
  const httpPort = (http.address() as AddressInfo).port;
  logger.info({ port: httpPort, host: config.host }, 'HTTP listening');
  grpc = await startGrpcServer(
    {
      registry,
      metrics,
      logger,
      requestTimeoutMs: config.requestTimeoutMs,
      services,
      admission,
      access,
      maxMessageBytes: config.limits.grpcMaxMessageBytes,
    },
    config.host,
    config.grpcPort,
  ).catch(async (error: unknown) => {
    http.close();
    await preprocessor.close();
    throw error;
  });
  logger.info({ port: grpc.port, host: config.host }, 'gRPC listening');
  // Layouts are tuned (or kept tunings applied) before loading, so nothing else competes for the cores.
  const stopTuning = new AbortController();
  const loaded = applyLayoutTunings(specs, {
    cacheDir: config.cacheDir,
    measure: config.tune,
    secondsPerCandidate: config.tuneSecondsPerCandidate,
    logger,
    signal: stopTuning.signal,
  }).then(() => registry.loadAll());
  // Variants are compared with fp32 after loading, in the background (one thread at a time).
  const stopAgreements = new AbortController();
  const agreements = loaded.then(() => measureVariantAgreements(registry, config.cacheDir, stopAgreements.signal, logger));
  return {
    registry,
    metrics,
    http,
    httpPort,
    grpc,
    grpcPort: grpc.port,
    loaded,
    /**
     * Graceful: stop accepting (new requests on open connections get 503), wait up to the drain
     * timeout for every accepted request to be answered, answer the rest 503, then stop the
     * models (running batches finish) and drop the connections.
     */
    async close() {
      const httpClosed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeIdleConnections();
      const grpcClosed = grpc!.stopAccepting();
      admission.startDraining(); // refuse new requests now, even while models are still loading
      stopTuning.abort();
      await loaded;
      stopAgreements.abort();
      await agreements;
      const drained = await admission.drain(config.drainTimeoutMs);
      if (!drained) {
        logger.warn({ open: admission.inFlight, drain_timeout_ms: config.drainTimeoutMs }, 'drain timed out; answering the rest 503');
        admission.abandonOpen();
      }
      await registry.close();
      await preprocessor.close();
      await fitter.close();
      await new Promise((resolve) => setImmediate(resolve));
      http.closeAllConnections();
      grpc!.forceClose();
      access.close();
      await Promise.all([httpClosed, grpcClosed]);
    },
  };
}
