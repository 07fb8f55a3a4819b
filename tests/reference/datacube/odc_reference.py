"""Asks the real Open Data Cube tools what they see, for datacube.reference.test.ts.

Runs inside the test's virtualenv (datacube 1.8, odc-apps-dc-tools 0.2) and prints JSON on stdout:

  --config FILE find PRODUCT LAT_MIN LAT_MAX LON_MIN LON_MAX TIME_FROM TIME_TO
      dc.find_datasets(product=..., lat=(..), lon=(..), time=(..)): id, product, uris, measurements
  stac-transform ITEM.json
      odc-tools' stac_transform() of a STAC item (what `stac-to-dc` indexes)
  versions
      the versions of the packages in use
"""

import json
import sys
import warnings


def find(config, product, lat_min, lat_max, lon_min, lon_max, time_from, time_to):
    import datacube

    dc = datacube.Datacube(config=config, app="piksel-reference")
    datasets = dc.find_datasets(
        product=product,
        lat=(float(lat_min), float(lat_max)),
        lon=(float(lon_min), float(lon_max)),
        time=(time_from, time_to),
    )
    return [
        {
            "id": str(ds.id),
            "product": ds.product.name,
            "uris": list(ds.uris),
            "measurements": sorted(ds.measurements.keys()),
        }
        for ds in datasets
    ]


def stac_transform(path):
    from odc.apps.dc_tools._stac import stac_transform as transform

    with open(path, encoding="utf-8") as f:
        item = json.load(f)
    return transform(item)


def versions():
    from importlib.metadata import version

    return {name: version(name) for name in ("datacube", "odc-apps-dc-tools", "SQLAlchemy", "psycopg2", "numpy")}


def main(argv):
    # datacube 1.8 on current shapely/pandas warns on every call; the JSON on stdout is what matters.
    warnings.simplefilter("ignore")
    config = None
    if argv[1] == "--config":
        config, argv = argv[2], argv[2:]
    command, args = argv[1], argv[2:]
    if command == "find":
        result = find(config, *args)
    elif command == "stac-transform":
        result = stac_transform(*args)
    elif command == "versions":
        result = versions()
    else:
        raise SystemExit(f"unknown command {command!r}")
    json.dump(result, sys.stdout, default=str)


if __name__ == "__main__":
    main(sys.argv)
