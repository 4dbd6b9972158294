// Records as CSV (RFC 4180): one column per field in first-seen order, objects flattened one
// level ("adapter.description"), arrays as JSON.

function flatten(raw: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) out[`${k}.${k2}`] = v2;
    } else {
      out[k] = v;
    }
  }
  return out;
}

function field(v: unknown): string {
  if (v === undefined || v === null) return "";
  const text = typeof v === "object" ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(records: readonly Readonly<Record<string, unknown>>[]): string {
  const rows = records.map(flatten);
  const columns: string[] = [];
  const seen = new Set<string>();
  for (const r of rows) {
    for (const k of Object.keys(r)) {
      if (!seen.has(k)) {
        seen.add(k);
        columns.push(k);
      }
    }
  }
  const lines = [columns.map(field).join(",")];
  for (const r of rows) lines.push(columns.map((c) => field(r[c])).join(","));
  return lines.join("\r\n") + "\r\n";
}
