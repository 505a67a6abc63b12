// The BTF type model (include/uapi/linux/btf.h), shared by the reader, the writer, the
// printers and the CO-RE engine. Pure: imports nothing from a runtime.

export enum Kind {
  UNKN = 0,
  INT = 1,
  PTR = 2,
  ARRAY = 3,
  STRUCT = 4,
  UNION = 5,
  ENUM = 6,
  FWD = 7,
  TYPEDEF = 8,
  VOLATILE = 9,
  CONST = 10,
  RESTRICT = 11,
  FUNC = 12,
  FUNC_PROTO = 13,
  VAR = 14,
  DATASEC = 15,
  FLOAT = 16,
  DECL_TAG = 17,
  TYPE_TAG = 18,
  ENUM64 = 19,
}

export const KIND_NAMES = [
  "UNKN",
  "INT",
  "PTR",
  "ARRAY",
  "STRUCT",
  "UNION",
  "ENUM",
  "FWD",
  "TYPEDEF",
  "VOLATILE",
  "CONST",
  "RESTRICT",
  "FUNC",
  "FUNC_PROTO",
  "VAR",
  "DATASEC",
  "FLOAT",
  "DECL_TAG",
  "TYPE_TAG",
  "ENUM64",
] as const;

/** BTF_INT_* encoding bits. */
export const INT_SIGNED = 1;
export const INT_CHAR = 2;
export const INT_BOOL = 4;

export interface Member {
  name: string;
  type: number;
  /** Offset of the member in bits from the start of the struct/union. */
  bitOffset: number;
  /** Bitfield width in bits, 0 when the member is not a bitfield. */
  bitfieldSize: number;
}

export interface EnumValue {
  name: string;
  /** The value as the enum's signedness gives it (signed enums keep negative values). */
  value: bigint;
}

export interface Param {
  name: string;
  type: number;
}

export interface VarSecinfo {
  type: number;
  offset: number;
  size: number;
}

interface Base {
  /** Type id (0 is void and is never decoded). */
  id: number;
  /** Name, "" when anonymous. */
  name: string;
}

export interface IntType extends Base {
  kind: Kind.INT;
  size: number;
  /** INT_SIGNED | INT_CHAR | INT_BOOL bits. */
  encoding: number;
  /** BTF_INT_OFFSET: bit offset within the storage (0 in practice). */
  offset: number;
  /** BTF_INT_BITS: number of value bits. */
  bits: number;
}

/** PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG: a name (maybe) and one referenced type. */
export interface RefType extends Base {
  kind: Kind.PTR | Kind.TYPEDEF | Kind.VOLATILE | Kind.CONST | Kind.RESTRICT | Kind.TYPE_TAG;
  type: number;
}

export interface ArrayType extends Base {
  kind: Kind.ARRAY;
  elemType: number;
  indexType: number;
  nelems: number;
}

export interface CompositeType extends Base {
  kind: Kind.STRUCT | Kind.UNION;
  size: number;
  /** kind_flag: members' offsets encode bitfield sizes in their top 8 bits. */
  kindFlag: boolean;
  members: Member[];
}

export interface EnumType extends Base {
  kind: Kind.ENUM | Kind.ENUM64;
  size: number;
  /** kind_flag: values are signed. */
  signed: boolean;
  values: EnumValue[];
}

export interface FwdType extends Base {
  kind: Kind.FWD;
  /** kind_flag: a forward declaration of a union rather than a struct. */
  union: boolean;
}

export interface FuncType extends Base {
  kind: Kind.FUNC;
  /** The FUNC_PROTO id. */
  type: number;
  /** 0 static, 1 global, 2 extern. */
  linkage: number;
}

export interface FuncProtoType extends Base {
  kind: Kind.FUNC_PROTO;
  returnType: number;
  /** A trailing { name: "", type: 0 } parameter means varargs. */
  params: Param[];
}

export interface VarType extends Base {
  kind: Kind.VAR;
  type: number;
  /** 0 static, 1 global (allocated), 2 extern. */
  linkage: number;
}

export interface DatasecType extends Base {
  kind: Kind.DATASEC;
  size: number;
  vars: VarSecinfo[];
}

export interface FloatType extends Base {
  kind: Kind.FLOAT;
  size: number;
}

export interface DeclTagType extends Base {
  kind: Kind.DECL_TAG;
  type: number;
  /** -1 for the type itself, else the member/parameter index. */
  componentIdx: number;
}

export type BtfType =
  | IntType
  | RefType
  | ArrayType
  | CompositeType
  | EnumType
  | FwdType
  | FuncType
  | FuncProtoType
  | VarType
  | DatasecType
  | FloatType
  | DeclTagType;

/** A type as given to the writer: everything but the id, which the writer assigns. */
export type NewType = BtfType extends infer T ? T extends BtfType ? Omit<T, "id"> : never : never;

/**
 * The essential name of a type for CO-RE: the name cut at its last "___" flavor suffix
 * ("task_struct___v1" → "task_struct"). libbpf's bpf_core_essential_name_len.
 */
export function essentialName(name: string): string {
  // The last "X___Y" where X and Y are not underscores (bpf_core_is_flavor_sep).
  for (let i = name.length - 5; i >= 0; i--) {
    if (
      name.charCodeAt(i) !== 0x5f && name.startsWith("___", i + 1) &&
      name.charCodeAt(i + 4) !== 0x5f
    ) {
      return name.slice(0, i + 1);
    }
  }
  return name;
}
