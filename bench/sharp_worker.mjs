// One sharp pipeline per width from the original buffer (how the Firebase "Resize Images" extension works).
// Usage: node sharp_worker.mjs JOB_JSON; prints one JSON line: best CPU/wall over the repeats, peak RSS.
import { readFileSync } from "node:fs";
import sharp from "sharp";

const job = JSON.parse(process.argv[2]);
sharp.concurrency(1); // one libvips thread per pipeline, as the project engine runs
sharp.cache(false);

const data = readFileSync(job.file);
const widths = job.full ? [...job.widths, 16384] : job.widths;

async function once() {
  let bytes = 0;
  for (const width of widths) {
    const out = await sharp(data, { failOn: "error" })
      .resize({ width, withoutEnlargement: true, kernel: "lanczos3" })
      .webp({ quality: job.quality, effort: job.effort })
      .toBuffer();
    bytes += out.length;
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
