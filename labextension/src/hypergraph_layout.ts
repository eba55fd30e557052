/**
 * Layout of the class hypergraph as a bipartite graph, and what a selection highlights.
 *
 * Pure functions (no DOM): classes in a column on the left, singular directions in a column on
 * the right grouped by layer (network order, a header row per layer, singular index order
 * inside), so that every edge runs from the class column to the node column and no edge crosses
 * a node. The classes are spread evenly over the height the nodes take (or the other way round
 * when there are more classes than rows of nodes). A node's radius grows with the square root
 * of its total weight (its area is proportional to the weight).
 */

/** What the layout needs to know about the graph. */
export interface IGraphShape {
  classNames: string[];
  layerNames: string[];
  /** (N,): each node's layer (index into layerNames). */
  nodeLayers: ArrayLike<number>;
  /** (N,): each node's singular index in its layer. */
  nodeIndices: ArrayLike<number>;
  /** (N,): each node's total weight (sum of its incidence column). */
  nodeWeights: ArrayLike<number>;
}

export interface IPoint {
  x: number;
  y: number;
}

export interface INodePlace extends IPoint {
  r: number;
}

export interface ILayerPlace {
  layer: number;
  name: string;
  /** Baseline of the header text. */
  y: number;
  /** The nodes of this layer, in drawing order. */
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
}

/** Geometry constants (pixels). */
export const GEOMETRY = {
  top: 10,
  bottom: 10,
  left: 6,
  right: 6,
  nodePitch: 18,
  headerHeight: 24,
  minClassPitch: 22,
  maxClassPitch: 64,
  classRadius: 7,
  minRadius: 3,
  maxRadius: 8,
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

/** The nodes grouped by layer: layers in order, nodes by singular index (empty layers left out). */
export function groupByLayer(shape: IGraphShape): Array<{ layer: number; nodes: number[] }> {
  const groups = shape.layerNames.map((_, layer) => ({ layer, nodes: [] as number[] }));
  for (let j = 0; j < shape.nodeLayers.length; j++) {
    const g = groups[shape.nodeLayers[j]];
    if (g) {
      g.nodes.push(j);
    }
  }
  for (const g of groups) {
    g.nodes.sort((a, b) => shape.nodeIndices[a] - shape.nodeIndices[b] || a - b);
  }
  return groups.filter(g => g.nodes.length > 0);
}

/**
 * Place classes and nodes in a box `available` pixels wide (wider if the labels and a minimal
 * edge span need it). `nodeLabelChars` is the longest node label, in characters.
 */
export function bipartiteLayout(
  shape: IGraphShape,
  available: number,
  nodeLabelChars: number
): IBipartiteLayout {
  const G = GEOMETRY;
  const groups = groupByLayer(shape);
  const nClasses = shape.classNames.length;
  const nNodes = groups.reduce((a, g) => a + g.nodes.length, 0);

  const classChars = Math.max(
    1,
    ...shape.classNames.map(c => Array.from(truncate(c, G.maxClassLabelChars)).length)
  );
  const layerChars = Math.max(
    1,
    ...groups.map(g => Array.from(truncate(shape.layerNames[g.layer], G.maxLayerLabelChars)).length)
  );
  const classLabelW = classChars * G.charWidth + 4;
  const nodeLabelW = Math.max(nodeLabelChars, layerChars) * G.charWidth + 4;
  const classLabelX = G.left + classLabelW;
  const classX = classLabelX + 6 + G.classRadius;
  const minWidth = classX + G.classRadius + G.minEdgeSpan + G.maxRadius + 6 + nodeLabelW + G.right;
  const width = Math.max(Math.floor(available), Math.ceil(minWidth));
  const nodeLabelX = width - G.right - nodeLabelW;
  const nodeX = nodeLabelX - 6 - G.maxRadius;

  // Node column: a header row per layer, one row per node.
  const nodeSpan = groups.length * G.headerHeight + Math.max(nNodes - 1, 0) * G.nodePitch;
  const classSpan = Math.max(nClasses - 1, 0) * G.minClassPitch;
  const span = Math.max(nodeSpan, classSpan);
  const nodeTop = G.top + (span - nodeSpan) / 2;

  let maxWeight = 0;
  for (let j = 0; j < shape.nodeWeights.length; j++) {
    maxWeight = Math.max(maxWeight, shape.nodeWeights[j] || 0);
  }
  const nodes: INodePlace[] = Array.from({ length: shape.nodeLayers.length }, () => ({
    x: nodeX,
    y: -1,
    r: G.minRadius
  }));
  const layers: ILayerPlace[] = [];
  let y = nodeTop;
  for (const g of groups) {
    layers.push({ layer: g.layer, name: shape.layerNames[g.layer], y: y + 12, nodes: g.nodes });
    y += G.headerHeight;
    for (const j of g.nodes) {
      const w = shape.nodeWeights[j] || 0;
      const t = maxWeight > 0 ? Math.sqrt(Math.max(w, 0) / maxWeight) : 0;
      nodes[j] = { x: nodeX, y, r: G.minRadius + (G.maxRadius - G.minRadius) * t };
      y += G.nodePitch;
    }
  }

  // Class column: spread over the nodes' rows (from the first node to the last one).
  const firstNode = nodeTop + G.headerHeight;
  const lastNode = nodeTop + nodeSpan;
  let pitch = nClasses > 1 ? (lastNode - firstNode) / (nClasses - 1) : 0;
  pitch = Math.min(Math.max(pitch, G.minClassPitch), G.maxClassPitch);
  const classBlock = pitch * Math.max(nClasses - 1, 0);
  const centre = nNodes > 0 ? (firstNode + lastNode) / 2 : G.top + classBlock / 2;
  const classTop = Math.max(G.top + G.classRadius, centre - classBlock / 2);
  const classes = shape.classNames.map((_, c) => ({ x: classX, y: classTop + c * pitch }));

  const bottom = Math.max(
    nNodes > 0 ? lastNode + G.maxRadius : 0,
    nClasses > 0 ? classTop + classBlock + G.classRadius : 0,
    G.top
  );
  return {
    width,
    height: Math.ceil(bottom + G.bottom),
    classLabelX,
    nodeLabelX,
    classes,
    nodes,
    layers,
    classRadius: G.classRadius
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

/** Tableau 10: categorical colours that read on light and dark backgrounds. */
const CATEGORICAL = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac'
];

/** The colour of class `c` (cycles after 10 classes). */
export function classColor(c: number): string {
  return CATEGORICAL[((c % CATEGORICAL.length) + CATEGORICAL.length) % CATEGORICAL.length];
}
