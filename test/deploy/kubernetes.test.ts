/**
 * deploy/k8s rendered by `kubectl kustomize` (base, the gpu overlay, the monitoring variant), every
 * object validated against the Kubernetes OpenAPI schemas with kubernetes-models 4.x (5.x needs
 * Node 22); the custom resources (ServiceMonitor, KEDA ScaledObject, KServe) checked for the
 * fields they must carry and for pointing at what exists; and what matters for serving:
 * probes on /healthz and /readyz, a grace period longer than the pre-stop delay plus the drain,
 * autoscaling on queue depth per pod.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Service } from 'kubernetes-models/v1';
import { parse, parseAllDocuments } from 'yaml';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const k8s = path.join(repo, 'deploy', 'k8s');
/** The server's default drain (MMS_DRAIN_TIMEOUT_MS). */
const DRAIN_SECONDS = 25;

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec: any };

const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'v1/Service': Service,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
};

async function render(dir: string): Promise<K8sObject[]> {
  const { stdout } = await promisify(execFile)('kubectl', ['kustomize', path.join(k8s, dir)], { timeout: 60_000 });
  return parseAllDocuments(stdout).map((doc) => doc.toJSON() as K8sObject);
}

const find = (objects: K8sObject[], kind: string, name?: string) => objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

describe('Kubernetes manifests', () => {
  it('render (base, gpu, monitoring) into objects valid against the Kubernetes schemas', async () => {
    for (const dir of ['base', 'overlays/gpu', 'monitoring']) {
      const objects = await render(dir);
      for (const object of objects) {
        const Model = MODELS[`${object.apiVersion}/${object.kind}`];
        if (!Model) continue;
        assert.doesNotThrow(() => new Model(object).validate(), `${dir}: ${object.kind} ${object.metadata.name}`);
      }
      assert.deepEqual(find(objects, 'Deployment').length, 1, dir);
    }
  });

  it('serve as the server needs: probes, drain on shutdown, services that select the pods, the PDB', async () => {
    const objects = await render('base');
    const [deployment] = find(objects, 'Deployment') as [K8sObject];
    const pod = deployment.spec.template.spec;
    const server = pod.containers.find((c: { name: string }) => c.name === 'server');
    assert.equal(server.readinessProbe.httpGet.path, '/readyz');
    assert.equal(server.livenessProbe.httpGet.path, '/healthz');
    assert.ok(server.startupProbe.periodSeconds * server.startupProbe.failureThreshold >= 300, 'model loads get five minutes');
    const preStop = Number(server.lifecycle.preStop.exec.command[1]);
    assert.ok(pod.terminationGracePeriodSeconds > preStop + DRAIN_SECONDS, 'the grace period covers the pre-stop delay and the drain');
    assert.equal(pod.securityContext.runAsNonRoot, true);
    // The init container runs the model CLI the image compiles.
    assert.equal(pod.initContainers[0].command[1], 'dist/src/server/models-cli.js');
    assert.ok(existsSync(path.join(repo, 'src', 'server', 'models-cli.ts')));
    const podLabels = deployment.spec.template.metadata.labels as Record<string, string>;
    for (const service of find(objects, 'Service')) {
      for (const [key, value] of Object.entries(service.spec.selector as Record<string, string>)) assert.equal(podLabels[key], value, `${service.metadata.name} selects the pods`);
      for (const port of service.spec.ports) assert.ok(server.ports.some((p: { name: string }) => p.name === port.targetPort), port.name);
    }
    assert.equal(find(objects, 'Service', 'multimodal-inference-server-grpc')[0]!.spec.clusterIP, 'None', 'gRPC: headless, so clients balance per call');
    const [pdb] = find(objects, 'PodDisruptionBudget');
    for (const [key, value] of Object.entries(pdb!.spec.selector.matchLabels as Record<string, string>)) assert.equal(podLabels[key], value);
  });

  it('autoscale on queue depth per pod: the HPA, the prometheus-adapter rule that feeds it, or KEDA', async () => {
    const objects = await render('base');
    const [hpa] = find(objects, 'HorizontalPodAutoscaler');
    assert.equal(hpa!.spec.scaleTargetRef.name, find(objects, 'Deployment')[0]!.metadata.name);
    const metric = hpa!.spec.metrics[0].pods.metric.name;
    const adapter = parse(await readFile(path.join(k8s, 'monitoring', 'prometheus-adapter-rules.yaml'), 'utf8')) as { rules: { seriesQuery: string; name: { as: string }; metricsQuery: string }[] };
    const rule = adapter.rules.find((r) => r.name.as === metric);
    assert.ok(rule, `the adapter serves ${metric}`);
    assert.match(rule.seriesQuery, /^mms_queue_depth\{/);
    const keda = parse(await readFile(path.join(k8s, 'keda', 'scaledobject.yaml'), 'utf8')) as K8sObject;
    assert.deepEqual([keda.apiVersion, keda.kind, keda.spec.scaleTargetRef.name], ['keda.sh/v1alpha1', 'ScaledObject', hpa!.spec.scaleTargetRef.name]);
    assert.match(keda.spec.triggers[0].metadata.query, /mms_queue_depth/);
  });

  it('gpu overlay asks for a GPU and puts CUDA first; monitoring adds a ServiceMonitor on /metrics', async () => {
    const gpu = find(await render('overlays/gpu'), 'Deployment')[0]!.spec.template.spec;
    const server = gpu.containers[0];
    assert.equal(server.resources.limits['nvidia.com/gpu'], 1);
    assert.deepEqual(server.args.slice(-2), ['--providers', 'cuda,cpu']);
    const monitoring = await render('monitoring');
    const [monitor] = find(monitoring, 'ServiceMonitor');
    assert.equal(monitor!.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(monitor!.spec.endpoints[0].path, '/metrics');
    const service = find(monitoring, 'Service', 'multimodal-inference-server')[0]!;
    for (const [key, value] of Object.entries(monitor!.spec.selector.matchLabels as Record<string, string>)) assert.equal(service.metadata.labels?.[key], value, 'it selects the HTTP Service');
    assert.ok(service.spec.ports.some((p: { name: string }) => p.name === monitor!.spec.endpoints[0].port));
  });

  it('KServe: an InferenceService on the ServingRuntime that runs this server on /mnt/models', async () => {
    const runtime = parse(await readFile(path.join(repo, 'deploy', 'kserve', 'servingruntime.yaml'), 'utf8')) as K8sObject;
    const service = parse(await readFile(path.join(repo, 'deploy', 'kserve', 'inferenceservice.yaml'), 'utf8')) as K8sObject;
    assert.deepEqual([runtime.apiVersion, runtime.kind, service.apiVersion, service.kind], ['serving.kserve.io/v1alpha1', 'ServingRuntime', 'serving.kserve.io/v1beta1', 'InferenceService']);
    assert.equal(service.spec.predictor.model.runtime, runtime.metadata.name);
    assert.ok(runtime.spec.supportedModelFormats.some((f: { name: string }) => f.name === service.spec.predictor.model.modelFormat.name));
    assert.deepEqual(runtime.spec.containers[0].args, ['--model-dir', 'model=/mnt/models']);
    assert.match(service.spec.predictor.model.storageUri, /^hf:\/\//);
  });
});
