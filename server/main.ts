// `deno task serve`: serves the kvlab HTTP API (server/app.ts) on 127.0.0.1:8787 by default.
//
//   deno task serve [--port 8787] [--host 127.0.0.1] [--data DIR] [--reindex]
//                   [--device auto|gpu|software] [--cors ORIGIN,...] [--max-body BYTES]
//                   [--models-dir DIR] [--task-data DIR]
//
// KVLAB_TOKEN, when set, is the bearer token every mutating request must carry. A host other
// than loopback is refused without one. SIGINT/SIGTERM stop the server; a run on the GPU is
// stopped between cells and left `interrupted` (resumable).

import { parseArgs } from "node:util";
import { DEVICE_CHOICES, type DeviceChoice } from "../engine/gpu/mod.ts";
import { createApp, DEFAULT_MAX_BODY, type KvlabApp } from "./app.ts";
import { LockError } from "../engine/bench/lock.ts";

const HELP = `deno task serve [options]

  --port N              TCP port (default 8787; 0 picks a free one)
  --host ADDR           address to bind (default 127.0.0.1); anything but loopback
                        needs KVLAB_TOKEN set
  --data DIR            data dir: DIR/results/<run id>/ and the index DIR/kvlab.sqlite
                        (default data)
  --reindex             rebuild the index from DIR/results before serving
  --device auto|gpu|software
                        adapter for runs (default auto)
  --cors ORIGIN,...     allow these origins (default: no CORS)
  --max-body BYTES      largest request body (default ${DEFAULT_MAX_BODY})
  --models-dir DIR      task runs may name folders below DIR as local:<name> (default: none)
  --task-data DIR       task runs may name data paths (haystack, data, path params) below DIR
                        (default: none; tasks then read their own defaults)
  --help

One server per data dir: DIR/kvlab.lock names the live holder (a dead one's lock is taken over).

Environment: KVLAB_TOKEN (bearer token for POST/DELETE), HF_HUB_CACHE / HF_HOME (models).`;

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

export interface ServeOptions {
  readonly env?: Record<string, string | undefined>;
  /** Called with the URL once listening. */
  readonly onListen?: (url: string) => void;
  readonly quiet?: boolean;
}

export interface Served {
  readonly url: string;
  readonly kvlab: KvlabApp;
  readonly server: Deno.HttpServer;
  /** Stops accepting, interrupts a running run, closes the index. */
  shutdown(): Promise<void>;
}

function int(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(`--${name}: got "${text}", expected an integer in [${min}, ${max}]`);
  }
  return n;
}

export async function serve(args: string[], so: ServeOptions = {}): Promise<Served | "help"> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      port: { type: "string", default: "8787" },
      host: { type: "string", default: "127.0.0.1" },
      data: { type: "string", default: "data" },
      reindex: { type: "boolean", default: false },
      device: { type: "string", default: "auto" },
      cors: { type: "string" },
      "max-body": { type: "string" },
      "models-dir": { type: "string" },
      "task-data": { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) return "help";
  const env = so.env ?? Deno.env.toObject();
  const port = int("port", values.port, 0, 65535);
  const device = values.device as DeviceChoice;
  if (!DEVICE_CHOICES.includes(device)) {
    throw new RangeError(`--device: got "${device}", expected one of ${DEVICE_CHOICES.join(", ")}`);
  }
  const token = env.KVLAB_TOKEN || undefined;
  if (!LOOPBACK.has(values.host) && !token) {
    throw new RangeError(
      `--host ${values.host}: serving beyond loopback needs KVLAB_TOKEN set (mutating requests ` +
        "would otherwise be open to the network)",
    );
  }
  const corsOrigins = values.cors?.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const kvlab = createApp({
    dataDir: values.data,
    token,
    corsOrigins,
    maxBodyBytes: values["max-body"] === undefined
      ? undefined
      : int("max-body", values["max-body"], 1, 1 << 30),
    device,
    reindex: values.reindex,
    env,
    modelsDir: values["models-dir"],
    taskDataDir: values["task-data"],
  });
  const log = (line: string) => so.quiet || console.log(line);
  if (values.reindex) {
    log(`kvlab serve: index rebuilt from ${values.data}/results: ${kvlab.indexed} runs`);
  }
  for (const id of kvlab.interrupted) log(`kvlab serve: run ${id} was running: now interrupted`);
  const ready = Promise.withResolvers<string>();
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      hostname: values.host,
      port,
      onListen: ({ hostname, port }) => {
        const host = hostname.includes(":") ? `[${hostname}]` : hostname;
        ready.resolve(`http://${host}:${port}`);
      },
    }, kvlab.app.fetch);
  } catch (e) {
    await kvlab.close();
    throw e;
  }
  const url = await ready.promise;
  log(
    `kvlab serve: listening on ${url} (data ${values.data}, auth ${token ? "on" : "off"}, CORS ${
      corsOrigins?.length ? corsOrigins.join(",") : "off"
    })`,
  );
  so.onListen?.(url);
  let stopping: Promise<void> | undefined;
  return {
    url,
    kvlab,
    server,
    shutdown: () =>
      stopping ??= (async () => {
        await kvlab.close();
        await server.shutdown();
      })(),
  };
}

if (import.meta.main) {
  try {
    const s = await serve(Deno.args);
    if (s === "help") {
      console.log(HELP);
      Deno.exit(0);
    }
    const stop = () => {
      console.log("kvlab serve: stopping");
      s.shutdown().then(() => Deno.exit(0));
    };
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      console.error(
        `kvlab serve: ${e.message}\n  (deno task serve may bind loopback only; for another ` +
          "address run: deno run --unstable-webgpu --allow-read --allow-write --allow-env " +
          "--allow-net=ADDR --allow-run=git server/main.ts --host ADDR)",
      );
      Deno.exit(2);
    }
    if (
      e instanceof RangeError || e instanceof TypeError || e instanceof Deno.errors.AddrInUse ||
      e instanceof LockError
    ) {
      console.error(`kvlab serve: ${(e as Error).message}`);
      Deno.exit(2);
    }
    throw e;
  }
}
