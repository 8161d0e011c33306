"""The Terraform wires every arrow of the flow, with the IAM each arrow needs and no more.

Parsed with python-hcl2 (no Google provider is available here, so `terraform validate/plan` cannot run):
bucket -> notification -> topic -> push subscription (+ dead letters) -> function -> renditions + Firestore.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Any

import pytest

from gallery.engine import estimate_render_mib
from gallery.model import Limits, RenditionSpec
from gallery.settings import Settings
from gallery_cli.settings import ToolSettings
from tests.infra.tf import (
    DEPLOY_DOC,
    EXAMPLE_DIR,
    PERFORMANCE_DOC,
    ROOT,
    TF_DIR,
    block,
    evaluate,
    module,
    parse_file,
    resource,
    resources,
    strings,
    tf_files,
    unwrap,
    variable_default,
)
from tests.paths import LARGE

# Environment variables the function gets on top of the ones the code reads: libvips/glibc tuning that must be
# in the environment before the process starts.
REQUIRED_EXTRA_ENV = {"VIPS_CONCURRENCY"}
ALLOWED_EXTRA_ENV = {"VIPS_CONCURRENCY", "MALLOC_ARENA_MAX"}
PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")

FUNCTION = "google_cloudfunctions2_function.thumbnailer"
TOPIC = "google_pubsub_topic.lane"
LIVE_TOPIC = f'{TOPIC}["live"]'
DEAD_LETTER_TOPIC = "google_pubsub_topic.dead_letter"
PUSH = "google_pubsub_subscription.push"
LANE_FUNCTION_URI = f"{FUNCTION}[each.key].service_config[0].uri"
LIVE_FUNCTION_URI = f'{FUNCTION}["live"].service_config[0].uri'
LANES = {"live", "bulk"}


def local(name: str) -> Any:
    locals_ = module()["locals"]
    assert name in locals_, f"local.{name} is not defined"
    return locals_[name]


def defaults() -> dict[str, Any]:
    return {name: body["default"] for name, body in module()["variable"].items() if "default" in body}


# --------------------------------------------------------------------------------------------------------------------
# Structure
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", tf_files(TF_DIR) + tf_files(EXAMPLE_DIR), ids=lambda p: p.name)
def test_every_tf_file_parses(path: Path) -> None:
    assert parse_file(path), f"{path} is empty"


def test_files_are_split_by_concern() -> None:
    names = {p.name for p in tf_files(TF_DIR)}
    expected = {
        "versions.tf",
        "variables.tf",
        "outputs.tf",
        "locals.tf",
        "apis.tf",
        "storage.tf",
        "notifications.tf",
        "pubsub.tf",
        "function.tf",
        "iam.tf",
        "firestore.tf",
        "monitoring.tf",
    }
    assert expected <= names
    assert (TF_DIR / "terraform.tfvars.example").is_file()
    assert (EXAMPLE_DIR / "main.tf").is_file()


def test_provider_versions_are_bounded() -> None:
    terraform = module()["terraform"]
    assert len(terraform) == 1
    settings = terraform[0]
    assert ">= 1.5" in settings["required_version"]
    providers = block(settings, "required_providers")
    for name in ("google", "google-beta"):
        spec = providers[name]
        assert spec["source"] == f"hashicorp/{name}"
        assert ">=" in spec["version"] and "<" in spec["version"].replace("<=", ""), f"{name} is not bounded above"


def test_the_module_configures_no_provider() -> None:
    # Every resource names var.project_id itself, so the module can be applied directly or called from a root.
    assert module()["provider"] == []
    for address, body in resources().items():
        if address.split(".")[0].endswith("_iam_member") and "project" not in body:
            continue  # bucket/service-account IAM members are addressed by their resource
        if address.split(".")[0] in {"google_storage_bucket_object", "google_storage_notification"}:
            continue  # addressed by bucket
        assert unwrap(body.get("project")) == "var.project_id", f"{address} does not set project = var.project_id"


def test_every_variable_is_typed_described_and_validated_where_it_has_a_range() -> None:
    for directory in (TF_DIR, EXAMPLE_DIR):
        for name, body in module(directory)["variable"].items():
            assert body.get("type"), f"variable {name} in {directory} has no type"
            assert str(body.get("description", "")).strip(), f"variable {name} in {directory} has no description"
    ranged = [
        "project_id",
        "region",
        "name_prefix",
        "function_runtime",
        "function_memory_mib",
        "function_cpu",
        "light_render_mib",
        "instance_baseline_mib",
        "function_timeout_seconds",
        "min_instance_count",
        "max_instance_count",
        "ingress_settings",
        "max_delivery_attempts",
        "max_attempts",
        "max_request_bytes",
        "retry_minimum_backoff_seconds",
        "retry_maximum_backoff_seconds",
        "rendition_formats",
        "rendition_quality",
        "quality_target",
        "quality_min",
        "quality_max",
        "log_level",
        "firestore_deletion_policy",
    ]
    for name in ranged:
        assert module()["variable"][name].get("validation"), f"variable {name} has a set or range but no validation"


def test_every_output_is_described() -> None:
    for directory in (TF_DIR, EXAMPLE_DIR):
        outputs = module(directory)["output"]
        assert outputs, f"no outputs in {directory}"
        for name, body in outputs.items():
            assert str(body.get("description", "")).strip(), f"output {name} in {directory} has no description"


# --------------------------------------------------------------------------------------------------------------------
# Arrow 1: uploads bucket -> notification -> topic
# --------------------------------------------------------------------------------------------------------------------


def test_notification_publishes_finalize_and_delete_of_the_uploads_bucket_to_the_topic() -> None:
    notifications = resources("google_storage_notification")
    assert list(notifications) == ["google_storage_notification.uploads"]
    notification = notifications["google_storage_notification.uploads"]
    assert unwrap(notification["bucket"]) == "google_storage_bucket.uploads.name"
    assert unwrap(notification["topic"]) == f"{LIVE_TOPIC}.id"  # the bucket's notifications are the live lane
    assert notification["payload_format"] == "JSON_API_V1"
    assert set(notification["event_types"]) == {"OBJECT_FINALIZE", "OBJECT_DELETE"}


def test_storage_service_agent_may_publish_to_that_topic_before_the_notification_exists() -> None:
    grant = resource("google_pubsub_topic_iam_member.gcs_publishes_uploads")
    assert unwrap(grant["topic"]) == f"{LIVE_TOPIC}.name"
    assert grant["role"] == "roles/pubsub.publisher"
    assert unwrap(grant["member"]) == "local.gcs_service_agent"
    assert "data.google_storage_project_service_account.gcs.email_address" in local("gcs_service_agent")
    depends = [unwrap(d) for d in resource("google_storage_notification.uploads")["depends_on"]]
    assert "google_pubsub_topic_iam_member.gcs_publishes_uploads" in depends


def test_renditions_go_to_another_bucket_so_the_function_cannot_trigger_itself() -> None:
    assert local("uploads_bucket_name") != local("renditions_bucket_name")
    env = local("function_env")
    assert unwrap(env["UPLOADS_BUCKET"]) == "google_storage_bucket.uploads.name"
    assert unwrap(env["RENDITIONS_BUCKET"]) == "google_storage_bucket.renditions.name"


# --------------------------------------------------------------------------------------------------------------------
# Arrow 2: topic -> push subscription -> function URL, retries, dead letters
# --------------------------------------------------------------------------------------------------------------------


def test_push_subscription_delivers_each_lanes_topic_to_that_lanes_function_url_with_oidc_as_the_invoker() -> None:
    push = resource(PUSH)
    assert unwrap(push["for_each"]) == "local.lanes"
    assert unwrap(push["topic"]) == f"{TOPIC}[each.key].id"
    assert unwrap(push["name"]) == "each.value.subscription_name"
    config = block(push, "push_config")
    assert unwrap(config["push_endpoint"]) == LANE_FUNCTION_URI
    oidc = block(config, "oidc_token")
    assert unwrap(oidc["service_account_email"]) == "google_service_account.invoker.email"
    assert unwrap(oidc["audience"]) == LANE_FUNCTION_URI


def test_push_subscription_retries_with_exponential_backoff_of_its_lane() -> None:
    retry = block(resource(PUSH), "retry_policy")
    assert retry == {
        "minimum_backoff": "${each.value.minimum_backoff}s",
        "maximum_backoff": "${each.value.maximum_backoff}s",
    }
    lanes = local("lanes")
    for lane, prefix in (("live", "var.retry_"), ("bulk", "var.bulk_retry_")):
        assert unwrap(lanes[lane]["minimum_backoff"]) == f"{prefix}minimum_backoff_seconds"
        maximum = unwrap(lanes[lane]["maximum_backoff"])
        assert f"{prefix}maximum_backoff_seconds" in maximum and maximum.startswith("max(")


def test_dead_letter_policy_sends_to_the_dead_letter_topic_after_max_delivery_attempts() -> None:
    policy = block(resource(PUSH), "dead_letter_policy")
    assert unwrap(policy["dead_letter_topic"]) == f"{DEAD_LETTER_TOPIC}.id"
    assert unwrap(policy["max_delivery_attempts"]) == "var.max_delivery_attempts"
    variable = module()["variable"]["max_delivery_attempts"]
    condition = unwrap(variable["validation"][0]["condition"])
    assert ">= 5" in condition and "<= 100" in condition
    assert 5 <= variable_default("max_delivery_attempts") <= 100


def _dead_letter_subscriptions() -> dict[str, Any]:
    return {
        address: body
        for address, body in resources("google_pubsub_subscription").items()
        if unwrap(body["topic"]) == f"{DEAD_LETTER_TOPIC}.id"
    }


def test_dead_letters_wait_in_a_pull_subscription() -> None:
    pulls = [body for body in _dead_letter_subscriptions().values() if "push_config" not in body]
    assert len(pulls) == 1


def test_dead_letters_are_pushed_back_to_the_function_at_its_dead_letter_path_with_oidc() -> None:
    subs = _dead_letter_subscriptions()
    assert set(subs) == {"google_pubsub_subscription.dead_letter", "google_pubsub_subscription.dead_letter_recorder"}
    recorder = subs["google_pubsub_subscription.dead_letter_recorder"]
    config = block(recorder, "push_config")
    assert config["push_endpoint"] == f"${{{LIVE_FUNCTION_URI}}}/dead-letters"
    oidc = block(config, "oidc_token")
    assert unwrap(oidc["service_account_email"]) == "google_service_account.invoker.email"
    assert unwrap(oidc["audience"]) == LIVE_FUNCTION_URI  # Cloud Run checks the service URL, not the path
    assert "dead_letter_policy" not in recorder  # the end of the line: retried until retention, never looped
    assert block(recorder, "retry_policy")["minimum_backoff"].endswith("s")
    assert unwrap(recorder["ack_deadline_seconds"]) == "local.ack_deadline_seconds"
    main = (ROOT / "functions" / "thumbnailer" / "main.py").read_text()
    assert 'DEAD_LETTER_PATH = "/dead-letters"' in main


def test_the_function_caps_deliveries_below_the_dead_letter_policy() -> None:
    env = local("function_env")
    assert unwrap(env["MAX_ATTEMPTS"]) == "tostring(var.max_attempts)"
    assert unwrap(env["MAX_REQUEST_BYTES"]) == "tostring(var.max_request_bytes)"
    assert variable_default("max_attempts") == Settings().max_attempts
    assert variable_default("max_attempts") < variable_default("max_delivery_attempts")
    assert variable_default("max_request_bytes") == Settings().max_request_bytes
    preconditions = block(resource(FUNCTION), "lifecycle")["precondition"]
    assert any(unwrap(p["condition"]) == "var.max_attempts < var.max_delivery_attempts" for p in preconditions)


def test_the_processing_lease_is_short_and_its_wait_fits_in_the_ack_deadline() -> None:
    env = local("function_env")
    assert unwrap(env["PROCESSING_LEASE_SECONDS"]) == "tostring(var.processing_lease_seconds)"
    assert variable_default("processing_lease_seconds") == Settings().processing_lease_seconds
    field = next(f for f in dataclasses.fields(Settings) if f.name == "processing_lease_seconds")
    validation = unwrap(block(module()["variable"]["processing_lease_seconds"], "validation")["condition"])
    assert f">= {field.metadata['ge']}" in validation and f"<= {field.metadata['le']}" in validation
    # A redelivery waits up to 1.5 leases for a held one: that wait must end before Pub/Sub gives up on it.
    preconditions = block(resource(FUNCTION), "lifecycle")["precondition"]
    assert any(
        unwrap(p["condition"]) == "1.5 * var.processing_lease_seconds < local.ack_deadline_seconds"
        for p in preconditions
    )
    lowest_deadline = evaluate(local("ack_deadline_seconds"), {"function_timeout_seconds": 10})
    assert 1.5 * variable_default("processing_lease_seconds") < lowest_deadline


def test_dead_letters_are_requeued_on_the_bulk_topic_the_function_may_publish_to() -> None:
    env = local("function_env")
    assert unwrap(env["PUBSUB_BULK_TOPIC"]) == f'{TOPIC}["bulk"].id'
    assert unwrap(env["DEAD_LETTER_REQUEUES"]) == "tostring(var.dead_letter_requeues)"
    assert variable_default("dead_letter_requeues") == Settings().dead_letter_requeues
    grant = resource("google_pubsub_topic_iam_member.function_requeues_on_bulk")
    assert (unwrap(grant["topic"]), grant["role"]) == (f'{TOPIC}["bulk"].name', "roles/pubsub.publisher")


def test_pubsub_service_agent_can_dead_letter_and_sign_the_push_tokens() -> None:
    agent = "local.pubsub_service_agent"
    assert "google_project_service_identity.pubsub" in local("pubsub_service_agent")
    publisher = resource("google_pubsub_topic_iam_member.pubsub_publishes_dead_letters")
    assert (unwrap(publisher["topic"]), publisher["role"], unwrap(publisher["member"])) == (
        f"{DEAD_LETTER_TOPIC}.name",
        "roles/pubsub.publisher",
        agent,
    )
    subscriber = resource("google_pubsub_subscription_iam_member.pubsub_forwards_dead_letters")
    assert unwrap(subscriber["for_each"]) == "local.lanes"  # each lane's push subscription dead-letters
    assert (unwrap(subscriber["subscription"]), subscriber["role"], unwrap(subscriber["member"])) == (
        f"{PUSH}[each.key].name",
        "roles/pubsub.subscriber",
        agent,
    )
    token = resource("google_service_account_iam_member.pubsub_mints_invoker_tokens")
    assert (unwrap(token["service_account_id"]), token["role"], unwrap(token["member"])) == (
        "google_service_account.invoker.name",
        "roles/iam.serviceAccountTokenCreator",
        agent,
    )


def test_ack_deadline_outlasts_the_function_timeout() -> None:
    push = resource(PUSH)
    assert unwrap(push["ack_deadline_seconds"]) == "local.ack_deadline_seconds"
    assert unwrap(block(resource(FUNCTION), "service_config")["timeout_seconds"]) == "var.function_timeout_seconds"
    expression = local("ack_deadline_seconds")
    timeout_var = module()["variable"]["function_timeout_seconds"]
    upper = int(re.search(r"<= (\d+)", unwrap(timeout_var["validation"][0]["condition"])).group(1))  # type: ignore[union-attr]
    for timeout in (10, variable_default("function_timeout_seconds"), upper):
        deadline = evaluate(expression, {"function_timeout_seconds": timeout})
        assert timeout < deadline <= 600, (timeout, deadline)


# --------------------------------------------------------------------------------------------------------------------
# Arrow 3: the function
# --------------------------------------------------------------------------------------------------------------------


def test_function_is_a_python_http_function_built_from_the_hashed_source_zip() -> None:
    function = resource(FUNCTION)
    assert "event_trigger" not in function, "delivery is the push subscription; an Eventarc trigger has no DLQ"
    build = block(function, "build_config")
    assert build["entry_point"] == "handle"
    assert unwrap(build["runtime"]) == "var.function_runtime"
    assert str(variable_default("function_runtime")).startswith("python3")
    storage = block(block(build, "source"), "storage_source")
    assert unwrap(storage["bucket"]) == "google_storage_bucket.function_source.name"
    assert unwrap(storage["object"]) == "google_storage_bucket_object.function_source.name"
    source_object = resource("google_storage_bucket_object.function_source")
    assert unwrap(source_object["source"]) == "local.function_source_zip"
    assert unwrap(source_object["name"]) == "local.function_source_object"
    assert re.search(r"file(sha256|md5)\(local\.function_source_zip\)", local("function_source_object"))
    assert "build/thumbnailer.zip" in local("function_source_zip")


def test_function_env_names_are_exactly_what_the_code_reads() -> None:
    service = block(resource(FUNCTION), "service_config")
    # The same settings on every lane, plus the lane the service serves.
    assert unwrap(service["environment_variables"]) == "merge(local.function_env, {LANE = each.key})"
    names = set(local("function_env")) | {"LANE"}
    code_reads = set(Settings.env_names())
    missing = code_reads - names
    unknown = names - code_reads - ALLOWED_EXTRA_ENV
    assert not missing, f"the code reads {sorted(missing)} but Terraform does not set them"
    assert not unknown, f"Terraform sets {sorted(unknown)} which the code does not read"
    assert names >= REQUIRED_EXTRA_ENV
    assert local("function_env")["VIPS_CONCURRENCY"] == "1"


def test_the_code_gets_the_instance_memory_and_baseline_it_budgets_renders_with() -> None:
    env = local("function_env")
    assert unwrap(env["INSTANCE_MEMORY_MIB"]) == "tostring(var.function_memory_mib)"
    assert unwrap(env["INSTANCE_BASELINE_MIB"]) == "tostring(var.instance_baseline_mib)"
    service = block(resource(FUNCTION), "service_config")
    assert "var.function_memory_mib" in service["available_memory"]  # the same figure Cloud Run enforces
    base = defaults()
    settings = Settings(
        instance_memory_mib=base["function_memory_mib"], instance_baseline_mib=base["instance_baseline_mib"]
    )
    assert settings.memory_budget_mib == base["function_memory_mib"] - base["instance_baseline_mib"]
    assert Settings().instance_baseline_mib == base["instance_baseline_mib"]
    assert Settings().instance_memory_mib == base["function_memory_mib"]


def test_request_concurrency_lets_light_photos_use_the_memory_budget() -> None:
    service = block(resource(FUNCTION), "service_config")
    assert unwrap(service["max_instance_request_concurrency"]) == "each.value.request_concurrency"
    assert unwrap(local("lanes")["live"]["request_concurrency"]) == "local.request_concurrency"
    assert unwrap(service["available_memory"]) != "", "memory must be set"
    assert "var.function_cpu" in service["available_cpu"]
    expression = local("request_concurrency")
    for needed in ("var.function_memory_mib", "var.instance_baseline_mib", "var.light_render_mib", "var.function_cpu"):
        assert needed in expression
    # what `gallery calibrate` reports: the estimate of a 20 MP camera JPEG with the default renditions
    photo = (LARGE / "landscape_20mp.jpg").read_bytes()
    light = estimate_render_mib(photo, RenditionSpec.from_settings(Settings()), Limits())
    assert variable_default("light_render_mib") == light
    base = defaults()
    for memory in (512, 1024, 2048, 4096, 8192):
        for cpu in (1, 2, 4):
            values = {**base, "function_memory_mib": memory, "function_cpu": cpu}
            got = evaluate(expression, values)
            memory_bound = math.floor((memory - base["instance_baseline_mib"]) / base["light_render_mib"])
            assert got == max(1, min(memory_bound, base["tasks_per_vcpu"] * cpu))
            assert got >= 1


def _doc_table() -> list[dict[str, int]]:
    text = PERFORMANCE_DOC.read_text(encoding="utf-8")
    section = text.split("<!-- concurrency-table:start -->")[1].split("<!-- concurrency-table:end -->")[0]
    rows = []
    for line in section.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows.append(
            {
                "memory": int(re.search(r"\((\d+) MiB\)", cells[0]).group(1)),  # type: ignore[union-attr]
                "cpu": int(cells[1]),
                "light": int(cells[2]),
                "memory_bound": int(cells[3]),
                "cpu_cap": int(cells[4]),
                "concurrency": int(cells[5]),
            }
        )
    return rows


def test_the_documented_concurrency_table_matches_the_formula() -> None:
    rows = _doc_table()
    assert {r["memory"] for r in rows} >= {1024, 2048, 4096}
    base = defaults()
    expression = local("request_concurrency")
    for row in rows:
        values = {
            **base,
            "function_memory_mib": row["memory"],
            "function_cpu": row["cpu"],
            "light_render_mib": row["light"],
        }
        assert evaluate(expression, values) == row["concurrency"], row
        assert row["memory_bound"] == math.floor((row["memory"] - base["instance_baseline_mib"]) / row["light"])
        assert row["cpu_cap"] == base["tasks_per_vcpu"] * row["cpu"]


def test_memory_and_cpu_are_checked_against_cloud_run_limits() -> None:
    allowed_memory = re.findall(
        r"\d+", unwrap(module()["variable"]["function_memory_mib"]["validation"][0]["condition"])
    )
    assert "2048" in allowed_memory and "4096" in allowed_memory
    preconditions = block(resource(FUNCTION), "lifecycle")["precondition"]
    assert any("max_memory_mib_for_cpu" in p["condition"] for p in preconditions)
    assert local("max_memory_mib_for_cpu")["1"] == 4096


def test_function_is_not_public_and_only_the_invoker_may_call_it() -> None:
    service = block(resource(FUNCTION), "service_config")
    assert unwrap(service["ingress_settings"]) == "var.ingress_settings"
    assert variable_default("ingress_settings") == "ALLOW_INTERNAL_ONLY"
    assert unwrap(service["service_account_email"]) == "google_service_account.function.email"
    invokers = {
        address: body
        for rtype in (
            "google_cloud_run_service_iam_member",
            "google_cloud_run_v2_service_iam_member",
            "google_cloudfunctions2_function_iam_member",
        )
        for address, body in resources(rtype).items()
    }
    assert len(invokers) == 1
    (grant,) = invokers.values()
    assert grant["role"] == "roles/run.invoker"
    assert grant["member"] == "serviceAccount:${google_service_account.invoker.email}"
    target = unwrap(grant.get("service") or grant.get("name"))
    assert target.startswith(FUNCTION)


# --------------------------------------------------------------------------------------------------------------------
# Priority lanes: live uploads and bulk work, each with its own topic, push subscription and service
# --------------------------------------------------------------------------------------------------------------------


def test_the_lanes_are_live_and_bulk_with_names_for_dashboards_and_tools() -> None:
    lanes = local("lanes")
    assert set(lanes) == LANES
    for name, field in (
        ("lane_topic_names", "topic_name"),
        ("lane_subscription_names", "subscription_name"),
        ("lane_service_names", "service_name"),
    ):
        assert unwrap(local(name)) == f"{{for lane, l in local.lanes : lane => l.{field}}}"
    names = {field: {lane: lanes[lane][field] for lane in LANES} for field in ("topic_name", "subscription_name")}
    # The live lane keeps the names it had before the lanes (moved blocks below keep its state too).
    assert names["topic_name"]["live"] == "${var.name_prefix}-uploads"
    assert names["subscription_name"]["live"] == "${var.name_prefix}-thumbnailer-push"
    assert unwrap(lanes["live"]["service_name"]) == "local.function_name"
    for field, by_lane in names.items():
        assert len(set(by_lane.values())) == 2, f"the lanes share a {field}"
    assert lanes["bulk"]["service_name"] != lanes["live"]["service_name"]


def test_every_lane_has_its_topic_push_subscription_service_and_invoker_grant() -> None:
    for address in (
        TOPIC,
        PUSH,
        FUNCTION,
        "google_cloud_run_service_iam_member.invoker_runs_function",
        "google_pubsub_subscription_iam_member.pubsub_forwards_dead_letters",
    ):
        assert unwrap(resource(address)["for_each"]) == "local.lanes", address
    assert unwrap(resource(TOPIC)["name"]) == "each.value.topic_name"
    assert unwrap(resource(FUNCTION)["name"]) == "each.value.service_name"
    invoker = resource("google_cloud_run_service_iam_member.invoker_runs_function")
    assert unwrap(invoker["service"]) == f"{FUNCTION}[each.key].name"


def test_each_lane_dead_letters_to_the_shared_topic_with_its_own_policy() -> None:
    policy = block(resource(PUSH), "dead_letter_policy")
    assert unwrap(policy["dead_letter_topic"]) == f"{DEAD_LETTER_TOPIC}.id"
    assert unwrap(resource(PUSH)["for_each"]) == "local.lanes"
    preconditions = [unwrap(p["condition"]) for p in block(resource(FUNCTION), "lifecycle")["precondition"]]
    assert "var.bulk_retry_maximum_backoff_seconds >= var.bulk_retry_minimum_backoff_seconds" in preconditions


def test_both_lanes_run_the_same_source_settings_memory_and_identity() -> None:
    function = resource(FUNCTION)
    storage = block(block(block(function, "build_config"), "source"), "storage_source")
    assert unwrap(storage["object"]) == "google_storage_bucket_object.function_source.name"
    service = block(function, "service_config")
    assert unwrap(service["environment_variables"]) == "merge(local.function_env, {LANE = each.key})"
    assert "var.function_memory_mib" in service["available_memory"]
    assert unwrap(service["service_account_email"]) == "google_service_account.function.email"
    for field in ("min_instance_count", "max_instance_count"):
        assert unwrap(service[field]) == f"each.value.{field}"


def test_the_bulk_lane_has_its_own_instance_cap_and_concurrency() -> None:
    lanes = local("lanes")
    assert unwrap(lanes["live"]["max_instance_count"]) == "var.max_instance_count"
    assert unwrap(lanes["bulk"]["max_instance_count"]) == "var.bulk_max_instance_count"
    assert unwrap(lanes["bulk"]["min_instance_count"]) == "0"  # a backfill is worth no warm instance
    assert unwrap(lanes["bulk"]["request_concurrency"]) == "local.bulk_request_concurrency"
    assert variable_default("bulk_max_instance_count") < variable_default("max_instance_count")
    derived = unwrap(local("bulk_request_concurrency"))
    assert derived == "var.bulk_request_concurrency > 0 ? var.bulk_request_concurrency : local.request_concurrency"
    assert variable_default("bulk_request_concurrency") == 0
    for name in ("bulk_max_instance_count", "bulk_request_concurrency", "bulk_retry_minimum_backoff_seconds"):
        assert module()["variable"][name].get("validation"), name


def test_the_live_lanes_existing_resources_keep_their_state() -> None:
    moved = {(unwrap(m["from"]), unwrap(m["to"])) for m in module()["moved"]}
    for address in (
        "google_pubsub_topic.uploads",
        PUSH,
        FUNCTION,
        "google_cloud_run_service_iam_member.invoker_runs_function",
        "google_pubsub_subscription_iam_member.pubsub_forwards_dead_letters",
    ):
        target = address if address != "google_pubsub_topic.uploads" else TOPIC
        assert (address, f'{target}["live"]') in moved, f"no moved block for {address}"
    # The dead-letter pull subscription keeps its address (alerts and dashboards watch it).
    assert "google_pubsub_subscription.dead_letter" in resources("google_pubsub_subscription")


def test_the_tools_learn_the_bulk_topic_from_the_outputs() -> None:
    outputs = module()["output"]
    assert unwrap(outputs["bulk_topic"]["value"]) == f'{TOPIC}["bulk"].id'
    assert unwrap(outputs["uploads_topic"]["value"]) == f"{LIVE_TOPIC}.id"
    cli_env = unwrap(local("cli_env"))
    assert cli_env.startswith("merge(local.function_env,")  # which carries PUBSUB_BULK_TOPIC
    assert unwrap(local("function_env")["PUBSUB_BULK_TOPIC"]) == f'{TOPIC}["bulk"].id'
    assert f"PUBSUB_TOPIC = {LIVE_TOPIC}.id" in " ".join(cli_env.split())
    assert "PUBSUB_TOPIC" in ToolSettings.tool_env_names() and "PUBSUB_BULK_TOPIC" in ToolSettings.env_names()


# --------------------------------------------------------------------------------------------------------------------
# Arrow 4: renditions bucket + Firestore; IAM of the function
# --------------------------------------------------------------------------------------------------------------------


def _grants_to(account: str) -> set[tuple[str, str, str]]:
    member = f"serviceAccount:${{google_service_account.{account}.email}}"
    found = set()
    for address, body in resources().items():
        if "role" in body and body.get("member") == member:
            scope = next(body[k] for k in ("bucket", "topic", "project", "service", "name") if body.get(k))
            where = unwrap(scope)
            found.add((address.split(".")[0], where, body["role"]))
    return found


def test_function_service_account_has_exactly_read_uploads_write_renditions_and_firestore_user() -> None:
    assert _grants_to("function") == {
        ("google_storage_bucket_iam_member", "google_storage_bucket.uploads.name", "roles/storage.objectViewer"),
        ("google_storage_bucket_iam_member", "google_storage_bucket.renditions.name", "roles/storage.objectAdmin"),
        ("google_project_iam_member", "var.project_id", "roles/datastore.user"),
        # only with publish_photo_events, and only on that topic
        ("google_pubsub_topic_iam_member", "google_pubsub_topic.photo_events[0].name", "roles/pubsub.publisher"),
        # re-queues dead letters on the bulk lane's topic only
        ("google_pubsub_topic_iam_member", 'google_pubsub_topic.lane["bulk"].name', "roles/pubsub.publisher"),
    }
    topic_grants = resources("google_pubsub_topic_iam_member")
    events = topic_grants["google_pubsub_topic_iam_member.function_publishes_photo_events"]
    assert unwrap(events["count"]) == "var.publish_photo_events ? 1 : 0"


def test_invoker_service_account_may_only_invoke() -> None:
    grants = _grants_to("invoker")
    assert {role for _, _, role in grants} == {"roles/run.invoker"}


def test_no_primitive_roles_anywhere() -> None:
    for address, body in resources().items():
        roles = {body.get("role")} | set(body.get("roles", []))
        assert not roles & PRIMITIVE_ROLES, f"{address} grants a primitive role"
    build_roles = re.findall(r"roles/[\w.]+", str(resource("google_project_iam_member.build")["for_each"]))
    assert build_roles and not set(build_roles) & PRIMITIVE_ROLES


def _grants_to_build_account() -> dict[str, dict[str, Any]]:
    member = "serviceAccount:${google_service_account.build[0].email}"
    return {address: body for address, body in resources().items() if body.get("member") == member}


def test_build_account_reads_only_the_function_source_and_the_platforms_staged_copy() -> None:
    grants = _grants_to_build_account()
    project_roles = set(re.findall(r"roles/[\w.]+", str(grants.pop("google_project_iam_member.build")["for_each"])))
    # No storage role on the whole project: that would let the build read every upload of the gallery.
    assert project_roles == {"roles/logging.logWriter", "roles/artifactregistry.writer"}
    source = grants.pop("google_storage_bucket_iam_member.build_reads_source")
    assert unwrap(source["bucket"]) == "google_storage_bucket.function_source.name"
    assert source["role"] == "roles/storage.objectViewer"
    staged = grants.pop("google_project_iam_member.build_reads_staged_source")
    assert staged["role"] == "roles/storage.objectViewer"
    expression = block(staged, "condition")["expression"]
    bucket = "projects/_/buckets/${local.staged_source_bucket_name}"
    assert expression == f'resource.name == "{bucket}" || resource.name.startsWith("{bucket}/")'
    assert local("staged_source_bucket_name") == "gcf-v2-sources-${data.google_project.this.number}-${var.region}"
    assert not grants, f"unexpected grants to the build account: {sorted(grants)}"
    for body in (source, staged):
        assert unwrap(body["count"]) == 'var.build_service_account == "" ? 1 : 0'


def test_nothing_is_public_unless_public_renditions_is_set() -> None:
    assert variable_default("public_renditions") is False
    public = []
    for address, body in resources().items():
        if any(member in text for text in strings(body) for member in PUBLIC_MEMBERS):
            public.append(address)
            assert unwrap(body.get("count")) == "var.public_renditions ? 1 : 0", f"{address} is public unconditionally"
            assert unwrap(body.get("bucket")) == "google_storage_bucket.renditions.name"
            # Object read by URL only: objectViewer (or any role with storage.objects.list) would let anyone
            # list the bucket, which is every photo id of the gallery.
            assert body["role"] == "roles/storage.legacyObjectReader"
    assert public == ["google_storage_bucket_iam_member.renditions_public_read"]


def test_renditions_keep_no_noncurrent_versions() -> None:
    renditions = resource("google_storage_bucket.renditions")
    assert block(renditions, "versioning")["enabled"] is False
    # Versions left from an earlier versioned configuration go at the next lifecycle run.
    rules = [block(rule, "condition") for rule in renditions["lifecycle_rule"]]
    assert any(
        rule.get("days_since_noncurrent_time") == 0
        and rule.get("send_days_since_noncurrent_time_if_zero") is True  # else the provider omits the 0
        and rule.get("with_state") == "ARCHIVED"
        for rule in rules
    )


def test_buckets_use_uniform_access_and_uploads_and_source_block_public_access() -> None:
    buckets = resources("google_storage_bucket")
    assert set(buckets) == {
        "google_storage_bucket.uploads",
        "google_storage_bucket.renditions",
        "google_storage_bucket.function_source",
    }
    for address, body in buckets.items():
        assert body["uniform_bucket_level_access"] is True, address
        assert unwrap(body["project"]) == "var.project_id"
    assert buckets["google_storage_bucket.uploads"]["public_access_prevention"] == "enforced"
    assert buckets["google_storage_bucket.function_source"]["public_access_prevention"] == "enforced"
    renditions_pap = unwrap(buckets["google_storage_bucket.renditions"]["public_access_prevention"])
    assert renditions_pap == 'var.public_renditions ? "inherited" : "enforced"'
    rules = buckets["google_storage_bucket.function_source"]["lifecycle_rule"]
    assert any("days_since_noncurrent_time" in block(rule, "condition") for rule in rules)


def test_firestore_database_is_native_and_optional_with_indexes_on_the_collection() -> None:
    database = resource("google_firestore_database.gallery")
    assert unwrap(database["count"]) == "var.create_firestore_database ? 1 : 0"
    assert database["type"] == "FIRESTORE_NATIVE"
    assert "var.firestore_database" in local("firestore_database_name")
    assert unwrap(local("function_env")["FIRESTORE_DATABASE"]) == "local.firestore_database_name"
    index = resource("google_firestore_index.photos")
    assert unwrap(index["collection"]) == "var.photos_collection"
    assert unwrap(index["database"]) == "local.firestore_database_name"
    assert set(local("photo_indexes").values()) >= {"created_at", "updated_at"}


# --------------------------------------------------------------------------------------------------------------------
# APIs and monitoring
# --------------------------------------------------------------------------------------------------------------------


def test_required_apis_are_enabled() -> None:
    apis = set(local("required_apis"))
    for api in ("cloudfunctions", "run", "cloudbuild", "artifactregistry", "pubsub", "storage", "firestore"):
        assert f"{api}.googleapis.com" in apis
    service = resource("google_project_service.apis")
    assert service["disable_on_destroy"] is False


def test_dead_letter_metric_and_alert_are_optional_and_watch_the_dead_letter_subscription() -> None:
    metric = resource("google_logging_metric.function_errors")
    alert = resource("google_monitoring_alert_policy.dead_letters")
    for body in (metric, alert):
        assert unwrap(body["count"]) == "var.enable_dead_letter_alert ? 1 : 0"
    assert "severity>=ERROR" in metric["filter"].replace(" ", "")
    assert f"for lane, f in {FUNCTION} : " in metric["filter"]  # both lanes' services
    assert "f.name" in metric["filter"]
    filters = [block(c, "condition_threshold")["filter"] for c in alert["conditions"]]
    assert any("google_pubsub_subscription.dead_letter.name" in f and "num_undelivered_messages" in f for f in filters)
    assert any("google_logging_metric.function_errors" in f for f in filters)


# --------------------------------------------------------------------------------------------------------------------
# Example, tfvars example and docs stay in step with the module
# --------------------------------------------------------------------------------------------------------------------


def test_example_uses_the_module_with_declared_variables_only() -> None:
    example = module(EXAMPLE_DIR)
    assert len(example["module"]) == 1
    (call,) = example["module"].values()
    assert call["source"] == "../.."
    declared = module()["variable"]
    passed = {k for k in call if k not in {"source", "providers", "depends_on"}}
    assert passed <= set(declared), f"unknown module arguments {sorted(passed - set(declared))}"
    required = {name for name, body in declared.items() if "default" not in body}
    assert required <= passed
    assert example["provider"], "the example configures its providers"
    assert example["terraform"][0]["required_providers"]


def test_tfvars_example_sets_only_declared_variables() -> None:
    tfvars = parse_file(TF_DIR / "terraform.tfvars.example")
    assert "project_id" in tfvars
    assert set(tfvars) <= set(module()["variable"])


def test_deploy_doc_lists_every_variable_and_output() -> None:
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    for name in module()["variable"]:
        assert f"| `{name}` |" in text, f"variable {name} is missing from the variables table of {DEPLOY_DOC.name}"
    for name in module()["output"]:
        assert f"| `{name}` |" in text, f"output {name} is missing from the outputs table of {DEPLOY_DOC.name}"
