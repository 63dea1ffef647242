/** Starts the real server (HTTP on an ephemeral port) on generated models, and closes it. */
import { pino } from 'pino';
import { loadConfig, type Limits, type ServerConfig } from '../../src/server/config.js';
import { startServer, type RunningServer } from '../../src/server/server.js';

export const quietLogger = () => pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** Config as `npm start` would build it from these flags, on ephemeral ports. */
type ConfigOverrides = Partial<Omit<ServerConfig, 'limits'>> & { limits?: Partial<Limits> };

export function testConfig(flags: string[], overrides: ConfigOverrides = {}): ServerConfig {
  const config = loadConfig(['--port', '0', '--grpc-port', '0', '--host', '127.0.0.1', ...flags], {});
  return { ...config, ...overrides, limits: { ...config.limits, ...overrides.limits } };
}

/** Starts a server and waits until every model has loaded (or failed). */
export async function startTestServer(flags: string[], overrides: ConfigOverrides = {}): Promise<RunningServer> {
  const server = await startServer(testConfig(flags, overrides), quietLogger());
  await server.loaded;
  return server;
}
