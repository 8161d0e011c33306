"""Videos (MP4, MOV, WebM, Matroska) as gallery items, through PyAV's FFmpeg: imported by the first video only."""
