"""Reference geomedian + MADs for the Piksel kernel, computed by the `geomad` package.

Usage: python geomad_reference.py DIR

DIR holds `header.json` and `cube.f32`, written by `python-reference.ts`:
  header.json  {"bands", "times", "height", "width", "eps", "maxiters", "scale"}
  cube.f32     float32 little-endian, [band][time][pixel], pixels row-major (height x width)

Writes to DIR: median.f32 ([band][pixel]), smad.f32, emad.f32, bcmad.f32 ([pixel], float32),
count.u16 ([pixel], uint16), and result.json with versions and timings measured here around the
geomad calls only, single thread: wall seconds and CPU seconds (process_time).

The computation is odc-algo's `_gm_mads_compute_f32` (odc/algo/_geomedian.py) for float input, which is
what `geomedian_with_mads` runs per dask block for odc-stats' `gm-s2` plugin once the DN have been
scaled to reflectance (`to_float_np`, nodata -> NaN): `nangeomedian_pcm(nocheck=True, eps, maxiters,
num_threads=1)`, then `smad_pcm`, `emad_pcm` (multiplied by 1/scale, i.e. reported in DN), `bcmad_pcm`,
and count = observations with no NaN band. odc-algo itself is not imported: it pulls in dask and
xarray, and adds nothing to these calls.
"""

import json
import os
import sys
import time
import warnings

import numpy as np

import geomad


def main(directory: str) -> None:
    # np.nanmedian warns once per pixel without a valid observation; those pixels are expected.
    warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
    with open(os.path.join(directory, "header.json"), encoding="utf-8") as f:
        header = json.load(f)
    bands, times = header["bands"], header["times"]
    height, width = header["height"], header["width"]
    eps, maxiters, scale = header["eps"], header["maxiters"], header["scale"]

    cube = np.fromfile(os.path.join(directory, "cube.f32"), dtype="<f4")
    expected = bands * times * height * width
    if cube.size != expected:
        raise SystemExit(f"cube.f32 has {cube.size} values, header says {expected}")
    # [band][time][y][x] -> geomad's (y, x, band, time), C-contiguous as odc-algo's yxbt blocks are.
    yxbt = np.ascontiguousarray(cube.reshape(bands, times, height, width).transpose(2, 3, 0, 1))

    t0, c0 = time.perf_counter(), time.process_time()
    gm = geomad.nangeomedian_pcm(yxbt, nocheck=True, eps=eps, maxiters=maxiters, num_threads=1)
    t1, c1 = time.perf_counter(), time.process_time()
    smad = geomad.smad_pcm(yxbt, gm, num_threads=1)
    emad = geomad.emad_pcm(yxbt, gm, num_threads=1)
    if abs(scale - 1) >= 1e-10:
        emad *= 1 / scale
    bcmad = geomad.bcmad_pcm(yxbt, gm, num_threads=1)
    nbads = np.isnan(yxbt).sum(axis=2, dtype="bool").sum(axis=2, dtype="uint16")
    count = (yxbt.dtype.type(times) - nbads).astype("uint16")
    t2, c2 = time.perf_counter(), time.process_time()

    np.ascontiguousarray(gm.transpose(2, 0, 1)).astype("<f4").tofile(os.path.join(directory, "median.f32"))
    for name, values in (("smad", smad), ("emad", emad), ("bcmad", bcmad)):
        np.ascontiguousarray(values).astype("<f4").tofile(os.path.join(directory, f"{name}.f32"))
    np.ascontiguousarray(count).astype("<u2").tofile(os.path.join(directory, "count.u16"))

    with open(os.path.join(directory, "result.json"), "w", encoding="utf-8") as f:
        json.dump(
            {
                "geomad": geomad.__version__,
                "numpy": np.__version__,
                "seconds_gm": t1 - t0,
                "seconds_mads_count": t2 - t1,
                "seconds_total": t2 - t0,
                "cpu_seconds_gm": c1 - c0,
                "cpu_seconds_total": c2 - c0,
            },
            f,
        )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
