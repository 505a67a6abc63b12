// Command-line option parsing: node:util's parseArgs in strict mode, the part of it the commands
// use (long and short options, `--name=value`, `-d5`, grouped short flags, repeated options,
// defaults, `--` ending the options). Written here because importing node:util costs every start
// of the tracer ~2 ms of CPU, more than this whole file.

/** One option: its type, one-letter alias, whether it may repeat, its default. */
export interface OptionSpec {
  readonly type: "string" | "boolean";
  readonly short?: string;
  readonly multiple?: boolean;
  readonly default?: string | boolean | readonly string[] | readonly boolean[];
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

type ValueOf<S extends OptionSpec> = S["type"] extends "string"
  ? (S["multiple"] extends true ? string[] : string)
  : (S["multiple"] extends true ? boolean[] : boolean);

/** The parsed values: an option with a default always has a value. */
export type OptionValues<O extends OptionSpecs> = {
  [K in keyof O]: O[K] extends { default: unknown } ? ValueOf<O[K]> : ValueOf<O[K]> | undefined;
};

/** How errors name an option: "-d, --duration" or "--btf". */
function shownName(name: string, spec: OptionSpec): string {
  return spec.short === undefined ? `--${name}` : `-${spec.short}, --${name}`;
}

/** A bad command line; the message is one line, as parseArgs words it. */
export class ArgsError extends Error {}

/**
 * Parses `args` against `options`. Unknown options, a missing or ambiguous value, a value given
 * to a boolean and (unless `allowPositionals`) any positional are ArgsErrors.
 */
export function parseArgs<const O extends OptionSpecs>(
  args: readonly string[],
  options: O,
  allowPositionals = false,
): { values: OptionValues<O>; positionals: string[] } {
  const values: Record<string, unknown> = Object.create(null);
  const positionals: string[] = [];
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(options)) {
    if (spec.short !== undefined) byShort.set(spec.short, name);
  }
  const store = (name: string, value: string | boolean) => {
    if (!options[name].multiple) values[name] = value;
    else ((values[name] ??= []) as unknown[]).push(value);
  };
  const positional = (arg: string) => {
    if (!allowPositionals) {
      throw new ArgsError(
        `Unexpected argument '${arg}'. This command does not take positional arguments`,
      );
    }
    positionals.push(arg);
  };
  /** An option's value from the next argument (a string option without an inline value). */
  const nextValue = (i: number, name: string, typed: string): string => {
    const shown = shownName(name, options[name]);
    if (i + 1 >= args.length) throw new ArgsError(`Option '${shown} <value>' argument missing`);
    const value = args[i + 1];
    if (value.length > 1 && value.startsWith("-")) {
      throw new ArgsError(
        `Option '${typed}' argument is ambiguous. To give a value starting with a dash: '--${name}=-XYZ'`,
      );
    }
    return value;
  };

  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      for (const rest of args.slice(i + 1)) positional(rest);
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const spec = Object.hasOwn(options, name) ? options[name] : undefined;
      if (!spec) throw new ArgsError(`Unknown option '${name === "" ? arg : `--${name}`}'`);
      if (spec.type === "boolean") {
        if (eq >= 0) {
          throw new ArgsError(`Option '${shownName(name, spec)}' does not take an argument`);
        }
        store(name, true);
      } else if (eq >= 0) {
        store(name, arg.slice(eq + 1));
      } else {
        store(name, nextValue(i, name, arg));
        i++;
      }
      continue;
    }
    if (arg.length < 2 || arg[0] !== "-") {
      positional(arg);
      continue;
    }
    // -x, -xVALUE, -abc (flags)
    for (let j = 1; j < arg.length; j++) {
      const name = byShort.get(arg[j]);
      if (name === undefined) throw new ArgsError(`Unknown option '-${arg[j]}'`);
      if (options[name].type === "boolean") {
        store(name, true);
        continue;
      }
      if (j + 1 < arg.length) {
        store(name, arg.slice(j + 1));
      } else {
        store(name, nextValue(i, name, `-${arg[j]}`));
        i++;
      }
      break;
    }
  }

  for (const [name, spec] of Object.entries(options)) {
    if (values[name] === undefined && spec.default !== undefined) {
      values[name] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
    }
  }
  return { values: values as OptionValues<O>, positionals };
}
