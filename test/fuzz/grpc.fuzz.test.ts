/**
 * gRPC fuzz of multimodal.v1.InferenceService on the real server (issue #30), in-process on every
 * task's tiny model, through the real grpc-js client: every method with messages whose fields
 * hold arbitrary values of their proto type, with values of the wrong type (which the client's
 * encoder either coerces or refuses before sending), and raw frames (valid encodings cut, bit-
 * flipped or padded, and plain random bytes) that the server must decode itself. Property: each
 * call ends, before its deadline, with OK (a stream with its `done` event) or the status of an
 * error-table code carried in the `error-code` trailer; never INTERNAL, UNKNOWN or UNAVAILABLE;
 * DEADLINE_EXCEEDED only when the message set `timeout_ms`; the server still answers afterwards.
 * This file takes 35% of the fuzz suite's time (fuzz-budget.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import fc from 'fast-check';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';
import { INFERENCE_PROTO, INFERENCE_SERVICE, protoRoot } from '../../src/server/grpc/proto-files.js';
import { inferenceClient, unary } from '../helpers/grpc-client.js';
import { fuzzParameters, fuzzTestTimeoutMs } from './fuzz-budget.js';
import { smallPng, startFuzzServer, trackingLastRun, type FuzzServer } from './fuzz-server.js';
import { methodSpecs, type MethodSpec } from './grpc-messages.js';
import { anyValue, assertNoPrototypePollution } from './request-arbitraries.js';

const SHARE = { typed: 0.17, wrongTypes: 0.06, rawFrames: 0.12 };

/** Longer than any fuzzed call needs; a call still open then counts as a hang. */
const CALL_DEADLINE_MS = 30_000;

interface Outcome {
  code: grpc.status;
  details: string;
  /** The server's error-table code (the `error-code` trailer). */
  errorCode: string | undefined;
  events: unknown[];
}

/** The client refused to encode the message (a wrong-typed field): nothing reached the server. */
const encodeRefused = (o: Outcome) => o.code === grpc.status.INTERNAL && o.details.startsWith('Request message serialization failure') && o.errorCode === undefined;

function outcomeOf(code: grpc.status, details: string, metadata: grpc.Metadata | undefined, events: unknown[]): Outcome {
  const errorCode = metadata?.get('error-code')[0];
  return { code, details, errorCode: errorCode === undefined ? undefined : String(errorCode), events };
}

type Serialize = (value: never) => Buffer;

/** Calls `path` and waits for its status; the default (de)serializers are the client's proto ones. */
function call(client: grpc.Client, path: string, streaming: boolean, argument: unknown, serialize: Serialize, deserialize: (bytes: Buffer) => unknown): Promise<Outcome> {
  const options = { deadline: Date.now() + CALL_DEADLINE_MS };
  return new Promise((resolve) => {
    if (!streaming) {
      client.makeUnaryRequest(path, serialize, deserialize, argument as never, new grpc.Metadata(), options, (error, response) =>
        resolve(error ? outcomeOf(error.code, error.details, error.metadata, []) : outcomeOf(grpc.status.OK, '', undefined, [response])),
      );
      return;
    }
    const events: unknown[] = [];
    const stream = client.makeServerStreamRequest(path, serialize, deserialize, argument as never, new grpc.Metadata(), options);
    stream.on('data', (event: unknown) => events.push(event));
    stream.on('error', () => {}); // the status below says it
    stream.on('status', (status: grpc.StatusObject) => resolve(outcomeOf(status.code, status.details, status.metadata, events)));
  });
}

function assertOutcome(o: Outcome, { deadlineAsked, checkDone }: { deadlineAsked: boolean; checkDone: boolean }): void {
  if (o.code === grpc.status.OK) {
    if (checkDone) assert.ok(o.events.length > 0 && 'done' in (o.events.at(-1) as object), 'an OK stream without its done event');
    return;
  }
  const name = grpc.status[o.code];
  assert.ok(o.errorCode !== undefined, `${name} without the server's error-code trailer: ${o.details}`);
  assert.ok(Object.hasOwn(ERROR_CODES, o.errorCode), `error-code '${o.errorCode}' is not in the error table`);
  const row = ERROR_CODES[o.errorCode as ErrorCode];
  assert.equal(name, row.grpc, `'${o.errorCode}' answered as ${name}`);
  assert.ok(!['INTERNAL', 'UNKNOWN', 'UNAVAILABLE'].includes(name) && (name !== 'DEADLINE_EXCEEDED' || deadlineAsked), `${name} (${o.errorCode}): ${o.details}`);
}

/** The client's own encoders, to build valid frames that the raw property then damages. */
const packageDefinition = loadSync(INFERENCE_PROTO, { includeDirs: [protoRoot()], keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true });
const inferenceMethods = packageDefinition[INFERENCE_SERVICE] as grpc.ServiceDefinition;
const pathOf = (method: string) => `/${INFERENCE_SERVICE}/${method}`;
const passThrough = (bytes: Buffer) => bytes;

describe('gRPC InferenceService under fuzzed messages', () => {
  let fuzz: FuzzServer;
  let client: ReturnType<typeof inferenceClient>;
  let png: Buffer;
  let specs: MethodSpec[];

  before(async () => {
    fuzz = await startFuzzServer();
    client = inferenceClient(fuzz.server.grpcPort);
    png = await smallPng();
    specs = methodSpecs(png);
  });
  after(async () => {
    client?.close();
    await fuzz?.close();
  });

  /** A call of `method` through the client's proto encoding. */
  const typedCall = (spec: MethodSpec, message: unknown) => {
    const { requestSerialize, responseDeserialize } = inferenceMethods[spec.method]!;
    return call(client, pathOf(spec.method), spec.streaming, message, requestSerialize as Serialize, responseDeserialize);
  };

  /** After each case: no built-in prototype polluted, and the server still answers. */
  async function stillServing(): Promise<void> {
    assertNoPrototypePollution();
    await unary(client, 'ListModels', {}, CALL_DEADLINE_MS);
  }

  async function fuzzCalls<Case>(cases: fc.Arbitrary<Case>, check: (c: Case) => Promise<void>, share: number): Promise<void> {
    const tracked = trackingLastRun(async (c: Case) => {
      await check(c);
      await stillServing();
    });
    await fc.assert(fc.asyncProperty(cases, tracked.predicate), fuzzParameters(share));
    await tracked.lastRun();
  }

  const methodCases = () => fc.constantFrom(...specs).chain((spec) => fc.tuple(fc.constant(spec.method), spec.message));
  const specOf = (method: string) => specs.find((s) => s.method === method)!;

  it('every method, with each field an arbitrary value of its proto type', { timeout: fuzzTestTimeoutMs(SHARE.typed) }, async () => {
    await fuzzCalls(
      methodCases(),
      async ([method, message]) => {
        const spec = specOf(method);
        assertOutcome(await typedCall(spec, message), { deadlineAsked: 'timeout_ms' in message, checkDone: spec.streaming });
      },
      SHARE.typed,
    );
  });

  it('every method, with fields of the wrong type (refused by the client, or answered from the table)', { timeout: fuzzTestTimeoutMs(SHARE.wrongTypes) }, async () => {
    const cases = methodCases().chain(([method, message]) =>
      fc.tuple(
        fc.constant(method),
        fc.constant(message),
        fc.array(fc.tuple(fc.oneof(fc.constantFrom(...Object.keys(message), 'image', 'labels', 'messages', 'top_k'), fc.string({ maxLength: 8 })), anyValue(1_000)), { minLength: 1, maxLength: 2 }),
      ),
    );
    await fuzzCalls(
      cases,
      async ([method, message, wrong]) => {
        const spec = specOf(method);
        const mixed = { ...message, ...Object.fromEntries(wrong) };
        const outcome = await typedCall(spec, mixed);
        if (!encodeRefused(outcome)) assertOutcome(outcome, { deadlineAsked: 'timeout_ms' in mixed, checkDone: spec.streaming });
      },
      SHARE.wrongTypes,
    );
  });

  it('raw frames: damaged encodings and random bytes decoded by the server', { timeout: fuzzTestTimeoutMs(SHARE.rawFrames) }, async () => {
    const damage = fc.oneof(
      fc.constant({ kind: 'none' as const }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.nat(255) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
      fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ maxLength: 512 }) }),
    );
    const cases = methodCases().chain(([method, message]) => fc.tuple(fc.constant(method), fc.constant(message), damage));
    await fuzzCalls(
      cases,
      async ([method, message, change]) => {
        const spec = specOf(method);
        const valid = inferenceMethods[method]!.requestSerialize(message);
        const at = 'at' in change ? change.at % (valid.length + 1) : 0;
        const frame =
          change.kind === 'cut' ? valid.subarray(0, at)
          : change.kind === 'flip' ? Buffer.concat([valid.subarray(0, at), Buffer.from([change.byte]), valid.subarray(at + 1)])
          : change.kind === 'insert' ? Buffer.concat([valid.subarray(0, at), change.bytes, valid.subarray(at)])
          : change.kind === 'random' ? Buffer.from(change.bytes)
          : valid;
        const outcome = await call(client, pathOf(method), spec.streaming, frame, passThrough as Serialize, passThrough);
        // A damaged frame may still decode, into other values: a deadline of its own included.
        assertOutcome(outcome, { deadlineAsked: method === 'Chat', checkDone: false });
      },
      SHARE.rawFrames,
    );
  });

  it('still classifies the small image after the fuzzing', async () => {
    const response = await unary(client, 'Classify', { image: png, top_k: 3 }, CALL_DEADLINE_MS);
    assert.equal(response.predictions.length, 3);
  });
});
