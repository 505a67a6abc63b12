import type { Command } from "./command.ts";
import { TracerError } from "../errors.ts";

export const btfCommand: Command = {
  name: "btf",
  summary: "print or summarise BTF type information (kernel or file)",
  run() {
    return Promise.reject(new TracerError("not implemented yet"));
  },
};
