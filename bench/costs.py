"""The cost model the benches share: list prices as parameters (never facts), and what one photo costs.

bench/quality.py prices each rendition set per million photos; bench/capacity.py prices a deployment per month
at a given upload rate. Both take the prices from the same command-line options (`add_price_arguments`).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from typing import Any

GB = 1e9


@dataclass(frozen=True)
class Prices:
    """List prices a run is given; the defaults are Google Cloud's published ones for a tier-1 region."""

    cpu_vcpu_second: float = 0.000018  # Cloud Run, instance-based billing
    memory_gib_second: float = 0.000002  # Cloud Run, instance-based billing
    storage_gb_month: float = 0.020  # Cloud Storage, Standard
    egress_gb: float = 0.12  # internet egress
    firestore_writes_per_100k: float = 0.18
    gcs_writes_per_1000: float = 0.005  # Class A operations
    gcs_reads_per_1000: float = 0.0004  # Class B operations
    views: float = 1000  # views of each photo

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Prices:
        return cls(**{name: getattr(args, name) for name in asdict(cls())})


OPTIONS = {  # field: (option, help)
    "cpu_vcpu_second": ("--cpu-price", "$ per vCPU-second (Cloud Run list)"),
    "memory_gib_second": ("--memory-price", "$ per GiB-second (Cloud Run list)"),
    "storage_gb_month": ("--storage-price", "$ per GB-month (Cloud Storage list)"),
    "egress_gb": ("--egress-price", "$ per GB sent (internet egress list)"),
    "firestore_writes_per_100k": ("--firestore-write-price", "$ per 100,000 Firestore document writes (list)"),
    "gcs_writes_per_1000": ("--gcs-write-price", "$ per 1,000 Cloud Storage Class A operations (list)"),
    "gcs_reads_per_1000": ("--gcs-read-price", "$ per 1,000 Cloud Storage Class B operations (list)"),
    "views": ("--views", "views of each photo"),
}


def add_price_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Prices()
    for name, (option, text) in OPTIONS.items():
        parser.add_argument(option, dest=name, type=float, default=getattr(defaults, name), help=text)


@dataclass(frozen=True)
class PhotoCost:
    """What one photo costs: once (CPU), every month (storage), and for its views (egress)."""

    cpu: float
    storage_month: float
    egress: float

    @property
    def first_month(self) -> float:
        return self.cpu + self.storage_month + self.egress


def photo_cost(
    prices: Prices, cpu_s: float, stored_bytes: float, served_bytes_per_view: float, memory_gib_per_vcpu: float = 0.0
) -> PhotoCost:
    """One photo's cost from its CPU seconds (with the instance memory held per vCPU meanwhile), the bytes it
    stores and the bytes one view downloads."""
    compute = cpu_s * (prices.cpu_vcpu_second + memory_gib_per_vcpu * prices.memory_gib_second)
    return PhotoCost(
        cpu=compute,
        storage_month=stored_bytes / GB * prices.storage_gb_month,
        egress=served_bytes_per_view * prices.views / GB * prices.egress_gb,
    )


def describe(prices: Prices) -> str:
    values: dict[str, Any] = prices.as_dict()
    return (
        f"CPU ${values['cpu_vcpu_second']:g} per vCPU-second, memory ${values['memory_gib_second']:g} per "
        f"GiB-second, storage ${values['storage_gb_month']:g} per GB-month, egress ${values['egress_gb']:g} per GB, "
        f"Firestore ${values['firestore_writes_per_100k']:g} per 100k writes, Cloud Storage "
        f"${values['gcs_writes_per_1000']:g} / ${values['gcs_reads_per_1000']:g} per 1000 writes / reads, "
        f"{values['views']:g} views per photo"
    )
