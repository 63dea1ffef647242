/** Entry point: `npm start -- --model-dir <folder>` or `npm run demo`. */
import { loadConfig, type ServerConfig } from './config.js';
import { USAGE } from './usage.js';
import { demoModels } from './demo-models.js';
import { createLogger } from './logger.js';
import { startServer } from './server.js';

async function main(): Promise<void> {
  let config: ServerConfig;
  try {
    config = loadConfig();
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (config.help) {
    console.log(USAGE);
    return;
  }
  const logger = createLogger(config.logLevel);
  if (config.demo) {
    logger.info('demo: generating random-weight models (cached after the first run)');
    config.models.push(...(await demoModels(config)));
  }
  if (config.models.length === 0) {
    console.error(`no models to serve: give --model-dir, a config file with models, or --demo\n\n${USAGE}`);
    process.exit(2);
  }
  const server = await startServer(config, logger);
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  await server.loaded;
  if (!server.registry.ready) logger.error({ models: server.registry.statuses() }, 'no model could be loaded');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
