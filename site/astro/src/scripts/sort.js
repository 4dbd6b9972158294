// Client-side sorting for tables marked data-sort: a button in each header sorts the rows by
// the cells' data-v (numbers) or text; a second click reverses. Optional: the tables read in
// their built order without it. Uses only querySelector and children, so a server-side DOM can
// run it in tests.
for (const table of document.querySelectorAll("table[data-sort]")) {
  const heads = table.querySelectorAll("thead tr");
  const head = heads[heads.length - 1];
  const body = table.querySelector("tbody");
  if (!head || !body) continue;
  const ths = [...head.children];
  ths.forEach((th, col) => {
    const button = document.createElement("button");
    button.setAttribute("type", "button");
    button.append(...th.childNodes);
    th.append(button);
    button.addEventListener("click", () => {
      const asc = th.getAttribute("aria-sort") !== "ascending";
      for (const other of ths) other.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      const numeric = th.getAttribute("data-type") === "num";
      const key = (row) => {
        const cell = row.children[col];
        if (!cell) return numeric ? NaN : "";
        const v = cell.getAttribute("data-v");
        if (numeric) return v === null || v === "" ? NaN : Number(v);
        return v ?? cell.textContent.trim();
      };
      const rows = [...body.children];
      rows.sort((a, b) => {
        const x = key(a);
        const y = key(b);
        if (numeric) {
          if (Number.isNaN(x)) return Number.isNaN(y) ? 0 : 1;
          if (Number.isNaN(y)) return -1;
          return asc ? x - y : y - x;
        }
        return asc ? String(x).localeCompare(String(y)) : String(y).localeCompare(String(x));
      });
      body.append(...rows);
    });
  });
}
