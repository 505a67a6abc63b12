import type { Command } from "./command.ts";
import { TracerError } from "../errors.ts";

export const execCommand: Command = {
  name: "exec",
  summary: "trace process execution (like execsnoop)",
  run() {
    return Promise.reject(new TracerError("not implemented yet"));
  },
};
