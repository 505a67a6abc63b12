// Aligned text columns for streamed rows. Widths start from the header (or a given minimum)
// and only grow: a value wider than its column is printed whole and the column widens for
// the rows that follow, and columns are always separated by at least one space, so two
// values never run together. A `fit` column never widens: a longer value is cut (between
// escapes, never inside one) and ends in "…", so the columns after it stay under their
// headers whatever bytes a command name holds. The last column is never padded.
// Pure: imports nothing from a runtime.

import { isCombining } from "./escape.ts";

export interface Column {
  name: string;
  /** "right" for numbers. */
  align?: "left" | "right";
  /** Minimum width (the header's width is always the floor). */
  width?: number;
  /** Cut longer values to the width (escaped text: see fitCell) instead of widening. */
  fit?: boolean;
}

export class Table {
  readonly columns: readonly Column[];
  private widths: number[];

  constructor(columns: Column[]) {
    this.columns = columns;
    this.widths = columns.map((c) => Math.max(c.width ?? 0, displayWidth(c.name)));
  }

  /** The header line (with its newline). */
  header(): string {
    return this.line(this.columns.map((c) => c.name));
  }

  /** One row (with its newline); cells must already be escaped single-line text. */
  row(cells: readonly string[]): string {
    if (cells.length !== this.columns.length) {
      throw new Error(`table: ${cells.length} cells for ${this.columns.length} columns`);
    }
    return this.line(cells);
  }

  private line(cells: readonly string[]): string {
    let s = "";
    const last = cells.length - 1;
    for (let i = 0; i <= last; i++) {
      let cell = cells[i];
      let w = displayWidth(cell);
      if (w > this.widths[i] && this.columns[i].fit) {
        cell = fitCell(cell, this.widths[i]);
        w = displayWidth(cell);
      }
      if (i === last) {
        s += this.columns[i].align === "right" ? pad(this.widths[i] - w) + cell : cell;
        break;
      }
      if (w > this.widths[i]) this.widths[i] = w;
      s += this.columns[i].align === "right"
        ? pad(this.widths[i] - w) + cell + " "
        : cell + pad(this.widths[i] - w + 1);
    }
    // Only an empty last cell can leave spaces at the end.
    return (cells[last] === "" ? s.trimEnd() : s) + "\n";
  }
}

/**
 * The longest prefix of escaped text (src/output/escape.ts: every backslash starts an escape:
 * \\, \n, \t, \r, \xNN, \u{...}) that fits `width` columns with "…" after it. An escape is
 * kept whole or dropped whole, so what is shown is never a different byte.
 */
export function fitCell(text: string, width: number): string {
  let end = 0, w = 0;
  for (let i = 0; i < text.length;) {
    let next: number;
    if (text[i] === "\\") {
      const c = text[i + 1];
      next = c === "x" ? i + 4 : c === "u" ? text.indexOf("}", i) + 1 || text.length : i + 2;
    } else {
      next = i + (text.codePointAt(i)! > 0xffff ? 2 : 1);
    }
    const cw = displayWidth(text.slice(i, next));
    if (w + cw > width - 1) break;
    w += cw;
    end = i = next;
  }
  return text.slice(0, end) + "…";
}

const SPACES = " ".repeat(256);

/** n spaces (none for n <= 0). */
function pad(n: number): string {
  return n <= 0 ? "" : n <= 256 ? SPACES.slice(0, n) : " ".repeat(n);
}

/**
 * Terminal columns taken by text: one per code point, two for East Asian wide and emoji
 * ranges, none for combining marks. Close enough for alignment; never less than the truth
 * for the ranges covered.
 */
export function displayWidth(text: string): number {
  let w = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x300) {
      w++;
      continue;
    }
    const cp = text.codePointAt(i)!;
    if (cp > 0xffff) i++;
    if (isCombining(cp) || (cp >= 0x200b && cp <= 0x200d)) continue;
    if (
      (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) ||
      (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
      (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
      (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1faff) ||
      (cp >= 0x20000 && cp <= 0x3fffd)
    ) {
      w += 2;
    } else {
      w++;
    }
  }
  return w;
}
