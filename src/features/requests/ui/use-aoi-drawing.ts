"use client";
import { TerraDraw, TerraDrawPolygonMode, TerraDrawSelectMode, type GeoJSONStoreFeatures } from "terra-draw";
import { TerraDrawMapLibreGLAdapter } from "terra-draw-maplibre-gl-adapter";
import { useEffect, useRef, useState } from "react";
import type { MaplibreMap } from "~/components/map/map-view";

export type DrawMode = "polygon" | "select" | "static";
export type PolygonGeometry = { type: "Polygon"; coordinates: [number, number][][] };

const AOI_COLOUR = "#e8590c";

/**
 * terra-draw on the console's MapLibre map for one AOI polygon: draw it (a click per corner, a click on
 * the first corner or Enter to close), edit it (drag corners, midpoints add corners), or load one
 * (an uploaded file). Drawing a new polygon replaces the old one. `onChange` gets the polygon after
 * every finished edit, and null when it is cleared.
 */
export function useAoiDrawing(onChange: (geometry: PolygonGeometry | null) => void) {
  const drawRef = useRef<TerraDraw | null>(null);
  const [mode, setModeState] = useState<DrawMode>("static");
  const [ready, setReady] = useState(false);
  // terra-draw's listeners outlive renders: they call the latest onChange through this ref.
  const onChangeRef = useRef(onChange);
  useEffect(() => {
    onChangeRef.current = onChange;
  });
  const report = (g: PolygonGeometry | null) => onChangeRef.current(g);

  const current = (): PolygonGeometry | null => {
    const polygons = drawRef.current?.getSnapshot().filter((f) => f.geometry.type === "Polygon") ?? [];
    const last = polygons[polygons.length - 1];
    return last ? (last.geometry as PolygonGeometry) : null;
  };

  /** Attach to the map (MapView's onMapReady); detaches itself when the map is removed. */
  const attach = (map: MaplibreMap) => {
    const draw = new TerraDraw({
      adapter: new TerraDrawMapLibreGLAdapter({ map }),
      modes: [
        new TerraDrawPolygonMode({ styles: { fillColor: AOI_COLOUR, fillOpacity: 0.15, outlineColor: AOI_COLOUR, outlineWidth: 2, closingPointColor: AOI_COLOUR, closingPointWidth: 6 } }),
        new TerraDrawSelectMode({
          flags: { polygon: { feature: { draggable: true, coordinates: { midpoints: true, draggable: true, deletable: true } } } },
          styles: { selectedPolygonColor: AOI_COLOUR, selectedPolygonFillOpacity: 0.2, selectedPolygonOutlineColor: AOI_COLOUR, selectionPointColor: AOI_COLOUR },
        }),
      ],
    });
    draw.start();
    draw.on("finish", (id, context) => {
      // One AOI: a newly drawn polygon replaces the previous one.
      if (context.action === "draw") {
        const others = draw.getSnapshot().filter((f) => f.id !== id).map((f) => f.id!);
        if (others.length) draw.removeFeatures(others);
      }
      report(current());
    });
    drawRef.current = draw;
    setReady(true);
    map.once("remove", () => {
      drawRef.current = null;
      setReady(false);
      try {
        draw.stop();
      } catch {
        // the map's style is already gone
      }
    });
  };

  const setMode = (next: DrawMode) => {
    const draw = drawRef.current;
    if (!draw) return;
    draw.setMode(next === "static" ? "static" : next);
    setModeState(next);
  };

  const clear = () => {
    drawRef.current?.clear();
    report(null);
  };

  /** Replaces the AOI with a polygon from elsewhere (an upload); false when terra-draw cannot edit it. */
  const load = (geometry: PolygonGeometry): boolean => {
    const draw = drawRef.current;
    if (!draw) return false;
    draw.clear();
    const feature = { type: "Feature", geometry, properties: { mode: "polygon" } } as GeoJSONStoreFeatures;
    const [result] = draw.addFeatures([feature]);
    return Boolean(result?.valid);
  };

  useEffect(() => () => drawRef.current?.stop(), []);

  return { attach, ready, mode, setMode, clear, load, current };
}
