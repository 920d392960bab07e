/**
 * A uPlot chart as a Preact component: lines or bars over a time axis (Unix
 * seconds) or over named categories. Resizes with its container; new data for
 * the same series updates the plot in place (the live chart polls).
 */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { formatCompact } from "../format.js";

export interface ChartSeries {
  label: string;
  values: Array<number | null>;
  color: string;
  /** Bars (default for categories) or a line (default for time). */
  kind?: "line" | "bars";
  /** Which y axis: the left one (default) or a second one on the right. */
  axis?: "left" | "right";
}

export interface ChartProps {
  testid: string;
  title: string;
  /** Unix seconds for a time axis; ignored for categories. */
  x?: number[];
  /** Names along the x axis, one per value. */
  categories?: string[];
  series: ChartSeries[];
  height?: number;
  yFormat?: (value: number) => string;
  rightFormat?: (value: number) => string;
  /** Shown under the title. */
  subtitle?: string;
  /** Show this many seconds up to the newest point (the live chart), not the data's extent. */
  window?: number;
  /** Whole-number ticks on the right axis (counts such as queue depth). */
  rightIntegers?: boolean;
  /** The legend's name for the x value of a category chart. */
  categoryLabel?: string;
}

export const palette = ["#3b6fd8", "#e07b39", "#2f9e6e", "#a855c7", "#d94a5b", "#8a7d2a", "#3aa6b9", "#6b7280"] as const;

function withAlpha(hex: string, alpha: number): string {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

function buildOptions(props: ChartProps, width: number): uPlot.Options {
  const categories = props.categories;
  const isCategory = categories !== undefined;
  const bars = uPlot.paths.bars;
  const yFormat = props.yFormat ?? formatCompact;
  const barCount = props.series.filter((s) => (s.kind ?? (isCategory ? "bars" : "line")) === "bars").length;
  let barIndex = 0;
  const series: uPlot.Series[] = [
    isCategory ? { label: props.categoryLabel ?? "", value: (_u, v) => (v === null ? "" : (categories[v] ?? "")) } : { label: "time" },
  ];
  for (const s of props.series) {
    const kind = s.kind ?? (isCategory ? "bars" : "line");
    const isBar = kind === "bars";
    let paths: uPlot.Series.PathBuilder | undefined;
    if (isBar && bars !== undefined) {
      // Several bar series side by side: each takes its share of the slot.
      const share = 1 / Math.max(1, barCount);
      const offset = barIndex;
      barIndex += 1;
      const width = 0.7 * share;
      paths = bars({
        size: [0.7, 64],
        gap: 1,
        // Grouped bars on a category axis: data units, one slot per category.
        disp:
          barCount > 1 && isCategory
            ? {
                x0: { unit: 3, values: (u) => Array.from(u.data[0], (x) => x - 0.35 + width * offset) },
                size: { unit: 3, values: (u) => Array.from(u.data[0], () => width) },
              }
            : undefined,
      });
    }
    series.push({
      label: s.label,
      stroke: s.color,
      width: isBar ? 1 : 2,
      fill: isBar ? withAlpha(s.color, 0.75) : withAlpha(s.color, 0.12),
      paths,
      points: { show: !isBar && (props.x?.length ?? 0) <= 12 },
      scale: s.axis === "right" ? "right" : "y",
      value: (_u, v) => (v === null ? "–" : s.axis === "right" ? (props.rightFormat ?? yFormat)(v) : yFormat(v)),
    });
  }
  const axisStyle = { stroke: "#5b6474", grid: { stroke: "#eceff3", width: 1 }, ticks: { stroke: "#d5dae1", width: 1 }, font: "11px system-ui, sans-serif" };
  const axes: uPlot.Axis[] = [
    isCategory
      ? {
          ...axisStyle,
          grid: { show: false },
          splits: () => categories.map((_c, i) => i),
          values: (_u, splits) => splits.map((i) => truncate(categories[i] ?? "", 14)),
        }
      : { ...axisStyle },
    { ...axisStyle, scale: "y", size: fitLabels, values: (_u, splits) => splits.map(yFormat) },
  ];
  if (props.series.some((s) => s.axis === "right")) {
    axes.push({
      ...axisStyle,
      scale: "right",
      side: 1,
      size: fitLabels,
      grid: { show: false },
      incrs: props.rightIntegers === true ? integerIncrs : undefined,
      values: (_u, splits) => splits.map(props.rightFormat ?? yFormat),
    });
  }
  const scales: uPlot.Scales = {
    x: isCategory ? { time: false, range: () => [-0.5, Math.max(0, categories.length - 0.5)] } : { time: true, range: timeRange(props, barCount > 0) },
    y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
    right: { range: (_u, _min, max) => [0, props.rightIntegers === true ? Math.max(4, Math.ceil(max * 1.1)) : max > 0 ? max * 1.1 : 1] },
  };
  return {
    width,
    height: props.height ?? 220,
    series,
    axes,
    scales,
    legend: { show: true, live: true },
    cursor: { drag: { x: false, y: false }, points: { show: !isCategory } },
  };
}

/** The x range of a time chart: the fixed window, or the data with half a slot either side for bars. */
function timeRange(props: ChartProps, hasBars: boolean): uPlot.Range.Function {
  return (_u, min, max) => {
    if (props.window !== undefined) return [max - props.window, max];
    const x = props.x ?? [];
    const step = x.length > 1 ? (x[1] ?? 0) - (x[0] ?? 0) : 60;
    if (x.length === 0) return [min, max];
    return hasBars ? [min - step / 2, max + step / 2] : [min, max === min ? min + step : max];
  };
}

const integerIncrs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 100_000, 1_000_000];

/** Room for the widest tick label (about 7 px a character at 11 px) plus the ticks. */
function fitLabels(_u: uPlot, values: string[] | null): number {
  const widest = values === null ? 3 : Math.max(3, ...values.map((v) => v.length));
  return Math.ceil(widest * 6.6) + 18;
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function dataOf(props: ChartProps): uPlot.AlignedData {
  const x = props.categories !== undefined ? props.categories.map((_c, i) => i) : (props.x ?? []);
  return [x, ...props.series.map((s) => s.values)] as uPlot.AlignedData;
}

/** What forces a new plot rather than new data on the old one. */
function shapeOf(props: ChartProps): string {
  return JSON.stringify([props.categories ?? null, props.series.map((s) => [s.label, s.kind, s.axis, s.color]), props.height, props.window]);
}

export function Chart(props: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = useRef<string>("");
  const total = props.series[0]?.values.reduce<number>((sum, v) => sum + (v ?? 0), 0) ?? 0;
  const points = props.categories?.length ?? props.x?.length ?? 0;
  const empty = props.series.every((s) => s.values.every((v) => v === null || v === 0));

  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const nextShape = shapeOf(props);
    if (plot.current !== null && shape.current === nextShape) {
      plot.current.setData(dataOf(props));
      return;
    }
    plot.current?.destroy();
    shape.current = nextShape;
    plot.current = new uPlot(buildOptions(props, Math.max(200, el.clientWidth)), dataOf(props), el);
  });

  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const observer = new ResizeObserver(() => {
      const width = Math.max(200, el.clientWidth);
      if (plot.current !== null && plot.current.width !== width) plot.current.setSize({ width, height: props.height ?? 220 });
    });
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);

  return (
    <figure class="chart" data-testid={props.testid} data-points={points} data-total={total} data-empty={empty ? "true" : "false"}>
      <figcaption>
        <span class="chart-title">{props.title}</span>
        {props.subtitle !== undefined && <span class="chart-subtitle">{props.subtitle}</span>}
      </figcaption>
      <div class="chart-body">
        <div class="chart-plot" ref={box} />
        {empty && <div class="chart-empty">No data yet</div>}
      </div>
    </figure>
  );
}
