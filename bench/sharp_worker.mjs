// One sharp pipeline per width from the original buffer (how the Firebase "Resize Images" extension works).
// Usage: node sharp_worker.mjs JOB_JSON; prints one JSON line: best CPU/wall over the repeats, peak RSS.
// job.format: "webp" (default, at job.quality and job.effort) or "avif" (sharp's defaults); with job.out_dir
// the renditions of the last run are written there as WIDTH.FORMAT for scoring.
import { readFileSync, writeFileSync } from "node:fs";
import sharp from "sharp";

const job = JSON.parse(process.argv[2]);
sharp.concurrency(1); // one libvips thread per pipeline, as the project engine runs
sharp.cache(false);

const data = readFileSync(job.file);
const widths = job.full ? [...job.widths, 16384] : job.widths;

const format = job.format || "webp";
const outputs = new Map();

function encode(pipeline) {
  return format === "avif" ? pipeline.avif() : pipeline.webp({ quality: job.quality, effort: job.effort });
}

async function once() {
  let bytes = 0;
  for (const width of widths) {
    const out = await encode(
      sharp(data, { failOn: "error" }).resize({ width, withoutEnlargement: true, kernel: "lanczos3" }),
    ).toBuffer({ resolveWithObject: true });
    bytes += out.data.length;
    outputs.set(out.info.width, out.data);
  }
  return bytes;
}

// Warm up on a tiny image so one-off initialisation is not counted.
const tiny = await sharp({ create: { width: 64, height: 48, channels: 3, background: "#808080" } }).jpeg().toBuffer();
await sharp(tiny).resize({ width: 32 }).webp().toBuffer();
const baselineKib = process.memoryUsage().rss / 1024;

let bestCpu = Infinity;
let bestWall = Infinity;
let bytes = 0;
for (let i = 0; i < job.repeat; i++) {
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  bytes = await once();
  const wall = Number(process.hrtime.bigint() - wall0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  bestCpu = Math.min(bestCpu, (cpu.user + cpu.system) / 1e6);
  bestWall = Math.min(bestWall, wall);
}
if (job.out_dir) {
  for (const [width, buffer] of outputs) writeFileSync(`${job.out_dir}/${width}.${format}`, buffer);
}
process.stdout.write(
  JSON.stringify({
    cpu_s: bestCpu,
    wall_s: bestWall,
    peak_mib: process.resourceUsage().maxRSS / 1024,
    baseline_mib: baselineKib / 1024,
    bytes,
    outputs: widths.length,
  }) + "\n",
);
