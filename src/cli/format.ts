/** Output helpers shared by commands: Lotus-style space-aligned tables and human sizes. */
import Table from "cli-table3";

export function human(bytes: number | null): string {
  if (bytes === null) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** A Lotus-style table: columns separated by two spaces, no borders, no trailing blanks. */
export function plainTable(head: string[]): Table.Table {
  const t = new Table({
    head,
    chars: {
      top: "",
      "top-mid": "",
      "top-left": "",
      "top-right": "",
      bottom: "",
      "bottom-mid": "",
      "bottom-left": "",
      "bottom-right": "",
      left: "",
      "left-mid": "",
      mid: "",
      "mid-mid": "",
      right: "",
      "right-mid": "",
      middle: "  ",
    },
    style: { head: [], border: [], "padding-left": 0, "padding-right": 0 },
  });
  const render = t.toString.bind(t);
  t.toString = () =>
    render()
      .split("\n")
      .map((l) => l.trimEnd())
      .join("\n");
  return t;
}
