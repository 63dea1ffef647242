/** `npm start -- --help`. */
export const USAGE = `Usage: npm start -- [options]
  --model ID[:VARIANT]      serve a catalog model from the Hugging Face cache (repeatable;
                            env MMS_MODELS; tags fp32, fp16, q8 (= quantized), int8,
                            uint8, q4, q4f16, bnb4; served as ID:TAG; untagged: fp16
                            with a GPU provider first, else fp32)
  --pull                    download catalog models missing from the cache first
  --model-dir [id=]PATH     serve a Hugging Face ONNX model folder (repeatable)
  --config FILE             JSON config file (env MMS_CONFIG)
  --demo                    generate random-weight demo models and serve them (offline)
  --port N --grpc-port N    ports (env PORT, GRPC_PORT; defaults 8080, 50051)
  --host ADDR               listen address (env HOST; default 0.0.0.0)
  --providers LIST          execution providers in order, e.g. cuda,cpu (env MMS_PROVIDERS)
  --require-provider        fail instead of falling back to CPU
  --instances N --threads N session workers per model and intra-op threads each
  --tune                    time the layouts (workers x threads, batch size) of models with
                            no kept tuning before loading them; kept tunings always apply
                            (env MMS_TUNE; npm run models -- tune ID measures one)
  --max-batch-size N --max-queue-delay-ms N --max-queue-size N
  --cache-dir PATH          where generated (demo) models live (env MMS_CACHE_DIR); pulled
                            models go to the Hugging Face hub cache (HF_HUB_CACHE,
                            else $HF_HOME/hub, else ~/.cache/huggingface/hub)
  --preprocess-threads N    image decoding/resizing worker threads (env MMS_PREPROCESS_THREADS)
  --log-level LEVEL         pino level (env LOG_LEVEL; default info)
  --help                    this text`;
