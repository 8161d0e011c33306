"""Capacity model: how many photos per second a deployment takes, what limit it meets first, and what it costs.

`make bench` runs it after the measuring benches (or `.venv/bin/python bench/capacity.py --help`). It measures
nothing itself: it combines

- the measured CPU per photo of the live render and of the optimize pass, the bytes stored per photo and sent per
  view (bench/quality.json, 17 real photos), and the Firestore documents written per photo (bench/load.json);
- the requests per photo the code makes (counted from its paths: the renditions written, the superseded ones
  marked, the uploads read and stat'ed, the messages published);
- the deployment's defaults (infra/terraform/variables.tf: 1 vCPU and 2 GiB per instance, at most 10 live and 3
  bulk instances) and the services' documented limits, all parameters: Firestore's 500 writes/s into a
  collection with a sequentially indexed field (created_at/updated_at here), a Cloud Storage bucket's initial
  1000 object writes/s and 5000 reads/s (doubling at most every 20 minutes as it scales), Cloud Run's 60 % CPU
  autoscaling target;

into photos/s per instance and per lane, the instances and vCPU quota for 10, 100 and 1000 photos/s, the limit
each rate meets first and what lifts it, and the monthly cost with the list prices as parameters (bench/costs.py,
shared with bench/quality.py). Results go to bench/capacity.json and bench/capacity.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from costs import Prices, add_price_arguments, describe
from lanes import write_section

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
SECONDS_PER_MONTH = 30 * 86400
DOCS_START, DOCS_END = "<!-- capacity:start -->", "<!-- capacity:end -->"


@dataclass(frozen=True)
class Deployment:
    vcpu_per_instance: int = 1
    memory_gib_per_instance: float = 2.0
    live_max_instances: int = 10
    bulk_max_instances: int = 3
    cpu_target: float = 0.6  # Cloud Run scales out when instances average this CPU utilisation


@dataclass(frozen=True)
class ServiceLimits:
    firestore_sequential_writes_per_s: float = 500.0
    gcs_initial_writes_per_s: float = 1000.0
    gcs_initial_reads_per_s: float = 5000.0
    gcs_doubling_minutes: float = 20.0


@dataclass(frozen=True)
class PerPhoto:
    live_cpu_s: float
    optimize_cpu_s: float
    stored_bytes: float
    served_bytes_per_view: float
    firestore_writes: float
    renditions_writes: int  # object writes into the renditions bucket (live set, optimized set, superseded marks)
    uploads_reads: int  # object reads and metadata reads of the uploads bucket
    renditions_reads: int  # metadata reads of the renditions bucket (before each superseded mark)
    messages: int  # Pub/Sub messages published


def per_photo(quality: dict[str, Any], load: dict[str, Any]) -> PerPhoto:
    from gallery.settings import Settings

    settings = Settings()
    cost = {r["method"]: r for r in quality["summary"] if r["class"] == "cost"}
    live, optimized = cost["live set"], cost["optimized set"]
    widths = len(settings.rendition_widths)
    superseded = sum(1 for w in settings.rendition_widths if w > settings.fallback_max_width)
    return PerPhoto(
        live_cpu_s=live["cpu_s_per_photo"],
        optimize_cpu_s=optimized["cpu_s_per_photo"],
        stored_bytes=optimized["stored_bytes_per_photo"],
        served_bytes_per_view=optimized["served_bytes_per_view"],
        firestore_writes=load["firestore_writes_per_photo"],
        # every width as JPEG (live) and as AVIF (optimize pass), then a metadata patch per superseded JPEG
        renditions_writes=widths * 2 + superseded,
        # per delivery (the render, then the optimize task): a stat of the live generation, a reload and a download
        uploads_reads=2 * 3,
        renditions_reads=superseded,
        messages=2,  # the bucket's notification, the optimize task
    )


def model(photo: PerPhoto, deployment: Deployment, limits: ServiceLimits, prices: Prices) -> dict[str, Any]:
    usable = deployment.vcpu_per_instance * deployment.cpu_target  # vCPU-seconds per second an instance gives
    live_per_instance = usable / photo.live_cpu_s
    bulk_per_instance = usable / photo.optimize_cpu_s
    ceilings = {
        "live lane instances (max_instance_count)": deployment.live_max_instances * live_per_instance,
        "bulk lane instances (bulk_max_instance_count): the optimize pass keeping pace": (
            deployment.bulk_max_instances * bulk_per_instance
        ),
        "Firestore: 500 writes/s with a sequentially indexed field": (
            limits.firestore_sequential_writes_per_s / photo.firestore_writes
        ),
        "Cloud Storage renditions bucket: initial 1000 writes/s": limits.gcs_initial_writes_per_s
        / photo.renditions_writes,
        "Cloud Storage uploads bucket: initial 5000 reads/s": limits.gcs_initial_reads_per_s / photo.uploads_reads,
    }
    lifts = {
        "live lane instances (max_instance_count)": "raise max_instance_count (and the region's Cloud Run CPU quota)",
        "bulk lane instances (bulk_max_instance_count): the optimize pass keeping pace": (
            "raise bulk_max_instance_count; or let the bulk backlog drain off-peak (Pub/Sub keeps it 7 days)"
        ),
        "Firestore: 500 writes/s with a sequentially indexed field": (
            "exempt created_at/updated_at from single-field indexes and query a sharded or coarser field instead "
            "(the page's and gallery status's queries need them today)"
        ),
        "Cloud Storage renditions bucket: initial 1000 writes/s": (
            "ramp the upload rate up (the bucket doubles its capacity about every 20 minutes; object names start "
            "with the photo id, a hash, so every key range shares the load)"
        ),
        "Cloud Storage uploads bucket: initial 5000 reads/s": "ramp up likewise",
    }
    billed_per_photo = (photo.live_cpu_s + photo.optimize_cpu_s) / deployment.cpu_target
    memory_per_vcpu = deployment.memory_gib_per_instance / deployment.vcpu_per_instance
    rates = []
    for rate in (10, 100, 1000):
        live_vcpu = rate * photo.live_cpu_s / deployment.cpu_target
        bulk_vcpu = rate * photo.optimize_cpu_s / deployment.cpu_target
        photos = rate * SECONDS_PER_MONTH
        compute = photos * billed_per_photo * (prices.cpu_vcpu_second + memory_per_vcpu * prices.memory_gib_second)
        firestore = photos * photo.firestore_writes / 1e5 * prices.firestore_writes_per_100k
        gcs_ops = photos * (
            photo.renditions_writes / 1e3 * prices.gcs_writes_per_1000
            + (photo.uploads_reads + photo.renditions_reads) / 1e3 * prices.gcs_reads_per_1000
        )
        storage = photos * photo.stored_bytes / 1e9 * prices.storage_gb_month
        egress = photos * photo.served_bytes_per_view * prices.views / 1e9 * prices.egress_gb
        hit = sorted((limit, name) for name, limit in ceilings.items() if limit < rate)
        writes = rate * photo.renditions_writes
        ramp = max(0, math.ceil(math.log2(writes / limits.gcs_initial_writes_per_s))) if writes > 0 else 0
        rates.append(
            {
                "rate": rate,
                "live_vcpu": round(live_vcpu, 1),
                "live_instances": math.ceil(live_vcpu / deployment.vcpu_per_instance),
                "bulk_vcpu": round(bulk_vcpu, 1),
                "bulk_instances": math.ceil(bulk_vcpu / deployment.vcpu_per_instance),
                "vcpu_quota": math.ceil(live_vcpu + bulk_vcpu),
                "firestore_writes_per_s": round(rate * photo.firestore_writes),
                "gcs_writes_per_s": round(writes),
                "gcs_ramp_minutes": ramp * limits.gcs_doubling_minutes,
                "uploads_reads_per_s": round(rate * photo.uploads_reads),
                "messages_per_s": rate * photo.messages,
                "limits_hit": [name for _, name in hit],
                "first_limit": hit[0][1] if hit else None,
                "month": {
                    "photos": photos,
                    "compute": round(compute),
                    "firestore": round(firestore),
                    "gcs_operations": round(gcs_ops),
                    "storage_added": round(storage),
                    "egress": round(egress),
                    "total": round(compute + firestore + gcs_ops + storage + egress),
                },
            }
        )
    return {
        "per_photo": asdict(photo),
        "deployment": asdict(deployment),
        "limits": asdict(limits),
        "prices": prices.as_dict(),
        "live_photos_per_s_per_instance": round(live_per_instance, 2),
        "bulk_photos_per_s_per_instance": round(bulk_per_instance, 3),
        "ceilings": {name: round(value, 1) for name, value in ceilings.items()},
        "lifts": lifts,
        "rates": rates,
    }


def markdown(result: dict[str, Any], prices: Prices, load: dict[str, Any]) -> str:
    p, d = result["per_photo"], result["deployment"]
    lines = [
        "# Capacity model",
        "",
        f"Per photo, measured: live render {p['live_cpu_s']:.2f} CPU-s, optimize pass {p['optimize_cpu_s']:.2f} "
        f"CPU-s (bench/quality.json: the mean over 17 real photos of 0.3-20 MP), {p['stored_bytes'] / 1e6:.2f} MB "
        f"stored, {p['served_bytes_per_view'] / 1e3:.0f} kB per view, {p['firestore_writes']:g} Firestore documents "
        f"written (bench/load.json). Per photo, counted from the code: {p['renditions_writes']} object writes to the "
        f"renditions bucket, {p['uploads_reads']} reads of the uploads bucket, {p['messages']} Pub/Sub messages. "
        f"Deployment defaults: {d['vcpu_per_instance']} vCPU and {d['memory_gib_per_instance']:g} GiB per instance, "
        f"at most {d['live_max_instances']} live and {d['bulk_max_instances']} bulk instances, Cloud Run scaling "
        f"out at {d['cpu_target']:.0%} CPU.",
        "",
        f"One instance makes **{result['live_photos_per_s_per_instance']} photos/s ready** on the live lane and "
        f"optimizes **{result['bulk_photos_per_s_per_instance']} photos/s** on the bulk lane.",
        "",
        "## What each limit allows, with the defaults",
        "",
        "| limit | photos/s | what lifts it |",
        "| --- | ---: | --- |",
    ]
    for name, value in sorted(result["ceilings"].items(), key=lambda item: item[1]):
        lines.append(f"| {name} | {value:g} | {result['lifts'][name]} |")
    lines += [
        "",
        "## At 10, 100 and 1000 photos/s",
        "",
        "| photos/s | live vCPU (instances) | bulk vCPU (instances) | vCPU quota | Firestore writes/s | "
        "renditions writes/s (ramp) | limits met, the first one first |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in result["rates"]:
        ramp = (
            f"{r['gcs_writes_per_s']:,} ({r['gcs_ramp_minutes']:g} min)"
            if r["gcs_ramp_minutes"]
            else str(r["gcs_writes_per_s"])
        )
        hit = "; ".join(r["limits_hit"]) or "none"
        lines.append(
            f"| {r['rate']} | {r['live_vcpu']:g} ({r['live_instances']}) | {r['bulk_vcpu']:g} ({r['bulk_instances']}) "
            f"| {r['vcpu_quota']:,} | {r['firestore_writes_per_s']:,} | {ramp} | {hit} |"
        )
    lines += [
        "",
        f"## A month at each rate (list prices given to the run: {describe(prices)})",
        "",
        "Compute is billed instance time: the CPU seconds over the scaling target, with the instance's memory. "
        "Storage is what one month's photos add (it accumulates); egress is their views.",
        "",
        "| photos/s | photos | compute $ | Firestore $ | Cloud Storage operations $ | storage added $/month | "
        "egress $ | total $ |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["rates"]:
        m = r["month"]
        lines.append(
            f"| {r['rate']} | {m['photos'] / 1e6:,.0f} M | {m['compute']:,} | {m['firestore']:,} | "
            f"{m['gcs_operations']:,} | {m['storage_added']:,} | {m['egress']:,} | {m['total']:,} |"
        )
    steps = load.get("steps") or []
    kept = [st for st in steps if st["live_backlog"] <= st["offered_per_s"]]  # at most a second of uploads queued
    if kept:
        best = max(kept, key=lambda st: st["offered_per_s"])
        behind = [st for st in steps if st["offered_per_s"] > best["offered_per_s"]]
        after = (
            f"; at {behind[0]['offered_per_s']:g}/s it fell behind (live backlog {behind[0]['live_backlog']})"
            if behind
            else ""
        )
        lines += [
            "",
            f"On this machine's local stack (bench/load.py: 1 MP JPEGs, 2 cores shared by the emulators, both lanes "
            f"and the optimize pass) the live lane kept up with {best['offered_per_s']:g} photos/s (median latency "
            f"{best['latency_median_s']} s){after}.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quality", type=Path, default=BENCH / "quality.json")
    parser.add_argument("--load", type=Path, default=BENCH / "load.json")
    parser.add_argument("--json", type=Path, default=BENCH / "capacity.json")
    parser.add_argument("--markdown", type=Path, default=BENCH / "capacity.md")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs/performance.md", help="doc whose tables to update")
    defaults = Deployment()
    parser.add_argument("--live-max-instances", type=int, default=defaults.live_max_instances)
    parser.add_argument("--bulk-max-instances", type=int, default=defaults.bulk_max_instances)
    parser.add_argument("--cpu-target", type=float, default=defaults.cpu_target)
    add_price_arguments(parser)
    args = parser.parse_args(argv)
    quality = json.loads(args.quality.read_text())
    load = json.loads(args.load.read_text())
    deployment = Deployment(
        live_max_instances=args.live_max_instances,
        bulk_max_instances=args.bulk_max_instances,
        cpu_target=args.cpu_target,
    )
    prices = Prices.from_args(args)
    result = model(per_photo(quality, load), deployment, ServiceLimits(), prices)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result, prices, load)
    args.markdown.write_text(text)
    if args.docs is not None:  # the tables docs/performance.md quotes, kept in step with the run
        tables = text.split("\n## ", 1)[1].replace("\n## ", "\n### ")
        write_section(args.docs, f"{DOCS_START}\n### {tables.rstrip()}\n{DOCS_END}\n", DOCS_START, DOCS_END)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "shared"))
    sys.exit(main())
