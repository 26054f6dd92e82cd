"""Files in and out: image and photo decoding, atomic writes, checksums, cache folders."""
