// The gallery page: a live grid of the photo documents in Firestore, fed by /api/events (Server-Sent Events).
// Photos and videos alike: a video's tile shows its poster frame, and a tile with a moving preview (`motion`: a
// video's, or a Live Photo still's) plays it while hovered or focused. A Live Photo's video is not in the feed.
import { base64ToBytes, thumbHashToDataURL } from "./thumbhash.js";

const FORMAT_TYPES = { avif: "image/avif", webp: "image/webp", jpeg: "image/jpeg" };
const PREFERENCE = ["avif", "webp", "jpeg"];
const GRID_SIZES = "(max-width: 520px) 50vw, (max-width: 900px) 33vw, 300px";
const DETAIL_SIZES = "(max-width: 1000px) 100vw, 70vw";

const grid = document.getElementById("grid");
const empty = document.getElementById("empty");
const connection = document.getElementById("connection");
const dialog = document.getElementById("details");

/** photo_id → document (as served by the API: timestamps are ISO strings). */
const photos = new Map();
/** photo_id → tile element. */
const tiles = new Map();
const placeholders = new Map();

// ------------------------------------------------------------------ helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.dataset[key.slice(5).replace(/-(.)/g, (_, c) => c.toUpperCase())] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function bytes(n) {
  if (typeof n !== "number") return "";
  const units = ["B", "kB", "MB", "GB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(unit && value < 10 ? 1 : 0)} ${units[unit]}`;
}

function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

function displayName(doc) {
  const name = doc.source?.name || doc.photo_id;
  return name.split("/").pop();
}

function placeholderURL(doc) {
  const value = doc.placeholder?.type === "thumbhash" ? doc.placeholder.value : null;
  if (!value) return null;
  if (!placeholders.has(value)) {
    try {
      placeholders.set(value, thumbHashToDataURL(base64ToBytes(value)));
    } catch (error) {
      console.warn("bad thumbhash", doc.photo_id, error);
      placeholders.set(value, null);
    }
  }
  return placeholders.get(value);
}

/** <picture> with one <source> per extra format and an <img srcset sizes src> fallback. */
function picture(doc, sizes, className, eager = false) {
  const srcset = doc.srcset || {};
  const formats = Object.keys(srcset);
  // The <img> carries the format every browser decodes: jpeg, else webp, else whatever there is.
  const fallback = ["jpeg", "webp", "avif"].find((f) => formats.includes(f)) || formats[0];
  const node = el("picture");
  const ordered = [...PREFERENCE.filter((f) => formats.includes(f)), ...formats.filter((f) => !PREFERENCE.includes(f))];
  for (const format of ordered) {
    if (format === fallback) continue;
    node.append(el("source", { type: FORMAT_TYPES[format] || `image/${format}`, sizes, srcset: srcset[format] }));
  }
  const img = el("img", {
    class: className,
    alt: doc.source?.name || "",
    sizes,
    srcset: fallback ? srcset[fallback] : undefined,
    src: doc.src || doc.renditions?.[0]?.url,
    width: doc.width,
    height: doc.height,
    decoding: "async",
    loading: eager ? "eager" : "lazy",
  });
  node.append(img);
  return { node, img };
}

// ------------------------------------------------------------------ videos and Live Photos

/** A duration as a player shows it, to the nearest second: 0:07, 12:34, 1:02:03 ("" if unknown). */
function durationText(seconds) {
  if (typeof seconds !== "number" || !(seconds >= 0)) return "";
  const whole = Math.round(seconds);
  const [h, m, s] = [Math.floor(whole / 3600), Math.floor((whole % 3600) / 60), whole % 60];
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

/** "video", "live" (the still of a Live Photo) or "photo". */
function mediaKind(doc) {
  if (doc.media_type === "video") return "video";
  if (doc.live_photo?.video_id) return "live";
  return "photo";
}

/** The badge of a video (a play sign and its duration) or of a Live Photo (LIVE); none for a photo. */
function mediaBadge(doc) {
  const kind = mediaKind(doc);
  if (kind === "video") {
    const duration = durationText(doc.video?.duration_s);
    return el(
      "span",
      { class: "badge media video", title: duration ? `video, ${duration}` : "video" },
      el("span", { class: "play", "aria-hidden": "true" }),
      duration && el("span", { class: "duration", text: duration }),
    );
  }
  if (kind === "live") return el("span", { class: "badge media live", title: "Live Photo", text: "LIVE" });
  return null;
}

/** The moving preview a ready document carries (a short silent looping MP4), if any. */
function motionOf(doc) {
  return doc?.status === "ready" && doc.motion?.url ? doc.motion : null;
}

/** A muted, looping, inline <video> of `motion`, loading nothing until it is played. */
function motionVideo(motion) {
  const video = el("video", {
    class: "motion",
    src: motion.url,
    width: motion.width,
    height: motion.height,
    muted: "",
    loop: "",
    playsinline: "",
    preload: "none",
    disablepictureinpicture: "",
    disableremoteplayback: "",
    "aria-hidden": "true",
  });
  video.muted = true; // the property, not only the attribute, is what lets it play without a gesture
  return video;
}

function play(video) {
  video.preload = "auto";
  video.play().catch(() => {}); // interrupted by a leave, or refused: the poster stays
}

/** Hovered or focused: lay the tile's moving preview over its poster and play it. */
function startMotion(tile) {
  const motion = motionOf(photos.get(tile.dataset.photoId));
  if (!motion) return;
  const poster = tile.querySelector("picture");
  let video = tile.querySelector("video.motion");
  if (!poster) return;
  if (!video) {
    video = motionVideo(motion);
    video.addEventListener("playing", () => tile.classList.add("moving"));
    video.addEventListener("error", () => video.isConnected && stopMotion(tile));
    poster.after(video); // over the poster, under the badges and the caption
  }
  play(video);
}

/** Left or blurred: stop the preview and drop it (the browser keeps the file cached for the next hover). */
function stopMotion(tile) {
  tile.classList.remove("moving");
  const video = tile.querySelector("video.motion");
  if (!video) return;
  video.pause();
  video.remove();
  video.removeAttribute("src");
  video.load(); // releases the decoder
}

// ------------------------------------------------------------------ tiles

function signature(doc) {
  return JSON.stringify([
    doc.status,
    doc.source?.generation,
    doc.spec_version,
    doc.src,
    doc.srcset,
    doc.error,
    doc.last_error,
    doc.attempts,
    doc.preview?.src,
    doc.media_type,
    doc.video?.duration_s,
    doc.motion?.url,
    doc.live_photo?.video_id,
  ]);
}

function fillTile(tile, doc) {
  tile.replaceChildren();
  tile.classList.remove("loaded", "broken", "moving");
  tile.dataset.media = mediaKind(doc);
  const caption = el("figcaption", { text: displayName(doc), title: doc.source?.name || "" });
  // Paint first: a photo (or a video's poster) still processing whose document carries a preview is painted from
  // it (its smallest rendition over the placeholder); the live update with the finished set replaces it.
  const painted = doc.status !== "ready" && doc.status !== "failed" && doc.preview?.src;
  if (doc.status === "ready" || painted) {
    const placeholder = placeholderURL(doc);
    if (placeholder) tile.append(el("img", { class: "placeholder", src: placeholder, alt: "", "aria-hidden": "true" }));
    const shown = painted ? { ...doc, srcset: doc.preview.srcset, src: doc.preview.src } : doc;
    const { node, img } = picture(shown, GRID_SIZES, "photo");
    const loaded = () => tile.classList.add("loaded");
    img.addEventListener("load", loaded);
    img.addEventListener("error", () => tile.classList.add("broken"));
    tile.append(node);
    if (img.complete && img.naturalWidth > 0) loaded();
    const badge = mediaBadge(doc);
    if (badge) tile.append(badge);
    if (painted) tile.append(el("span", { class: "badge preview", text: "finishing…" }));
  } else if (doc.status === "failed") {
    tile.append(
      el(
        "div",
        { class: "state failed" },
        el("strong", { class: "error-code", text: doc.error?.code || "failed" }),
        el("p", { class: "error-reason", text: doc.error?.reason || "no reason recorded" }),
      ),
    );
  } else {
    const retry = doc.last_error ? `retrying: ${doc.last_error.reason || doc.last_error.code}` : null;
    tile.append(
      el(
        "div",
        { class: "state processing" },
        el("span", { class: "spinner", "aria-hidden": "true" }),
        el("p", { text: `${doc.status || "processing"}${doc.attempts > 1 ? ` (attempt ${doc.attempts})` : "…"}` }),
        retry && el("p", { class: "retry", text: retry }),
      ),
    );
  }
  tile.append(caption);
  // Refilled while hovered or focused (a live update): the preview goes on playing.
  if (tile.matches(":hover") || document.activeElement === tile) startMotion(tile);
}

function upsertTile(doc) {
  let tile = tiles.get(doc.photo_id);
  if (!tile) {
    tile = el("figure", { class: "tile", tabindex: "0", role: "button", "data-photo-id": doc.photo_id });
    tile.addEventListener("click", () => openDetails(tile.dataset.photoId));
    tile.addEventListener("mouseenter", () => startMotion(tile));
    tile.addEventListener("mouseleave", () => stopMotion(tile));
    tile.addEventListener("focus", () => startMotion(tile));
    tile.addEventListener("blur", () => stopMotion(tile));
    tile.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        openDetails(tile.dataset.photoId);
      }
    });
    tiles.set(doc.photo_id, tile);
  }
  tile.dataset.status = doc.status || "processing";
  tile.style.setProperty("--dominant", doc.dominant_color || "var(--tile-bg)");
  const sig = signature(doc);
  if (tile.dataset.signature !== sig) {
    tile.dataset.signature = sig;
    fillTile(tile, doc);
  }
}

function order() {
  const sorted = [...photos.values()].sort((a, b) => {
    const ka = a.created_at || a.updated_at || "";
    const kb = b.created_at || b.updated_at || "";
    return ka < kb ? 1 : ka > kb ? -1 : a.photo_id < b.photo_id ? -1 : 1;
  });
  let cursor = grid.firstElementChild;
  for (const doc of sorted) {
    const tile = tiles.get(doc.photo_id);
    if (tile === cursor) cursor = cursor.nextElementSibling;
    else grid.insertBefore(tile, cursor);
  }
  updateCounts();
}

function updateCounts() {
  const counts = { all: photos.size, ready: 0, processing: 0, failed: 0 };
  for (const doc of photos.values()) {
    const status = doc.status in counts ? doc.status : "processing";
    counts[status]++;
  }
  for (const [key, value] of Object.entries(counts)) {
    document.querySelector(`[data-count="${key}"]`).textContent = String(value);
  }
  empty.hidden = photos.size > 0;
  document.title = `Gallery (${photos.size})`;
}

function upsert(doc) {
  photos.set(doc.photo_id, doc);
  upsertTile(doc);
  if (dialog.open && dialog.dataset.photoId === doc.photo_id) openDetails(doc.photo_id);
}

function remove(photoId) {
  photos.delete(photoId);
  tiles.get(photoId)?.remove();
  tiles.delete(photoId);
  if (dialog.open && dialog.dataset.photoId === photoId) dialog.close();
}

function replaceAll(list) {
  const keep = new Set(list.map((doc) => doc.photo_id));
  for (const photoId of [...photos.keys()]) if (!keep.has(photoId)) remove(photoId);
  for (const doc of list) upsert(doc);
  order();
  document.body.dataset.loaded = "true";
}

// ------------------------------------------------------------------ details

function fact(dl, label, value) {
  if (value === undefined || value === null || value === "") return;
  dl.append(el("dt", { text: label }), el("dd", { text: String(value) }));
}

/** A video's facts, a Live Photo's video, and the moving preview either plays. */
function videoFacts(dl, doc) {
  const video = doc.media_type === "video" ? doc.video : null;
  if (video) {
    const depth = video.bit_depth && video.bit_depth !== 8 ? ` ${video.bit_depth}-bit` : "";
    const parts = [
      durationText(video.duration_s),
      typeof video.frame_rate === "number" ? `${Math.round(video.frame_rate * 100) / 100} fps` : "",
      video.codec ? `${video.codec}${depth}${video.hdr ? ` ${video.hdr.toUpperCase()}` : ""}` : "",
      video.has_audio ? "with sound" : "silent",
    ];
    fact(dl, "video", parts.filter(Boolean).join(", "));
    if (video.rotation) fact(dl, "rotation", `${video.rotation}°`);
  }
  const live = doc.live_photo;
  if (live?.video_id && doc.media_type !== "video") {
    const seconds = typeof live.duration_s === "number" ? ` (${live.duration_s.toFixed(1)} s)` : "";
    fact(dl, "Live Photo", `with ${String(live.video_name || live.video_id).split("/").pop()}${seconds}`);
  }
  const motion = doc.motion;
  if (motion?.url) {
    const size = motion.width ? `${motion.width} × ${motion.height} px, ` : "";
    const seconds = typeof motion.duration_s === "number" ? `${motion.duration_s.toFixed(1)} s, ` : "";
    fact(dl, "moving preview", `${size}${seconds}${bytes(motion.bytes)}`);
  }
}

function openDetails(photoId) {
  const doc = photos.get(photoId);
  if (!doc) return;
  dialog.dataset.photoId = photoId;
  dialog.dataset.status = doc.status || "";
  const media = dialog.querySelector(".details-media");
  media.replaceChildren();
  media.classList.remove("loaded", "moving");
  media.style.setProperty("--dominant", doc.dominant_color || "var(--tile-bg)");
  media.style.aspectRatio = doc.width && doc.height ? `${doc.width} / ${doc.height}` : "";
  if (doc.status === "ready") {
    const placeholder = placeholderURL(doc);
    if (placeholder) media.append(el("img", { class: "placeholder", src: placeholder, alt: "", "aria-hidden": "true" }));
    const { node, img } = picture(doc, DETAIL_SIZES, "photo", true);
    img.addEventListener("load", () => media.classList.add("loaded"));
    media.append(node);
    const motion = motionOf(doc);
    if (motion) {
      const video = motionVideo(motion);
      video.addEventListener("playing", () => media.classList.add("moving"));
      media.append(video);
      play(video);
    }
  } else if (doc.status === "failed") {
    media.append(el("div", { class: "state failed" }, el("strong", { text: doc.error?.code || "failed" })));
  }
  dialog.querySelector("#details-title").textContent = doc.source?.name || photoId;
  const dl = dialog.querySelector(".facts");
  dl.replaceChildren();
  fact(dl, "status", doc.status);
  if (doc.error) fact(dl, "error", `${doc.error.code}: ${doc.error.reason}`);
  if (doc.last_error) fact(dl, "last error", `${doc.last_error.code}: ${doc.last_error.reason}`);
  if (doc.width) fact(dl, "dimensions", `${doc.width} × ${doc.height} px`);
  fact(dl, "format", doc.format ? `${doc.format}${doc.has_alpha ? " (alpha)" : ""}` : null);
  videoFacts(dl, doc);
  const exif = doc.exif || {};
  fact(dl, "taken", exif.taken_at ? exif.taken_at.replace("T", " ") : null); // as recorded, offset included
  fact(dl, "camera", [exif.camera_make, exif.camera_model].filter(Boolean).join(" "));
  fact(dl, "lens", exif.lens_model);
  if (exif.gps) fact(dl, "GPS", `${exif.gps.lat.toFixed(5)}, ${exif.gps.lng.toFixed(5)}`);
  fact(dl, "dominant colour", doc.dominant_color);
  fact(dl, "original", doc.source ? `${bytes(doc.source.bytes)}, ${doc.source.content_type || "?"}` : null);
  fact(dl, "object", doc.source ? `gs://${doc.source.bucket}/${doc.source.name}` : null);
  fact(dl, "generation", doc.source?.generation);
  const renditions = doc.renditions || [];
  if (renditions.length) {
    const widths = [...new Set(renditions.map((r) => r.width))].join(", ");
    const formats = [...new Set(renditions.map((r) => r.format))].join(", ");
    const total = renditions.reduce((sum, r) => sum + (r.bytes || 0), 0);
    fact(dl, "renditions", `${renditions.length} (${formats}; ${widths} px; ${bytes(total)})`);
  }
  if (doc.timings) fact(dl, "render / total", `${doc.timings.render_ms} ms / ${doc.timings.total_ms} ms`);
  fact(dl, "attempts", doc.attempts);
  fact(dl, "registered", when(doc.created_at));
  fact(dl, "updated", when(doc.updated_at));
  fact(dl, "photo id", doc.photo_id);
  if (!dialog.open) dialog.showModal();
}

dialog.addEventListener("close", () => dialog.querySelector(".details-media video.motion")?.remove());

dialog.addEventListener("click", (event) => {
  if (event.target === dialog) dialog.close(); // click on the backdrop
});

// ------------------------------------------------------------------ queue panel

const queues = document.getElementById("queues");
const LANE_LABELS = { live: "live", bulk: "bulk", dead_letters: "dead letters" };

function age(seconds) {
  if (typeof seconds !== "number") return "–";
  const whole = Math.floor(seconds);
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m ${String(whole % 60).padStart(2, "0")}s`;
  return `${Math.floor(whole / 3600)}h ${String(Math.floor((whole % 3600) / 60)).padStart(2, "0")}m`;
}

function figure(value, unit = "") {
  return typeof value === "number" ? `${value}${unit}` : "–";
}

function laneRow(name, subscription, backlog, oldest) {
  return el(
    "tr",
    { "data-lane": name, "data-nonzero": String(typeof backlog === "number" && backlog > 0), title: subscription || "" },
    el("th", { scope: "row", text: LANE_LABELS[name] || name }),
    el("td", { class: "backlog", text: figure(backlog) }),
    el("td", { class: "oldest", text: age(oldest) }),
  );
}

/** Render `gallery status --json`'s shape (or {error}) into the panel; every text goes in as textContent. */
function showStatus(status) {
  const error = queues.querySelector(".queue-error");
  const problem = status.error || status.queue_error;
  error.hidden = !problem;
  error.textContent = problem ? `figures unavailable: ${problem}` : "";
  queues.dataset.state = status.error ? "down" : "live";
  if (status.error) return;
  queues.querySelector(".queue-source").textContent = `(${status.queue_source})`;
  const rows = (status.lanes || []).map((lane) =>
    laneRow(lane.name, lane.subscription, lane.backlog, lane.oldest_unacked_age_seconds),
  );
  const dead = status.dead_letters;
  if (dead) rows.push(laneRow("dead_letters", dead.subscription, dead.count, dead.oldest_unacked_age_seconds));
  queues.querySelector(".lanes tbody").replaceChildren(...rows);

  const facts = queues.querySelector(".queue-facts");
  facts.replaceChildren();
  const byStatus = status.photos.by_status;
  const counts = Object.entries(byStatus)
    .map(([name, n]) => `${n} ${name}`)
    .join(", ");
  const put = (key, label, text) => facts.append(el("dt", { text: label }), el("dd", { "data-fact": key, text }));
  put("photos", "photos", `${status.photos.total} (${counts})`);
  const mediaCounts = status.photos.media;
  if (mediaCounts) {
    const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
    const videos = plural(mediaCounts.videos || 0, "video");
    put("media", "media", `${videos}, ${plural(mediaCounts.live_photos || 0, "Live Photo")}`);
  }
  const optimization = status.photos.optimization || {};
  put(
    "optimization",
    "optimize pass",
    Object.entries(optimization)
      .map(([state, n]) => `${n} ${state}`)
      .join(", ") || "off",
  );
  const t = status.throughput;
  put(
    "throughput",
    `last ${t.window_minutes} min`,
    `${t.settled}${t.capped ? "+" : ""} settled (${t.ready} ready, ${t.failed} failed), ${t.per_minute}/min`,
  );
  const r = status.render_ms;
  put("render", "render p50 / p95", `${figure(r.p50, " ms")} / ${figure(r.p95, " ms")} (${r.samples} photos)`);

  queues.querySelector(".failures-title").textContent = `Failures in the last ${t.window_minutes} min`;
  const codes = Object.entries(status.failures.recent_by_code);
  const list = queues.querySelector(".failure-codes");
  list.replaceChildren(
    ...(codes.length
      ? codes.map(([code, n]) =>
          el(
            "li",
            { "data-code": code },
            el("span", { class: "code", text: code || "(none)" }),
            el("span", { class: "count", text: String(n) }),
          ),
        )
      : [el("li", { class: "none", text: "none" })]),
  );
}

// ------------------------------------------------------------------ filters

for (const button of document.querySelectorAll("[data-filter]")) {
  button.addEventListener("click", () => {
    grid.dataset.filter = button.dataset.filter;
    for (const other of document.querySelectorAll("[data-filter]")) {
      other.setAttribute("aria-pressed", String(other === button));
    }
  });
}
grid.dataset.filter = "all";

// ------------------------------------------------------------------ live updates

function setConnection(state, text) {
  connection.dataset.state = state;
  connection.textContent = text;
}

async function poll() {
  try {
    const response = await fetch("/api/photos?limit=2000", { cache: "no-store" });
    const body = await response.json();
    replaceAll(body.photos);
    const status = await fetch("/api/status", { cache: "no-store" });
    if (status.ok) showStatus(await status.json());
    setConnection("live", "polling");
  } catch (error) {
    setConnection("down", "server unreachable");
  }
  setTimeout(poll, 2000);
}

function listen() {
  const events = new EventSource("/api/events");
  events.addEventListener("open", () => setConnection("live", "live"));
  events.addEventListener("error", () => {
    if (events.readyState !== EventSource.CLOSED) {
      setConnection("down", "reconnecting…");
      return;
    }
    // Refused (e.g. 503 when the server has too many open pages): the browser does not retry that by itself.
    setConnection("down", "server busy, retrying…");
    setTimeout(listen, 5000);
  });
  events.addEventListener("snapshot", (event) => replaceAll(JSON.parse(event.data).photos));
  events.addEventListener("upsert", (event) => {
    upsert(JSON.parse(event.data));
    order();
  });
  events.addEventListener("status", (event) => showStatus(JSON.parse(event.data)));
  events.addEventListener("remove", (event) => {
    remove(JSON.parse(event.data).photo_id);
    updateCounts();
  });
}

if ("EventSource" in window) listen();
else poll();
