// The site model: every page as a list of typed blocks, written to JSON by the Deno side and
// rendered by the Astro templates (site/src/). Everything the pages say is decided here, where
// `deno test` can see it; the templates only turn blocks into HTML. Links are site paths
// ("/runs/x/") until `finishPage` makes them relative, so the built site works from any folder
// and from file://.

/** Inline text: plain, a link, code or strong. */
export type Part = string | {
  readonly text: string;
  readonly href?: string;
  readonly code?: boolean;
  readonly strong?: boolean;
};

export interface Cell {
  readonly text: string;
  /** Sort key (numbers sort numerically); absent: the text. */
  readonly sort?: number | string;
  readonly href?: string;
  /** Background colour (colour-coded cells). */
  readonly bg?: string;
  /** Tooltip: where the value came from. */
  readonly title?: string;
  /** Measured on a software adapter: shown with † and muted. */
  readonly nonRep?: boolean;
  readonly code?: boolean;
}

export interface Column {
  readonly label: string;
  /** Right-aligned and sorted as numbers. */
  readonly numeric?: boolean;
  /** A short note under the label (unit, direction). */
  readonly note?: string;
  /** The group header this column sits under, if any. */
  readonly group?: string;
}

export interface TableBlock {
  readonly type: "table";
  readonly id?: string;
  readonly caption?: readonly Part[];
  readonly columns: readonly Column[];
  readonly rows: readonly (readonly Cell[])[];
  /** Sortable by clicking a header (with JS); the order as built without it. */
  readonly sortable?: boolean;
}

export interface FigureBlock {
  readonly type: "figure";
  readonly id: string;
  readonly title: string;
  /** What is plotted and what is better. */
  readonly caption: readonly Part[];
  /** Static SVG (or Plot's <figure> with a legend and the SVG), drawn at build time. */
  readonly svg: string;
  /** The plotted data. */
  readonly table: TableBlock;
}

export type Block =
  | { readonly type: "heading"; readonly level: 2 | 3; readonly text: string; readonly id?: string }
  | { readonly type: "p"; readonly parts: readonly Part[] }
  | {
    readonly type: "banner";
    readonly tone: "info" | "warn" | "error";
    readonly parts: readonly Part[];
  }
  | { readonly type: "list"; readonly items: readonly (readonly Part[])[] }
  | {
    readonly type: "dl";
    readonly items: readonly { readonly term: string; readonly parts: readonly Part[] }[];
  }
  | { readonly type: "code"; readonly text: string }
  | TableBlock
  | FigureBlock;

export interface NavLink {
  readonly label: string;
  readonly href: string;
  readonly current: boolean;
}

export interface Page {
  /** Site path: "" for the index, else "section/name/" (always ending in "/"). */
  readonly path: string;
  readonly title: string;
  /** Nav section this page belongs to. */
  readonly section: string;
  readonly blocks: readonly Block[];
  readonly nav?: readonly NavLink[];
}

export interface Download {
  /** Site path of the file, e.g. "runs/x/records.csv". */
  readonly path: string;
  readonly text: string;
}

export interface SiteModel {
  readonly title: string;
  readonly generated: string;
  readonly pages: readonly Page[];
  readonly downloads: readonly Download[];
}

export const NAV: readonly {
  readonly section: string;
  readonly label: string;
  readonly path: string;
}[] = [
  { section: "overview", label: "Overview", path: "/" },
  { section: "tasks", label: "Tasks", path: "/tasks/" },
  { section: "tradeoffs", label: "Trade-offs", path: "/tradeoffs/" },
  { section: "needles", label: "Needles", path: "/needles/" },
  { section: "efficiency", label: "Efficiency", path: "/efficiency/" },
  { section: "runs", label: "Runs", path: "/runs/" },
  { section: "methods", label: "Methods", path: "/methods/" },
  { section: "formats", label: "Formats", path: "/formats/" },
];

// --- links -------------------------------------------------------------------------------------

export const runHref = (slug: string) => `/runs/${slug}/`;
/** A name as a path segment (registry names are already safe; names from records may not be). */
export const nameSlug = (name: string) => name.replace(/[^A-Za-z0-9._+-]+/g, "_") || "_";
export const methodHref = (name: string) => `/methods/${nameSlug(name)}/`;
export const formatHref = (name: string) => `/formats/${nameSlug(name)}/`;

/**
 * The relative href from page `from` (a site path like "runs/x/") to site path `to` ("/runs/y/",
 * "/runs/y/records.csv", "/#anchor"); directories get "index.html" so file:// works. Anything
 * that is not a site path (http:, https:, #anchor) is returned as is.
 */
export function relHref(from: string, to: string): string {
  if (!to.startsWith("/")) return to;
  const [pathPart, hash] = to.split("#", 2) as [string, string | undefined];
  const depth = from.split("/").filter((s) => s !== "").length;
  const up = "../".repeat(depth);
  let target = pathPart.slice(1);
  if (target === "" || target.endsWith("/")) target += "index.html";
  return `${up}${target}${hash !== undefined ? `#${hash}` : ""}`;
}

function relParts(from: string, parts: readonly Part[]): Part[] {
  return parts.map((p) =>
    typeof p === "string" || p.href === undefined ? p : { ...p, href: relHref(from, p.href) }
  );
}

function relTable(from: string, t: TableBlock): TableBlock {
  return {
    ...t,
    caption: t.caption && relParts(from, t.caption),
    rows: t.rows.map((row) =>
      row.map((c) => (c.href === undefined ? c : { ...c, href: relHref(from, c.href) }))
    ),
  };
}

function relBlock(from: string, b: Block): Block {
  switch (b.type) {
    case "p":
    case "banner":
      return { ...b, parts: relParts(from, b.parts) };
    case "list":
      return { ...b, items: b.items.map((i) => relParts(from, i)) };
    case "dl":
      return { ...b, items: b.items.map((i) => ({ ...i, parts: relParts(from, i.parts) })) };
    case "table":
      return relTable(from, b);
    case "figure":
      return { ...b, caption: relParts(from, b.caption), table: relTable(from, b.table) };
    default:
      return b;
  }
}

/** Makes every link of a page relative and adds its nav. */
export function finishPage(page: Page): Page {
  return {
    ...page,
    blocks: page.blocks.map((b) => relBlock(page.path, b)),
    nav: NAV.map((n) => ({
      label: n.label,
      href: relHref(page.path, n.path),
      current: n.section === page.section,
    })),
  };
}
