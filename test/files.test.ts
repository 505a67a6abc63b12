// The platform's file calls (src/platform/files-libc.ts: openat, statx, getdents64 through
// syscall(2)) against node:fs, the reference: the same bytes, stat fields and directory entries
// for real files of this machine (a 5 MB sysfs file, /proc files, cgroup and /proc directories, a
// temporary directory whose names are not UTF-8), and the same error codes.

import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { getPlatform } from "../src/platform/index.ts";
import {
  appendText,
  closeFile,
  exists,
  FileError,
  makeDir,
  openFile,
  readDir,
  readFile,
  readText,
  readTextOrNull,
  stat,
  writeFile,
} from "../src/platform/files.ts";

// A platform exists: every call below goes through its libc (createPlatform installs it).
await getPlatform();

const bytes = (s: string) => new TextEncoder().encode(s);

test("files: whole files read as node:fs reads them (sysfs, /proc, regular)", () => {
  for (
    const path of ["/sys/kernel/btf/vmlinux", "/etc/passwd", "/proc/self/mounts", "/proc/cgroups"]
  ) {
    assert.deepEqual(readFile(path), new Uint8Array(fs.readFileSync(path)), path);
  }
  // /proc/kallsyms is generated per read and reports size 0: read to its end in several reads.
  const kallsyms = readText("/proc/kallsyms");
  assert.ok(kallsyms.length > 1 << 20 && kallsyms.endsWith("\n"), `${kallsyms.length} bytes`);
  assert.equal(
    kallsyms.split("\n").length,
    fs.readFileSync("/proc/kallsyms", "utf8").split("\n").length,
  );
});

test("files: stat and directory listings agree with node:fs", () => {
  for (const path of ["/sys/fs/cgroup", "/proc", "/etc/passwd", "/sys/kernel/btf/vmlinux", "/"]) {
    const want = fs.statSync(path, { bigint: true });
    assert.deepEqual(stat(path), {
      size: Number(want.size),
      ino: want.ino,
      nlink: Number(want.nlink),
      isDirectory: want.isDirectory(),
      uid: Number(want.uid),
      mode: Number(want.mode) & 0o7777,
    }, path);
  }
  // lstat: a symbolic link is itself (/proc/self is one), and stat follows it.
  const link = fs.lstatSync("/proc/self");
  assert.equal(stat("/proc/self", false).ino, BigInt(link.ino));
  assert.equal(stat("/proc/self", false).isDirectory, false);
  assert.equal(stat("/proc/self").isDirectory, true);
  for (const dir of ["/sys/fs/cgroup", "/proc", "/sys/kernel/btf", "/etc"]) {
    const got = readDir(dir).map((e) => [new TextDecoder().decode(e.name), e.isDirectory]).sort();
    const want = fs.readdirSync(dir, { withFileTypes: true })
      .map((e) => [e.name, e.isDirectory()]).sort();
    assert.deepEqual(got, want, dir);
  }
});

test("files: raw-byte names, writing, appending, and node's error codes", () => {
  const dir = fs.mkdtempSync(`${tmpdir()}/tracer-files-`);
  try {
    // A name that is not UTF-8 (cgroup names may be any bytes): created, listed and read back.
    const name = new Uint8Array([0x63, 0xff, 0x0a, 0x64]);
    const path = new Uint8Array([...bytes(`${dir}/`), ...name]);
    const fd = openFile(path, "w");
    assert.equal(writeFile(fd, bytes("one\n")), 4);
    closeFile(fd);
    appendText(path, "two\n");
    assert.equal(readText(path), "one\ntwo\n");
    assert.deepEqual(readDir(dir), [{ name, isDirectory: false }]);
    assert.equal(stat(path).size, 8);
    // "w" truncates.
    closeFile(openFile(path, "w"));
    assert.equal(stat(path).size, 0);
    fs.mkdirSync(`${dir}/sub`);
    fs.writeFileSync(`${dir}/plain`, "");
    assert.equal(stat(`${dir}/sub`).isDirectory, true);
    // mkdir with a mode (less the umask, 022 at most here); "private" files are 0600.
    makeDir(`${dir}/made`, 0o700);
    assert.equal(fs.statSync(`${dir}/made`).mode & 0o7777, 0o700);
    assert.equal(stat(`${dir}/made`).mode, 0o700);
    closeFile(openFile(`${dir}/made/p`, "private"));
    assert.equal(fs.statSync(`${dir}/made/p`).mode & 0o7777, 0o600);

    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        assert.ok(e instanceof FileError, String(e));
        return e.code;
      }
      return "no error";
    };
    const nodeCode = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as { code: string }).code;
      }
      return "no error";
    };
    const cases: [string, () => unknown, () => unknown][] = [
      ["missing file", () => readFile(`${dir}/none`), () => fs.readFileSync(`${dir}/none`)],
      ["missing dir", () => readDir(`${dir}/none`), () => fs.readdirSync(`${dir}/none`)],
      ["under a file", () => stat(`${dir}/plain/y`), () => fs.statSync(`${dir}/plain/y`)],
      ["dir as file", () => readFile(`${dir}/sub`), () => fs.readFileSync(`${dir}/sub`)],
      ["list a file", () => readDir("/etc/passwd"), () => fs.readdirSync("/etc/passwd")],
      ["write a dir", () => openFile(`${dir}/sub`, "w"), () => fs.openSync(`${dir}/sub`, "w")],
      [
        "append under a missing dir",
        () => openFile(`${dir}/no/x`, "a"),
        () => fs.openSync(`${dir}/no/x`, "a"),
      ],
      [
        "make an existing dir",
        () => makeDir(`${dir}/sub`, 0o700),
        () => fs.mkdirSync(`${dir}/sub`),
      ],
      [
        "make under a missing dir",
        () => makeDir(`${dir}/no/x`, 0o700),
        () => fs.mkdirSync(`${dir}/no/x`),
      ],
      [
        "private through a link",
        () => openFile(`${dir}/link`, "private"),
        () => fs.openSync(`${dir}/link`, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW),
      ],
    ];
    fs.symlinkSync(`${dir}/plain`, `${dir}/link`);
    for (const [what, ours, theirs] of cases) {
      const want = nodeCode(theirs);
      assert.notEqual(want, "no error", what);
      assert.equal(code(ours), want, what);
    }
    assert.equal(exists(`${dir}/none`), false);
    assert.equal(exists(dir), true);
    assert.equal(readTextOrNull(`${dir}/none`), null);
    assert.match(String(code(() => closeFile(123456))), /^EBADF$/);
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
});
