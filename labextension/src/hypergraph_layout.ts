/**
 * Drawing the class hypergraph from the layout the kernel computed, and what a selection
 * highlights.
 *
 * The layout is `svdwidgets/hypergraph/layout.py` (`bipartite_layout`), the same function the
 * static figure uses; it arrives as the HypergraphView's traits: each class's and node's
 * `(x, y)` with `x` in columns (0: classes, 1: nodes) and `y` in pixels, each node's radius,
 * each layer header's baseline (NaN: a node or layer that is not drawn) and the height. Here
 * only the horizontal placement is decided: the two columns are put `available` pixels apart,
 * with room for the labels. Pure functions (no DOM).
 */
import { CATEGORICAL } from './palette';

/** What the drawing needs to know about the graph. */
export interface IGraphShape {
  classNames: string[];
  layerNames: string[];
  /** (N,): each node's layer (index into layerNames). */
  nodeLayers: ArrayLike<number>;
}

/** The layout as the kernel sends it (the HypergraphView's computed traits). */
export interface ICoordinates {
  /** (C, 2) row-major: each class's (column, y). */
  classXY: ArrayLike<number>;
  /** (N, 2) row-major: each node's (column, y); NaN for a node not drawn. */
  nodeXY: ArrayLike<number>;
  /** (N,): each node's radius in px; NaN for a node not drawn. */
  nodeRadius: ArrayLike<number>;
  /** (L,): each layer header's baseline; NaN for a layer without drawn nodes. */
  layerY: ArrayLike<number>;
  /** Height of the drawing in px. */
  height: number;
}

export interface IPoint {
  x: number;
  y: number;
}

export interface INodePlace extends IPoint {
  r: number;
  /** False for a node the kernel's layout leaves out (not among the strongest). */
  shown: boolean;
}

export interface ILayerPlace {
  layer: number;
  name: string;
  /** Baseline of the header text. */
  y: number;
  /** The drawn nodes of this layer, top to bottom. */
  nodes: number[];
}

export interface IBipartiteLayout {
  width: number;
  height: number;
  /** x of the right end of the class labels (text-anchor end). */
  classLabelX: number;
  /** x of the left end of the node labels. */
  nodeLabelX: number;
  classes: IPoint[];
  nodes: INodePlace[];
  layers: ILayerPlace[];
  classRadius: number;
  /** How many nodes are drawn. */
  shown: number;
}

/** Horizontal geometry (pixels): the vertical one comes with the coordinates. */
export const GEOMETRY = {
  left: 6,
  right: 6,
  classRadius: 7,
  /** Estimated advance of one character of the 12 px labels. */
  charWidth: 7,
  minEdgeSpan: 120,
  maxClassLabelChars: 18,
  maxLayerLabelChars: 24
};

/** `s` cut to `max` characters with an ellipsis (the full text goes in the tooltip). */
export function truncate(s: string, max: number): string {
  const chars = Array.from(s);
  return chars.length <= max ? s : chars.slice(0, Math.max(max - 1, 1)).join('') + '…';
}

/** The σ label next to a node (after its singular index). */
export function sigmaLabel(sigma: number): string {
  return `σ ${formatSigma(sigma)}`;
}

export function formatSigma(sigma: number): string {
  if (!Number.isFinite(sigma)) {
    return String(sigma);
  }
  const a = Math.abs(sigma);
  return a !== 0 && (a >= 1e4 || a < 1e-3) ? sigma.toExponential(2) : sigma.toPrecision(3);
}

/** Whether the coordinates fit the graph: (C, 2), (N, 2), (N,), (L,) and a finite height. */
export function coordinatesFit(shape: IGraphShape, coords: ICoordinates): boolean {
  const c = shape.classNames.length;
  const n = shape.nodeLayers.length;
  return (
    coords.classXY.length === 2 * c &&
    coords.nodeXY.length === 2 * n &&
    coords.nodeRadius.length === n &&
    coords.layerY.length === shape.layerNames.length &&
    Number.isFinite(coords.height)
  );
}

/**
 * Place the kernel's layout in a box `available` pixels wide (wider if the labels and a minimal
 * edge span need it). `nodeLabelChars` is the longest node label, in characters.
 */
export function placeLayout(
  shape: IGraphShape,
  coords: ICoordinates,
  available: number,
  nodeLabelChars: number
): IBipartiteLayout {
  const G = GEOMETRY;
  const nNodes = shape.nodeLayers.length;
  let maxRadius = 0;
  for (let j = 0; j < nNodes; j++) {
    const r = coords.nodeRadius[j];
    if (Number.isFinite(r)) {
      maxRadius = Math.max(maxRadius, r);
    }
  }
  const drawnLayers = shape.layerNames
    .map((name, layer) => ({ name, layer, y: coords.layerY[layer] }))
    .filter(l => Number.isFinite(l.y));
  const classChars = Math.max(
    1,
    ...shape.classNames.map(c => Array.from(truncate(c, G.maxClassLabelChars)).length)
  );
  const layerChars = Math.max(
    1,
    ...drawnLayers.map(l => Array.from(truncate(l.name, G.maxLayerLabelChars)).length)
  );
  const classLabelW = classChars * G.charWidth + 4;
  const nodeLabelW = Math.max(nodeLabelChars, layerChars) * G.charWidth + 4;
  const classLabelX = G.left + classLabelW;
  const classX = classLabelX + 6 + G.classRadius;
  const minWidth = classX + G.classRadius + G.minEdgeSpan + maxRadius + 6 + nodeLabelW + G.right;
  const width = Math.max(Math.floor(available), Math.ceil(minWidth));
  const nodeLabelX = width - G.right - nodeLabelW;
  const nodeX = nodeLabelX - 6 - maxRadius;
  const column = (x: number) => classX + x * (nodeX - classX);

  const classes = shape.classNames.map((_, c) => ({
    x: column(coords.classXY[2 * c]),
    y: coords.classXY[2 * c + 1]
  }));
  let shown = 0;
  const nodes: INodePlace[] = [];
  for (let j = 0; j < nNodes; j++) {
    const y = coords.nodeXY[2 * j + 1];
    const ok = Number.isFinite(y) && Number.isFinite(coords.nodeRadius[j]);
    shown += ok ? 1 : 0;
    nodes.push({ x: column(coords.nodeXY[2 * j]), y, r: coords.nodeRadius[j], shown: ok });
  }
  const layers: ILayerPlace[] = drawnLayers.map(l => {
    const members: number[] = [];
    for (let j = 0; j < nNodes; j++) {
      if (nodes[j].shown && shape.nodeLayers[j] === l.layer) {
        members.push(j);
      }
    }
    members.sort((a, b) => nodes[a].y - nodes[b].y);
    return { layer: l.layer, name: l.name, y: l.y, nodes: members };
  });
  return {
    width,
    height: Math.ceil(coords.height),
    classLabelX,
    nodeLabelX,
    classes,
    nodes,
    layers: layers.filter(l => l.nodes.length > 0),
    classRadius: G.classRadius,
    shown
  };
}

/** SVG path of the edge from a class to a node: a cubic curve, horizontal at both ends. */
export function edgePath(from: IPoint, fromR: number, to: INodePlace): string {
  const x0 = from.x + fromR;
  const x1 = to.x - to.r;
  const mid = (x0 + x1) / 2;
  const f = (v: number) => String(Math.round(v * 10) / 10);
  return `M${f(x0)},${f(from.y)} C${f(mid)},${f(from.y)} ${f(mid)},${f(to.y)} ${f(x1)},${f(to.y)}`;
}

/** A C x N incidence matrix (row-major weights). */
export interface IIncidence {
  nClasses: number;
  nNodes: number;
  data: ArrayLike<number>;
}

/** The classes node `j` belongs to (weight > 0), in class order. */
export function classesOf(inc: IIncidence, j: number): number[] {
  const out: number[] = [];
  for (let c = 0; c < inc.nClasses; c++) {
    if (inc.data[c * inc.nNodes + j] > 0) {
      out.push(c);
    }
  }
  return out;
}

/** The nodes of class `c` (weight > 0), in node order. */
export function nodesOf(inc: IIncidence, c: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < inc.nNodes; j++) {
    if (inc.data[c * inc.nNodes + j] > 0) {
      out.push(j);
    }
  }
  return out;
}

/** What a selection highlights: the selected nodes' classes and the selected classes' nodes. */
export function highlighted(
  inc: IIncidence,
  selectedNodes: number[],
  selectedClasses: number[]
): { classes: Set<number>; nodes: Set<number> } {
  const classes = new Set<number>();
  const nodes = new Set<number>();
  for (const j of selectedNodes) {
    if (j >= 0 && j < inc.nNodes) {
      classesOf(inc, j).forEach(c => classes.add(c));
    }
  }
  for (const c of selectedClasses) {
    if (c >= 0 && c < inc.nClasses) {
      nodesOf(inc, c).forEach(j => nodes.add(j));
    }
  }
  return { classes, nodes };
}

/** The colour of class `c` (cycles after 10 classes). */
export function classColor(c: number): string {
  return CATEGORICAL[((c % CATEGORICAL.length) + CATEGORICAL.length) % CATEGORICAL.length];
}
