/**
 * The evaluation's picture: panels side by side (before / after alignment) of 2-D points, image
 * embeddings as circles (filled: fit split, hollow: held out) and label texts as larger squares
 * with a cross, coloured by label, on shared axes; a legend of labels and markers below. Drawn as
 * SVG here and rasterised to PNG by sharp (librsvg); the SVG is ours, never a client's.
 */
import sharp from 'sharp';

export interface PlotPoint {
  x: number;
  y: number;
  /** Index into the plot's labels. */
  label: number;
}

export interface PlotPanel {
  title: string;
  subtitle?: string;
  images: (PlotPoint & { held: boolean })[];
  texts: PlotPoint[];
}

export interface PlotSpec {
  title: string;
  labels: readonly string[];
  panels: readonly PlotPanel[];
  /** Axis names, e.g. `PC1 (41%)`. */
  xLabel: string;
  yLabel: string;
}

const TAB20 = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf',
  '#aec7e8', '#ffbb78', '#98df8a', '#ff9896', '#c5b0d5', '#c49c94', '#f7b6d2', '#c7c7c7', '#dbdb8d', '#9edae5',
];

/** Distinct colours: Tableau's 20, then golden-angle hues. */
export function labelColour(index: number): string {
  if (index < TAB20.length) return TAB20[index]!;
  const hue = Math.round((index * 137.508) % 360);
  return `hsl(${hue}, 65%, 45%)`;
}

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const f = (n: number) => n.toFixed(1);

const PANEL = 480;
const MARGIN = { left: 56, right: 24, top: 92, bottom: 44 };
const LEGEND_ROW = 22;
const LEGEND_LABELS_SHOWN = 30;

export function plotSvg(spec: PlotSpec): string {
  const panelWidth = MARGIN.left + PANEL + MARGIN.right;
  const width = Math.max(panelWidth * spec.panels.length, 640);
  const shown = spec.labels.slice(0, LEGEND_LABELS_SHOWN);
  const perRow = Math.max(1, Math.floor((width - 40) / 190));
  const legendRows = 1 + Math.ceil((shown.length + (spec.labels.length > shown.length ? 1 : 0)) / perRow);
  const legendTop = MARGIN.top + PANEL + MARGIN.bottom + 8;
  const height = legendTop + legendRows * LEGEND_ROW + 16;

  // Shared axes, equal scale on x and y (distances in the picture are distances in the projection).
  const all = spec.panels.flatMap((p) => [...p.images, ...p.texts]);
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const span = Math.max(x1 - x0, y1 - y0, 1e-9) * 1.1;
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  const sx = (x: number) => ((x - cx) / span + 0.5) * PANEL;
  const sy = (y: number) => (0.5 - (y - cy) / span) * PANEL;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold">${escape(spec.title)}</text>`,
  ];
  const labelTexts = spec.labels.length <= 12;
  spec.panels.forEach((panel, p) => {
    const ox = p * panelWidth + MARGIN.left;
    const oy = MARGIN.top;
    out.push(`<g transform="translate(${ox},${oy})">`);
    out.push(`<text x="${PANEL / 2}" y="-30" text-anchor="middle" font-size="15" font-weight="bold">${escape(panel.title)}</text>`);
    if (panel.subtitle) out.push(`<text x="${PANEL / 2}" y="-12" text-anchor="middle" font-size="12" fill="#444">${escape(panel.subtitle)}</text>`);
    out.push(`<rect x="0" y="0" width="${PANEL}" height="${PANEL}" fill="#fafafa" stroke="#999"/>`);
    // Zero lines of the projection, when in view.
    if (sx(0) > 0 && sx(0) < PANEL) out.push(`<line x1="${f(sx(0))}" y1="0" x2="${f(sx(0))}" y2="${PANEL}" stroke="#e2e2e2"/>`);
    if (sy(0) > 0 && sy(0) < PANEL) out.push(`<line x1="0" y1="${f(sy(0))}" x2="${PANEL}" y2="${f(sy(0))}" stroke="#e2e2e2"/>`);
    for (const point of panel.images) {
      const colour = labelColour(point.label);
      out.push(
        point.held
          ? `<circle cx="${f(sx(point.x))}" cy="${f(sy(point.y))}" r="4.5" fill="white" fill-opacity="0.6" stroke="${colour}" stroke-width="1.8"/>`
          : `<circle cx="${f(sx(point.x))}" cy="${f(sy(point.y))}" r="4" fill="${colour}" fill-opacity="0.75"/>`,
      );
    }
    for (const point of panel.texts) {
      const [x, y] = [sx(point.x), sy(point.y)];
      out.push(textMarker(x, y, labelColour(point.label)));
      if (labelTexts) {
        out.push(`<text x="${f(x + 11)}" y="${f(y + 4)}" font-size="11" stroke="white" stroke-width="3" paint-order="stroke">${escape(spec.labels[point.label]!)}</text>`);
      }
    }
    out.push(`<text x="${PANEL / 2}" y="${PANEL + 28}" text-anchor="middle" font-size="12">${escape(spec.xLabel)}</text>`);
    out.push(`<text transform="translate(-18,${PANEL / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escape(spec.yLabel)}</text>`);
    out.push('</g>');
  });

  // Legend: the markers, then one swatch per label.
  let y = legendTop;
  out.push(
    `<g font-size="12"><circle cx="30" cy="${y}" r="4" fill="#555"/><text x="40" y="${y + 4}">image (fit split)</text>`,
    `<circle cx="180" cy="${y}" r="4.5" fill="white" stroke="#555" stroke-width="1.8"/><text x="190" y="${y + 4}">image (held out)</text>`,
    `${textMarker(340, y, '#555')}<text x="352" y="${y + 4}">label text embedding</text></g>`,
  );
  const entries = shown.map((label, i) => ({ text: label, colour: labelColour(i) }));
  if (spec.labels.length > shown.length) entries.push({ text: `… and ${spec.labels.length - shown.length} more labels`, colour: '' });
  entries.forEach((entry, i) => {
    const col = i % perRow;
    if (col === 0) y += LEGEND_ROW;
    const x = 24 + col * 190;
    const name = entry.text.length > 24 ? `${entry.text.slice(0, 23)}…` : entry.text;
    if (entry.colour) out.push(`<rect x="${x}" y="${y - 6}" width="12" height="12" fill="${entry.colour}"/>`);
    out.push(`<text x="${x + (entry.colour ? 18 : 0)}" y="${y + 4}" font-size="12">${escape(name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** A square with a cross: the label's text embedding. */
function textMarker(x: number, y: number, colour: string): string {
  const h = 7;
  return (
    `<rect x="${f(x - h)}" y="${f(y - h)}" width="${2 * h}" height="${2 * h}" fill="${colour}" stroke="black" stroke-width="1.5"/>` +
    `<path d="M${f(x - h + 3)},${f(y - h + 3)} L${f(x + h - 3)},${f(y + h - 3)} M${f(x + h - 3)},${f(y - h + 3)} L${f(x - h + 3)},${f(y + h - 3)}" stroke="white" stroke-width="1.8"/>`
  );
}

/** The plot as PNG bytes. */
export async function renderPlotPng(spec: PlotSpec): Promise<Buffer> {
  return sharp(Buffer.from(plotSvg(spec)), { density: 96 }).png().toBuffer();
}
