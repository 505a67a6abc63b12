import type { Command } from "./command.ts";
import { TracerError } from "../errors.ts";

export const inspectCommand: Command = {
  name: "inspect",
  summary: "list a BPF object's programs, maps and CO-RE relocations against a kernel",
  run() {
    return Promise.reject(new TracerError("not implemented yet"));
  },
};
