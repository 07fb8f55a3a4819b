"""Asks datacube 1.8 what it makes of a geomedian output the worker wrote and indexed, for
worker-output.reference.test.ts. Runs inside the datacube virtualenv and prints JSON on stdout:

  --config FILE PRODUCT X0 X1 Y0 Y1 MEASUREMENT...
      the product's datasets (id, uris, measurements, CRS, region code, number of sources), then
      dc.load() of the measurements over x X0..X1, y Y0..Y1 in EPSG:6933: per measurement the shape,
      the sum of valid values, the count of nodata pixels and the value of a few pixels.
"""

import json
import sys
import warnings


def main(argv):
    warnings.simplefilter("ignore")
    import datacube
    import numpy as np

    config, product = argv[2], argv[3]
    x0, x1, y0, y1 = (float(v) for v in argv[4:8])
    measurements = argv[8:]
    dc = datacube.Datacube(config=config, app="piksel-worker-reference")
    datasets = []
    for ds in dc.find_datasets(product=product):
        full = dc.index.datasets.get(ds.id, include_sources=True)
        datasets.append(
            {
                "id": str(ds.id),
                "uris": list(ds.uris),
                "measurements": sorted(ds.measurements.keys()),
                "crs": str(ds.crs),
                "region_code": ds.metadata.region_code,
                "sources": len(full.sources or {}),
                "time": str(ds.time.begin),
            }
        )
    data = dc.load(product=product, x=(x0, x1), y=(y0, y1), crs="EPSG:6933", output_crs="EPSG:6933", resolution=(-10, 10), measurements=measurements)
    loaded = {}
    for name in measurements:
        arr = data[name].isel(time=0).values
        nodata = data[name].attrs.get("nodata")
        invalid = np.isnan(arr) if arr.dtype.kind == "f" else arr == nodata
        loaded[name] = {
            "dtype": str(arr.dtype),
            "shape": list(arr.shape),
            "sum": float(arr[~invalid].astype("float64").sum()),
            "nodata": int(invalid.sum()),
            "samples": [None if bool(invalid[r, c]) else float(arr[r, c]) for r, c in ((0, 0), (100, 200), (300, 50), (511, 511))],
        }
    print(json.dumps({"datasets": datasets, "loaded": loaded}))


if __name__ == "__main__":
    main(sys.argv)
