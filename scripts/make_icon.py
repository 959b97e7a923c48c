#!/usr/bin/env python3
"""Generate Cairn's plugin icon: a cairn of stacked stones at dusk.

Standard library only (zlib + struct). Writes a 512x512 RGBA PNG, by default
to .claude-plugin/icon.png next to this script's repository root.

    python3 scripts/make_icon.py [OUTPUT.png] [--size N]
"""
from __future__ import annotations

import argparse
import math
import struct
import zlib
from pathlib import Path

BASE = 512  # design coordinates; everything is scaled to the output size


def clamp(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo if x < lo else hi if x > hi else x


def mix(c1, c2, t):
    return tuple(a + (b - a) * t for a, b in zip(c1, c2, strict=False))


class Canvas:
    def __init__(self, size: int):
        self.size = size
        self.rgb = [[0.0, 0.0, 0.0] for _ in range(size * size)]
        self.alpha = [0.0] * (size * size)

    def blend(self, i: int, color, a: float) -> None:
        if a <= 0.0:
            return
        px = self.rgb[i]
        for k in range(3):
            px[k] += (color[k] - px[k]) * a

    def to_png(self) -> bytes:
        n = self.size
        raw = bytearray()
        for y in range(n):
            raw.append(0)  # filter type: none
            for x in range(n):
                i = y * n + x
                r, g, b = self.rgb[i]
                raw += bytes((int(clamp(r / 255) * 255 + 0.5), int(clamp(g / 255) * 255 + 0.5),
                              int(clamp(b / 255) * 255 + 0.5), int(clamp(self.alpha[i]) * 255 + 0.5)))

        def chunk(tag: bytes, data: bytes) -> bytes:
            return (struct.pack(">I", len(data)) + tag + data
                    + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

        ihdr = struct.pack(">IIBBBBB", n, n, 8, 6, 0, 0, 0)  # 8-bit RGBA
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                + chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b""))


def superellipse(u: float, v: float, a: float, b: float, p: float) -> float:
    return (abs(u / a) ** p + abs(v / b) ** p) ** (1.0 / p)


def shape_coverage(cx, cy, a, b, angle_deg, p, x, y, soft=0.5):
    """Anti-aliased coverage of a rotated superellipse at pixel centre (x, y).

    Returns (coverage, u, v) where u, v are coordinates in the shape frame.
    `soft` is the half-width of the edge ramp in pixels.
    """
    ang = math.radians(angle_deg)
    ca, sa = math.cos(ang), math.sin(ang)
    dx, dy = x - cx, y - cy
    u, v = dx * ca + dy * sa, -dx * sa + dy * ca
    f = superellipse(u, v, a, b, p)
    h = 0.5
    gu = (superellipse(u + h, v, a, b, p) - superellipse(u - h, v, a, b, p)) / (2 * h)
    gv = (superellipse(u, v + h, a, b, p) - superellipse(u, v - h, a, b, p)) / (2 * h)
    g = math.hypot(gu, gv) or 1e-9
    dist = (f - 1.0) / g  # approximate signed distance in pixels
    return clamp(0.5 - dist / (2 * soft)), u, v


def render(size: int = 512) -> Canvas:
    s = size / BASE
    cv = Canvas(size)

    sky_top, sky_bottom = (24, 44, 72), (92, 146, 156)
    sun = (255, 222, 160)
    ground_col = (34, 58, 56)
    radius = 104 * s  # rounded-square corner radius

    # Stones bottom to top: centre x, centre y, half-width, half-height, tilt, colour.
    stones = [
        (256, 392, 156, 44, -2.0, (112, 112, 110)),
        (264, 322, 120, 37, 4.0, (146, 140, 130)),
        (249, 261, 93, 31, -5.0, (128, 134, 136)),
        (259, 208, 67, 26, 3.0, (164, 156, 142)),
        (253, 164, 42, 20, -4.0, (138, 136, 130)),
    ]
    stones = [(cx * s, cy * s, a * s, b * s, t, c) for cx, cy, a, b, t, c in stones]
    stone_mask = [0.0] * (size * size)

    for y in range(size):
        py = y + 0.5
        sky = mix(sky_top, sky_bottom, clamp(py / size))
        for x in range(size):
            px = x + 0.5
            i = y * size + x
            # Rounded-square silhouette -> alpha.
            qx = max(abs(px - size / 2) - (size / 2 - radius), 0.0)
            qy = max(abs(py - size / 2) - (size / 2 - radius), 0.0)
            cv.alpha[i] = clamp(radius - math.hypot(qx, qy) + 0.5)
            cv.rgb[i] = list(sky)
            # Sun with a soft glow.
            d = math.hypot(px - 372 * s, py - 128 * s)
            cv.blend(i, sun, 0.35 * clamp(1 - (d - 40 * s) / (70 * s)) ** 2)
            cv.blend(i, sun, clamp(40 * s - d + 0.5))
            # Ground: a broad low hill.
            cov, _, _ = shape_coverage(256 * s, 520 * s, 360 * s, 100 * s, 0, 2, px, py)
            cv.blend(i, ground_col, cov)

    def region(cx, cy, a, b, pad):
        r = max(a, b) + pad
        return (range(max(0, int(cy - r)), min(size, int(cy + r) + 1)),
                range(max(0, int(cx - r)), min(size, int(cx + r) + 1)))

    # Contact shadow of the bottom stone on the ground.
    cx, cy, a, b, _, _ = stones[0]
    ys, xs = region(cx, cy + b, a * 1.1, b, 12 * s)
    for y in ys:
        for x in xs:
            cov, _, _ = shape_coverage(cx + 6 * s, cy + b * 0.75, a * 1.05, b * 0.45, 0, 2,
                                       x + 0.5, y + 0.5, soft=10 * s)
            cv.blend(y * size + x, (10, 20, 24), 0.45 * cov)

    for k, (cx, cy, a, b, tilt, col) in enumerate(stones):
        if k:  # soft shadow cast onto the stone below
            ys, xs = region(cx, cy + b, a, b, 12 * s)
            for y in ys:
                for x in xs:
                    i = y * size + x
                    if stone_mask[i] <= 0:
                        continue
                    cov, _, _ = shape_coverage(cx + 4 * s, cy + b * 0.55, a * 1.02, b * 0.7, tilt, 2,
                                               x + 0.5, y + 0.5, soft=7 * s)
                    cv.blend(i, (20, 24, 28), 0.5 * cov * stone_mask[i])
        ys, xs = region(cx, cy, a, b, 2)
        for y in ys:
            for x in xs:
                cov, u, v = shape_coverage(cx, cy, a, b, tilt, 2.6, x + 0.5, y + 0.5)
                if cov <= 0:
                    continue
                i = y * size + x
                # Light from the upper left: brighter on top, darker underneath.
                t = clamp(0.5 - 0.5 * (0.85 * v / b + 0.25 * u / a))
                shade = mix(tuple(c * 0.62 for c in col), tuple(min(255, c * 1.22) for c in col), t)
                hl = clamp(1 - math.hypot((u + 0.35 * a) / (0.45 * a), (v + 0.55 * b) / (0.35 * b)))
                shade = mix(shade, (250, 246, 236), 0.35 * hl * hl)
                cv.blend(i, shade, cov)
                stone_mask[i] = max(stone_mask[i], cov)
    return cv


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output", nargs="?", default=str(root / ".claude-plugin" / "icon.png"))
    ap.add_argument("--size", type=int, default=512, help="edge length in pixels (default 512)")
    args = ap.parse_args()
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(render(args.size).to_png())
    print(f"wrote {out} ({args.size}x{args.size})")


if __name__ == "__main__":
    main()
