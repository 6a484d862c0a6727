// PM2 ecosystem for a GPU machine: two ComfyUI instances and the
// otelcol-comfy sidecar beside them.
//
//   pm2 start deploy/ecosystem.config.js && pm2 save
//
// The sidecar tails PM2's log files, so their names are part of the
// contract with configs/sidecar.yaml (file_log include):
//   $COMFYUI_LOG_DIR/comfyui-<instance>-out.log    stdout -> log.iostream=stdout
//   $COMFYUI_LOG_DIR/comfyui-<instance>-error.log  stderr -> log.iostream=stderr
// and <instance> (gpu0, gpu1) becomes the comfy.instance attribute.
// merge_logs keeps PM2 from appending "-<id>" to the names; `time` stays off
// because ComfyUI prefixes its own timestamps.
//
// Paths come from the environment (defaults in brackets):
//   COMFYUI_DIR [/opt/ComfyUI]  COMFYUI_PYTHON [python3]
//   COMFYUI_LOG_DIR [/var/log/comfyui]
//   OTELCOL_COMFY_BIN [/usr/local/bin/otelcol-comfy]
//   OTELCOL_COMFY_CONFIG_DIR [/etc/otelcol-comfy]  (configs/ of this repository: sidecar.yaml, backend/)
//   TELEMETRY_TARGET [dash0]  (or in the env file): dash0, collector, remote-collector, disabled
//   OTELCOL_COMFY_ENV_FILE [/etc/otelcol-comfy/otelcol-comfy.env]  (deploy/otelcol-comfy.env.example)
'use strict';

const fs = require('fs');

const env = (name, fallback) => process.env[name] || fallback;
const COMFYUI_DIR = env('COMFYUI_DIR', '/opt/ComfyUI');
const COMFYUI_PYTHON = env('COMFYUI_PYTHON', 'python3');
const LOG_DIR = env('COMFYUI_LOG_DIR', '/var/log/comfyui');
const ENV_FILE = env('OTELCOL_COMFY_ENV_FILE', '/etc/otelcol-comfy/otelcol-comfy.env');

// KEY=VALUE lines of the sidecar's env file (comments and blanks skipped;
// optional surrounding quotes removed). PM2 has no env-file option of its own.
function readEnvFile(path) {
  const out = {};
  if (!fs.existsSync(path)) return out;
  for (const raw of fs.readFileSync(path, 'utf8').split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 1) continue;
    let value = line.slice(eq + 1).trim();
    if (/^(['"]).*\1$/.test(value)) value = value.slice(1, -1);
    out[line.slice(0, eq).trim()] = value;
  }
  return out;
}
const sidecarEnv = readEnvFile(ENV_FILE);
const MACHINE_ID = env('MACHINE_ID', sidecarEnv.MACHINE_ID || '');
const CONFIG_DIR = env('OTELCOL_COMFY_CONFIG_DIR', '/etc/otelcol-comfy');
const TELEMETRY_TARGETS = ['dash0', 'collector', 'remote-collector', 'disabled'];
const TELEMETRY_TARGET = env('TELEMETRY_TARGET', sidecarEnv.TELEMETRY_TARGET || 'dash0');
if (!TELEMETRY_TARGETS.includes(TELEMETRY_TARGET)) {
  throw new Error(`TELEMETRY_TARGET=${TELEMETRY_TARGET}: must be one of ${TELEMETRY_TARGETS.join(', ')}`);
}

function comfyui(instance, gpu, port) {
  return {
    name: `comfyui-${instance}`,
    cwd: COMFYUI_DIR,
    script: 'main.py',
    interpreter: COMFYUI_PYTHON,
    args: ['--listen', '127.0.0.1', '--port', String(port)],
    out_file: `${LOG_DIR}/comfyui-${instance}-out.log`,
    error_file: `${LOG_DIR}/comfyui-${instance}-error.log`,
    merge_logs: true,
    time: false,
    autorestart: true,
    restart_delay: 5000,
    kill_timeout: 10000,
    env: {
      CUDA_VISIBLE_DEVICES: String(gpu),
      // Flush each line (and each tqdm redraw) when it is written, so
      // progress reaches the sidecar live and tracebacks arrive whole.
      PYTHONUNBUFFERED: '1',
      // ComfyUI's OpenTelemetry SDK -> the sidecar's OTLP receiver.
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4317',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_SERVICE_NAME: 'comfyui',
      // comfy.instance names the instance for the sidecar's job context
      // (the same gpu{N} the sidecar reads from the log file's name).
      OTEL_RESOURCE_ATTRIBUTES: `machine.id=${MACHINE_ID},service.instance.id=${instance},comfy.instance=${instance}`,
    },
  };
}

module.exports = {
  apps: [
    comfyui('gpu0', 0, 8188),
    comfyui('gpu1', 1, 8189),
    {
      name: 'otelcol-comfy',
      script: env('OTELCOL_COMFY_BIN', '/usr/local/bin/otelcol-comfy'),
      // The base config, then the telemetry backend TELEMETRY_TARGET picks
      // (configs/backend/<target>.yaml). The feature gates: see the
      // poll_interval and health_check comments in configs/sidecar.yaml.
      args: [
        '--config', `${CONFIG_DIR}/sidecar.yaml`,
        '--config', `${CONFIG_DIR}/backend/${TELEMETRY_TARGET}.yaml`,
        '--feature-gates=stanza.synchronousLogEmitter,extension.healthcheck.useComponentStatus',
      ],
      interpreter: 'none',
      // Its own logs; not matched by the comfyui-*-out/error.log include.
      out_file: `${LOG_DIR}/otelcol-comfy-out.log`,
      error_file: `${LOG_DIR}/otelcol-comfy-error.log`,
      merge_logs: true,
      autorestart: true,
      restart_delay: 2000,
      // Give exporters time to hand queued data to the persistent queue.
      kill_timeout: 20000,
      // The alert fires at 400 MB; the memory_limiter refuses data at 360 MiB.
      max_memory_restart: '480M',
      env: Object.assign(
        {
          COMFYUI_LOG_DIR: LOG_DIR,
          OTELCOL_STORAGE_DIR: '/var/lib/otelcol-comfy',
          GOMEMLIMIT: '320MiB',
        },
        sidecarEnv,
      ),
    },
  ],
};
