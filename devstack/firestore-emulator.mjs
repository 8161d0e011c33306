#!/usr/bin/env node
// Local Firestore emulator for the gallery-backend dev stack.
//
// Wraps `@firestore-emulator/server` (an in-memory Firestore gRPC service) but binds its inner
// @grpc/grpc-js server to 127.0.0.1 itself: the package's own start() binds 0.0.0.0.
//
// Usage:  node devstack/firestore-emulator.mjs [--port P] [--host 127.0.0.1]
//         (or FIRESTORE_EMULATOR_PORT=P; port 0 picks a free port)
// Prints one line `FIRESTORE_EMULATOR_READY host:port` on stdout once it accepts connections.
// SIGTERM / SIGINT shut it down; SIGUSR2 clears every document (handy between tests); SIGUSR1 prints one line
// `FIRESTORE_EMULATOR_WRITES {"commits": C, "writes": W}` on stderr: the documents written since it started (each
// Commit and BatchWrite counted with its writes), so a load run can report Firestore's write rate.

import { ServerCredentials } from "@grpc/grpc-js";
import { FirestoreServer } from "@firestore-emulator/server";

function parseArgs(argv) {
  const opts = {
    host: process.env.FIRESTORE_EMULATOR_BIND_HOST || "127.0.0.1",
    port: process.env.FIRESTORE_EMULATOR_PORT || "8086",
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const [flag, inline] = arg.includes("=") ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = () => (inline !== undefined ? inline : argv[++i]);
    if (flag === "--port" || flag === "-p") opts.port = value();
    else if (flag === "--host") opts.host = value();
    else if (flag === "--help" || flag === "-h") {
      process.stdout.write("usage: firestore-emulator.mjs [--port P] [--host 127.0.0.1]\n");
      process.exit(0);
    } else if (/^\d+$/.test(arg)) opts.port = arg;
    else {
      process.stderr.write(`unknown argument: ${arg}\n`);
      process.exit(2);
    }
  }
  const port = Number.parseInt(String(opts.port), 10);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`invalid port: ${opts.port}\n`);
    process.exit(2);
  }
  return { host: opts.host, port };
}

const { host, port } = parseArgs(process.argv.slice(2));
const emulator = new FirestoreServer();
// `server` is a TypeScript-private field holding the @grpc/grpc-js Server with the service added.
const grpcServer = emulator.server;

const written = { commits: 0, writes: 0 };
for (const path of ["/google.firestore.v1.Firestore/Commit", "/google.firestore.v1.Firestore/BatchWrite"]) {
  const handler = grpcServer.handlers.get(path);
  if (!handler) continue;
  const inner = handler.func;
  handler.func = (call, callback) => {
    written.commits += 1;
    written.writes += (call.request?.writes ?? []).length;
    return inner(call, callback);
  };
}

grpcServer.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, boundPort) => {
  if (err) {
    process.stderr.write(`firestore emulator: cannot bind ${host}:${port}: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`FIRESTORE_EMULATOR_READY ${host}:${boundPort}\n`);
});

let stopping = false;
function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`firestore emulator: ${signal}, shutting down\n`);
  grpcServer.tryShutdown(() => process.exit(0));
  setTimeout(() => {
    grpcServer.forceShutdown();
    process.exit(0);
  }, 2000).unref();
}

process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
process.on("SIGUSR1", () => {
  process.stderr.write(`FIRESTORE_EMULATOR_WRITES ${JSON.stringify(written)}\n`);
});
process.on("SIGUSR2", () => {
  emulator.state.clear();
  process.stderr.write("firestore emulator: state cleared\n");
});
