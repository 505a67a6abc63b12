// SPDX-License-Identifier: GPL-2.0
/* Differential-test harness: asks Debian's libbpf to CO-RE-relocate one BPF object against
 * one target BTF (btf_custom_path) and prints libbpf's debug log on stdout, one line per
 * message. The load itself may fail (foreign BTF, unverifiable fixture): relocation happens
 * before any program load, so the log holds every decision. Built at test time:
 *   cc -O1 -o core_harness core_harness.c -lbpf
 * Usage: core_harness OBJECT.o TARGET.btf */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>

static int print_all(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level;
	return vfprintf(stdout, fmt, args);
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	int err;

	if (argc != 3) {
		fprintf(stderr, "usage: %s OBJECT.o TARGET.btf\n", argv[0]);
		return 2;
	}
	libbpf_set_print(print_all);
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = argv[2]);
	obj = bpf_object__open_file(argv[1], &opts);
	if (!obj) {
		printf("HARNESS: open failed\n");
		return 1;
	}
	err = bpf_object__load(obj);
	printf("HARNESS: load %s (%d)\n", err ? "failed" : "ok", err);
	bpf_object__close(obj);
	fflush(stdout);
	return 0;
}
