// Plain-text tables of the command line: a header row and rows of cells,
// each column as wide as its widest cell, two spaces apart, no trailing blanks.

/** The table's lines, each ending with '\n'. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return all
    .map(
      (row) =>
        header
          .map((_, i) => (row[i] ?? '').padEnd(widths[i]!))
          .join('  ')
          .trimEnd() + '\n',
    )
    .join('');
}
