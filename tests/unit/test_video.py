"""Videos through the engine: every claimed codec and container, rotation, HDR, the poster choice, the moving
preview, the limits, and damaged or hostile files. Every clip is made here (tests/video_files.py)."""

from __future__ import annotations

import io
from dataclasses import replace

import av
import numpy as np
import pytest

from gallery.engine import estimate_render, render
from gallery.engine.colour import INTENT, finish, tone_map_hdr, with_profile
from gallery.engine.sniff import sniff_format
from gallery.engine.video.frames import frame_colour
from gallery.engine.video.probe import open_container, read_facts
from gallery.engine.vips import pyvips
from gallery.errors import CorruptVideoError, LimitExceededError, PermanentError, UnsupportedImageError
from gallery.model import Limits, RenditionSpec, VideoLimits, VideoSpec
from tests.colour_files import delta_e, hdr, photo
from tests.video_files import Clip, fuzzed, is_upright_scene, make_video, truncated

SPEC = RenditionSpec(widths=(160, 320, 640), formats=("jpeg",), quality=90)
LIMITS = Limits()


def _poster(result_data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(result_data, "")


def _largest(result: object) -> pyvips.Image:
    renditions = result.renditions  # type: ignore[attr-defined]
    return _poster(max(renditions, key=lambda r: r.width).data)


@pytest.mark.parametrize(
    ("codec", "container"),
    [("h264", "mp4"), ("hevc", "mov"), ("vp9", "webm"), ("av1", "mp4"), ("prores", "mov"), ("h264", "mkv")],
)
def test_each_codec_and_container_becomes_an_upright_poster_with_its_facts(codec: str, container: str) -> None:
    data = make_video(Clip(codec=codec, container=container, seconds=1.5, audio=codec == "h264"))
    assert sniff_format(data) == container
    result = render(data, SPEC, LIMITS)
    assert (result.width, result.height, result.source_format) == (320, 240, container)
    assert [r.width for r in result.renditions] == [160, 320]
    assert is_upright_scene(_largest(result))
    video = result.video
    assert video is not None
    assert (video.codec, video.container, video.rotation, video.hdr) == (
        "libdav1d" if codec == "av1" else codec,
        container,
        0,
        None,
    )
    assert video.duration_s == pytest.approx(1.5, abs=0.1)
    assert video.frame_rate == pytest.approx(24)
    assert video.has_audio is (codec == "h264")
    assert video.bit_depth == (10 if codec == "prores" else 8)
    assert result.placeholder and result.dominant_color.startswith("#")


@pytest.mark.parametrize("rotation", [90, 180, 270, -90])
def test_a_video_stored_sideways_comes_out_upright(rotation: int) -> None:
    """Phones store portrait video landscape with a display rotation; the poster and preview are upright."""
    clip = Clip(codec="hevc", container="mov", width=240, height=320, rotation=rotation, seconds=1.2)
    result = render(make_video(clip), SPEC, LIMITS)
    assert (result.width, result.height) == (240, 320)
    assert is_upright_scene(_largest(result))
    assert result.video is not None and result.video.rotation == (-rotation) % 360
    assert result.motion is not None and (result.motion.width, result.motion.height) == (240, 320)
    first = next(av.open(io.BytesIO(result.motion.data)).decode(video=0)).to_ndarray(format="rgb24")
    top, bottom = first[5].mean(axis=0), first[-5].mean(axis=0)
    assert top[0] > 150 > top[2] and bottom[2] > 150 > bottom[0]  # the preview is upright too


def test_the_poster_is_not_the_black_opening() -> None:
    result = render(make_video(Clip(black_seconds=1.6, seconds=3)), SPEC, LIMITS)
    assert result.video is not None and result.video.poster_time_s >= 1.6
    assert is_upright_scene(_largest(result))


def test_a_clip_that_is_black_throughout_still_gets_a_poster() -> None:
    result = render(make_video(Clip(black_seconds=2, seconds=2)), SPEC, LIMITS)
    assert result.video is not None
    assert _largest(result).avg() < 5


@pytest.mark.parametrize("transfer", ["hlg", "pq"])
@pytest.mark.parametrize("codec", ["hevc", "prores"])
def test_hdr_video_is_tone_mapped_within_the_photos_colour_bar(transfer: str, codec: str) -> None:
    """A 10-bit BT.2020 HLG/PQ clip of the colour-test photo looks like the SDR photo again, as the same HDR photo
    (a 10-bit HEIC) does through the same render: within 0.3 mean and 0.5 p95 ΔE00 of it, and within the bar
    HDR photos meet (tests/unit/test_colour.py: mean ≤ 2.5, p95 ≤ 6) plus the 4:2:0 video chroma's share."""
    spec = replace(SPEC, widths=(480,), quality=95)
    still = render(hdr(transfer), spec, LIMITS)
    still_mean, still_p95 = delta_e(_largest(still), photo())
    data = make_video(Clip(codec=codec, container="mov", hdr=transfer, seconds=1.2))
    result = render(data, spec, LIMITS)
    assert result.video is not None and result.video.hdr == transfer and result.video.bit_depth == 10
    mean, p95 = delta_e(_largest(result), photo())
    report = f"{codec} {transfer}: mean ΔE00 {mean:.2f} (photo {still_mean:.2f}), p95 {p95:.2f} (photo {still_p95:.2f})"
    assert mean <= still_mean + 0.3 and p95 <= still_p95 + 0.5, report
    assert mean <= 2.8 and p95 <= 6, report


@pytest.mark.parametrize("transfer", ["hlg", "pq"])
def test_the_preview_tone_map_is_the_photos(transfer: str) -> None:
    """The numpy path the preview frames take matches the photos' libvips tone map and profile transform."""
    data = make_video(Clip(codec="prores", container="mov", hdr=transfer, seconds=0.2))
    container = open_container(data, "mov")
    facts = read_facts(container, "mov", len(data))
    frame = next(container.decode(video=0))
    rgb = frame.to_ndarray(format="rgb48le")
    container.close()
    numpy_path = frame_colour(facts).to_srgb8(rgb)
    image = pyvips.Image.new_from_memory(rgb.tobytes(), rgb.shape[1], rgb.shape[0], 3, "ushort").copy(
        interpretation="rgb16"
    )
    from gallery.engine.colour import from_nclx

    colour = from_nclx(
        {
            "color_primaries": 9,
            "transfer_characteristics": 16 if transfer == "pq" else 18,
            "color_primary_red_x": 0.708,
            "color_primary_red_y": 0.292,
            "color_primary_green_x": 0.170,
            "color_primary_green_y": 0.797,
            "color_primary_blue_x": 0.131,
            "color_primary_blue_y": 0.046,
            "color_primary_white_x": 0.3127,
            "color_primary_white_y": 0.3290,
        },
        grey=False,
    )
    assert colour.hdr is not None
    mapped = with_profile(tone_map_hdr(image, colour.hdr), colour.icc)
    vips_path = finish(mapped.icc_transform("srgb", embedded=True, intent=INTENT, depth=8), "srgb")
    ours = pyvips.Image.new_from_memory(numpy_path.tobytes(), rgb.shape[1], rgb.shape[0], 3, "uchar").copy(
        interpretation="srgb"
    )
    mean, p95 = delta_e(ours, vips_path)
    assert mean < 0.3 and p95 < 1.0, (mean, p95)


def test_the_moving_preview_is_a_small_silent_h264_mp4_that_starts_playing_early() -> None:
    data = make_video(Clip(width=1280, height=720, seconds=4, fps=60, audio=True))
    result = render(data, SPEC, LIMITS)
    motion = result.motion
    assert motion is not None
    assert (motion.width, motion.height, motion.content_type) == (480, 270, "video/mp4")
    assert motion.duration_s == pytest.approx(3.0, abs=0.05)
    assert motion.data.find(b"moov") < motion.data.find(b"mdat")  # +faststart: the index comes first
    with av.open(io.BytesIO(motion.data)) as clip:
        assert not clip.streams.audio
        stream = clip.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert float(stream.average_rate) == pytest.approx(30)  # 60 fps kept at most 30
        frames = list(clip.decode(video=0))
    assert len(frames) == 90
    assert len(motion.data) < 300_000


def test_a_short_clip_previews_whole_and_the_preview_can_be_turned_off() -> None:
    data = make_video(Clip(seconds=1.0))
    result = render(data, SPEC, LIMITS)
    assert result.motion is not None and result.motion.duration_s == pytest.approx(1.0, abs=0.05)
    off = render(data, replace(SPEC, video=VideoSpec(preview=False)), LIMITS)
    assert off.motion is None and off.renditions == result.renditions
    assert render(data, SPEC, LIMITS, motion=False).motion is None


def test_videos_turned_off_fail_as_unsupported() -> None:
    data = make_video(Clip(seconds=0.5))
    spec = replace(SPEC, video=VideoSpec(enabled=False))
    with pytest.raises(UnsupportedImageError) as caught:
        render(data, spec, LIMITS)
    assert caught.value.code == "unsupported_format" and "VIDEOS=false" in caught.value.reason
    with pytest.raises(UnsupportedImageError):
        estimate_render(data, spec, LIMITS)


def test_the_spec_version_only_changes_when_the_video_settings_do() -> None:
    assert replace(SPEC, video=VideoSpec()).version == SPEC.version
    assert replace(SPEC, video=VideoSpec(preview_seconds=4)).version != SPEC.version


@pytest.mark.parametrize(
    ("limits", "code"),
    [
        (VideoLimits(max_seconds=1), "too_long"),
        (VideoLimits(max_pixels=320 * 200), "too_many_pixels"),
        (VideoLimits(max_frames=30), "too_many_frames"),
        (VideoLimits(max_bitrate=10_000), "bitrate_too_high"),
        (VideoLimits(max_bytes=1000), "too_large"),
    ],
)
def test_limits_are_checked_from_the_headers_before_decoding(limits: VideoLimits, code: str) -> None:
    data = make_video(Clip(seconds=2))
    for call in (render, estimate_render):
        with pytest.raises(LimitExceededError) as caught:
            call(data, SPEC, replace(LIMITS, video=limits))
        assert caught.value.code == code


def test_a_video_may_be_larger_than_the_photo_limit() -> None:
    data = make_video(Clip(seconds=1))
    result = render(data, SPEC, replace(LIMITS, max_bytes=100))
    assert result.video is not None


def test_the_decode_budget_bounds_the_work() -> None:
    with pytest.raises(LimitExceededError) as caught:
        render(make_video(Clip(seconds=1)), SPEC, replace(LIMITS, video=VideoLimits(decode_seconds=0)))
    assert caught.value.code == "decode_too_slow"


def test_a_truncated_video_fails_with_a_reason() -> None:
    data = make_video(Clip(seconds=2, container="mov"))
    with pytest.raises(CorruptVideoError) as caught:
        render(truncated(data, 0.5), SPEC, LIMITS)
    assert caught.value.code == "corrupt_video" and caught.value.reason


def test_a_file_without_a_video_stream_fails() -> None:
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        sound = container.add_stream("aac", rate=48000)
        samples = np.zeros((2, 1024), np.float32)
        for index in range(10):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 48000, index * 1024
            container.mux(sound.encode(frame))
        container.mux(sound.encode(None))
    with pytest.raises(CorruptVideoError, match="no video stream"):
        render(out.getvalue(), SPEC, LIMITS)


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_fuzzed_videos_render_or_fail_permanently_never_anything_else(seed: int, codec: str) -> None:
    data = fuzzed(make_video(Clip(codec=codec, container="mov", seconds=1.2)), seed)
    try:
        result = render(data, SPEC, LIMITS)
    except PermanentError as err:
        assert err.reason
        return
    assert result.renditions and result.video is not None


def test_a_video_header_with_a_huge_declared_size_is_refused_by_the_estimate_first() -> None:
    data = make_video(Clip(width=640, height=480, seconds=0.5))
    estimate = estimate_render(data, SPEC, LIMITS)
    assert estimate.total_mib > 60  # FFmpeg's libraries and the decoder's frames are counted
    assert estimate.total_mib == estimate_render(data, SPEC, LIMITS).total_mib


def test_container_metadata_gives_the_exif_subset_and_the_live_photo_identifier() -> None:
    meta = {
        "com.apple.quicktime.content.identifier": "5D6F0C1E-LIVE",
        "com.apple.quicktime.make": "Apple",
        "com.apple.quicktime.model": "iPhone 15 Pro",
        "com.apple.quicktime.location.ISO6709": "+48.8584+002.2945+035.000/",
        "com.apple.quicktime.creationdate": "2026-05-01T10:00:00+0200",
    }
    result = render(make_video(Clip(container="mov", metadata=meta, seconds=0.5)), SPEC, LIMITS)
    assert result.exif.as_dict(keep_gps=True) == {
        "taken_at": "2026-05-01T10:00:00+02:00",
        "camera_make": "Apple",
        "camera_model": "iPhone 15 Pro",
        "gps": {"lat": 48.8584, "lng": 2.2945},
    }
    assert result.video is not None and result.video.content_identifier == "5D6F0C1E-LIVE"


def test_the_functions_cold_start_does_not_load_pyav() -> None:
    """FFmpeg's libraries (about 72 MB) are loaded by the first video, never by a photo's cold start."""
    import subprocess
    import sys

    from tests.paths import ROOT

    code = (
        "import sys; sys.path.insert(0, 'functions/thumbnailer'); import main; "
        "from gallery.engine import render, estimate_render; "
        "print(sorted(m for m in sys.modules if m == 'av' or m.startswith('av.')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]", loaded.stdout
